"""The checks of the two overlap-loss exercises (losses-ex-3 and -ex-4): a
per-sample soft Dice loss and a Tversky loss module, tried on the same made-up masks.

Taught in: "Loss functions" (exercises "A per-sample soft Dice loss", "A Tversky loss module").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ... import losses as _losses
from .._shared import forbid
from ..core import CheckFailed, compare, exercise_check
from ._gradients import _gradient, _values_and_gradients

__all__ = ["check_soft_dice", "check_tversky"]


def _set_cases() -> tuple[torch.Tensor, torch.Tensor, list]:
    gen = torch.Generator().manual_seed(3)
    logits = 2 * torch.randn(3, 1, 6, 6, generator=gen)
    masks = (torch.rand(3, 1, 6, 6, generator=gen) < 0.3).float()
    masks[2] = 0  # an image without foreground
    flat = 3 * torch.randn(4, 20, generator=gen)
    flat_masks = (torch.rand(4, 20, generator=gen) < 0.5).float()
    multi = torch.randn(2, 3, 4, 5, generator=gen)
    multi_masks = (torch.rand(2, 3, 4, 5, generator=gen) < 0.4).float()
    return logits, masks, [flat, flat_masks, multi, multi_masks]


@exercise_check("soft_dice_loss")
def check_soft_dice(
    soft_dice_loss: Callable[..., Any], shape_logits: torch.Tensor, shape_masks: torch.Tensor
) -> str:
    """Check ``soft_dice_loss(logits, masks, smooth=1.0)`` against
    ``tutorial_lib.losses.dice_loss(..., reduction="none")`` (values and gradients):
    an empty mask, ``smooth=0`` (also positional), the chapter's shapes, ``(N, D)``
    and ``(N, C, H, W)`` inputs. The library's Dice functions raise while it runs.

    Taught in: "Loss functions" (exercises).
    """
    logits, masks, (flat, flat_masks, multi, multi_masks) = _set_cases()
    cases = [
        ("three images, one of them empty", (logits, masks), {}),
        ("smooth=0", (logits[:2], masks[:2]), {"smooth": 0.0}),
        ("the chapter's shape masks", (shape_logits, shape_masks), {}),
        ("(N, D) inputs, smooth=0.5 given positionally", (flat, flat_masks, 0.5), {}),
        ("(N, C, H, W) with 3 channels", (multi, multi_masks), {}),
    ]

    def reference(x: torch.Tensor, t: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
        return _losses.dice_loss(x, t, smooth=smooth, reduction="none")

    def forbidden():
        return forbid(
            [(_losses, "_dice_per_sample"), (_losses, "_overlaps")],
            "you called the library's dice_loss (or DiceLoss): write the formula yourself",
        )

    _values_and_gradients(
        soft_dice_loss,
        reference,
        cases,
        forbidden,
        hint=(
            "; apply the sigmoid, flatten each sample with flatten(1) (any number of "
            "dimensions), sum per sample, and put smooth in the numerator and the denominator"
        ),
    )
    return f"per-sample values and gradients equal dice_loss in {len(cases)} cases."


def _tversky(
    logits: torch.Tensor, masks: torch.Tensor, alpha: float, beta: float, smooth: float
) -> torch.Tensor:
    p, t = torch.sigmoid(logits).flatten(1), masks.flatten(1)
    tp, fp, fn = (p * t).sum(1), (p * (1 - t)).sum(1), ((1 - p) * t).sum(1)
    return (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)).mean()


@exercise_check("TverskyLoss")
def check_tversky(
    tversky_class: type, shape_logits: torch.Tensor, shape_masks: torch.Tensor
) -> str:
    """Check the module ``TverskyLoss(alpha=0.5, beta=0.5, smooth=1.0)``: it must be
    an ``nn.Module``; with ``smooth=0``, ``α = β = 0.5`` gives ``dice_loss`` and
    ``α = β = 1`` gives ``iou_loss``; the defaults, an asymmetric case, ``(N, D)``
    inputs and the gradient are compared with an independent implementation.

    Taught in: "Loss functions" (exercises).
    """
    logits, masks, (flat, flat_masks, multi, multi_masks) = _set_cases()
    cases = [
        (
            "α = β = 0.5, smooth=0 is the Dice loss",
            (shape_logits, shape_masks),
            {"alpha": 0.5, "beta": 0.5, "smooth": 0.0},
            _losses.dice_loss(shape_logits, shape_masks, smooth=0.0),
        ),
        (
            "α = β = 1, smooth=0 is the IoU loss",
            (shape_logits, shape_masks),
            {"alpha": 1.0, "beta": 1.0, "smooth": 0.0},
            _losses.iou_loss(shape_logits, shape_masks, smooth=0.0),
        ),
        (
            "α = 0.3, β = 0.7: FP weighted by α, FN by β",
            (logits, masks),
            {"alpha": 0.3, "beta": 0.7},
            None,
        ),
        ("the defaults TverskyLoss()", (logits, masks), {}, None),
        (
            "(N, D) inputs, α = 0.8, β = 0.2, smooth = 0.5",
            (flat, flat_masks),
            {"alpha": 0.8, "beta": 0.2, "smooth": 0.5},
            None,
        ),
        ("(N, C, H, W) with 3 channels, β = 2", (multi, multi_masks), {"beta": 2.0}, None),
    ]
    for index, (description, (x, t), options, identity) in enumerate(cases, start=1):
        where = f"case {index} ({description})"
        criterion = tversky_class(**options)
        if not isinstance(criterion, nn.Module):
            raise CheckFailed(
                f"TverskyLoss must subclass nn.Module, got {type(criterion).__name__}"
            )
        full = {"alpha": 0.5, "beta": 0.5, "smooth": 1.0, **options}
        expected = _tversky(x, t, **full) if identity is None else identity
        try:
            got, grad = _gradient(criterion, x, t)
        except (CheckFailed, NotImplementedError):
            raise
        except Exception as err:
            raise CheckFailed(f"{where} raised {type(err).__name__}: {err}") from err
        if got.ndim != 0:
            raise CheckFailed(
                f"{where}: expected one number (the mean over the samples), got shape "
                f"{tuple(got.shape)}"
            )
        problem = compare(got, expected.detach(), rtol=1e-5, atol=1e-5)
        if problem:
            raise CheckFailed(
                f"{where}: {problem}; compute TP, FP, FN per sample (flatten(1)), "
                "T = (TP + s) / (TP + α FP + β FN + s), and return the mean of 1 - T"
            )
        _, expected_grad = _gradient(lambda z, m, o=full: _tversky(z, m, **o), x, t)
        problem = compare(grad, expected_grad, rtol=1e-4, atol=1e-6)
        if problem:
            raise CheckFailed(f"{where}: the value is right but the gradient is wrong: {problem}")
    return f"an nn.Module; Dice and IoU identities, defaults and {len(cases) - 2} more cases right."
