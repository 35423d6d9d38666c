"""The check of the exercise "Make the padding right for odd sizes" (unet-ex-3).

Taught in: "U-Net from building blocks" (exercise "Make the padding right for odd sizes").
"""

from __future__ import annotations

from collections.abc import Callable
from unittest import mock

import torch

from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_pad_like"]


def _pad_reference(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    out = x.new_zeros(*x.shape[:-2], height, width)
    top, left = (height - x.shape[-2]) // 2, (width - x.shape[-1]) // 2
    out[..., top : top + x.shape[-2], left : left + x.shape[-1]] = x
    return out


@exercise_check("pad_like")
def check_pad_like(pad_like: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``pad_like(x, skip)``: zero padding to the last two dimensions of ``skip``, half
    each side, the extra pixel bottom / right; even and odd differences in each
    direction, none at all, a 3-D ``(C, h, w)`` input, float64, gradients flowing to
    ``x``, ``x`` unchanged; calling :func:`tutorial_lib.unet.pad_to_match` fails."""
    generator = torch.Generator().manual_seed(9)
    small = torch.arange(1.0, 7.0).view(1, 1, 2, 3)
    cases: list[tuple[str, torch.Tensor, tuple[int, ...]]] = [
        ("2 x 3 into 3 x 5 (odd height difference)", small, (1, 1, 3, 5)),
        ("2 x 3 into 2 x 4 (odd width difference)", small, (1, 1, 2, 4)),
        ("2 x 3 into 5 x 3 (odd height difference only)", small, (1, 1, 5, 3)),
        ("same size", torch.randn(2, 3, 4, 5, generator=generator), (2, 6, 4, 5)),
        ("4 x 5 into 9 x 6", torch.randn(2, 3, 4, 5, generator=generator), (2, 3, 9, 6)),
        (
            "4 x 5 into 8 x 12 (even differences)",
            torch.randn(2, 3, 4, 5, generator=generator),
            (1, 1, 8, 12),
        ),
        (
            "a single image (C, h, w): 3 x 3 into 6 x 4",
            torch.randn(2, 3, 3, generator=generator),
            (5, 6, 4),
        ),
        (
            "float64, 7 x 2 into 8 x 5",
            torch.randn(1, 2, 7, 2, dtype=torch.float64, generator=generator),
            (1, 2, 8, 5),
        ),
    ]
    message = (
        "pad_like calls the library's pad_to_match; the exercise is to write the padding "
        "yourself (with F.pad, for example)"
    )
    with mock.patch("tutorial_lib.unet._check_image_batch", side_effect=CheckFailed(message)):
        for description, x, skip_shape in cases:
            skip = torch.zeros(skip_shape, dtype=x.dtype)
            x_before = x.clone()
            got = pad_like(x, skip)
            if not torch.equal(x, x_before):
                raise CheckFailed(f"case {description!r}: pad_like changed x in place")
            problem = compare(got, _pad_reference(x, *skip_shape[-2:]), rtol=0, atol=0)
            if problem:
                raise CheckFailed(
                    f"case {description!r}: {problem}; pad the last two dimensions with zeros, "
                    "half of each difference on each side, the extra pixel at the bottom / on "
                    "the right (F.pad's amounts are (left, right, top, bottom))"
                )
        x = torch.randn(1, 2, 3, 4, generator=generator, requires_grad=True)
        out = pad_like(x, torch.zeros(1, 2, 6, 7))
        if not isinstance(out, torch.Tensor) or out.grad_fn is None:
            raise CheckFailed(
                "the result is cut off from the graph (no grad_fn): in Up the gradient must "
                "flow through the padding back to x; stay with torch operations, no .detach(), "
                ".numpy() or torch.no_grad()"
            )
        out.sum().backward()
        if x.grad is None or not torch.equal(x.grad, torch.ones_like(x)):
            raise CheckFailed("the gradient reaching x is not 1 for every element of x")
    return f"{len(cases)} cases (odd, even and no difference, 3-D, float64) and the gradient."
