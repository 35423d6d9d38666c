"""The check of the exercise "Warm-up, then cosine, as a LambdaLR" (optim-ex-2).

Taught in: "Optimizers and learning-rate schedulers" (exercise "Warm-up, then cosine, as
a LambdaLR").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.optim import lr_scheduler

from ...schedules import trace_lr
from ..core import CheckFailed, exercise_check

__all__ = ["check_warmup_cosine"]


def _official_warmup_cosine(warmup: int, total: int) -> list[float]:
    def build(opt: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
        return lr_scheduler.SequentialLR(
            opt,
            [
                lr_scheduler.LinearLR(opt, start_factor=1 / warmup, total_iters=warmup - 1),
                lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup),
            ],
            milestones=[warmup],
        )

    return trace_lr(build, total, lr=1.0)[0]


@exercise_check("warmup_cosine")
def check_warmup_cosine(fn: Callable[..., float]) -> str:
    """Self-check of optim-ex-2, ``fn(step, *, warmup, total) -> factor``.

    Traces ``LambdaLR`` with the learner's factor against the official
    ``SequentialLR(LinearLR, CosineAnnealingLR)`` for several (warm-up, total)
    pairs, two of them random, and expects the factor 0 at ``step == total``.

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    generator = torch.Generator().manual_seed(3)
    pairs = [(5, 30), (3, 12), (10, 100)]
    for _ in range(2):
        warmup = int(torch.randint(2, 9, (1,), generator=generator))
        pairs.append((warmup, warmup + int(torch.randint(5, 40, (1,), generator=generator))))
    for warmup, total in pairs:
        expected = _official_warmup_cosine(warmup, total)

        def factor(step: int, warmup: int = warmup, total: int = total) -> float:
            return fn(step, warmup=warmup, total=total)

        got = trace_lr(
            lambda opt, factor=factor: lr_scheduler.LambdaLR(opt, factor), total, lr=1.0
        )[0]
        for step, (g, e) in enumerate(zip(got, expected, strict=True)):
            if not math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-9):
                hint = (
                    "during the warm-up the factor at step t is (t + 1) / warmup, so step 0 "
                    "trains at 1/warmup of the base rate and step warmup - 1 at the full rate"
                    if step < warmup
                    else "after the warm-up, half a cosine runs from 1 at step warmup to 0 at "
                    "step total: progress = (step - warmup) / (total - warmup)"
                )
                raise CheckFailed(
                    f"warmup={warmup}, total={total}: at step {step} the factor should be "
                    f"{e:.6g}, yours gives {g:.6g}; {hint} (return the factor, not the rate)"
                )
        end = fn(total, warmup=warmup, total=total)
        if not math.isclose(float(end), 0.0, abs_tol=1e-9):
            raise CheckFailed(
                f"warmup={warmup}, total={total}: the factor at step total should be 0, got "
                f"{float(end):.6g}"
            )
    return f"matches SequentialLR(LinearLR, CosineAnnealingLR) for {len(pairs)} settings."
