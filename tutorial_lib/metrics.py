"""Metrics the training loop reports: plain functions of ``(outputs, targets)``.

Taught in: "Defining models" (accuracy), "U-Net from building blocks" (Dice).
"""

from __future__ import annotations

import torch

__all__ = ["accuracy", "dice_score"]


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Share of rows of ``logits`` (shape ``(N, C)``) whose arg-max equals
    ``targets`` (shape ``(N,)``, class indices).

    Taught in: "Defining models".
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {tuple(logits.shape)}")
    if targets.shape != logits.shape[:1]:
        raise ValueError(
            f"targets must have shape ({logits.shape[0]},) to match logits "
            f"{tuple(logits.shape)}, got {tuple(targets.shape)}"
        )
    if logits.shape[0] == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return (logits.argmax(dim=1) == targets).float().mean().item()


def dice_score(
    logits: torch.Tensor, targets: torch.Tensor, *, threshold: float = 0.5, eps: float = 1e-7
) -> float:
    """Dice coefficient ``2|P ∩ T| / (|P| + |T|)`` of the thresholded prediction
    ``sigmoid(logits) > threshold`` and the binary ``targets``, over the whole batch.

    Two empty masks agree perfectly and score 1.

    Taught in: "U-Net from building blocks".
    """
    if logits.shape != targets.shape:
        raise ValueError(
            f"logits and targets must have the same shape, got {tuple(logits.shape)} "
            f"and {tuple(targets.shape)}"
        )
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold}")
    pred = torch.sigmoid(logits.detach()) > threshold
    truth = targets.detach() > 0.5
    intersection = (pred & truth).sum().item()
    total = pred.sum().item() + truth.sum().item()
    return (2.0 * intersection + eps) / (total + eps)
