"""Probes of "Defining models" (defining-models-ex-1 to -ex-6).

Each ``run`` builds the student's module on the inputs of the chapter's checks
(``tutorial_lib.exercises.defining_models``), gives every ``Linear`` the same
deterministic weights in the reference run and in the student's, and returns counts,
names, shapes, outputs and the errors raised; the grader compares them with the
reference solution's. The design exercise (ex-6) returns validation predictions; the
grader computes the accuracies itself.
"""

from __future__ import annotations

from typing import Any

from gradebox.probes import Probe, attempt


def _fill_linears(model: Any, seed: int) -> None:
    """Deterministic weights for every Linear, in ``modules()`` order."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * 0.5)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.5)


def _forward(model: Any, *args: Any) -> Any:
    import torch

    with torch.no_grad():
        return model.eval()(*args)


def _mlp_data(build: Any, *, modulelist: bool, extra: bool) -> list[dict[str, Any]]:
    import copy

    import torch
    from torch import nn

    from tutorial_lib.exercises.defining_models.mlp import _MLP_CASES

    out = []
    generator = torch.Generator().manual_seed(1)
    for sizes, shape in _MLP_CASES:
        given = list(sizes)
        model = build(given)
        item: dict[str, Any] = {
            "sizes": list(sizes),
            "is an nn.Module": isinstance(model, nn.Module),
        }
        if not item["is an nn.Module"]:
            out.append(item)
            continue
        item["list of sizes left unchanged"] = given == list(sizes)
        item["registered parameters"] = sum(p.numel() for p in model.parameters())
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        item["Linear layers (in, out)"] = [[m.in_features, m.out_features] for m in linears]
        if modulelist:
            inside = set()
            for sub in model.modules():
                if isinstance(sub, nn.ModuleList):
                    inside |= {id(m) for m in sub.modules()}
            item["Linear layers kept in an nn.ModuleList"] = all(id(m) in inside for m in linears)
        _fill_linears(model, seed=len(sizes))
        x = torch.randn(*shape, generator=generator)
        item["output"] = attempt(_forward, model, x.clone())
        if extra:
            item["state-dict entries"] = len(model.state_dict())
            double = copy.deepcopy(model).to(torch.float64)
            got = attempt(_forward, double, x.double())
            item["output dtype after .to(float64)"] = (
                got if isinstance(got, dict) else str(getattr(got, "dtype", type(got).__name__))
            )
        out.append(item)
    return out


def run_make_mlp(make_mlp: Any) -> Any:
    return _mlp_data(make_mlp, modulelist=True, extra=False)


def run_fixed_mlp(fixed_mlp: Any) -> Any:
    return _mlp_data(fixed_mlp, modulelist=False, extra=True)


def run_tiny_sequential(tiny_sequential: Any) -> Any:
    from collections import OrderedDict

    import torch
    from torch import nn

    data: dict[str, Any] = {
        "is an nn.Module subclass": isinstance(tiny_sequential, type)
        and issubclass(tiny_sequential, nn.Module),
    }
    if not data["is an nn.Module subclass"]:
        return data
    data["subclasses nn.Sequential"] = issubclass(tiny_sequential, nn.Sequential)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(3))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        cases = [
            ([nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)], None),
            ([nn.Linear(4, 6)], None),
            (
                [nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Sigmoid()],
                ["hidden", "act", "classify", "squash"],
            ),
        ]
        for number, (layers, names) in enumerate(cases, start=1):
            what = f"case {number} ({'OrderedDict' if names else f'{len(layers)} positional'})"
            if names is None:
                mine = attempt(tiny_sequential, *layers)
            else:
                mine = attempt(tiny_sequential, OrderedDict(zip(names, layers, strict=True)))
            if isinstance(mine, dict):  # it raised
                data[what] = {"built": mine}
                continue
            item: dict[str, Any] = {"children": [name for name, _ in mine.named_children()]}
            item["len"] = attempt(len, mine)

            def position(index: int, mine: Any = mine, layers: list = layers) -> Any:
                got = mine[index]
                return next((i for i, layer in enumerate(layers) if layer is got), None)

            item["model[i] is layer"] = [
                attempt(position, i) for i in [*range(len(layers)), *range(-len(layers), 0)]
            ]
            item["out of range"] = [attempt(position, i) for i in (len(layers), -len(layers) - 1)]
            item["output"] = attempt(_forward, mine, x.clone())
            data[what] = item
    return data


def run_pooler(pooler: Any) -> Any:
    import torch
    from torch import nn

    model = pooler()
    data: dict[str, Any] = {"is an nn.Module": isinstance(model, nn.Module)}
    if not data["is an nn.Module"]:
        return data
    data["an nn.ModuleDict with the keys 'max' and 'avg'"] = any(
        isinstance(m, nn.ModuleDict) and set(m.keys()) == {"max", "avg"} for m in model.modules()
    )
    generator = torch.Generator().manual_seed(4)
    for shape in [(2, 3, 8, 8), (1, 2, 9, 7)]:
        x = torch.randn(*shape, generator=generator)
        for kind in ("max", "avg"):
            data[f"{kind} of shape {shape}"] = attempt(_forward, model, x.clone(), kind)
    data["unknown kind 'min'"] = attempt(_forward, model, torch.zeros(1, 1, 4, 4), "min")
    return data


def run_count_layers(count_layers: Any) -> Any:
    import torch

    from tutorial_lib.exercises.defining_models.count_layers import _count_cases

    data = {}
    for description, model, layer_type, _ in _count_cases():
        got = attempt(count_layers, model, layer_type)
        if type(got) is torch.Tensor and got.numel() == 1:
            got = got.item()
        data[f"{description} (counting {layer_type.__name__})"] = got
    return data


def run_two_task_net(build: Any) -> Any:
    import copy

    import torch
    import torch.nn.functional as F
    from torch import nn

    from tutorial_lib.exercises.defining_models import two_tasks

    model = build()
    data: dict[str, Any] = {"is an nn.Module": isinstance(model, nn.Module)}
    if not data["is an nn.Module"]:
        return data
    data["parameters"] = sum(p.numel() for p in model.parameters())
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    for task in two_tasks.TASKS:
        data[f"output for {task!r}"] = attempt(_forward, model, x, task)
    data["unknown task 'colour'"] = attempt(_forward, model, x, "colour")
    double = attempt(lambda: _forward(copy.deepcopy(model).to(torch.float64), x.double(), "digit"))
    data["forward after .to(float64)"] = double if isinstance(double, dict) else "ok"
    (xt, yt), (xv, yv) = two_tasks._two_task_data()
    targets = {"digit": yt, "parity": yt % 2}
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        model = build()
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=two_tasks.TWO_TASK_LR)
        for _ in range(two_tasks.TWO_TASK_STEPS):
            optimizer.zero_grad()
            loss = sum(F.cross_entropy(model(xt, t), targets[t]) for t in two_tasks.TASKS)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        model.eval()
        data["validation predictions"] = {
            task: model(xv, task).argmax(dim=1).tolist() for task in two_tasks.TASKS
        }
    data["validation labels"] = yv.tolist()
    return data


def judge_two_task_net(got: Any, ref: Any) -> str | None:
    """The design exercise, judged by the grader: budget, shapes, logits, KeyError,
    registered layers, and accuracy computed here from the predictions against the
    reference run's labels."""
    from gradebox.compare import difference
    from tutorial_lib.exercises.defining_models.two_tasks import (
        TWO_TASK_BUDGET as BUDGET,
    )
    from tutorial_lib.exercises.defining_models.two_tasks import (
        TWO_TASK_MIN_ACCURACY as MIN_ACCURACY,
    )

    if not isinstance(got, dict) or got.get("is an nn.Module") is not True:
        return "TwoTaskNet() should be an nn.Module"
    params = got.get("parameters")
    if type(params) is not int or params > BUDGET:
        return f"{params} parameters, over the budget of {BUDGET:,}"
    for task, classes in (("digit", 10), ("parity", 2)):
        out = got.get(f"output for {task!r}")
        tensor = out.get("tensor") if isinstance(out, dict) else None
        if tensor is None:
            return f"model(x, {task!r}) should return a tensor, got {out!r:.200}"
        if tensor["shape"] != [3, classes]:
            return (
                f"model(x, {task!r}) for x of shape (3, 1, 8, 8) should have shape "
                f"(3, {classes}), got {tuple(tensor['shape'])}"
            )
        values = [v for v in tensor["values"] if isinstance(v, (int, float))]
        rows = [values[i * classes : (i + 1) * classes] for i in range(3)]
        if (
            len(values) == 3 * classes
            and all(v >= 0 for v in values)
            and all(abs(sum(row) - 1) < 1e-4 for row in rows)
        ):
            return (
                f"model(x, {task!r}) returns probabilities (a Softmax at the end); return "
                "logits: cross-entropy applies the softmax itself"
            )
    for key in ("unknown task 'colour'", "forward after .to(float64)"):
        problem = difference(got.get(key), ref.get(key), where=key)
        if problem:
            return problem
    labels = ref["validation labels"]
    wanted = {"digit": labels, "parity": [y % 2 for y in labels]}
    predictions = got.get("validation predictions")
    if not isinstance(predictions, dict):
        return "no validation predictions"
    said = []
    for task, truth in wanted.items():
        pred = predictions.get(task)
        if not isinstance(pred, list) or len(pred) != len(truth):
            return f"validation predictions for {task!r} missing or of the wrong length"
        accuracy = sum(type(p) is int and p == t for p, t in zip(pred, truth, strict=True))
        accuracy /= len(truth)
        said.append((task, accuracy))
    low = [f"{t} {a:.1%}" for t, a in said if a < MIN_ACCURACY]
    if low:
        return (
            f"after the exercise's training protocol the validation accuracy is "
            f"{', '.join(f'{t} {a:.1%}' for t, a in said)}; both must reach "
            f"{MIN_ACCURACY:.0%} with at most {BUDGET:,} parameters (yours: {params:,})"
        )
    return None


PROBES = (
    Probe(
        "defining-models-ex-1",
        "make_mlp",
        run_make_mlp,
        "4 sizes: layers registered in an nn.ModuleList, outputs equal to the reference",
    ),
    Probe(
        "defining-models-ex-2",
        "FixedMLP",
        run_fixed_mlp,
        "4 sizes: parameters registered, state dict complete, outputs equal, .to reaches them",
    ),
    Probe(
        "defining-models-ex-3",
        "TinySequential",
        run_tiny_sequential,
        "names, len, indexing, IndexError and outputs like nn.Sequential",
    ),
    Probe(
        "defining-models-ex-4",
        "Pooler",
        run_pooler,
        "ModuleDict with 'max' and 'avg', both poolings equal, KeyError otherwise",
    ),
    Probe(
        "defining-models-ex-5", "count_layers", run_count_layers, "every hidden case counted right"
    ),
    Probe(
        "defining-models-ex-6",
        "TwoTaskNet",
        run_two_task_net,
        "within the parameter budget, logits of the right shapes, both accuracies reached",
        judge=judge_two_task_net,
        run_check=False,
    ),
)
