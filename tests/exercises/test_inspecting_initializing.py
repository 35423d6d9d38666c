"""Answers to the exercises of "Inspecting and initializing models", right and wrong
(see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "inspecting_initializing"

_INIT_RIGHT_RULES = """
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
"""


def _init(linear_rule: str, head: str = _INIT_RIGHT_RULES) -> str:
    return "def init_weights(module):" + head + linear_rule


_LINEAR_RIGHT = """
    elif isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.01)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
"""


def _kaiming(std_and_fan: str) -> str:
    return (
        'def kaiming_normal_by_hand_(tensor, a=0.0, mode="fan_in"):\n'
        "    fan_in, fan_out = fan_in_and_fan_out(tensor)\n" + std_and_fan
    )


def _gain(measure: str, build: str | None = None) -> str:
    build = build or (
        "def deep_mlp_for(activation, depth, width):\n"
        "    std = measured_gain(activation) / math.sqrt(width)\n"
        "    layers = []\n"
        "    for _ in range(depth):\n"
        "        linear = nn.Linear(width, width, bias=False)\n"
        "        nn.init.normal_(linear.weight, 0.0, std)\n"
        "        layers += [linear, activation]\n"
        "    return nn.Sequential(*layers)\n"
    )
    return measure + "\n\n" + build


_GAIN_RIGHT = """
def measured_gain(activation):
    z = torch.randn(500_000)
    with torch.no_grad():
        return (1 / activation(z).square().mean()).sqrt().item()
"""

ANSWERS = {
    "inspecting-ex-1": Answers(
        right={
            "loop with numel and requires_grad": """
                def parameter_report(model):
                    report = {}
                    for name, child in model.named_children():
                        total = trainable = 0
                        for p in child.parameters():  # parameters() yields a shared tensor once
                            total += p.numel()
                            if p.requires_grad:
                                trainable += p.numel()
                        report[name] = (total, trainable)
                    return report
            """,
            "count_parameters fields, as a list": """
                def parameter_report(model):
                    out = {}
                    for name, child in model.named_children():
                        counts = tl.count_parameters(child)
                        out[name] = [counts.total, counts.trainable]
                    return out
            """,
        },
        wrong={
            "named_modules instead of named_children": (
                """
                def parameter_report(model):
                    return {name: tuple(tl.count_parameters(m)) for name, m in model.named_modules()}
                """,
                "direct children",
            ),
            "trainable counted as total": (
                """
                def parameter_report(model):
                    out = {}
                    for name, child in model.named_children():
                        t = sum(p.numel() for p in child.parameters() if p.requires_grad)
                        out[name] = (t, t)
                    return out
                """,
                "requires_grad",
            ),
            "skips children without parameters": (
                """
                def parameter_report(model):
                    return {name: tuple(tl.count_parameters(c)) for name, c in model.named_children()
                            if any(True for _ in c.parameters())}
                """,
                "(0, 0)",
            ),
            "tied weight counted twice": (
                """
                def parameter_report(model):
                    out = {}
                    for name, child in model.named_children():
                        params = [p for _, p in child.named_parameters(remove_duplicate=False)]
                        out[name] = (sum(p.numel() for p in params),
                                     sum(p.numel() for p in params if p.requires_grad))
                    return out
                """,
                "each shared tensor once",
            ),
            "frozen flag of the first parameter only": (
                """
                def parameter_report(model):
                    out = {}
                    for name, child in model.named_children():
                        params = list(child.parameters())
                        total = sum(p.numel() for p in params)
                        out[name] = (total, total if params and params[0].requires_grad else 0)
                    return out
                """,
                "expected (total, trainable) = (208, 48)",
            ),
            "hard-coded SmallNet names": (
                """
                def parameter_report(model):
                    out = {}
                    for i, child in enumerate(model.children()):
                        name = ["features", "classifier"][i] if isinstance(model, SmallNet) else str(i)
                        out[name] = tuple(tl.count_parameters(child))
                    return out
                """,
                "named_children() gives them",
            ),
            "grouped by the first part of the parameter name": (
                """
                def parameter_report(model):
                    out = {name: (0, 0) for name, _ in model.named_children()}
                    for full, p in model.named_parameters():
                        name = full.split(".")[0]
                        total, trainable = out.get(name, (0, 0))
                        out[name] = (total + p.numel(), trainable + p.numel() * p.requires_grad)
                    return out
                """,
                "extra ['scale']",
            ),
        },
    ),
    "inspecting-ex-2": Answers(
        right={
            "fan by hand, std via calculate_gain": """
                def kaiming_normal_by_hand_(tensor, a=0.0, mode="fan_in"):
                    receptive = tensor[0][0].numel()
                    fan = tensor.shape[1] * receptive if mode == "fan_in" else tensor.shape[0] * receptive
                    std = nn.init.calculate_gain("leaky_relu", a) / math.sqrt(fan)
                    with torch.no_grad():
                        tensor.normal_(0.0, std)
                    return tensor
            """,
            "normal_ then return the argument": """
                def kaiming_normal_by_hand_(tensor, a=0.0, mode="fan_in"):
                    fans = dict(zip(("fan_in", "fan_out"), fan_in_and_fan_out(tensor)))
                    nn.init.normal_(tensor, mean=0.0, std=math.sqrt(2 / ((1 + a * a) * fans[mode])))
                    return tensor
            """,
        },
        wrong={
            "calls kaiming_normal_": (
                """
                def kaiming_normal_by_hand_(tensor, a=0.0, mode="fan_in"):
                    return nn.init.kaiming_normal_(tensor, a=a, mode=mode)
                """,
                "you called nn.init.kaiming_normal_",
            ),
            "not in place": (
                _kaiming(
                    "    fan = fan_in if mode == 'fan_in' else fan_out\n"
                    "    return torch.randn(tensor.shape) * math.sqrt(2.0 / (1 + a**2)) / math.sqrt(fan)\n"
                ),
                "not filled in place",
            ),
            "ignores a": (
                _kaiming(
                    "    fan = fan_in if mode == 'fan_in' else fan_out\n"
                    "    return nn.init.normal_(tensor, 0.0, math.sqrt(2.0 / fan))\n"
                ),
                "sqrt(2 / (1 + a**2))",
            ),
            "a not squared": (
                _kaiming(
                    "    fan = fan_in if mode == 'fan_in' else fan_out\n"
                    "    return nn.init.normal_(tensor, 0.0, math.sqrt(2.0 / (1 + a)) / math.sqrt(fan))\n"
                ),
                "not distributed like the reference",
            ),
            "uniform with the right std": (
                _kaiming(
                    "    fan = fan_in if mode == 'fan_in' else fan_out\n"
                    "    std = math.sqrt(2.0 / (1 + a**2)) / math.sqrt(fan)\n"
                    "    return nn.init.uniform_(tensor, -math.sqrt(3) * std, math.sqrt(3) * std)\n"
                ),
                "from a normal distribution",
            ),
            "fan without the kernel size": (
                """
                def kaiming_normal_by_hand_(tensor, a=0.0, mode="fan_in"):
                    fan = tensor.shape[1] if mode == "fan_in" else tensor.shape[0]
                    return nn.init.normal_(tensor, 0.0, math.sqrt(2.0 / (1 + a**2)) / math.sqrt(fan))
                """,
                "shape (64, 32, 3, 3)",
            ),
            "modes swapped": (
                _kaiming(
                    "    fan = fan_out if mode == 'fan_in' else fan_in\n"
                    "    return nn.init.normal_(tensor, 0.0, math.sqrt(2.0 / (1 + a**2)) / math.sqrt(fan))\n"
                ),
                "sqrt(fan_in = 256)",
            ),
            "returns a copy": (
                _kaiming(
                    "    fan = fan_in if mode == 'fan_in' else fan_out\n"
                    "    nn.init.normal_(tensor, 0.0, math.sqrt(2.0 / (1 + a**2)) / math.sqrt(fan))\n"
                    "    return tensor.clone()\n"
                ),
                "you returned another object",
            ),
        },
    ),
    "inspecting-ex-3": Answers(
        right={
            "one branch for weights, one for biases": """
                def init_weights(module):
                    if isinstance(module, nn.Conv2d):
                        nn.init.kaiming_normal_(module.weight, mode="fan_out")  # leaky_relu, a=0: gain sqrt(2)
                    elif isinstance(module, nn.Linear):
                        nn.init.normal_(module.weight, std=0.01)
                    elif isinstance(module, nn.BatchNorm2d):
                        nn.init.constant_(module.weight, 1.0)
                    if isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)) and module.bias is not None:
                        nn.init.constant_(module.bias, 0.0)
            """,
            "torch.no_grad and fill_": """
                @torch.no_grad()
                def init_weights(module):
                    if type(module) is nn.Conv2d:
                        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    elif type(module) is nn.Linear:
                        module.weight.normal_(0.0, 0.01)
                    elif type(module) is nn.BatchNorm2d:
                        module.weight.fill_(1.0)
                    else:
                        return
                    if module.bias is not None:
                        module.bias.zero_()
            """,
        },
        wrong={
            "no BatchNorm rule": (
                "def init_weights(module):\n"
                "    if isinstance(module, nn.Conv2d):\n"
                '        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")\n'
                "        if module.bias is not None:\n"
                "            nn.init.zeros_(module.bias)\n" + _LINEAR_RIGHT,
                "is there a rule for BatchNorm2d",
            ),
            "BatchNorm bias forgotten": (
                """
                def init_weights(module):
                    if isinstance(module, nn.Conv2d):
                        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                        if module.bias is not None:
                            nn.init.zeros_(module.bias)
                    elif isinstance(module, nn.BatchNorm2d):
                        nn.init.ones_(module.weight)
                    elif isinstance(module, nn.Linear):
                        nn.init.normal_(module.weight, 0.0, 0.01)
                        if module.bias is not None:
                            nn.init.zeros_(module.bias)
                """,
                "bias (of a BatchNorm2d) should be all zeros",
            ),
            "bias=False not handled (the reference's old bug)": (
                _init(
                    "    elif isinstance(module, nn.Linear):\n"
                    "        nn.init.normal_(module.weight, 0.0, 0.01)\n"
                    "        nn.init.zeros_(module.bias)\n"
                ),
                "if module.bias is not None",
            ),
            "fan_in mode": (
                _init(_LINEAR_RIGHT, head=_INIT_RIGHT_RULES.replace('mode="fan_out", ', "")),
                "kaiming_normal_(mode='fan_out'",
            ),
            "variance passed as std": (
                _init(_LINEAR_RIGHT.replace("0.0, 0.01)", "0.0, 0.01**2)")),
                "should be N(0, 0.01²)",
            ),
            "Linear bias left at its default": (
                _init(
                    "    elif isinstance(module, nn.Linear):\n"
                    "        nn.init.normal_(module.weight, 0.0, 0.01)\n"
                ),
                "6.bias (of a Linear) should be all zeros",
            ),
            "resets every other parameter too": (
                _init(
                    _LINEAR_RIGHT
                    + "    else:\n        for p in module.parameters(recurse=False):\n            nn.init.ones_(p)\n"
                ),
                "modules without a rule must be left alone",
            ),
            "selects by class name (the notes' bug)": (
                """
                def init_weights(module):
                    name = module.__class__.__name__
                    if name.find("Conv") != -1:
                        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                        if module.bias is not None:
                            nn.init.zeros_(module.bias)
                    elif name.find("BatchNorm") != -1:
                        nn.init.ones_(module.weight)
                        nn.init.zeros_(module.bias)
                    elif name.find("Linear") != -1:
                        nn.init.normal_(module.weight, 0.0, 0.01)
                        if module.bias is not None:
                            nn.init.zeros_(module.bias)
                """,
                "select layers with isinstance",
            ),
        },
    ),
    "inspecting-ex-4": Answers(
        right={
            "float32 samples, randn times std": _gain(
                _GAIN_RIGHT,
                "def deep_mlp_for(activation, depth, width):\n"
                "    gain = measured_gain(activation)\n"
                "    layers = []\n"
                "    for _ in range(depth):\n"
                "        linear = nn.Linear(width, width, bias=False)\n"
                "        with torch.no_grad():\n"
                "            linear.weight.copy_(torch.randn(width, width) * gain / width**0.5)\n"
                "        layers += [linear, activation]\n"
                "    return nn.Sequential(*layers)\n",
            ),
            "kaiming_normal_ with the measured gain folded into a": _gain(
                _GAIN_RIGHT,
                "def deep_mlp_for(activation, depth, width):\n"
                "    gain = measured_gain(activation)\n"
                "    a = math.sqrt(max(2 / gain**2 - 1, 0.0))  # leaky_relu gain sqrt(2 / (1 + a^2)) = gain\n"
                "    layers = []\n"
                "    for _ in range(depth):\n"
                "        linear = nn.Linear(width, width, bias=False)\n"
                "        if gain <= math.sqrt(2):\n"
                "            nn.init.kaiming_normal_(linear.weight, a=a, nonlinearity='leaky_relu')\n"
                "        else:\n"
                "            nn.init.normal_(linear.weight, 0.0, gain / math.sqrt(width))\n"
                "        layers += [linear, activation]\n"
                "    return nn.Sequential(*layers)\n",
            ),
        },
        wrong={
            "calculate_gain": (
                _gain(
                    "def measured_gain(activation):\n"
                    "    name = type(activation).__name__.lower().replace('leakyrelu', 'leaky_relu')\n"
                    "    param = getattr(activation, 'negative_slope', None)\n"
                    "    return nn.init.calculate_gain(name, param)\n"
                ),
                "calculate_gain's convention",
            ),
            "1 / std instead of 1 / root mean square": (
                _gain(
                    "def measured_gain(activation):\n"
                    "    z = torch.randn(200_000)\n"
                    "    return 1 / activation(z).std().item()\n"
                ),
                "that is 1 / std(f(z))",
            ),
            "too few samples": (
                _gain(
                    "def measured_gain(activation):\n"
                    "    z = torch.randn(100)\n"
                    "    return 1 / activation(z).pow(2).mean().sqrt().item()\n"
                ),
                "more samples",
            ),
            "gain applied twice": (
                _gain(
                    _GAIN_RIGHT,
                    "def deep_mlp_for(activation, depth, width):\n"
                    "    gain = measured_gain(activation)\n"
                    "    layers = []\n"
                    "    for _ in range(depth):\n"
                    "        linear = nn.Linear(width, width, bias=False)\n"
                    "        nn.init.kaiming_normal_(linear.weight, nonlinearity='relu')\n"
                    "        with torch.no_grad():\n"
                    "            linear.weight.mul_(gain)\n"
                    "        layers += [linear, activation]\n"
                    "    return nn.Sequential(*layers)\n",
                ),
                "grows: the gain is too large",
            ),
            "the gain is measured but PyTorch's default init is kept": (
                _gain(
                    _GAIN_RIGHT,
                    "def deep_mlp_for(activation, depth, width):\n"
                    "    return nn.Sequential(*[m for _ in range(depth)\n"
                    "                           for m in (nn.Linear(width, width, bias=False), activation)])\n",
                ),
                "vanishes",
            ),
            "Kaiming's ReLU gain for every activation": (
                _gain(
                    _GAIN_RIGHT,
                    "def deep_mlp_for(activation, depth, width):\n"
                    "    layers = []\n"
                    "    for _ in range(depth):\n"
                    "        linear = nn.Linear(width, width, bias=False)\n"
                    "        nn.init.kaiming_normal_(linear.weight, nonlinearity='relu')\n"
                    "        layers += [linear, activation]\n"
                    "    return nn.Sequential(*layers)\n",
                ),
                "the signal grows",
            ),
            "linear layers with bias": (
                _gain(
                    _GAIN_RIGHT,
                    "def deep_mlp_for(activation, depth, width):\n"
                    "    layers = []\n"
                    "    for _ in range(depth):\n"
                    "        linear = nn.Linear(width, width)\n"
                    "        nn.init.normal_(linear.weight, 0.0, measured_gain(activation) / math.sqrt(width))\n"
                    "        layers += [linear, activation]\n"
                    "    return nn.Sequential(*layers)\n",
                ),
                "bias=False",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
