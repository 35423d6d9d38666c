"""Learning-rate schedules without training: trace what a scheduler does.

:func:`trace_lr` builds a throwaway optimizer over dummy parameters (one per
parameter group), hands it to a factory that builds the scheduler, and records the
learning rate of every group that each optimizer step would use. The optimizer
steps before the scheduler, as in a real loop, so PyTorch raises no step-order
warning. The figures of traces are :func:`tutorial_lib.plots.plot_lr` and
:func:`tutorial_lib.plots.plot_lr_grid`.

Taught in: "Optimizers and learning-rate schedulers".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from ._validate import is_int, is_real

__all__ = ["LRTrace", "OptimizerFactory", "SchedulerFactory", "trace_lr"]


LRTrace = list[list[float]]
"""``trace[g][t]``: the learning rate of parameter group ``g`` at optimizer step ``t``."""

SchedulerFactory = Callable[[Optimizer], Any]
"""A function that builds a scheduler on the optimizer it is given, e.g.
``lambda opt: StepLR(opt, step_size=10)``."""
OptimizerFactory = Callable[[list[dict[str, Any]]], Optimizer]
"""A function that builds an optimizer from parameter groups (default: plain SGD)."""


def _group_lrs(lr: float | Sequence[float]) -> list[float]:
    if is_real(lr):
        values = [float(lr)]  # type: ignore[arg-type]
    elif isinstance(lr, Sequence) and not isinstance(lr, str):
        values = list(lr)
        if not values:
            raise ValueError("lr is an empty sequence; give one learning rate per parameter group")
        for index, value in enumerate(values):
            if not is_real(value):
                raise TypeError(
                    f"lr[{index}] must be a number, got {type(value).__name__}; "
                    "give one float per parameter group"
                )
        values = [float(v) for v in values]
    else:
        raise TypeError(
            f"lr must be a float or a sequence of floats (one per group), got {type(lr).__name__}"
        )
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"learning rates must be finite and positive, got {value}")
    return values


def _default_optimizer(groups: list[dict[str, Any]]) -> Optimizer:
    # SGD with momentum: CyclicLR and OneCycleLR also cycle the momentum, so it must exist.
    return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=0.9)


def trace_lr(
    scheduler_factory: SchedulerFactory,
    steps: int,
    *,
    lr: float | Sequence[float] = 0.1,
    metrics: Sequence[float] | None = None,
    optimizer_factory: OptimizerFactory | None = None,
) -> LRTrace:
    """The learning rates a scheduler gives over ``steps`` optimizer steps, without training.

    ``scheduler_factory`` receives a fresh optimizer and returns the scheduler built
    on it, e.g. ``lambda opt: StepLR(opt, step_size=30)``; ``SequentialLR`` and
    ``ChainedScheduler`` work too. The optimizer has one parameter group per value
    of ``lr`` (a float gives one group), each holding a dummy parameter; by default
    it is ``SGD(momentum=0.9)``, or what ``optimizer_factory(groups)`` returns.

    Each step records every group's current learning rate, calls
    ``optimizer.step()`` and then ``scheduler.step()``: ``trace[g][t]`` is the rate
    that step ``t`` of group ``g`` trains with, and ``trace[g][0]`` is the initial
    rate. A ``ReduceLROnPlateau`` is stepped with ``metrics[t]`` (one value per step,
    e.g. the validation losses of a run); other schedulers take no metrics.

    Nothing passed in is modified.

    Taught in: "Optimizers and learning-rate schedulers".
    """
    if not callable(scheduler_factory) or isinstance(scheduler_factory, LRScheduler):
        raise TypeError(
            "scheduler_factory must be a function that builds the scheduler on the optimizer "
            "it receives, e.g. lambda opt: StepLR(opt, step_size=30); "
            f"got {type(scheduler_factory).__name__}"
        )
    if not is_int(steps):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    lrs = _group_lrs(lr)
    if metrics is not None:
        if isinstance(metrics, (str, bytes)) or not isinstance(metrics, Sequence):
            raise TypeError(
                f"metrics must be a list of numbers (one per step), got {type(metrics).__name__}"
            )
        bad = [i for i, m in enumerate(metrics) if not is_real(m)]
        if bad:
            raise TypeError(
                f"metrics must be numbers (use .item() on tensors); "
                f"item {bad[0]} is {metrics[bad[0]]!r}"
            )

    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": g_lr} for g_lr in lrs]
    optimizer = (optimizer_factory or _default_optimizer)(groups)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            "optimizer_factory must return a torch.optim.Optimizer built on the groups it "
            f"receives, got {type(optimizer).__name__}"
        )
    scheduler = scheduler_factory(optimizer)
    if not isinstance(scheduler, LRScheduler):
        raise TypeError(
            "scheduler_factory must return a learning-rate scheduler (torch.optim.lr_scheduler), "
            f"got {type(scheduler).__name__}"
        )
    if getattr(scheduler, "optimizer", None) is not optimizer:
        raise ValueError(
            "the scheduler was built on another optimizer; build it on the one the factory "
            "receives: lambda opt: StepLR(opt, ...), not StepLR(my_optimizer, ...)"
        )
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    if plateau and metrics is None:
        raise ValueError(
            "ReduceLROnPlateau steps on a metric: pass metrics=[...] with one value per step"
        )
    if not plateau and metrics is not None:
        raise ValueError(
            f"metrics are only for ReduceLROnPlateau; {type(scheduler).__name__}.step() "
            "takes none: drop metrics="
        )
    if plateau and len(metrics) != steps:  # type: ignore[arg-type]
        raise ValueError(
            f"metrics must hold one value per step: got {len(metrics)} "  # type: ignore[arg-type]
            f"for steps={steps}"
        )

    trace: LRTrace = [[] for _ in optimizer.param_groups]
    for step in range(steps):
        for values, group in zip(trace, optimizer.param_groups, strict=True):
            values.append(float(group["lr"]))
        optimizer.step()  # the dummy parameters have no gradient: nothing changes
        if plateau:
            scheduler.step(float(metrics[step]))  # type: ignore[index]
        else:
            scheduler.step()
    return trace
