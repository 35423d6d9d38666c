"""Checks for the exercises of "Defining models".

One check per exercise, each called from the chapter's check cell as
``ex.check_...(answer)`` after ``from tutorial_lib.exercises import defining_models as
ex``. :func:`train_two_tasks` is the training protocol of the design exercise "One
network, two tasks, a parameter budget", shared by the learner's own experiments and
its check.

Taught in: "Defining models" (exercises).
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .core import CheckFailed, compare, exercise_check

__all__ = [
    "TWO_TASK_BUDGET",
    "TWO_TASK_MIN_ACCURACY",
    "check_count_layers",
    "check_fixed_mlp",
    "check_make_mlp",
    "check_pooler",
    "check_tiny_sequential",
    "check_two_task_net",
    "train_two_tasks",
]


# --------------------------------------------------------------------------- helpers
def _linear_count(sizes: Sequence[int]) -> int:
    """Parameters of Linear(sizes[0], sizes[1]), Linear(sizes[1], sizes[2]), ..."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))


def _ancestors(model: nn.Module) -> dict[int, list[nn.Module]]:
    """For every sub-module (by id), the chain of modules that contain it."""
    chains: dict[int, list[nn.Module]] = {id(model): []}
    for _, parent in model.named_modules():
        for child in parent.children():
            chains.setdefault(id(child), [*chains[id(parent)], parent])
    return chains


def _mlp_reference(
    linears: Sequence[nn.Linear], x: torch.Tensor, *, relu_last: bool = False, relu: bool = True
) -> torch.Tensor:
    """flatten, then Linear, ReLU, ..., Linear with the given layers."""
    x = x.flatten(1)
    for index, layer in enumerate(linears):
        x = F.linear(x, layer.weight, layer.bias)
        last = index == len(linears) - 1
        if relu and (not last or relu_last):
            x = F.relu(x)
    return x


def _check_mlp_module(
    model: object, sizes: Sequence[int], x: torch.Tensor, *, what: str, container_hint: bool
) -> None:
    """Shared by the two MLP checks: registration, layer shapes, output against the
    functional reference computed with the learner's own registered layers."""
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"{what} should be an nn.Module, got {type(model).__name__}")
    expected_count = _linear_count(sizes)
    total = sum(p.numel() for p in model.parameters())
    if total != expected_count:
        hint = (
            "layers kept in a plain Python list are not registered: use nn.ModuleList"
            if total < expected_count
            else "are there extra layers, or layers built twice?"
        )
        raise CheckFailed(
            f"{what} has {total:,} registered parameters, expected {expected_count:,} "
            f"(Linear layers {list(zip(sizes[:-1], sizes[1:], strict=True))}); {hint}"
        )
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    shapes = [(m.in_features, m.out_features) for m in linears]
    wanted = list(zip(sizes[:-1], sizes[1:], strict=True))
    if shapes != wanted:
        raise CheckFailed(
            f"{what}: expected the Linear layers (in, out) = {wanted} in this order, got {shapes}; "
            "build them from the list of sizes you are given, not from fixed numbers"
        )
    if container_hint:
        chains = _ancestors(model)
        outside = [
            m for m in linears if not any(isinstance(a, nn.ModuleList) for a in chains[id(m)])
        ]
        if outside:
            parents = sorted(
                {
                    type(chains[id(m)][-1]).__name__ if chains[id(m)] else "the model"
                    for m in outside
                }
            )
            raise CheckFailed(
                f"{what}: keep the Linear layers in an nn.ModuleList (found them in "
                f"{', '.join(parents)}); the exercise is about ModuleList and a forward loop"
            )
    was_training = model.training
    try:
        with torch.no_grad():
            out = model.eval()(x.clone())
    finally:
        model.train(was_training)
    expected_shape = (x.shape[0], sizes[-1])
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected_shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CheckFailed(
            f"{what}: for an input of shape {tuple(x.shape)} expected an output of shape "
            f"{expected_shape}, got {got}; flatten with x.flatten(1), which keeps the batch "
            "dimension (squeeze() also drops it for a batch of one)"
        )
    with torch.no_grad():
        expected = _mlp_reference(linears, x)
        if compare(out, expected, rtol=1e-5, atol=1e-6) is None:
            return
        if compare(out, _mlp_reference(linears, x, relu=False), rtol=1e-5, atol=1e-6) is None:
            raise CheckFailed(
                f"{what}: the output is that of the Linear layers without any activation; "
                "apply a ReLU after every Linear except the last"
            )
        if compare(out, _mlp_reference(linears, x, relu_last=True), rtol=1e-5, atol=1e-6) is None:
            raise CheckFailed(
                f"{what}: there is a ReLU after the last Linear too; the last layer must "
                "return logits (negative values included), without activation"
            )
    problem = compare(out, expected, rtol=1e-5, atol=1e-6)
    raise CheckFailed(
        f"{what}: the output differs from flatten -> Linear -> ReLU -> ... -> Linear computed "
        f"with your registered layers ({problem}); does forward use other layers than the "
        "registered ones, or apply them in another order?"
    )


_MLP_CASES: tuple[tuple[list[int], tuple[int, ...]], ...] = (
    ([64, 32, 16, 10], (3, 1, 8, 8)),
    ([12, 7, 5, 3], (4, 3, 2, 2)),
    ([64, 48, 32, 16, 10], (1, 1, 8, 8)),
    ([5, 2], (2, 5)),
)


# --------------------------------------------------------------------------- exercise 1
@exercise_check("make_mlp")
def check_make_mlp(make_mlp: Callable[[list[int]], nn.Module]) -> str:
    """``make_mlp(sizes)``: Linear layers in an ``nn.ModuleList``, ReLU between them,
    none after the last, input flattened; several sizes (one Linear only, a batch of
    one, inputs already flat) and outputs compared with a functional reference that
    uses the learner's own layers."""
    generator = torch.Generator().manual_seed(1)
    for sizes, shape in _MLP_CASES:
        given = list(sizes)
        model = make_mlp(given)
        if given != sizes:
            raise CheckFailed(f"make_mlp({sizes}) changed the list it was given into {given}")
        x = torch.randn(*shape, generator=generator)
        _check_mlp_module(model, sizes, x, what=f"make_mlp({sizes})", container_hint=True)
    return (
        f"{len(_MLP_CASES)} sizes: parameters registered in an nn.ModuleList, output equal to "
        "Linear -> ReLU -> ... -> Linear for inputs of several shapes."
    )


# --------------------------------------------------------------------------- exercise 2
@exercise_check("FixedMLP")
def check_fixed_mlp(fixed_mlp: Callable[[list[int]], nn.Module]) -> str:
    """``FixedMLP(sizes)``: the parameter count of ``DeepMLP(sizes)``, a state dict with
    every weight and bias, an output equal to a reference computed with the module's
    own registered layers (so forward must use them), and ``.to(torch.float64)``
    reaching every layer."""
    generator = torch.Generator().manual_seed(2)
    for sizes, shape in _MLP_CASES:
        model = fixed_mlp(list(sizes))
        what = f"FixedMLP({sizes})"
        x = torch.randn(*shape, generator=generator)
        _check_mlp_module(model, sizes, x, what=what, container_hint=False)
        keys = list(model.state_dict())
        if len(keys) != 2 * (len(sizes) - 1):
            raise CheckFailed(
                f"{what}: expected {2 * (len(sizes) - 1)} state-dict entries (a weight and a "
                f"bias per Linear), got {len(keys)}: {keys}"
            )
        double = copy.deepcopy(model).to(torch.float64)
        try:
            with torch.no_grad():
                out = double.eval()(x.double())
        except RuntimeError as err:
            raise CheckFailed(
                f"{what}: after .to(torch.float64) the forward pass fails ({err}); the layers "
                "forward uses must be the registered ones"
            ) from err
        if out.dtype != torch.float64:
            raise CheckFailed(f"{what}: after .to(torch.float64) the output is {out.dtype}")
    return (
        f"{len(_MLP_CASES)} sizes: parameter count of DeepMLP, every weight in the state dict, "
        "output equal to the reference that shares your layers, .to(float64) reaches them."
    )


# --------------------------------------------------------------------------- exercise 3
def _sequential_case(
    tiny_sequential: type, layers: list[nn.Module], names: list[str] | None, x: torch.Tensor
) -> None:
    if names is None:
        call = "TinySequential(" + ", ".join(f"{type(m).__name__}(...)" for m in layers) + ")"
        how, ref = "layers given positionally", nn.Sequential(*layers)
    else:
        call = f"TinySequential(OrderedDict({names}))"
        how = "one OrderedDict of named layers"
        ref = nn.Sequential(OrderedDict(zip(names, layers, strict=True)))
    try:
        if names is None:
            mine = tiny_sequential(*layers)
        else:
            mine = tiny_sequential(OrderedDict(zip(names, layers, strict=True)))
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailed(
            f"{call} raised {type(err).__name__}: {err}; it must accept {how}"
        ) from err
    expected_names = [str(i) for i in range(len(layers))] if names is None else names
    got_names = [name for name, _ in mine.named_children()]
    if got_names != expected_names:
        raise CheckFailed(
            f"{call}: expected the registered children {expected_names}, got {got_names}"
            + (
                "; register positional layers as '0', '1', ... with add_module"
                if names is None
                else "; keep the OrderedDict's names with add_module(name, layer)"
            )
        )
    if len(mine) != len(layers):
        raise CheckFailed(f"{call}: len() returned {len(mine)}, expected {len(layers)}")
    for index in [*range(len(layers)), *range(-len(layers), 0)]:
        if mine[index] is not layers[index]:
            raise CheckFailed(
                f"{call}: model[{index}] is not the layer at position {index} "
                f"(expected {type(layers[index]).__name__}, got {type(mine[index]).__name__})"
            )
    for index in (len(layers), -len(layers) - 1):
        try:
            got = mine[index]
        except IndexError:
            continue
        except Exception as err:
            raise CheckFailed(
                f"{call}: model[{index}] raised {type(err).__name__}, expected IndexError "
                "like nn.Sequential"
            ) from err
        raise CheckFailed(
            f"{call}: model[{index}] returned {type(got).__name__} but is out of range; it must "
            "raise IndexError like nn.Sequential (do not wrap the index around)"
        )
    try:
        with torch.no_grad():
            got_out = mine(x.clone())
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailed(
            f"{call}: the forward pass raised {type(err).__name__}: {err}; run the children "
            "in the order they were registered"
        ) from err
    with torch.no_grad():
        problem = compare(got_out, ref(x.clone()))
    if problem:
        raise CheckFailed(
            f"{call}: the output differs from nn.Sequential with the same layers ({problem}); "
            "run the children in the order they were registered"
        )


@exercise_check("TinySequential")
def check_tiny_sequential(tiny_sequential: type) -> str:
    """``TinySequential``: not an ``nn.Sequential``; layers positionally (one or
    several) and from an ``OrderedDict`` (names kept, not sorted); ``len``, indexing
    with non-negative and negative integers, ``IndexError`` out of range; outputs equal
    to ``nn.Sequential`` built from the same layers."""
    if not isinstance(tiny_sequential, type) or not issubclass(tiny_sequential, nn.Module):
        raise CheckFailed(f"TinySequential must be an nn.Module subclass, got {tiny_sequential!r}")
    if issubclass(tiny_sequential, nn.Sequential):
        raise CheckFailed(
            "TinySequential subclasses nn.Sequential; write the mechanism yourself on "
            "nn.Module (add_module, _modules, a loop in forward)"
        )
    generator = torch.Generator().manual_seed(3)
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(3)
        x = torch.randn(5, 4, generator=generator)
        _sequential_case(tiny_sequential, [nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)], None, x)
        _sequential_case(tiny_sequential, [nn.Linear(4, 6)], None, x)
        _sequential_case(
            tiny_sequential,
            [nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Sigmoid()],
            ["hidden", "act", "classify", "squash"],
            x,
        )
    finally:
        torch.random.set_rng_state(torch_state)
    return (
        "positional (1 and 3 layers) and OrderedDict: names, len, indexing (negative too, "
        "IndexError out of range) and outputs like nn.Sequential."
    )


# --------------------------------------------------------------------------- exercise 4
@exercise_check("Pooler")
def check_pooler(pooler: type) -> str:
    """``Pooler``: an ``nn.ModuleDict`` with ``"max"`` and ``"avg"``; ``forward(x,
    kind)`` equal to the functional pooling for both kinds (even and odd sizes, one
    instance for both); an unknown kind raises ``KeyError``."""
    model = pooler()
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"Pooler() should be an nn.Module, got {type(model).__name__}")
    dicts = [m for m in model.modules() if isinstance(m, nn.ModuleDict)]
    if not any(set(d.keys()) == {"max", "avg"} for d in dicts):
        found = [sorted(d.keys()) for d in dicts]
        raise CheckFailed(
            "hold the two poolings in an nn.ModuleDict with the keys 'max' and 'avg' "
            f"(found ModuleDicts with keys {found}); a plain dict or an if/else is not "
            "registered: print(model) and model.to(...) do not see it"
        )
    generator = torch.Generator().manual_seed(4)
    for shape in [(2, 3, 8, 8), (1, 2, 9, 7)]:
        x = torch.randn(*shape, generator=generator)
        for kind, fn in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
            problem = compare(model(x.clone(), kind), fn(x, 2))
            if problem:
                raise CheckFailed(
                    f"Pooler()(x, {kind!r}) for x of shape {shape} differs from "
                    f"F.{fn.__name__}(x, 2): {problem}; is the right pooling under this key, "
                    "with kernel size 2?"
                )
    try:
        got = model(torch.zeros(1, 1, 4, 4), "min")
    except KeyError:
        pass
    except Exception as err:
        raise CheckFailed(
            f"Pooler()(x, 'min') raised {type(err).__name__}, expected KeyError (look the "
            "kind up in the ModuleDict)"
        ) from err
    else:
        raise CheckFailed(
            f"Pooler()(x, 'min') returned a {type(got).__name__}; an unknown kind must raise "
            "KeyError (look it up in the ModuleDict) instead of falling back to one pooling"
        )
    return "ModuleDict with 'max' and 'avg', both kinds equal to F's pooling, KeyError otherwise."


# --------------------------------------------------------------------------- exercise 5
class _ScaledLinear(nn.Linear):
    """A subclass: ``isinstance`` counts it as a Linear, ``type(m) is nn.Linear`` does not."""


def _count_cases() -> list[tuple[str, nn.Module, type, int]]:
    deep = nn.Sequential(
        nn.Linear(4, 4),
        nn.Sequential(
            nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
        ),
    )
    containers = nn.ModuleDict(
        {
            "body": nn.ModuleList([nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3)]),
            "heads": nn.ModuleDict({"a": nn.Linear(2, 1), "b": _ScaledLinear(2, 3)}),
        }
    )
    attention = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    return [
        (
            "a flat Sequential",
            nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3)),
            nn.Conv2d,
            2,
        ),
        ("inside a ModuleList", containers, nn.Conv2d, 2),
        ("four levels deep", deep, nn.Linear, 3),
        ("subclasses count (isinstance)", containers, nn.Linear, 2),
        ("nn.TransformerEncoderLayer", attention, nn.Linear, 3),
        ("the model itself counts", deep, nn.Sequential, 4),
        ("layers without parameters count too", deep, nn.ReLU, 2),
        ("none at all", deep, nn.Conv2d, 0),
    ]


@exercise_check("count_layers")
def check_count_layers(count_layers: Callable[[nn.Module, type], int]) -> str:
    """``count_layers(model, layer_type)``: every depth, the model itself included,
    subclasses included (``isinstance``); hidden models, with a hint naming the usual
    mistake (``children()``, ``type(m) is``, leaving out the model, two levels only)."""
    cases = _count_cases()
    for description, model, layer_type, expected in cases:
        got = count_layers(model, layer_type)
        problem = compare(got, expected)
        if problem is None and isinstance(got, (int, torch.Tensor)):
            continue
        children = sum(isinstance(m, layer_type) for m in model.children())
        exact = sum(type(m) is layer_type for m in model.modules())
        hint = ""
        if got == children:
            hint = "; children() is one level only, modules() goes down every level"
        elif got == exact:
            hint = "; subclasses count too: test with isinstance(m, layer_type), not type(m)"
        elif got == expected - isinstance(model, layer_type):
            hint = "; the model itself is one of model.modules() and counts too"
        raise CheckFailed(
            f"case {description!r} ({type(model).__name__}, counting {layer_type.__name__}): "
            f"expected {expected}, got {got!r}{hint}"
        )
    return (
        f"all {len(cases)} hidden cases counted right (every depth, subclasses, the model "
        "itself, layers without parameters)."
    )


# --------------------------------------------------------------------------- exercise 6
TWO_TASK_BUDGET = 1_000
"""Most parameters the design exercise allows."""
TWO_TASK_MIN_ACCURACY = 0.95
"""Validation accuracy each task must reach after :func:`train_two_tasks`."""
TWO_TASK_STEPS = 150
TWO_TASK_LR = 1e-2
TASKS = {"digit": 10, "parity": 2}


def _two_task_data():
    from ..data import digits_split

    split = digits_split(seed=0)
    return split.train.tensors, split.val.tensors


def train_two_tasks(
    build: Callable[[], nn.Module], *, steps: int = TWO_TASK_STEPS, seed: int = 0
) -> dict[str, float]:
    """Build a model with ``build()`` under ``seed``, train it on the digits with the
    exercise's protocol and return its validation accuracy per task.

    Protocol: ``tl.digits_split(seed=0)`` (8 x 8 images, 1,347 training and 450
    validation images), ``steps`` full-batch Adam steps (learning rate 0.01) on
    ``cross_entropy(model(x, "digit"), y) + cross_entropy(model(x, "parity"), y % 2)``.
    The caller's random state is left alone. Returns ``{"digit": ..., "parity": ...}``.

    Taught in: "Defining models" (exercise "One network, two tasks, a parameter
    budget").
    """
    (x, y), (x_val, y_val) = _two_task_data()
    targets = {"digit": y, "parity": y % 2}
    with torch.random.fork_rng(), torch.enable_grad():
        torch.manual_seed(seed)
        model = build()
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=TWO_TASK_LR)
        for _ in range(steps):
            optimizer.zero_grad()
            loss = sum(F.cross_entropy(model(x, task), targets[task]) for task in TASKS)
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        val_targets = {"digit": y_val, "parity": y_val % 2}
        return {
            task: (model(x_val, task).argmax(dim=1) == val_targets[task]).float().mean().item()
            for task in TASKS
        }


@exercise_check("TwoTaskNet")
def check_two_task_net(build: Callable[[], nn.Module]) -> str:
    """The design exercise: ``build()`` (the class ``TwoTaskNet``) has at most
    :data:`TWO_TASK_BUDGET` registered parameters, returns logits of shape (N, 10) for
    ``"digit"`` and (N, 2) for ``"parity"``, raises ``KeyError`` for another task,
    registers every layer it uses, and reaches :data:`TWO_TASK_MIN_ACCURACY` validation
    accuracy on both tasks after :func:`train_two_tasks`."""
    model = build()
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"TwoTaskNet() should be an nn.Module, got {type(model).__name__}")
    total = sum(p.numel() for p in model.parameters())
    if total > TWO_TASK_BUDGET:
        raise CheckFailed(
            f"{total:,} parameters, over the budget of {TWO_TASK_BUDGET:,}; two separate "
            "networks rarely fit: what can the two tasks share?"
        )
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    model.eval()
    with torch.no_grad():
        for task, classes in TASKS.items():
            out = model(x, task)
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (3, classes):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise CheckFailed(
                    f"model(x, {task!r}) for x of shape (3, 1, 8, 8) should have shape "
                    f"(3, {classes}), got {got}"
                )
            if (out >= 0).all() and torch.allclose(out.sum(dim=1), torch.ones(3), atol=1e-4):
                raise CheckFailed(
                    f"model(x, {task!r}) returns probabilities (a Softmax at the end); "
                    "return logits: cross-entropy applies the softmax itself"
                )
        try:
            got = model(x, "colour")
        except KeyError:
            pass
        except Exception as err:
            raise CheckFailed(
                f"model(x, 'colour') raised {type(err).__name__}, expected KeyError"
            ) from err
        else:
            raise CheckFailed(
                "model(x, 'colour') returned a result; an unknown task must raise KeyError "
                "(keep the heads in an nn.ModuleDict and look the task up)"
            )
        try:
            copy.deepcopy(model).to(torch.float64)(x.double(), "digit")
        except RuntimeError as err:
            raise CheckFailed(
                f"after .to(torch.float64) the forward pass fails ({err}): some layers are "
                "not registered (a plain list or dict?), so the optimizer cannot train them"
            ) from err
    accuracy = train_two_tasks(build)
    low = {task: acc for task, acc in accuracy.items() if acc < TWO_TASK_MIN_ACCURACY}
    if low:
        said = ", ".join(f"{task} {acc:.1%}" for task, acc in accuracy.items())
        raise CheckFailed(
            f"after train_two_tasks the validation accuracy is {said}; both must reach "
            f"{TWO_TASK_MIN_ACCURACY:.0%} with at most {TWO_TASK_BUDGET:,} parameters "
            f"(yours: {total:,}): share more, or spend the budget where it helps"
        )
    said = ", ".join(f"{task} {acc:.1%}" for task, acc in accuracy.items())
    return (
        f"{total:,} parameters (budget {TWO_TASK_BUDGET:,}); validation accuracy {said} "
        f"(both at least {TWO_TASK_MIN_ACCURACY:.0%})."
    )
