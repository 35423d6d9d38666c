"""Losses for binary segmentation and dense detection: pure functions plus thin modules.

Every function here takes the same two tensors:

- ``logits``: raw scores of shape ``(N, ...)`` (for a mask, ``(N, 1, H, W)``), any
  floating-point dtype. The sigmoid is applied inside, in a numerically stable way
  (``binary_cross_entropy_with_logits``, ``sigmoid(-x)`` instead of ``1 - sigmoid(x)``),
  never as ``log(sigmoid(x))``.
- ``targets``: the same shape, values in ``[0, 1]`` (0/1 masks or soft labels). A bool
  or integer mask is accepted and converted to the dtype of ``logits``.

and the same ``reduction``: ``"mean"``, ``"sum"`` or ``"none"``.

**Per sample, not batch-wide.** Dice, IoU and Dice+BCE are set overlaps: this module
computes one overlap *per sample* (over every dimension after the first), so
``reduction="none"`` returns shape ``(N,)`` and ``"mean"`` averages the ``N``
per-sample losses: each image counts the same, whatever the size of its object. For
the batch-wide variant (one overlap of the whole batch, where large objects dominate)
pass ``logits.reshape(1, -1)`` and ``targets.reshape(1, -1)``. The focal loss is per
element: ``reduction="none"`` returns the shape of ``logits``.

Taught in: "Loss functions".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import is_real, require_tensor

REDUCTIONS = ("mean", "sum", "none")


# --------------------------------------------------------------------------- checks
def _check_reduction(reduction: object) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of 'mean', 'sum', 'none', got {reduction!r}")
    return reduction


def _check_number(name: str, value: object, *, low: float | None = None) -> float:
    if not is_real(value):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low:g}, got {value:g}")
    return value


def _check_alpha(alpha: object) -> float:
    alpha = _check_number("alpha", alpha)
    if alpha > 1:
        raise ValueError(
            f"alpha is the weight of the positive class and must be <= 1 (a negative value "
            f"turns the weighting off), got {alpha:g}"
        )
    return alpha


def _check_inputs(
    name: str, logits: object, targets: object, *, per_sample: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``(logits, targets)`` and return ``targets`` in the dtype of ``logits``."""
    require_tensor(logits, f"{name}: logits")
    require_tensor(targets, f"{name}: targets")
    if not logits.is_floating_point():
        raise TypeError(
            f"{name}: logits must be a floating-point tensor of raw scores, got {logits.dtype}; "
            "convert with logits.float()"
        )
    if logits.shape != targets.shape:
        raise ValueError(
            f"{name}: logits and targets must have the same shape, got {tuple(logits.shape)} "
            f"and {tuple(targets.shape)} (a mask of shape (N, H, W) for logits (N, 1, H, W) "
            "needs targets.unsqueeze(1))"
        )
    if per_sample:
        if logits.ndim < 2:
            raise ValueError(
                f"{name}: computes one value per sample and needs logits of shape (N, ...) with "
                f"at least 2 dimensions, got {tuple(logits.shape)}; add a batch dimension with "
                "logits.unsqueeze(0)"
            )
        if logits.shape[0] == 0:
            raise ValueError(f"{name}: the batch is empty (shape {tuple(logits.shape)})")
    if targets.is_complex():
        raise TypeError(f"{name}: targets must be real numbers in [0, 1], got {targets.dtype}")
    targets = targets.to(dtype=logits.dtype)
    # One pass and one host sync; NaN propagates through aminmax and fails the test too.
    if targets.numel():
        low, high = torch.stack(torch.aminmax(targets)).tolist()
        in_range = 0 <= low and high <= 1
    else:
        in_range = True
    if not in_range:
        finite = targets[torch.isfinite(targets)]
        span = (
            f"from {finite.min().item():g} to {finite.max().item():g}"
            if finite.numel()
            else "no finite value"
        )
        nan = " and NaN" if torch.isnan(targets).any() else ""
        raise ValueError(
            f"{name}: targets must lie in [0, 1] (0/1 masks or soft labels), got values {span}"
            f"{nan}; for class indices use F.cross_entropy instead"
        )
    return logits, targets


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _overlaps(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-sample soft intersection and the two set sizes, each of shape ``(N,)``."""
    probs = torch.sigmoid(logits).flatten(1)  # (N, D)
    targets = targets.flatten(1)  # (N, D)
    return (probs * targets).sum(dim=1), probs.sum(dim=1), targets.sum(dim=1)


def _dice_per_sample(logits: torch.Tensor, targets: torch.Tensor, smooth: float) -> torch.Tensor:
    intersection, pred_size, target_size = _overlaps(logits, targets)
    return 1.0 - (2.0 * intersection + smooth) / (pred_size + target_size + smooth)  # (N,)


# --------------------------------------------------------------------------- functions
def dice_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    smooth: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Soft Dice loss ``1 - (2 Σ p t + smooth) / (Σ p + Σ t + smooth)`` per sample,
    with ``p = sigmoid(logits)`` and the sums over every dimension after the first.

    This is the common linear form of the loss of Milletari et al. (2016), "V-Net:
    Fully Convolutional Neural Networks for Volumetric Medical Image Segmentation",
    arXiv:1606.04797 (who square the terms of the denominator).

    - ``smooth`` (>= 0) is added to numerator and denominator: a sample with an empty
      target scores a loss near 0 only if it also predicts (almost) nothing, and
      ``Σ p / (Σ p + smooth)`` otherwise. With ``smooth=0`` such a sample is
      ``0 / 0`` when the prediction is empty too.
    - ``reduction``: ``"none"`` returns the per-sample losses, shape ``(N,)``;
      ``"mean"`` / ``"sum"`` reduce them. For one batch-wide Dice, pass
      ``logits.reshape(1, -1)`` and ``targets.reshape(1, -1)``.

    Raises ``ValueError`` for different shapes, fewer than 2 dimensions, an empty
    batch, targets outside ``[0, 1]`` or an unknown ``reduction``.

    Taught in: "Loss functions".
    """
    smooth = _check_number("smooth", smooth, low=0.0)
    _check_reduction(reduction)
    logits, targets = _check_inputs("dice_loss", logits, targets, per_sample=True)
    return _reduce(_dice_per_sample(logits, targets, smooth), reduction)


def iou_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    smooth: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Soft IoU (Jaccard) loss ``1 - (I + smooth) / (U + smooth)`` per sample, with
    ``I = Σ p t``, ``U = Σ p + Σ t - I`` and ``p = sigmoid(logits)``.

    After Rahman and Wang (2016), "Optimizing Intersection-Over-Union in Deep Neural
    Networks for Image Segmentation", ISVC 2016.

    ``smooth`` and ``reduction`` behave as in :func:`dice_loss`: ``"none"`` returns
    shape ``(N,)``, one loss per sample; an empty target gives a loss near 0 only when
    the prediction is (almost) empty too.

    Taught in: "Loss functions".
    """
    smooth = _check_number("smooth", smooth, low=0.0)
    _check_reduction(reduction)
    logits, targets = _check_inputs("iou_loss", logits, targets, per_sample=True)
    intersection, pred_size, target_size = _overlaps(logits, targets)
    union = pred_size + target_size - intersection
    return _reduce(1.0 - (intersection + smooth) / (union + smooth), reduction)


def dice_bce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    smooth: float = 1.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Per-sample ``BCE + Dice``: the mean binary cross-entropy (with logits) over each
    sample's elements plus its :func:`dice_loss`.

    BCE gives every pixel a useful gradient from the first step; Dice counts the
    overlap, so that a rare foreground class is not drowned by the background. The
    sum of the two is a common default for segmentation (for example nnU-Net's
    Dice + cross-entropy: Isensee et al. (2021), Nature Methods 18, 203-211).

    ``reduction="none"`` returns shape ``(N,)``; ``"mean"`` equals the batch-mean BCE
    plus the mean per-sample Dice loss.

    Taught in: "Loss functions".
    """
    smooth = _check_number("smooth", smooth, low=0.0)
    _check_reduction(reduction)
    logits, targets = _check_inputs("dice_bce_loss", logits, targets, per_sample=True)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    per_sample = bce.flatten(1).mean(dim=1) + _dice_per_sample(logits, targets, smooth)
    return _reduce(per_sample, reduction)


def sigmoid_focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Focal loss of Lin et al. (2017), "Focal Loss for Dense Object Detection",
    arXiv:1708.02002, applied to **every element**:

    ``FL = -α_t (1 - p_t)^γ log(p_t)``, with ``p = sigmoid(logits)``,
    ``p_t = p t + (1 - p)(1 - t)`` and ``α_t = α t + (1 - α)(1 - t)``.

    The factor ``(1 - p_t)^γ`` shrinks the loss of well-classified elements, so the
    many easy ones (the background of a mask) no longer outweigh the few hard ones.

    - ``alpha`` (<= 1): weight of the positive class; any negative value turns the
      weighting off (torchvision uses ``-1``). The paper's default 0.25 *lowers* the
      weight of positives: γ already silences the easy negatives.
    - ``gamma`` (>= 0): ``gamma=0`` with a negative ``alpha`` is the plain binary
      cross-entropy with logits.
    - ``reduction``: ``"none"`` returns the per-element losses (the shape of
      ``logits``); ``"mean"`` (default here, ``"none"`` in torchvision) and ``"sum"``
      reduce over all elements.

    Values equal ``torchvision.ops.sigmoid_focal_loss``; ``1 - p_t`` is computed as
    ``sigmoid(-x) t + sigmoid(x) (1 - t)``, so it does not cancel to 0 for confident
    predictions.

    Taught in: "Loss functions".
    """
    alpha = _check_alpha(alpha)
    gamma = _check_number("gamma", gamma, low=0.0)
    _check_reduction(reduction)
    logits, targets = _check_inputs("sigmoid_focal_loss", logits, targets, per_sample=False)
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # -log(p_t)
    if gamma != 0:
        # 1 - p_t = sigmoid(x) (1 - t) + sigmoid(-x) t
        one_minus_pt = torch.lerp(torch.sigmoid(logits), torch.sigmoid(-logits), targets)
        # Clamping at the smallest normal number keeps the gradient of x**gamma finite
        # for gamma < 1 where 1 - p_t underflows to 0; it changes no value that matters.
        loss = loss * one_minus_pt.clamp_min(torch.finfo(logits.dtype).tiny).pow(gamma)
    if alpha >= 0:
        loss = (targets * (2 * alpha - 1) + (1 - alpha)) * loss  # alpha_t
    return _reduce(loss, reduction)


# --------------------------------------------------------------------------- modules
class _SetLoss(nn.Module):
    """Shared constructor of the set-based loss modules (``smooth``, ``reduction``)."""

    def __init__(self, *, smooth: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.smooth = _check_number("smooth", smooth, low=0.0)
        self.reduction = _check_reduction(reduction)

    def extra_repr(self) -> str:
        return f"smooth={self.smooth:g}, reduction={self.reduction!r}"


class DiceLoss(_SetLoss):
    """Module form of :func:`dice_loss` (per-sample soft Dice loss).

    Taught in: "Loss functions".
    """

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return dice_loss(logits, targets, smooth=self.smooth, reduction=self.reduction)


class IoULoss(_SetLoss):
    """Module form of :func:`iou_loss` (per-sample soft IoU loss).

    Taught in: "Loss functions".
    """

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return iou_loss(logits, targets, smooth=self.smooth, reduction=self.reduction)


class DiceBCELoss(_SetLoss):
    """Module form of :func:`dice_bce_loss` (per-sample BCE + Dice).

    Taught in: "Loss functions".
    """

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return dice_bce_loss(logits, targets, smooth=self.smooth, reduction=self.reduction)


class FocalLoss(nn.Module):
    """Module form of :func:`sigmoid_focal_loss` (per-element focal loss, Lin et al.
    2017).

    Taught in: "Loss functions".
    """

    def __init__(self, *, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean"):
        super().__init__()
        self.alpha = _check_alpha(alpha)
        self.gamma = _check_number("gamma", gamma, low=0.0)
        self.reduction = _check_reduction(reduction)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return sigmoid_focal_loss(
            logits, targets, alpha=self.alpha, gamma=self.gamma, reduction=self.reduction
        )

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, gamma={self.gamma:g}, reduction={self.reduction!r}"


__all__ = [
    "DiceBCELoss",
    "DiceLoss",
    "FocalLoss",
    "IoULoss",
    "dice_bce_loss",
    "dice_loss",
    "iou_loss",
    "sigmoid_focal_loss",
]
