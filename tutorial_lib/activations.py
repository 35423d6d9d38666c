"""Activation maps: where in the image a layer responds, drawn over the image.

A layer's output ``(N, C, h, w)`` is averaged over its channels, upsampled to the
size of the input image and scaled to ``[0, 1]``; the result is drawn over the
image with a colour map.

Taught in: "Feature extraction and detection heads" (section "Activation maps").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ._validate import is_int

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn
    from matplotlib.axes import Axes


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
    if not isinstance(activations, torch.Tensor):
        raise TypeError(f"activations must be a tensor, got {type(activations).__name__}")
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


def _as_numpy(value: object, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(f"{name} must be a tensor or a NumPy array, got {type(value).__name__}")


def _image_hwc(image: object) -> np.ndarray:
    """``(H, W)``, ``(1|3, H, W)`` or ``(H, W, 1|3)`` -> ``(H, W)`` or ``(H, W, 3)``."""
    array = _as_numpy(image, "image")
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)  # (C, H, W) -> (H, W, C)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(
            f"image must be (H, W), (C, H, W) or (H, W, C) with 1 or 3 channels, "
            f"got shape {array.shape}"
        )
    if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
        raise ValueError(
            "image values must lie in [0, 1] (undo the normalisation first, e.g. "
            "x * std + mean, or divide 8-bit images by 255)"
        )
    return array


def overlay_activation_map(
    image: torch.Tensor | np.ndarray,
    activation: torch.Tensor | np.ndarray,
    *,
    ax: Axes | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
    title: str | None = None,
) -> Axes:
    """Draw ``image`` and, over it, ``activation`` with colour map ``cmap``.

    ``image`` is ``(H, W)`` (grey), ``(C, H, W)`` or ``(H, W, C)`` with values in
    ``[0, 1]``; ``activation`` is one ``(H, W)`` map (e.g. a row of
    :func:`mean_activation_map` called with the image's size), drawn on the colour
    scale ``[0, 1]``. ``alpha`` is the opacity of the map. Draws on ``ax`` (or new
    axes), hides the ticks and returns the axes.

    Taught in: "Feature extraction and detection heads".
    """
    picture = _image_hwc(image)
    heat = _as_numpy(activation, "activation")
    if heat.ndim != 2:
        raise ValueError(
            f"activation must be one (H, W) map, got shape {heat.shape}; pick one image "
            "of the batch, e.g. maps[0]"
        )
    if heat.shape != picture.shape[:2]:
        raise ValueError(
            f"activation is {heat.shape} but the image is {picture.shape[:2]}; upsample the map "
            "first with mean_activation_map(..., size=image_size)"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0.0, vmax=1.0)
    ax.imshow(heat, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
