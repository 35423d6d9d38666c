"""The check of the exercise "A class activation map" (features-ex-2).

Taught in: "Feature extraction and detection heads" (exercise "A class activation map").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._shared import call
from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_class_activation_map"]


def _cam(
    features: torch.Tensor,
    fc_weight: torch.Tensor,
    classes: torch.Tensor,
    size: tuple[int, int],
    *,
    align_corners: bool = False,
    scale: str = "per image, after",
) -> torch.Tensor:
    cams = torch.einsum("nkhw,nk->nhw", features, fc_weight[classes]).unsqueeze(1)
    if scale == "before":
        low, high = cams.amin(dim=(2, 3), keepdim=True), cams.amax(dim=(2, 3), keepdim=True)
        cams = (cams - low) / (high - low)
    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=align_corners)[:, 0]
    if scale == "before":
        return cams
    if scale == "batch":
        return (cams - cams.min()) / (cams.max() - cams.min())
    high = cams.amax(dim=(1, 2), keepdim=True)
    if scale == "max only":
        return cams / high
    low = cams.amin(dim=(1, 2), keepdim=True)
    return (cams - low) / (high - low)


def _plain_mean(features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    maps = F.interpolate(
        features.mean(dim=1, keepdim=True), size=size, mode="bilinear", align_corners=False
    )[:, 0]
    low, high = maps.amin(dim=(1, 2), keepdim=True), maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low)


_CAM_HINTS = (
    (dict(align_corners=True), "it was upsampled with align_corners=True; use align_corners=False"),
    (
        dict(scale="batch"),
        "it was scaled to [0, 1] over the whole batch; scale each image on its own (per image)",
    ),
    (dict(scale="before"), "it was scaled before upsampling; scale after upsampling"),
    (dict(scale="max only"), "it was divided by its maximum only; subtract the minimum first"),
)


@exercise_check("class_activation_map")
def check_class_activation_map(
    class_activation_map: Callable[..., torch.Tensor],
    digits_cnn: nn.Module,
    images: torch.Tensor,
    predictions: torch.Tensor,
) -> str:
    """``class_activation_map(features, fc_weight, classes, size)`` must return
    ``sum_k fc_weight[c, k] * features[:, k]`` for each image's class, upsampled to
    ``size`` (bilinear, ``align_corners=False``) and scaled to [0, 1] per image, shape
    ``(N, H, W)``. Tried on the block4 features of ``digits_cnn`` for ``images`` (with
    the ``predictions`` and other classes) and on features the check makes up.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    from torchvision.models.feature_extraction import create_feature_extractor

    with torch.no_grad():
        block4 = create_feature_extractor(digits_cnn.eval(), return_nodes=["block4"])(images)[
            "block4"
        ]
    fc_weight = digits_cnn.fc.weight.detach()
    generator = torch.Generator().manual_seed(0)
    made_up = torch.randn(3, 5, 3, 5, generator=generator)
    made_up_weight = torch.randn(7, 5, generator=generator)
    cases = [
        ((block4, fc_weight, predictions, (32, 32)), "predicted classes"),
        (
            (block4, fc_weight, torch.arange(len(block4)) % fc_weight.shape[0], (20, 24)),
            "other classes and size",
        ),
        (
            (made_up, made_up_weight, torch.tensor([6, 0, 3]), (9, 11)),
            "features the check made up (3, 5, 3, 5)",
        ),
    ]
    for args, description in cases:
        features, weight, classes, size = args
        with torch.no_grad():
            got = call(class_activation_map, *args, what=description)
        expected = _cam(*args)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckFailed(
                f"{description}: expected shape {tuple(expected.shape)} (N, H, W), got {shape}"
            )
        problem = compare(got, expected, atol=1e-5)
        if problem is None:
            continue
        for options, hint in _CAM_HINTS:
            if compare(got, _cam(*args, **options), atol=1e-5) is None:
                raise CheckFailed(f"{description}: {hint}")
        if compare(got, _plain_mean(features, size), atol=1e-5) is None:
            raise CheckFailed(
                f"{description}: that is the plain channel mean; weight each channel by "
                "fc_weight[classes]"
            )
        raise CheckFailed(f"{description}: the maps differ: {problem}")
    return (
        f"{len(cases)} cases (the chapter's features, other classes and sizes, made-up features)."
    )
