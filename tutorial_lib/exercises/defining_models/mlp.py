"""The checks of the two MLP exercises (defining-models-ex-1 and -ex-2).

Both go through one check of an MLP module: registered parameters, the shapes of the
Linear layers, and the output against a functional reference computed with the
learner's own layers.

Taught in: "Defining models" (exercises "A configurable MLP with a ModuleList", "Rescue the lost
parameters").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_fixed_mlp", "check_make_mlp"]


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
