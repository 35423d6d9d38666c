"""The check of the exercise "Find a learning rate that works" (optim-ex-5).

Taught in: "Optimizers and learning-rate schedulers" (exercise "Find a learning rate that works").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import lr_scheduler
from torch.utils.data import TensorDataset

from ..core import CheckFailed, exercise_check

__all__ = ["LR_STEPS", "LR_TARGET", "check_lr_choice"]


LR_STEPS = 40
"""Full-batch optimizer steps the learning-rate experiment (optim-ex-5) allows."""
LR_TARGET = 0.08
"""Training loss every seed of the learning-rate experiment must reach."""
LR_SEEDS = (0, 1, 2)


def _mlp(seed: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


@exercise_check("configure")
def check_lr_choice(configure: Callable[..., Any], data: TensorDataset) -> str:
    """Self-check of optim-ex-5, ``configure(params, steps) -> (optimizer, scheduler)``.

    For each of three seeds, builds the chapter's MLP, calls ``configure`` on its
    parameters, checks that the optimizer is ``torch.optim.SGD`` with
    ``momentum=0.9`` (no weight decay, no Nesterov) over exactly those parameters
    and that the scheduler (or ``None``) belongs to that optimizer, then trains
    :data:`LR_STEPS` full-batch steps on ``data`` (the digits training set),
    stepping the scheduler after every step. Every seed's final training loss must
    be at most :data:`LR_TARGET`.

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    inputs, targets = data.tensors[0].cpu(), data.tensors[1].cpu()
    finals, curves = [], []
    for seed in LR_SEEDS:
        model = _mlp(seed)
        params = list(model.parameters())
        result = configure(model.parameters(), LR_STEPS)
        if not isinstance(result, tuple) or len(result) != 2:
            raise CheckFailed("return a pair (optimizer, scheduler); the scheduler may be None")
        optimizer, scheduler = result
        if type(optimizer) is not torch.optim.SGD:
            raise CheckFailed(
                f"the experiment is about the learning rate of SGD: expected torch.optim.SGD, got "
                f"{type(optimizer).__name__}"
            )
        defaults = optimizer.defaults
        if (
            defaults.get("momentum") != 0.9
            or defaults.get("nesterov")
            or defaults.get("weight_decay")
        ):
            raise CheckFailed(
                "keep SGD's other settings fixed: momentum=0.9, no nesterov, no weight_decay; "
                "choose only the learning rate (and a schedule)"
            )
        given = [p for g in optimizer.param_groups for p in g["params"]]
        if len(given) != len(params) or {id(p) for p in given} != {id(p) for p in params}:
            raise CheckFailed("the optimizer must hold exactly the parameters passed to configure")
        if scheduler is not None:
            if getattr(scheduler, "optimizer", None) is not optimizer:
                raise CheckFailed("the scheduler must be built on the optimizer you return")
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                raise CheckFailed(
                    "the check steps the scheduler without a metric; use a schedule of the "
                    "step count (ReduceLROnPlateau needs the metric)"
                )
        curve = []
        for _ in range(LR_STEPS):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(inputs), targets)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            curve.append(loss.item())
        with torch.no_grad():
            final = F.cross_entropy(model(inputs), targets).item()
        finals.append(final)
        curves.append(curve)
    shown = ", ".join(f"{value:.3f}" for value in finals)
    if all(math.isfinite(v) and v <= LR_TARGET for v in finals):
        return (
            f"training loss after {LR_STEPS} steps {shown} for seeds {list(LR_SEEDS)} "
            f"(target <= {LR_TARGET})."
        )
    jumped = any(
        not math.isfinite(b) or b > 1.5 * a for c in curves for a, b in zip(c, c[1:], strict=False)
    ) or any(not math.isfinite(v) for v in finals)
    hint = (
        "the loss jumped up during training: the rate is too large (or rises too fast)"
        if jumped
        else "the loss fell steadily but not far enough: the rate is probably too small"
    )
    raise CheckFailed(
        f"training loss after {LR_STEPS} steps: {shown} for seeds {list(LR_SEEDS)}; the target "
        f"is <= {LR_TARGET} for every seed. {hint}; try rates on a log scale, as in the section "
        "on the learning rate"
    )
