"""Argument guards shared by the modules of ``tutorial_lib``, and the normalisation
layer classes they test for.

Private to the package: every public function checks its arguments with these, so
that the same mistake gets the same message everywhere. ``bool`` is a subclass of
``int`` in Python; none of the course's counts, sizes or rates accepts ``True``.

Taught in: the instructor guide ("How the self-checks work"), for why the course
checks every argument.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from torch import nn

__all__: list[str] = []  # nothing public: import the names explicitly

BATCHNORM_LAYERS: tuple[type[nn.Module], ...] = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
)
"""The BatchNorm classes: layers with running statistics and a train/eval switch."""

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    *BATCHNORM_LAYERS,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.RMSNorm,
)
"""Every normalisation layer: their weights scale normalised values (no weight decay)."""


def is_int(value: object, *, numpy: bool = False) -> bool:
    """Whether ``value`` is an integer and not a ``bool`` (with ``numpy=True``, NumPy's
    integer scalars count too)."""
    kinds: tuple[type, ...] = (int, np.integer) if numpy else (int,)
    return isinstance(value, kinds) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """Whether ``value`` is a real number (``int``, ``float``, NumPy's scalars) and not a
    ``bool``."""
    return isinstance(value, Real) and not isinstance(value, bool)


def require_module(value: object, name: str = "model") -> None:
    """Raise ``TypeError`` unless ``value`` is an ``nn.Module``."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be an nn.Module, got {type(value).__name__}")


def require_tensor(value: object, name: str) -> torch.Tensor:
    """Return ``value`` if it is a ``torch.Tensor``; raise ``TypeError`` naming it
    otherwise."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value
