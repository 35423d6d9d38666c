"""The check of the exercise "Make a loss numerically stable" (losses-ex-2).

Taught in: "Loss functions" (exercise "Make a loss numerically stable").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .._shared import forbid
from ..core import exercise_check
from ._gradients import _values_and_gradients

__all__ = ["check_stable_bce"]


@exercise_check("stable_bce")
def check_stable_bce(stable_bce: Callable[..., Any]) -> str:
    """Check ``stable_bce(logits, targets)`` against
    ``F.binary_cross_entropy_with_logits(..., reduction="none")``: values and
    gradients for logits from -200 to 200 with soft targets, random 2-d inputs and a
    float64 case. The built-in BCE functions raise while it runs.

    Taught in: "Loss functions" (exercises).
    """
    gen = torch.Generator().manual_seed(2)
    extreme = torch.tensor([-200.0, -30.0, -1.0, 0.0, 2.0, 40.0, 200.0])
    soft = torch.tensor([1.0, 0.0, 1.0, 0.5, 0.0, 0.3, 0.0])
    wide = 60 * torch.randn(5, 8, generator=gen)
    wide_targets = torch.rand(5, 8, generator=gen)
    cases = [
        ("logits from -200 to 200, soft targets", (extreme, soft), {}),
        ("random (5, 8) logits of size up to ~200", (wide, wide_targets), {}),
        ("float64", (wide.double(), (wide_targets > 0.5).double()), {}),
    ]

    def reference(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(x, t, reduction="none")

    def forbidden():
        return forbid(
            [
                (F, "binary_cross_entropy_with_logits"),
                (F, "binary_cross_entropy"),
                (torch, "binary_cross_entropy_with_logits"),
            ],
            "you called a built-in BCE function (or nn.BCEWithLogitsLoss): write it with "
            "F.logsigmoid",
        )

    _values_and_gradients(
        stable_bce,
        reference,
        cases,
        forbidden,
        atol=1e-4,
        hint=(
            "; every value must be finite and exact for large |logit|: use "
            "log(sigmoid(x)) = logsigmoid(x) and log(1 - sigmoid(x)) = logsigmoid(-x), "
            "no clamping, one value per element"
        ),
        grad_hint=(
            "; autograd differentiates the formula you wrote: at a kink such as max(x, 0) "
            "or |x| at x = 0 it picks one side, and a clamp has gradient 0; F.logsigmoid is "
            "smooth everywhere"
        ),
    )
    return f"values and gradients equal the built-in in {len(cases)} cases, up to |logit| = 200."
