"""The check of the experiment "Choose a rank for a low-rank adapter" (hooks-ex-3).

Taught in: "Hooks, parametrizations and adapters" (exercise "Choose a rank for a
low-rank adapter").
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from .._shared import call, seeded
from ..core import CheckFailed, exercise_check

__all__ = ["MAX_ERROR", "MAX_TRAINABLE", "check_adapt"]

MAX_ERROR = 0.01
MAX_TRAINABLE = 1024


def _target(seed: int, rank: int) -> tuple[nn.Linear, nn.Linear]:
    """A base layer and a target layer whose weight differs by a change of ``rank``."""
    with seeded(seed):
        base = nn.Linear(64, 64)
        target = copy.deepcopy(base)
        change = torch.randn(64, rank) @ torch.randn(rank, 64) / 8
        with torch.no_grad():
            target.weight += change
    for p in (*base.parameters(), *target.parameters()):
        p.requires_grad_(False)
    return base, target


@exercise_check("adapt")
def check_adapt(adapt: Callable[[nn.Linear, torch.Tensor, torch.Tensor], nn.Module]) -> str:
    """``adapt(base, inputs, outputs)`` must return a model whose relative error against
    the target layer on new inputs is below :data:`MAX_ERROR`, with at most
    :data:`MAX_TRAINABLE` trainable parameters and ``base.weight`` unchanged; two
    targets, of rank 3 and 6.

    Taught in: "Hooks, parametrizations and adapters" (exercises).
    """
    lines = []
    for seed, rank in ((0, 3), (1, 6)):
        base, target = _target(seed, rank)
        weight = base.weight.detach().clone()
        with seeded(100 + seed):
            inputs, probe = torch.randn(512, 64), torch.randn(256, 64)
        with torch.no_grad():
            outputs = target(inputs)
        where = f"target of rank {rank}"
        with seeded(200 + seed):
            model = call(adapt, base, inputs.clone(), outputs.clone(), what=where)
        if not isinstance(model, nn.Module):
            raise CheckFailed(
                f"{where}: adapt must return an nn.Module, got {type(model).__name__}"
            )
        if not torch.equal(base.weight.detach(), weight):
            raise CheckFailed(
                f"{where}: base.weight changed; train only the adapters (add_lora freezes the rest)"
            )
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if trainable == 0:
            raise CheckFailed(
                f"{where}: the model returned has no trainable parameter; "
                "adapters must stay trainable"
            )
        if trainable > MAX_TRAINABLE:
            raise CheckFailed(
                f"{where}: {trainable:,} trainable parameters, more than {MAX_TRAINABLE:,}; "
                "a rank-r adapter on a 64x64 layer trains 128*r (and freeze the bias)"
            )
        with torch.no_grad():
            got = call(model, probe, what=f"{where}: your model on new inputs")
            expected = target(probe)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            raise CheckFailed(f"{where}: the model must return a tensor of shape (256, 64)")
        error = ((got - expected).norm() / expected.norm()).item()
        if not error < MAX_ERROR:
            raise CheckFailed(
                f"{where}: relative error {error:.4f} on new inputs, not below {MAX_ERROR}; "
                "is the rank at least the rank of the change, and did it train long enough?"
            )
        lines.append(f"rank {rank}: {trainable} trainable")
    return (
        f"targets of {'; '.join(lines)}; the error on new inputs is below {MAX_ERROR} for both, "
        f"within the budget of {MAX_TRAINABLE} trainable parameters."
    )
