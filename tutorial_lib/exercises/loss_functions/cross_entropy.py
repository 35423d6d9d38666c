"""The check of the exercise "Weighted cross-entropy from log-sum-exp" (losses-ex-1).

Taught in: "Loss functions" (exercise "Weighted cross-entropy from log-sum-exp").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .._shared import forbid
from ..core import CheckFailed, exercise_check
from ._gradients import _values_and_gradients

__all__ = ["check_cross_entropy"]


def _ce_cases() -> list[tuple[str, tuple, dict]]:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=gen)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    offsets = torch.tensor([[0.0], [-900.0], [300.0], [0.0], [-50.0], [600.0]])
    weight = torch.tensor([0.2, 1.0, 3.0, 0.5])
    ignored = torch.tensor([0, -100, 1, 1, -100, 3])
    hidden = torch.randn(9, 7, generator=gen, dtype=torch.float64)
    hidden_labels = torch.randint(0, 7, (9,), generator=gen)
    hidden_labels[[2, 5]] = 4
    return [
        ("random logits", (logits, labels), {}),
        (
            "rows with very different offsets: shift each row by its own maximum",
            (logits + offsets, labels),
            {},
        ),
        ("logits 500 times larger: exp overflows, use log-sum-exp", (500 * logits, labels), {}),
        (
            "a uniform prediction over 10 classes: log 10",
            (torch.zeros(1, 10), torch.tensor([7])),
            {},
        ),
        (
            "class weights: the mean divides by the sum of the weights of the labels",
            (logits, labels),
            {"weight": weight},
        ),
        (
            "labels equal to ignore_index (default -100) are left out, also from the mean",
            (logits, ignored),
            {},
        ),
        (
            "float64, ignore_index=4 and class weights, given positionally",
            (hidden, hidden_labels, torch.linspace(0.5, 2.0, 7, dtype=torch.float64), 4),
            {},
        ),
    ]


@exercise_check("cross_entropy_by_hand")
def check_cross_entropy(cross_entropy_by_hand: Callable[..., Any]) -> str:
    """Check ``cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100)``
    against ``F.cross_entropy`` (values and gradients): random and huge logits, rows
    with different offsets, a uniform prediction, class weights, ignored labels and a
    float64 case with positional arguments. ``F.cross_entropy``, ``F.nll_loss`` and
    ``nn.CrossEntropyLoss`` raise while the learner's code runs. The result must be a
    0-dimensional tensor.

    Taught in: "Loss functions" (exercises).
    """

    def forbidden():
        return forbid(
            [(F, "cross_entropy"), (F, "nll_loss")],
            "you called F.cross_entropy (or F.nll_loss, or nn.CrossEntropyLoss): compute "
            "log-sum-exp minus the logit of the label yourself",
        )

    cases = _ce_cases()
    for index, (description, args, kwargs) in enumerate(cases, start=1):
        with forbidden():
            try:
                got = cross_entropy_by_hand(*args, **kwargs)
            except (CheckFailed, NotImplementedError):
                raise
            except Exception as err:
                raise CheckFailed(
                    f"case {index} ({description}) raised {type(err).__name__}: {err}"
                ) from err
        if not isinstance(got, torch.Tensor) or got.ndim != 0:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckFailed(
                f"case {index} ({description}): expected a 0-dimensional tensor (the mean over "
                f"the batch, not .item() and not one loss per sample), got {shape}"
            )

    def reference(
        x: torch.Tensor,
        y: torch.Tensor,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
    ) -> torch.Tensor:
        return F.cross_entropy(x, y, weight=weight, ignore_index=ignore_index)

    _values_and_gradients(
        cross_entropy_by_hand,
        reference,
        cases,
        forbidden,
        rtol=1e-5,
        atol=1e-4,
    )
    return f"values and gradients equal F.cross_entropy in {len(cases)} cases, without calling it."
