"""The check of the exercise "Count layers of a type, at any depth" (defining-models-ex-5).

Taught in: "Defining models" (exercise "Count layers of a type, at any depth").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_count_layers"]


class _ScaledLinear(nn.Linear):
    """A subclass: ``isinstance`` counts it as a Linear, ``type(m) is nn.Linear`` does not."""


def _count_cases() -> list[tuple[str, nn.Module, type, int]]:
    deep = nn.Sequential(
        nn.Linear(4, 4),
        nn.Sequential(
            nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2)))
        ),
    )
    containers = nn.ModuleDict(
        {
            "body": nn.ModuleList([nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3)]),
            "heads": nn.ModuleDict({"a": nn.Linear(2, 1), "b": _ScaledLinear(2, 3)}),
        }
    )
    attention = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    return [
        (
            "a flat Sequential",
            nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3)),
            nn.Conv2d,
            2,
        ),
        ("inside a ModuleList", containers, nn.Conv2d, 2),
        ("four levels deep", deep, nn.Linear, 3),
        ("subclasses count (isinstance)", containers, nn.Linear, 2),
        ("nn.TransformerEncoderLayer", attention, nn.Linear, 3),
        ("the model itself counts", deep, nn.Sequential, 4),
        ("layers without parameters count too", deep, nn.ReLU, 2),
        ("none at all", deep, nn.Conv2d, 0),
    ]


@exercise_check("count_layers")
def check_count_layers(count_layers: Callable[[nn.Module, type], int]) -> str:
    """``count_layers(model, layer_type)``: every depth, the model itself included,
    subclasses included (``isinstance``); hidden models, with a hint naming the usual
    mistake (``children()``, ``type(m) is``, leaving out the model, two levels only)."""
    cases = _count_cases()
    for description, model, layer_type, expected in cases:
        got = count_layers(model, layer_type)
        problem = compare(got, expected)
        if problem is None and isinstance(got, (int, torch.Tensor)):
            continue
        children = sum(isinstance(m, layer_type) for m in model.children())
        exact = sum(type(m) is layer_type for m in model.modules())
        hint = ""
        if got == children:
            hint = "; children() is one level only, modules() goes down every level"
        elif got == exact:
            hint = "; subclasses count too: test with isinstance(m, layer_type), not type(m)"
        elif got == expected - isinstance(model, layer_type):
            hint = "; the model itself is one of model.modules() and counts too"
        raise CheckFailed(
            f"case {description!r} ({type(model).__name__}, counting {layer_type.__name__}): "
            f"expected {expected}, got {got!r}{hint}"
        )
    return (
        f"all {len(cases)} hidden cases counted right (every depth, subclasses, the model "
        "itself, layers without parameters)."
    )
