"""The check of the exercise "A grey first convolution" (modifying-ex-2).

While the learner's function runs, the library's ``adapt_first_conv`` is replaced by a
stand-in that raises, wherever the function could reach it.

Taught in: "Modifying models" (exercise "A grey first convolution").
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import torch
from torch import nn

from ... import surgery
from .._shared import call
from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_grey_first_conv"]


class _UsedBuiltin(Exception):
    """Raised by the stand-in for ``adapt_first_conv`` while a check runs."""


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise _UsedBuiltin


@contextmanager
def _without(
    fn: Callable[..., Any], builtin: Callable[..., Any], module: Any, name: str
) -> Iterator[None]:
    """Replace ``builtin`` by :func:`_refuse` in ``module`` and wherever the learner's
    function ``fn`` sees it among its globals."""
    namespace = getattr(fn, "__globals__", {})
    names = [key for key, value in namespace.items() if value is builtin]
    package = sys.modules[__name__.split(".")[0]]  # tutorial_lib, which re-exports it
    with (
        mock.patch.object(module, name, _refuse),
        mock.patch.object(package, name, _refuse),
        mock.patch.dict(namespace, dict.fromkeys(names, _refuse)),
    ):
        yield


def _conv_state(conv: nn.Conv2d) -> tuple:
    return (
        conv.in_channels,
        conv.weight.detach().clone(),
        None if conv.bias is None else conv.bias.detach().clone(),
    )


_SETTINGS = (
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "padding_mode",
    "groups",
)


@exercise_check("grey_first_conv")
def check_grey_first_conv(grey_first_conv: Callable[[nn.Conv2d], nn.Conv2d]) -> str:
    """``grey_first_conv(conv)`` must return a new ``nn.Conv2d`` with one input channel
    and every other setting of ``conv`` (kernel size, stride, padding, dilation,
    padding mode, bias), computing on a grey image what ``conv`` computes on that
    image copied into three channels; ``conv`` is not changed, no tensor is shared
    with it, and ``adapt_first_conv`` is not used.

    Taught in: "Modifying models" (exercises).
    """
    generator = torch.Generator().manual_seed(0)
    convs = [
        (nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1), "stride 2, padding 1"),
        (nn.Conv2d(3, 4, kernel_size=5, bias=False), "no bias"),
        (nn.Conv2d(3, 6, kernel_size=3, padding=2, dilation=2), "dilation 2"),
        (
            nn.Conv2d(3, 5, kernel_size=3, padding=1, padding_mode="reflect"),
            'padding_mode="reflect"',
        ),
        (nn.Conv2d(3, 7, kernel_size=(3, 5), stride=(1, 2), padding=(1, 0)), "a non-square kernel"),
    ]
    grey = torch.rand(2, 1, 13, 12, generator=generator)
    for conv, description in convs:
        with torch.no_grad():  # trained-looking weights, and a bias far from zero
            conv.weight.normal_(0, 0.5, generator=generator)
            if conv.bias is not None:
                conv.bias.uniform_(0.5, 1.5, generator=generator)
        before = _conv_state(conv)
        with torch.no_grad():
            expected = conv(grey.repeat(1, 3, 1, 1))
        try:
            with _without(grey_first_conv, surgery.adapt_first_conv, surgery, "adapt_first_conv"):
                new = call(grey_first_conv, conv, what=description, reraise=(_UsedBuiltin,))
        except _UsedBuiltin:
            raise CheckFailed(
                "your function calls adapt_first_conv, the library function this exercise asks "
                "you to write yourself: sum conv.weight over its input channels (dim=1)"
            ) from None
        if new is conv:
            raise CheckFailed(
                f"{description}: returned conv itself; do not change conv: build a new "
                "nn.Conv2d (or change a copy.deepcopy of it)"
            )
        after = _conv_state(conv)
        if after[0] != before[0] or compare(after[1:], before[1:]) is not None:
            raise CheckFailed(
                f"{description}: your function changed conv; do not change conv, work on a "
                "new layer"
            )
        if not isinstance(new, nn.Conv2d):
            raise CheckFailed(f"{description}: expected an nn.Conv2d, got {type(new).__name__}")
        if new.in_channels != 1 or new.weight.shape[1] != 1:
            raise CheckFailed(
                f"{description}: expected in_channels=1 and a weight of shape (out, 1, kh, "
                "kw), got "
                f"in_channels={new.in_channels} and weight {tuple(new.weight.shape)}"
            )
        for setting in _SETTINGS:
            if getattr(new, setting) != getattr(conv, setting):
                raise CheckFailed(
                    f"{description}: {setting} is {getattr(new, setting)!r}, conv has "
                    f"{getattr(conv, setting)!r}; keep every setting of conv"
                )
        if (new.bias is None) != (conv.bias is None):
            raise CheckFailed(
                f"{description}: conv {'has no' if conv.bias is None else 'has a'} bias; so "
                "must the new layer"
            )
        own = {p.data_ptr() for p in conv.parameters()}
        shared = [n for n, p in new.named_parameters() if p.data_ptr() in own]
        if shared:
            raise CheckFailed(
                f"{description}: the new layer shares {shared} with conv, so training it "
                "would change "
                "conv too; copy the values (.clone() or copy_)"
            )
        if not all(p.requires_grad for p in new.parameters()):
            raise CheckFailed(
                f"{description}: the new layer's parameters must stay trainable "
                "(requires_grad=True)"
            )
        with torch.no_grad():
            got = new(grey)
        problem = compare(got, expected, atol=1e-4)
        if problem:
            summed = conv.weight.detach().sum(dim=1, keepdim=True)
            if torch.allclose(new.weight.detach(), summed / 3, atol=1e-6):
                raise CheckFailed(
                    f"{description}: the filters are averaged over the channels; the grey image "
                    "reaches all three channels, so sum them (sum(dim=1, keepdim=True))"
                )
            if torch.allclose(new.weight.detach(), summed, atol=1e-6) and conv.bias is not None:
                raise CheckFailed(
                    f"{description}: the filters are right but the bias differs; copy conv.bias"
                )
            raise CheckFailed(
                f"{description}: on a grey image the new layer differs from conv on that "
                "image copied "
                f"into three channels ({problem}); sum the filters over the input channels (dim=1)"
            )
    return (
        f"{len(convs)} convolutions (stride, no bias, dilation, reflect padding, non-square): "
        "same outputs as on an RGB copy, conv unchanged, nothing shared."
    )
