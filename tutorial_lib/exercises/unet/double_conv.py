"""The check of the exercise "Count the parameters of a DoubleConv" (unet-ex-1).

Taught in: "U-Net from building blocks" (exercise "Count the parameters of a DoubleConv").
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from unittest import mock

from torch import nn

from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_double_conv_parameters"]


def _double_conv_count(in_channels: int, out_channels: int, mid_channels: int | None) -> int:
    mid = out_channels if mid_channels is None else mid_channels
    return 9 * in_channels * mid + 2 * mid + 9 * mid * out_channels + 2 * out_channels


def _refuse_modules(message: str) -> contextlib.AbstractContextManager[object]:
    """Patch ``nn.Module.__init__`` so that building any module raises ``message``."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise CheckFailed(message)

    return mock.patch.object(nn.Module, "__init__", refuse)


@exercise_check("double_conv_parameters")
def check_double_conv_parameters(fn: Callable[..., int]) -> str:
    """``double_conv_parameters(in, out, mid=None)``: the parameter count of
    ``DoubleConv`` from a formula (building any module while it runs fails the check),
    on fixed and random hidden blocks, with ``mid_channels`` positional, by keyword
    and left out; the expected numbers are checked against ``count_parameters`` of the
    real block."""
    from ...unet import DoubleConv

    rng = random.Random(7)
    shapes: list[tuple[int, int, int | None]] = [(1, 8, None), (3, 64, None), (7, 5, 3)]
    shapes += [
        (rng.randint(1, 40), rng.randint(1, 40), rng.choice([None, rng.randint(1, 40)]))
        for _ in range(5)
    ]
    expected = []
    for cin, cout, mid in shapes:
        count = _double_conv_count(cin, cout, mid)
        real = sum(p.numel() for p in DoubleConv(cin, cout, mid).parameters())
        if count != real:  # pragma: no cover - the library and the formula disagree
            raise RuntimeError(f"DoubleConv{(cin, cout, mid)}: formula {count}, module {real}")
        expected.append(count)
    with _refuse_modules(
        "double_conv_parameters builds a module (DoubleConv, Conv2d, ...); compute the "
        "count from a formula, without building anything"
    ):
        for index, ((cin, cout, mid), count) in enumerate(zip(shapes, expected, strict=True)):
            if mid is None:
                call, got = f"({cin}, {cout})", fn(cin, cout)
            elif index % 2:
                call, got = f"({cin}, {cout}, mid_channels={mid})", fn(cin, cout, mid_channels=mid)
            else:
                call, got = f"({cin}, {cout}, {mid})", fn(cin, cout, mid)
            if compare(got, count) is None:
                continue
            m = cout if mid is None else mid
            hint = ""
            if got == count + m + cout:
                hint = "; the convolutions have no bias (BatchNorm right after cancels it)"
            elif got == count + 2 * m + 2 * cout:
                hint = "; BatchNorm's running mean and variance are buffers, not parameters"
            elif mid is not None and got == _double_conv_count(cin, cout, None):
                hint = "; the first convolution goes to mid_channels, the second from it"
            elif got == count - 2 * m - 2 * cout:
                hint = "; each BatchNorm has a weight and a bias per channel"
            raise CheckFailed(
                f"double_conv_parameters{call} returned {got!r}, DoubleConv{call} has "
                f"{count:,} parameters{hint}"
            )
    return f"{len(shapes)} blocks (3 fixed, 5 hidden random), without building a module."
