"""The design exercise "A U-Net of any depth" (unet-ex-4): :func:`unet_parameters`
and the check.

Taught in: "U-Net from building blocks" (exercise "A U-Net of any depth").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..core import CheckFailed, exercise_check
from .blocks import _same_block
from .double_conv import _double_conv_count

__all__ = ["check_unet_depth", "unet_parameters"]


def unet_parameters(n_channels: int, n_classes: int, depth: int, base_channels: int) -> int:
    """Parameters of a bilinear U-Net with ``depth`` poolings, following ``UNet``'s
    pattern (``depth=4`` is ``UNet(n_channels, n_classes, base_channels=...)``).

    Taught in: "U-Net from building blocks" (exercise "A U-Net of any depth").
    """
    c = base_channels
    total = _double_conv_count(n_channels, c, None)
    for level in range(1, depth):
        total += _double_conv_count(c * 2 ** (level - 1), c * 2**level, None)
    total += _double_conv_count(c * 2 ** (depth - 1), c * 2 ** (depth - 1), None)  # the bottom
    for level in range(depth, 1, -1):  # Up(c 2^level, c 2^(level - 2)), narrowing through half
        total += _double_conv_count(c * 2**level, c * 2 ** (level - 2), c * 2 ** (level - 1))
    total += _double_conv_count(2 * c, c, c)  # the top Up(2c, c)
    return total + c * n_classes + n_classes


def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


@exercise_check("UNetOfDepth")
def check_unet_depth(build: Callable[..., nn.Module]) -> str:
    """The design exercise: ``build(n_channels, n_classes, depth, base_channels=...)``
    for depths 1 to 5: the parameter count of :func:`unet_parameters`, the output
    shape for odd sizes, a ``ValueError`` for inputs smaller than ``2 ** depth`` (and
    none at exactly ``2 ** depth``); at ``depth=4`` the same outputs as ``UNet`` with
    the same weights (eval and train mode)."""
    from ...unet import UNet

    generator = torch.Generator().manual_seed(10)
    configs = [(1, 2, 4, 4), (2, 3, 1, 3), (1, 1, 2, 4), (3, 2, 3, 2), (1, 1, 5, 4)]
    for n_channels, n_classes, depth, c in configs:
        call = f"({n_channels}, {n_classes}, depth={depth}, base_channels={c})"
        model = build(n_channels, n_classes, depth, base_channels=c)
        if not isinstance(model, nn.Module):
            raise CheckFailed(f"{call} should build an nn.Module, got {type(model).__name__}")
        total = sum(p.numel() for p in model.parameters())
        expected = unet_parameters(n_channels, n_classes, depth, c)
        if total != expected:
            hint = (
                " (blocks kept in a plain Python list are not registered: use nn.ModuleList)"
                if total < expected
                else ""
            )
            raise CheckFailed(
                f"{call} has {total:,} parameters, a U-Net of that depth has {expected:,}{hint}; "
                "follow UNet's pattern: channels double on the way down, the bottom Down and "
                "every Up but the last give half as many (bilinear), one Down and one Up per level"
            )
        size = 2**depth
        h, w = size + 5, 2 * size + 3
        x = torch.randn(2, n_channels, h, w, generator=generator)
        try:
            out = _forward(model, x)
        except Exception as err:
            raise CheckFailed(
                f"{call}: the forward pass on a (2, {n_channels}, {h}, {w}) batch raised "
                f"{type(err).__name__}: {err}"
            ) from err
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_classes, h, w):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(
                f"{call}: expected an output of shape {(2, n_classes, h, w)}, got {got}"
            )
        try:
            _forward(model, torch.randn(2, n_channels, size, size, generator=generator))
        except Exception as err:
            raise CheckFailed(
                f"{call}: an input of exactly {size} x {size} (2 ** depth) must work, it raised "
                f"{type(err).__name__}: {err}"
            ) from err
        for small in [(size - 1, size), (size, size - 1)]:
            try:
                _forward(model, torch.randn(2, n_channels, *small, generator=generator))
            except ValueError:
                continue
            except Exception as err:
                raise CheckFailed(
                    f"{call}: an input of {small[0]} x {small[1]} raised {type(err).__name__} "
                    f"({err}); check the size at the top of forward and raise a ValueError "
                    f"that says the minimum, {size} x {size}"
                ) from err
            raise CheckFailed(
                f"{call}: an input of {small[0]} x {small[1]} was accepted, but {depth} poolings "
                f"need at least {size} x {size}: raise a ValueError at the top of forward"
            )
        if depth == 4:
            x = torch.randn(2, n_channels, 37, 45, generator=generator)
            try:
                _same_block(
                    model, UNet(n_channels, n_classes, base_channels=c), (x,), rtol=1e-4, atol=1e-4
                )
            except CheckFailed as err:
                raise CheckFailed(
                    f"{call} against UNet{(n_channels, n_classes)} with base_channels={c}: {err} "
                    "(register inc, the Downs from the top, the Ups from the bottom, then outc, "
                    "and concatenate each Up with the encoder map of its own size)"
                ) from err
    return (
        f"{len(configs)} depths (1 to 5): parameter counts, output shapes, the minimum input "
        "size, and the outputs of UNet at depth 4."
    )
