"""Answers to the exercises of "Defining models", right and wrong (see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "defining_models"

MLP_BODY = """
    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)
"""


def fixed_mlp(init: str, forward: str = MLP_BODY) -> str:
    """A FixedMLP answer: the stub's forward (unless given) under ``init``."""
    return (
        "class FixedMLP(nn.Module):\n"
        "    def __init__(self, sizes):\n"
        "        super().__init__()\n" + init + forward
    )


def tiny_sequential(
    init: str,
    getitem: str,
    length: str = "len(self._modules)",
    forward: str = "self._modules.values()",
    base: str = "nn.Module",
) -> str:
    return f"""
class TinySequential({base}):
    def __init__(self, *args):
        super().__init__()
{init}
    def __len__(self):
        return {length}

    def __getitem__(self, index):
{getitem}
    def forward(self, x):
        for layer in {forward}:
            x = layer(x)
        return x
"""


BOTH_INIT = """\
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, layer in args[0].items():
                self.add_module(name, layer)
        else:
            for index, layer in enumerate(args):
                self.add_module(str(index), layer)
"""
LIST_GETITEM = "        return list(self._modules.values())[index]\n"

TWO_TASK = """
class TwoTaskNet(nn.Module):
    def __init__(self):
        super().__init__()
{init}
    def forward(self, x, task):
{forward}
"""

ANSWERS = {
    "defining-models-ex-1": Answers(
        right={
            "append in a loop, enumerate in forward, functional ReLU": """
                class Net(nn.Module):
                    def __init__(self, sizes):
                        super().__init__()
                        self.linears = nn.ModuleList()
                        for i in range(len(sizes) - 1):
                            self.linears.append(nn.Linear(sizes[i], sizes[i + 1]))

                    def forward(self, x):
                        x = torch.flatten(x, start_dim=1)
                        for i, linear in enumerate(self.linears):
                            x = linear(x)
                            if i < len(self.linears) - 1:
                                x = nn.functional.relu(x)
                        return x


                def make_mlp(sizes):
                    return Net(sizes)
            """,
            "ReLU modules inside the ModuleList": """
                class Net(nn.Module):
                    def __init__(self, sizes):
                        super().__init__()
                        layers = []
                        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
                            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
                        self.blocks = nn.ModuleList(layers[:-1])

                    def forward(self, x):
                        x = x.reshape(x.shape[0], -1)
                        for block in self.blocks:
                            x = block(x)
                        return x


                def make_mlp(sizes):
                    return Net(sizes)
            """,
        },
        wrong={
            "no activation at all": (
                """
                class Net(nn.Module):
                    def __init__(self, sizes):
                        super().__init__()
                        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

                    def forward(self, x):
                        x = x.flatten(1)
                        for layer in self.layers:
                            x = layer(x)
                        return x


                def make_mlp(sizes):
                    return Net(sizes)
                """,
                "without any activation",
            ),
            "a ReLU after the last layer too": (
                """
                class Net(nn.Module):
                    def __init__(self, sizes):
                        super().__init__()
                        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

                    def forward(self, x):
                        x = x.flatten(1)
                        for layer in self.layers:
                            x = torch.relu(layer(x))
                        return x


                def make_mlp(sizes):
                    return Net(sizes)
                """,
                "ReLU after the last Linear",
            ),
            "sizes of the visible example hard-coded": (
                """
                class Net(nn.Module):
                    def __init__(self, sizes):
                        super().__init__()
                        self.layers = nn.ModuleList(
                            [nn.Linear(64, 32), nn.Linear(32, 16), nn.Linear(16, 10)]
                        )

                    def forward(self, x):
                        x = x.flatten(1)
                        for layer in self.layers[:-1]:
                            x = torch.relu(layer(x))
                        return self.layers[-1](x)


                def make_mlp(sizes):
                    return Net(sizes)
                """,
                "expected",
            ),
            "nn.Sequential instead of a ModuleList": (
                """
                def make_mlp(sizes):
                    layers = [nn.Flatten()]
                    for a, b in zip(sizes[:-1], sizes[1:]):
                        layers += [nn.Linear(a, b), nn.ReLU()]
                    return nn.Sequential(*layers[:-1])
                """,
                "nn.ModuleList",
            ),
            "squeeze drops the batch dimension (the notes' bug)": (
                """
                class Net(nn.Module):
                    def __init__(self, sizes):
                        super().__init__()
                        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

                    def forward(self, x):
                        x = x.view(x.shape[0], -1).squeeze()
                        for layer in self.layers[:-1]:
                            x = torch.relu(layer(x))
                        return self.layers[-1](x)


                def make_mlp(sizes):
                    return Net(sizes)
                """,
                "keeps the batch dimension",
            ),
            "a plain Python list": (
                """
                class Net(nn.Module):
                    def __init__(self, sizes):
                        super().__init__()
                        self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]

                    def forward(self, x):
                        x = x.flatten(1)
                        for layer in self.layers[:-1]:
                            x = torch.relu(layer(x))
                        return self.layers[-1](x)


                def make_mlp(sizes):
                    return Net(sizes)
                """,
                "plain Python list",
            ),
        },
    ),
    "defining-models-ex-2": Answers(
        right={
            "ModuleList from a list comprehension": fixed_mlp(
                "        self.layers = nn.ModuleList([nn.Linear(sizes[i], sizes[i + 1])"
                " for i in range(len(sizes) - 1)])\n"
            ),
            "a Sequential also supports [:-1] and [-1]": fixed_mlp(
                "        self.layers = nn.Sequential("
                "*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])\n"
            ),
            "keep the list, register each layer with add_module": fixed_mlp(
                "        self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]\n"
                "        for i, layer in enumerate(self.layers):\n"
                "            self.add_module(f'fc{i}', layer)\n"
            ),
        },
        wrong={
            "the plain list kept": (
                fixed_mlp(
                    "        self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]\n"
                ),
                "plain Python list",
            ),
            "a second, unused set of layers registered": (
                fixed_mlp(
                    "        self.layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]\n"
                    "        self.registered = nn.ModuleList("
                    "nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))\n"
                ),
                "use other layers than the registered ones",
            ),
            "the chapter's sizes hard-coded": (
                fixed_mlp(
                    "        self.layers = nn.ModuleList([nn.Linear(64, 48), nn.Linear(48, 32),"
                    " nn.Linear(32, 16), nn.Linear(16, 10)])\n"
                ),
                "expected",
            ),
            "the last layer left out of the ModuleList": (
                fixed_mlp(
                    "        layers = [nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]\n"
                    "        self.layers = list(nn.ModuleList(layers[:-1])) + [layers[-1]]\n"
                ),
                "plain Python list",
            ),
            "off by one: one Linear too few": (
                fixed_mlp(
                    "        self.layers = nn.ModuleList("
                    "nn.Linear(a, b) for a, b in zip(sizes[:-2], sizes[1:-1]))\n"
                ),
                "registered parameters",
            ),
        },
    ),
    "defining-models-ex-3": Answers(
        right={
            "children() and islice-free indexing through a list": tiny_sequential(
                "        pairs = args[0].items() if len(args) == 1 and isinstance(args[0], OrderedDict)"
                " else enumerate(args)\n"
                "        for name, layer in pairs:\n"
                "            self.add_module(str(name), layer)\n",
                "        return list(self.children())[index]\n",
                forward="self.children()",
                length="len(list(self.children()))",
            ),
            "explicit negative index and IndexError": tiny_sequential(
                BOTH_INIT,
                "        n = len(self)\n"
                "        if not -n <= index < n:\n"
                "            raise IndexError(f'index {index} out of range')\n"
                "        if index < 0:\n"
                "            index += n\n"
                "        for i, layer in enumerate(self._modules.values()):\n"
                "            if i == index:\n"
                "                return layer\n",
            ),
        },
        wrong={
            "only an OrderedDict": (
                tiny_sequential(
                    "        for name, layer in args[0].items():\n"
                    "            self.add_module(name, layer)\n",
                    LIST_GETITEM,
                ),
                "positionally",
            ),
            "only positional layers": (
                tiny_sequential(
                    "        for index, layer in enumerate(args):\n"
                    "            self.add_module(str(index), layer)\n",
                    LIST_GETITEM,
                ),
                "OrderedDict",
            ),
            "a single positional layer taken for an OrderedDict": (
                tiny_sequential(
                    "        if len(args) == 1:\n"
                    "            for name, layer in args[0].items():\n"
                    "                self.add_module(name, layer)\n"
                    "        else:\n"
                    "            for index, layer in enumerate(args):\n"
                    "                self.add_module(str(index), layer)\n",
                    LIST_GETITEM,
                ),
                "positionally",
            ),
            "negative indices by modulo, wrapping around": (
                tiny_sequential(
                    BOTH_INIT, "        return list(self._modules.values())[index % len(self)]\n"
                ),
                "IndexError",
            ),
            "indexing by name string": (
                tiny_sequential(BOTH_INIT, "        return self._modules[str(index)]\n"),
                "KeyError",
            ),
            "len counts the model itself (modules())": (
                tiny_sequential(BOTH_INIT, LIST_GETITEM, length="len(list(self.modules()))"),
                "len() returned",
            ),
            "subclass of nn.Sequential": (
                """
                class TinySequential(nn.Sequential):
                    pass
                """,
                "subclasses nn.Sequential",
            ),
            "forward in sorted name order": (
                tiny_sequential(
                    BOTH_INIT,
                    LIST_GETITEM,
                    forward="[self._modules[name] for name in sorted(self._modules)]",
                ),
                "order they were registered",
            ),
        },
    ),
    "defining-models-ex-4": Answers(
        right={
            "ModuleDict filled key by key, get with a KeyError": """
                class Pooler(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.choices = nn.ModuleDict()
                        self.choices["max"] = nn.MaxPool2d(kernel_size=2, stride=2)
                        self.choices["avg"] = nn.AvgPool2d(kernel_size=2)

                    def forward(self, x, kind):
                        if kind not in self.choices:
                            raise KeyError(f"unknown pooling {kind!r}, choose from {list(self.choices)}")
                        return self.choices[kind](x)
            """,
        },
        wrong={
            "if/else with the functional poolings": (
                """
                class Pooler(nn.Module):
                    def forward(self, x, kind):
                        if kind == "max":
                            return nn.functional.max_pool2d(x, 2)
                        return nn.functional.avg_pool2d(x, 2)
                """,
                "nn.ModuleDict",
            ),
            "a plain dict": (
                """
                class Pooler(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.pools = {"max": nn.MaxPool2d(2), "avg": nn.AvgPool2d(2)}

                    def forward(self, x, kind):
                        return self.pools[kind](x)
                """,
                "plain dict",
            ),
            "an unknown kind falls back to average pooling": (
                """
                class Pooler(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.pools = nn.ModuleDict({"max": nn.MaxPool2d(2), "avg": nn.AvgPool2d(2)})

                    def forward(self, x, kind):
                        return self.pools["max"](x) if kind == "max" else self.pools["avg"](x)
                """,
                "must raise KeyError",
            ),
            "the two poolings swapped": (
                """
                class Pooler(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.pools = nn.ModuleDict({"max": nn.AvgPool2d(2), "avg": nn.MaxPool2d(2)})

                    def forward(self, x, kind):
                        return self.pools[kind](x)
                """,
                "right pooling under this key",
            ),
            "stride 1 instead of 2": (
                """
                class Pooler(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.pools = nn.ModuleDict(
                            {"max": nn.MaxPool2d(2, stride=1), "avg": nn.AvgPool2d(2, stride=1)}
                        )

                    def forward(self, x, kind):
                        return self.pools[kind](x)
                """,
                "differs from F.max_pool2d",
            ),
        },
    ),
    "defining-models-ex-5": Answers(
        right={
            "recursion over children": """
                def count_layers(model, layer_type):
                    return int(isinstance(model, layer_type)) + sum(
                        count_layers(child, layer_type) for child in model.children()
                    )
            """,
            "named_modules and a loop": """
                def count_layers(model, layer_type):
                    count = 0
                    for _, module in model.named_modules():
                        if isinstance(module, layer_type):
                            count += 1
                    return count
            """,
        },
        wrong={
            "children(): one level only": (
                """
                def count_layers(model, layer_type):
                    return sum(isinstance(m, layer_type) for m in model.children())
                """,
                "children() is one level only",
            ),
            "type(m) is layer_type misses subclasses": (
                """
                def count_layers(model, layer_type):
                    return sum(type(m) is layer_type for m in model.modules())
                """,
                "isinstance",
            ),
            "the model itself left out": (
                """
                def count_layers(model, layer_type):
                    return sum(isinstance(m, layer_type) for m in list(model.modules())[1:])
                """,
                "the model itself",
            ),
            "two levels deep only": (
                """
                def count_layers(model, layer_type):
                    found = [model, *model.children()]
                    for child in model.children():
                        found += list(child.children())
                    return sum(isinstance(m, layer_type) for m in found)
                """,
                "four levels deep",
            ),
            "only layers with parameters": (
                """
                def count_layers(model, layer_type):
                    return sum(
                        isinstance(m, layer_type) and any(True for _ in m.parameters())
                        for m in model.modules()
                    )
                """,
                "expected",
            ),
        },
    ),
    "defining-models-ex-6": Answers(
        right={
            "parity read from the digit logits": TWO_TASK.format(
                init=(
                    "        self.digit = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(),"
                    " nn.Linear(12, 10))\n"
                    "        self.heads = nn.ModuleDict({'digit': nn.Identity(),"
                    " 'parity': nn.Linear(10, 2)})\n"
                ),
                forward="        return self.heads[task](self.digit(x))\n",
            ),
            "width 10, functional ReLU, heads as a ModuleDict literal": TWO_TASK.format(
                init=(
                    "        self.hidden = nn.Linear(64, 10)\n"
                    "        self.heads = nn.ModuleDict(dict(digit=nn.Linear(10, 10),"
                    " parity=nn.Linear(10, 2)))\n"
                ),
                forward=(
                    "        h = nn.functional.relu(self.hidden(x.flatten(1)))\n"
                    "        return self.heads[task](h)\n"
                ),
            ),
        },
        wrong={
            "two separate networks under the budget": (
                TWO_TASK.format(
                    init=(
                        "        self.nets = nn.ModuleDict({\n"
                        "            'digit': nn.Sequential(nn.Flatten(), nn.Linear(64, 9), nn.ReLU(),"
                        " nn.Linear(9, 10)),\n"
                        "            'parity': nn.Sequential(nn.Flatten(), nn.Linear(64, 4), nn.ReLU(),"
                        " nn.Linear(4, 2)),\n"
                        "        })\n"
                    ),
                    forward="        return self.nets[task](x)\n",
                ),
                "validation accuracy",
            ),
            "the chapter's Switchable width: over the budget": (
                TWO_TASK.format(
                    init=(
                        "        self.body = nn.Linear(64, 32)\n"
                        "        self.heads = nn.ModuleDict({'digit': nn.Linear(32, 10),"
                        " 'parity': nn.Linear(32, 2)})\n"
                    ),
                    forward="        return self.heads[task](torch.relu(self.body(x.flatten(1))))\n",
                ),
                "over the budget",
            ),
            "heads in a plain dict": (
                TWO_TASK.format(
                    init=(
                        "        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU())\n"
                        "        self.heads = {'digit': nn.Linear(12, 10), 'parity': nn.Linear(12, 2)}\n"
                    ),
                    forward="        return self.heads[task](self.trunk(x))\n",
                ),
                "not registered",
            ),
            "Softmax before cross-entropy (the notes' bug)": (
                TWO_TASK.format(
                    init=(
                        "        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU())\n"
                        "        self.heads = nn.ModuleDict({'digit': nn.Linear(12, 10),"
                        " 'parity': nn.Linear(12, 2)})\n"
                    ),
                    forward="        return torch.softmax(self.heads[task](self.trunk(x)), dim=1)\n",
                ),
                "return logits",
            ),
            "every task but 'digit' gets the parity head": (
                TWO_TASK.format(
                    init=(
                        "        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU())\n"
                        "        self.digit = nn.Linear(12, 10)\n"
                        "        self.parity = nn.Linear(12, 2)\n"
                    ),
                    forward=(
                        "        h = self.trunk(x)\n"
                        "        return self.digit(h) if task == 'digit' else self.parity(h)\n"
                    ),
                ),
                "KeyError",
            ),
            "a trunk too narrow": (
                TWO_TASK.format(
                    init=(
                        "        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.ReLU())\n"
                        "        self.heads = nn.ModuleDict({'digit': nn.Linear(3, 10),"
                        " 'parity': nn.Linear(3, 2)})\n"
                    ),
                    forward="        return self.heads[task](self.trunk(x))\n",
                ),
                "validation accuracy",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
