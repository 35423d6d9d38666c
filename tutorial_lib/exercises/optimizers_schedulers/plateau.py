"""The check of the exercise "Predict ReduceLROnPlateau" (optim-ex-3).

Taught in: "Optimizers and learning-rate schedulers" (exercise "Predict ReduceLROnPlateau").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch.optim import lr_scheduler

from ..._validate import is_real
from ...schedules import trace_lr
from ..core import CheckFailed, exercise_check

__all__ = ["check_plateau_lrs"]


def _official_plateau(values: Sequence[float], factor: float, patience: int) -> list[float]:
    def build(opt: torch.optim.Optimizer) -> lr_scheduler.ReduceLROnPlateau:
        return lr_scheduler.ReduceLROnPlateau(opt, factor=factor, patience=patience, threshold=0)

    return trace_lr(build, len(values), lr=0.1, metrics=list(values))[0]


@exercise_check("plateau_lrs")
def check_plateau_lrs(fn: Callable[..., Sequence[float]]) -> str:
    """Self-check of optim-ex-3, ``fn(metrics, lr, *, factor, patience) -> rates``.

    Compares with ``trace_lr`` on the real ``ReduceLROnPlateau(threshold=0)`` for a
    plateau, a sequence of ties, a noisy one that improves and worsens, and random
    sequences with ties, each for several (factor, patience) pairs.

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    generator = torch.Generator().manual_seed(5)
    noise = torch.rand(60, generator=generator).tolist()
    sequences = {
        "a plateau": [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8],
        "ties are not improvements": [3.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0],
        "noisy, improving then flat": [
            max(0.4, 1.5 - 0.04 * t) + 0.05 * n for t, n in enumerate(noise)
        ],
    }
    for index in range(3):
        steps = torch.randint(0, 4, (40,), generator=generator)  # rounded: many ties
        sequences[f"random sequence {index + 1}"] = (
            (2.0 - 0.05 * torch.arange(40) + 0.1 * steps).round(decimals=1).tolist()
        )
    settings = [(0.5, 2), (0.1, 0), (0.5, 1), (0.3, 4)]
    count = 0
    for name, values in sequences.items():
        for factor, patience in settings:
            expected = _official_plateau(values, factor, patience)
            if min(expected) < 1e-6:
                continue  # the scheduler's eps=1e-8 would start to matter: not a case
            count += 1
            got = fn(list(values), 0.1, factor=factor, patience=patience)
            where = f"{name}, factor={factor}, patience={patience}"
            if not isinstance(got, Sequence) or isinstance(got, str):
                raise CheckFailed(f"{where}: expected a list of rates, got {type(got).__name__}")
            got = list(got)
            if len(got) != len(expected):
                raise CheckFailed(
                    f"{where}: expected {len(expected)} rates (one per metric, the rate each "
                    f"step trained with), got {len(got)}"
                )
            for step, (g, e) in enumerate(zip(got, expected, strict=True)):
                if not is_real(g):
                    raise CheckFailed(f"{where}: rate {step} is a {type(g).__name__}, not a float")
                if not math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12):
                    if step == 0:
                        hint = "the first rate is lr itself: record the rate before reacting"
                    elif g < e:
                        hint = (
                            "yours reduced too early: the rate drops only after MORE than "
                            "`patience` steps in a row without a metric strictly below the best "
                            "so far"
                        )
                    else:
                        hint = (
                            "yours reduced too late or not at all: a tie is not an improvement, "
                            "the best so far is kept after a reduction, and only the count "
                            "of bad steps restarts"
                        )
                    raise CheckFailed(
                        f"{where}: at step {step} the rate should be {e:.6g}, yours is {g:.6g}; "
                        f"{hint}"
                    )
    return f"matches ReduceLROnPlateau on {count} (sequence, factor, patience) cases."
