"""The check of the exercise "Kaiming normal by hand" (inspecting-ex-2).

Taught in: "Inspecting and initializing models" (exercise "Kaiming normal by hand").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...initialization import compare_distribution
from .._shared import forbid, seeded
from ..core import CheckFailed, exercise_check

__all__ = ["check_kaiming_normal"]


_KAIMING_CASES = [
    ((512, 256), 0.0, "fan_in"),
    ((512, 256), 0.0, "fan_out"),
    ((64, 32, 3, 3), 0.2, "fan_out"),
    ((64, 32, 3, 3), 1.0, "fan_in"),
    ((300, 700), 0.5, "fan_in"),
    ((96, 48, 5), 3.0, "fan_out"),
]


@exercise_check("kaiming_normal_by_hand_")
def check_kaiming_normal(kaiming_normal_by_hand_: Callable[..., Any]) -> str:
    """Check ``kaiming_normal_by_hand_(tensor, a=0.0, mode="fan_in")``.

    For linear, 1-d and 2-d convolution weights, several ``a`` and both modes (one
    call positional), the function must fill the given tensor in place, return it,
    and give values distributed like ``nn.init.kaiming_normal_(...,
    nonlinearity="leaky_relu")`` (standard deviation and a Kolmogorov-Smirnov test).
    ``nn.init.kaiming_normal_`` and ``kaiming_uniform_`` raise while it runs.

    Taught in: "Inspecting and initializing models" (exercises).
    """
    forbidden = (
        "you called nn.init.kaiming_normal_ (or kaiming_uniform_): the exercise is to "
        "compute the standard deviation yourself and draw with nn.init.normal_"
    )
    for index, (shape, a, mode) in enumerate(_KAIMING_CASES, start=1):
        reference = nn.init.kaiming_normal_(
            torch.empty(shape),
            a=a,
            mode=mode,
            nonlinearity="leaky_relu",
            generator=torch.Generator().manual_seed(index),
        )
        description = f"case {index} (shape {shape}, a={a}, mode={mode!r})"
        tensor = torch.full(shape, math.nan)
        with (
            seeded(100 + index),
            forbid(
                [(torch.nn.init, "kaiming_normal_"), (torch.nn.init, "kaiming_uniform_")], forbidden
            ),
        ):
            if index == 3:
                got = kaiming_normal_by_hand_(tensor, a, mode)  # positional arguments
            else:
                got = kaiming_normal_by_hand_(tensor, a=a, mode=mode)
        if got is not tensor:
            filled = not torch.isnan(tensor).any()
            raise CheckFailed(
                f"{description}: "
                + (
                    "the tensor was filled, but you returned another object; return tensor"
                    if filled
                    else "the given tensor was not filled in place (it still holds nan); "
                    "fill it with nn.init.normal_(tensor, 0.0, std) and return it"
                )
            )
        problem = compare_distribution(tensor, reference)
        if problem:
            fan_in = shape[1] * math.prod(shape[2:])
            fan_out = shape[0] * math.prod(shape[2:])
            std = math.sqrt(2 / (1 + a**2)) / math.sqrt(fan_in if mode == "fan_in" else fan_out)
            raise CheckFailed(
                f"{description}: {problem}; expected std {std:.4g} = sqrt(2 / (1 + a**2)) / "
                f"sqrt({mode} = {fan_in if mode == 'fan_in' else fan_out}), from a normal "
                "distribution"
            )
    return (
        f"in place, returned, and distributed like kaiming_normal_ in {len(_KAIMING_CASES)} cases."
    )
