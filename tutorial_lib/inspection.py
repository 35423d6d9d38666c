"""Small helpers to look inside a model.

Taught in: "Defining models" (counting), "Inspecting and initializing models".
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn


class ParameterCount(NamedTuple):
    """Numbers of scalar parameters: all of them, and those with ``requires_grad``."""

    total: int
    trainable: int

    @property
    def frozen(self) -> int:
        return self.total - self.trainable


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count the scalar parameters of ``model`` (each shared tensor once).

    Taught in: "Defining models".
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    total = trainable = 0
    for param in model.parameters():  # parameters() already skips duplicates
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return ParameterCount(total, trainable)
