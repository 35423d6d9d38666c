"""The experiment "Cheap features for a linear probe" (features-ex-4): its probe
:func:`probe_accuracy` and its check.

Taught in: "Feature extraction and detection heads" (exercise "Cheap features for a linear probe").
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._shared import call
from ..core import CheckFailed, exercise_check

__all__ = ["CHEAP_FEATURES_MAX", "PROBE_BAND", "check_cheap_features", "probe_accuracy"]


CHEAP_FEATURES_MAX = 32
PROBE_BAND = 0.95
_LATER = ("block4", "pool", "flatten", "fc")


def probe_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    ridge: float = 1e-3,
) -> float:
    """Validation accuracy of a linear probe: a ridge-regression classifier on one-hot
    targets, fitted in closed form (float64) on features standardised with the
    training statistics. Deterministic, and fast for a few hundred features.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    train = train_features.detach().double().flatten(1)
    val = val_features.detach().double().flatten(1)
    mean, std = train.mean(dim=0), train.std(dim=0) + 1e-6
    train, val = (train - mean) / std, (val - mean) / std
    train = torch.cat([train, torch.ones(len(train), 1, dtype=train.dtype)], dim=1)
    val = torch.cat([val, torch.ones(len(val), 1, dtype=val.dtype)], dim=1)
    classes = int(max(train_labels.max(), val_labels.max())) + 1
    targets = F.one_hot(train_labels, classes).double()
    gram = train.T @ train + ridge * len(train) * torch.eye(train.shape[1], dtype=train.dtype)
    weights = torch.linalg.solve(gram, train.T @ targets)
    return ((val @ weights).argmax(dim=1) == val_labels).double().mean().item()


@exercise_check("cheap_features")
def check_cheap_features(
    cheap_features: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    digits_cnn: nn.Module,
    split: Any,
    *,
    max_features: int = CHEAP_FEATURES_MAX,
    band: float = PROBE_BAND,
) -> str:
    """``cheap_features(model, images)`` must return ``(N, D)`` features with ``D <=
    max_features``, computed without running ``block4``, ``pool`` or ``fc``, on which
    :func:`probe_accuracy` (fitted on the training digits) reaches at least ``band``
    on the validation digits. It runs on a copy of ``digits_cnn`` in eval mode.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    model = copy.deepcopy(digits_cnn).eval()
    ran: list[str] = []
    counters = [
        model.get_submodule(name).register_forward_pre_hook(
            lambda m, a, name=name: (
                ran.append(name) if a and isinstance(a[0], torch.Tensor) else None
            )
        )
        for name in _LATER
        if hasattr(model, name)
    ]
    (train_images, train_labels), (val_images, val_labels) = split.train.tensors, split.val.tensors
    features = {}
    try:
        for part, images in (("training", train_images), ("validation", val_images)):
            with torch.no_grad():
                got = call(cheap_features, model, images, what=f"on the {part} digits")
            if not isinstance(got, torch.Tensor) or got.dim() != 2 or len(got) != len(images):
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise CheckFailed(
                    f"on the {part} digits: expected one row of features per image, shape "
                    f"({len(images)}, D), got {shape}"
                )
            features[part] = got
    finally:
        for counter in counters:
            counter.remove()
    if ran:
        raise CheckFailed(
            f"your features ran {sorted(set(ran))}; use only the layers up to block3 (cheaper, and "
            "the question is what the earlier layers know)"
        )
    size = features["training"].shape[1]
    if size > max_features:
        raise CheckFailed(
            f"{size} numbers per image, more than {max_features}; pool the feature map over its "
            "positions (mean over H and W)"
        )
    if (
        not torch.isfinite(features["training"]).all()
        or not torch.isfinite(features["validation"]).all()
    ):
        raise CheckFailed("the features contain NaN or infinity")
    acc = probe_accuracy(features["training"], train_labels, features["validation"], val_labels)
    if acc < band:
        raise CheckFailed(
            f"a linear probe on your {size} features reaches {acc:.3f} on the validation "
            "digits, below "
            f"{band}; measure each block's pooled output with probe_accuracy and take the best"
        )
    return (
        f"{size} features per image without block4; a linear probe reaches {acc:.3f} (at "
        f"least {band})."
    )
