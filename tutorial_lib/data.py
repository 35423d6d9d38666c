"""Data that ships offline: scikit-learn's digits and synthetic shapes with masks.

Nothing here touches the network. The digits (1,797 8x8 grey images, ten classes)
ship inside scikit-learn; the shapes are drawn from a seed, so any size of data set
is available and the same seed always gives the same images.

Taught in: "Defining models" (digits), "U-Net from building blocks" (shapes),
"Fine-tuning" (digit class subsets).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from ._validate import is_int

__all__ = ["Split", "digits_split", "load_digits_tensors", "make_shapes", "shapes_split"]

DIGITS_NATIVE_SIZE = 8
DIGITS_MAX_VALUE = 16.0  # pixel values of the digits are integers in [0, 16]


def load_digits_tensors(
    *,
    classes: Sequence[int] | None = None,
    size: int = DIGITS_NATIVE_SIZE,
    relabel: bool = False,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return scikit-learn's digits as ``(images, labels)`` tensors.

    ``images`` has shape ``(N, 1, size, size)`` with values in ``[0, 1]``;
    ``labels`` has shape ``(N,)`` and dtype ``torch.long``.

    - ``classes``: keep only these digits (e.g. ``range(5)``); ``None`` keeps all ten.
    - ``size``: side length; other than 8, images are resized with bilinear
      interpolation (e.g. ``32`` for a ResNet stem).
    - ``relabel``: map the kept classes, in increasing order, to ``0 .. k-1`` (so a
      model fine-tuned on digits 5-9 has a 5-way head).

    Taught in: "Defining models", "Fine-tuning".
    """
    from sklearn.datasets import load_digits  # imported here: no work at import time

    if not is_int(size):
        raise TypeError(f"size must be an int, got {type(size).__name__}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=dtype) / DIGITS_MAX_VALUE  # (N, 8, 8)
    labels = torch.as_tensor(bunch.target, dtype=torch.long)  # (N,)

    if classes is not None:
        wanted = sorted({int(c) for c in classes})
        if not wanted:
            raise ValueError("classes is empty; pass None to keep every digit")
        bad = [c for c in wanted if not 0 <= c <= 9]
        if bad:
            raise ValueError(f"classes must be digits 0-9, got {bad}")
        keep = torch.isin(labels, torch.tensor(wanted))
        images, labels = images[keep], labels[keep]
        if relabel:
            lookup = torch.full((10,), -1, dtype=torch.long)
            lookup[torch.tensor(wanted)] = torch.arange(len(wanted))
            labels = lookup[labels]
    elif relabel:
        raise ValueError("relabel=True needs classes=...; all ten digits are already 0-9")

    images = images.unsqueeze(1)  # (N, 1, 8, 8)
    if size != DIGITS_NATIVE_SIZE:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        images = images.clamp_(0.0, 1.0)
    return images, labels


def _stratified_indices(
    labels: torch.Tensor, val_fraction: float, per_class: int | None, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices per class: a validation share of each class, then ``per_class``
    training examples of each class (or all the rest)."""
    generator = torch.Generator().manual_seed(seed)
    train_parts, val_parts = [], []
    for cls in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == cls).flatten()
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n_val = int(round(val_fraction * len(idx)))
        val_parts.append(idx[:n_val])
        rest = idx[n_val:]
        if per_class is not None:
            if per_class > len(rest):
                raise ValueError(
                    f"per_class={per_class} but class {cls} has only {len(rest)} training "
                    f"examples left after the validation split; lower per_class or val_fraction"
                )
            rest = rest[:per_class]
        train_parts.append(rest)
    train_idx = torch.cat(train_parts)
    val_idx = torch.cat(val_parts)
    # Mix the classes so that an unshuffled loader does not see them in blocks.
    # Validation first: its order must not depend on how many training images are kept.
    val_idx = val_idx[torch.randperm(len(val_idx), generator=generator)]
    train_idx = train_idx[torch.randperm(len(train_idx), generator=generator)]
    return train_idx, val_idx


@dataclass(frozen=True)
class Split:
    """A train / validation pair of ``TensorDataset``s."""

    train: TensorDataset
    val: TensorDataset

    def loaders(
        self, batch_size: int = 64, *, seed: int = 0, shuffle: bool = True
    ) -> tuple[DataLoader, DataLoader]:
        """``(train_loader, val_loader)``; the training loader shuffles with its own
        seeded generator, the validation loader does not shuffle."""
        if not is_int(batch_size) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        generator = torch.Generator().manual_seed(seed)
        train = DataLoader(self.train, batch_size=batch_size, shuffle=shuffle, generator=generator)
        val = DataLoader(self.val, batch_size=batch_size, shuffle=False)
        return train, val


def digits_split(
    *,
    classes: Sequence[int] | None = None,
    size: int = DIGITS_NATIVE_SIZE,
    relabel: bool = False,
    val_fraction: float = 0.25,
    per_class: int | None = None,
    seed: int = 0,
) -> Split:
    """Split the digits into stratified training and validation sets.

    Every class keeps the same share ``val_fraction`` in validation. ``per_class``
    keeps only that many training images of each class (a few-shot training set);
    the validation set stays the same for any ``per_class``, so results are
    comparable.

    Taught in: "Defining models", "Optimizers and learning-rate schedulers",
    "Fine-tuning".
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction}")
    if per_class is not None and (not is_int(per_class) or per_class < 1):
        raise ValueError(f"per_class must be a positive int or None, got {per_class!r}")
    images, labels = load_digits_tensors(classes=classes, size=size, relabel=relabel)
    train_idx, val_idx = _stratified_indices(labels, val_fraction, per_class, seed)
    return Split(
        train=TensorDataset(images[train_idx], labels[train_idx]),
        val=TensorDataset(images[val_idx], labels[val_idx]),
    )


SHAPE_KINDS = ("circle", "square", "triangle")


def make_shapes(
    n: int,
    *,
    size: int = 64,
    max_shapes: int = 3,
    radius_range: tuple[float, float] = (0.1, 0.25),
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` grey images of random circles, squares and triangles with masks.

    Returns ``(images, masks)``, both ``float32`` of shape ``(n, 1, size, size)``.
    Images have a random background level, shapes brighter than it, and Gaussian
    noise of standard deviation ``noise``; values are clipped to ``[0, 1]``.
    Masks are 1 on every shape pixel and 0 elsewhere. ``radius_range`` is the
    shape radius as a fraction of ``size``: small radii give a strong class
    imbalance (few foreground pixels). The same ``seed`` always gives the same data.

    Taught in: "U-Net from building blocks", "Loss functions".
    """
    for name, value in (("n", n), ("size", size), ("max_shapes", max_shapes)):
        if not is_int(value):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    if max_shapes < 1:
        raise ValueError(f"max_shapes must be at least 1, got {max_shapes}")
    low, high = radius_range
    if not 0.0 < low <= high <= 0.5:
        raise ValueError(
            f"radius_range must satisfy 0 < low <= high <= 0.5 (fractions of size), "
            f"got {radius_range}"
        )
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")

    rng = np.random.default_rng(seed)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size  # pixel centres in (0, 1)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")  # (size, size)

    images = np.empty((n, size, size), dtype=np.float32)
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        background = rng.uniform(0.0, 0.35)
        image = np.full((size, size), background, dtype=np.float32)
        for _ in range(rng.integers(1, max_shapes + 1)):
            radius = rng.uniform(low, high)
            cy, cx = rng.uniform(radius, 1.0 - radius, size=2)
            kind = SHAPE_KINDS[rng.integers(len(SHAPE_KINDS))]
            dy, dx = yy - cy, xx - cx
            if kind == "circle":
                inside = dy**2 + dx**2 <= radius**2
            elif kind == "square":
                half_side = radius / math.sqrt(2)  # the square inscribed in the circle
                inside = (np.abs(dy) <= half_side) & (np.abs(dx) <= half_side)
            else:  # an upward triangle inscribed in the circle of this radius
                top = -radius
                bottom = radius / 2
                half_width = (dy - top) / (bottom - top) * radius * math.sqrt(3) / 2
                inside = (dy >= top) & (dy <= bottom) & (np.abs(dx) <= half_width)
            image[inside] = rng.uniform(background + 0.35, 1.0)
            masks[i] |= inside
        images[i] = image
    images += rng.normal(0.0, noise, size=images.shape).astype(np.float32) if noise else 0.0
    np.clip(images, 0.0, 1.0, out=images)
    return (
        torch.from_numpy(images).unsqueeze(1),  # (n, 1, size, size)
        torch.from_numpy(masks.astype(np.float32)).unsqueeze(1),  # (n, 1, size, size)
    )


def shapes_split(
    n_train: int,
    n_val: int,
    *,
    size: int = 64,
    max_shapes: int = 3,
    radius_range: tuple[float, float] = (0.1, 0.25),
    noise: float = 0.1,
    seed: int = 0,
) -> Split:
    """Training and validation shapes drawn from disjoint seeds (``seed`` and
    ``seed + 1``), so validation images are never training images.

    Taught in: "U-Net from building blocks", "Loss functions".
    """
    options = dict(size=size, max_shapes=max_shapes, radius_range=radius_range, noise=noise)
    train = make_shapes(n_train, seed=seed, **options)
    val = make_shapes(n_val, seed=seed + 1, **options)
    return Split(train=TensorDataset(*train), val=TensorDataset(*val))
