"""The experiment "A loss for a 5% minority class" (losses-ex-5): its data
(:func:`imbalanced_points`), its training protocol (:func:`train_on_imbalanced`) and
its check.

Taught in: "Loss functions" (exercise "A loss for a 5% minority class").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..core import CheckFailed, exercise_check

__all__ = ["ImbalanceResult", "check_imbalance_loss", "imbalanced_points", "train_on_imbalanced"]


def imbalanced_points(
    n: int, positive_fraction: float, *, seed: int, separation: float = 1.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points in 2-d: class 1 (a fraction ``positive_fraction``) is a standard
    normal blob shifted by ``separation`` along both axes, class 0 one at the origin.
    Returns ``(x, y)`` with ``x`` of shape ``(n, 2)`` and float targets ``y`` of shape
    ``(n,)``.

    Taught in: "Loss functions" (exercises).
    """
    generator = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=generator) < positive_fraction).float()
    x = torch.randn(n, 2, generator=generator) + separation * y[:, None]
    return x, y


@dataclass(frozen=True)
class ImbalanceResult:
    """Held-out results of one training run on the imbalanced points."""

    recall: float  # fraction of the minority class (1) predicted as 1
    specificity: float  # fraction of the majority class (0) predicted as 0
    positive_fraction: float


STEPS = 200
BAND = 0.8


def train_on_imbalanced(
    make_loss: Callable[[torch.Tensor], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
    *,
    positive_fraction: float = 0.05,
    seed: int = 0,
) -> ImbalanceResult:
    """Train ``nn.Linear(2, 1)`` on 2 000 :func:`imbalanced_points` with the loss
    ``make_loss(train_targets)`` (full batch, Adam, learning rate 0.05, 200 steps) and
    return recall and specificity on 4 000 held-out points, predicting 1 where the
    logit is above 0. Deterministic for a given ``seed``; about 0.2 s.

    Taught in: "Loss functions" (exercises).
    """
    x, y = imbalanced_points(2000, positive_fraction, seed=2 * seed + 1)
    x_val, y_val = imbalanced_points(4000, positive_fraction, seed=2 * seed + 2)
    loss_fn = make_loss(y.clone())
    if not callable(loss_fn):
        raise CheckFailed(
            f"make_imbalance_loss must return a loss function, got {type(loss_fn).__name__}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = loss_fn(model(x).squeeze(1), y)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0 or not loss.requires_grad:
            raise CheckFailed(
                "the loss must return one number as a 0-dimensional tensor connected to the "
                f"logits, got {loss!r:.60}"
            )
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = model(x_val).squeeze(1) > 0
    positive = y_val > 0
    recall = (predicted & positive).sum().item() / positive.sum().item()
    specificity = (~predicted & ~positive).sum().item() / (~positive).sum().item()
    return ImbalanceResult(recall, specificity, positive_fraction)


@exercise_check("make_imbalance_loss")
def check_imbalance_loss(
    make_imbalance_loss: Callable[[torch.Tensor], Callable[..., torch.Tensor]],
) -> str:
    """Check the experiment "a loss for a 5% minority class" by its outcome: trained
    with :func:`train_on_imbalanced` on 5% positives, and on a hidden set with 20%
    positives, the model must reach recall and specificity of at least 0.8 each on
    held-out points (plain BCE reaches a recall of about 0.3 on the 5% set).

    Taught in: "Loss functions" (exercises).
    """
    results = []
    for fraction, seed in ((0.05, 0), (0.2, 1)):
        result = train_on_imbalanced(make_imbalance_loss, positive_fraction=fraction, seed=seed)
        if not (math.isfinite(result.recall) and math.isfinite(result.specificity)):
            raise CheckFailed(f"{fraction:.0%} positives: the training diverged")
        if result.recall < BAND:
            raise CheckFailed(
                f"with {fraction:.0%} positives the minority recall is {result.recall:.2f} "
                f"(specificity {result.specificity:.2f}), below {BAND}: the rare class needs "
                "more weight, about n_negative / n_positive, computed from train_targets"
            )
        if result.specificity < BAND:
            raise CheckFailed(
                f"with {fraction:.0%} positives the specificity is {result.specificity:.2f} "
                f"(recall {result.recall:.2f}), below {BAND}: the rare class weighs too much, "
                "the model now calls too many points positive; weight it by about "
                "n_negative / n_positive, computed from train_targets"
            )
        results.append(result)
    summary = ", ".join(
        f"{r.positive_fraction:.0%} positives: recall {r.recall:.2f}, specificity "
        f"{r.specificity:.2f}"
        for r in results
    )
    return f"{summary} (both at least {BAND})."
