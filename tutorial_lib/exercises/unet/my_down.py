"""The check of the exercise "Write Down yourself" (unet-ex-2).

Taught in: "U-Net from building blocks" (exercise "Write Down yourself").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..core import CheckFailed, exercise_check
from .blocks import _same_block

__all__ = ["check_my_down"]


@exercise_check("MyDown")
def check_my_down(my_down: Callable[[int, int], nn.Module]) -> str:
    """``MyDown(in, out)``: not built on ``Down``; with the weights of ``Down(in, out)``
    it gives the same outputs in eval and train mode, for two channel configurations
    and odd sizes (see :func:`check_block`)."""
    from ...unet import Down

    if isinstance(my_down, type) and issubclass(my_down, Down):
        raise CheckFailed(
            "MyDown subclasses Down; write it from nn.MaxPool2d (or F.max_pool2d) and "
            "DoubleConv yourself"
        )
    generator = torch.Generator().manual_seed(8)
    configs = [(4, 8, (2, 4, 17, 22)), (3, 5, (3, 3, 9, 8))]
    for cin, cout, shape in configs:
        module = my_down(cin, cout)
        if not isinstance(module, nn.Module):
            raise CheckFailed(f"MyDown({cin}, {cout}) should be an nn.Module, got {module!r}")
        if any(isinstance(m, Down) for m in module.modules()):
            raise CheckFailed(
                f"MyDown({cin}, {cout}) contains a Down; write it from nn.MaxPool2d (or "
                "F.max_pool2d) and DoubleConv yourself"
            )
        x = torch.randn(*shape, generator=generator)
        try:
            _same_block(module, Down(cin, cout), (x,), rtol=1e-5, atol=1e-5)
        except CheckFailed as err:
            raise CheckFailed(f"MyDown({cin}, {cout}): {err}") from err
    return (
        "same parameter shapes and same outputs as Down (eval and train mode), for "
        "Down(4, 8) and Down(3, 5) on odd sizes."
    )
