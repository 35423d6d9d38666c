"""Activation maps: where in the image a layer responds.

A layer's output ``(N, C, h, w)`` is averaged over its channels, upsampled to the
size of the input image and scaled to ``[0, 1]``. Drawing the map over the image is
:func:`tutorial_lib.plots.overlay_activation_map`.

Taught in: "Feature extraction and detection heads" (section "Activation maps").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ._validate import is_int, require_tensor

__all__ = ["mean_activation_map"]


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, bool):
        raise TypeError("size must be an int or a pair (height, width), got bool")
    if isinstance(size, int):
        pair = (size, size)
    elif isinstance(size, Sequence) and len(size) == 2:
        pair = tuple(size)
        if any(not is_int(s) for s in pair):
            raise TypeError(f"size must hold two ints, got {size!r}")
    else:
        raise TypeError(f"size must be an int or a pair (height, width), got {size!r}")
    if min(pair) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return pair  # type: ignore[return-value]


def mean_activation_map(
    activations: torch.Tensor,
    size: int | Sequence[int] | None = None,
    *,
    normalize: bool = True,
) -> torch.Tensor:
    """Average a layer's output over its channels: ``(N, C, h, w) -> (N, H, W)``.

    - ``size``: ``(H, W)`` (or one int for a square) to upsample to with bilinear
      interpolation (``F.interpolate``, ``align_corners=False``), usually the input
      image's size; ``None`` keeps ``(h, w)``.
    - ``normalize``: scale each map to ``[0, 1]`` (its minimum to 0, its maximum
      to 1; a constant map becomes all zeros), so maps of layers with different
      scales share one colour scale.

    The result is detached from the autograd graph and the input is not changed.

    Taught in: "Feature extraction and detection heads".
    """
    require_tensor(activations, "activations")
    if activations.ndim != 4:
        raise ValueError(
            f"activations must have shape (N, C, H, W), got {tuple(activations.shape)}; "
            "for one image's (C, H, W) output add the batch dimension with .unsqueeze(0)"
        )
    if not activations.is_floating_point():
        raise TypeError(f"activations must be floating point, got {activations.dtype}")
    maps = activations.detach().mean(dim=1, keepdim=True)  # (N, 1, h, w)
    if size is not None:
        maps = F.interpolate(maps, size=_size_pair(size), mode="bilinear", align_corners=False)
    maps = maps[:, 0]  # (N, H, W)
    if normalize:
        low = maps.amin(dim=(1, 2), keepdim=True)
        span = maps.amax(dim=(1, 2), keepdim=True) - low
        maps = torch.where(span > 0, (maps - low) / span.clamp_min(1e-12), torch.zeros_like(maps))
    return maps
