"""U-Net assembled from the blocks of its figure: ``DoubleConv``, ``Down``, ``Up``,
``OutConv``.

The block names and attribute names follow milesial/Pytorch-UNet (``unet_parts.py``),
so the state-dict keys read the same (``inc.double_conv.0.weight``,
``up1.conv.double_conv.3.weight``, ...). Reference: O. Ronneberger, P. Fischer and
T. Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation", MICCAI
2015, arXiv:1505.04597. Unlike the paper (unpadded convolutions, output smaller than
the input), every 3x3 convolution here is padded, so the output has the input's
height and width.

Taught in: "U-Net from building blocks".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import is_int, require_tensor

__all__ = ["DoubleConv", "Down", "OutConv", "UNet", "Up", "pad_to_match"]

UNET_LEVELS = 4
"""Number of max-poolings (down steps) of :class:`UNet`."""

MIN_INPUT_SIZE = 2**UNET_LEVELS
"""Smallest height and width :class:`UNet` accepts: four poolings halve 16 down to 1."""


def _check_channels(name: str, value: object) -> int:
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive number of channels, got {value}")
    return value


def _check_image_batch(name: str, x: object) -> torch.Tensor:
    require_tensor(x, name)
    if x.ndim != 4:
        raise ValueError(
            f"{name} must have shape (N, C, H, W), got {x.ndim} dimensions "
            f"{tuple(x.shape)}; add a batch dimension with x.unsqueeze(0) for one image"
        )
    return x


class DoubleConv(nn.Module):
    """(3x3 convolution -> BatchNorm -> ReLU) twice; height and width unchanged.

    The convolutions have no bias: the BatchNorm right after each one subtracts the
    channel mean, which would cancel any bias. ``mid_channels`` (default
    ``out_channels``) is the width between the two convolutions.

    Taught in: "U-Net from building blocks".
    """

    def __init__(
        self, in_channels: int, out_channels: int, mid_channels: int | None = None
    ) -> None:
        super().__init__()
        _check_channels("in_channels", in_channels)
        _check_channels("out_channels", out_channels)
        if mid_channels is None:
            mid_channels = out_channels
        _check_channels("mid_channels", mid_channels)
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)  # (N, C_in, H, W) -> (N, C_out, H, W)


class Down(nn.Module):
    """One step down the U: 2x2 max-pooling (halves height and width, rounding down),
    then a :class:`DoubleConv`.

    Taught in: "U-Net from building blocks".
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(
            nn.MaxPool2d(2),
            DoubleConv(in_channels, out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)  # (N, C_in, H, W) -> (N, C_out, H // 2, W // 2)


def pad_to_match(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Zero-pad ``x`` (N, C, h, w) to the height and width of ``reference``
    (N', C', H, W), splitting each difference between the two sides (the extra
    pixel of an odd difference goes to the bottom / right).

    After a pooling rounded an odd size down, upsampling gives back one pixel less
    than the skip connection holds; this restores the size so the two can be
    concatenated. ``x`` is never larger than ``reference`` in a U-Net; if it is, a
    ``ValueError`` is raised rather than silently cropping.

    Taught in: "U-Net from building blocks".
    """
    _check_image_batch("x", x)
    _check_image_batch("reference", reference)
    diff_y = reference.shape[2] - x.shape[2]
    diff_x = reference.shape[3] - x.shape[3]
    if diff_y < 0 or diff_x < 0:
        raise ValueError(
            f"x is larger than reference: x has height x width {tuple(x.shape[2:])}, "
            f"reference {tuple(reference.shape[2:])}; crop x (or pad reference) instead"
        )
    # F.pad lists the last dimension first: (left, right, top, bottom).
    return F.pad(x, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])


class Up(nn.Module):
    """One step up the U: upsample by 2, pad to the skip connection's size,
    concatenate ``[skip, upsampled]`` on the channel axis, then a :class:`DoubleConv`.

    ``in_channels`` counts the channels after concatenation; the skip connection
    holds half of them. With ``bilinear=True`` the upsampling is a parameter-free
    bilinear interpolation and the input already has ``in_channels // 2`` channels
    (the :class:`DoubleConv` narrows from ``in_channels`` through ``in_channels // 2``).
    With ``bilinear=False`` a learned 2x2 transposed convolution of stride 2 takes
    ``in_channels`` channels down to ``in_channels // 2``.

    Taught in: "U-Net from building blocks".
    """

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True) -> None:
        super().__init__()
        _check_channels("in_channels", in_channels)
        if in_channels < 2 or in_channels % 2:
            raise ValueError(
                f"in_channels counts the skip connection plus the upsampled map, half each, "
                f"so it must be even and at least 2; got {in_channels}"
            )
        if not isinstance(bilinear, bool):
            raise TypeError(f"bilinear must be True or False, got {type(bilinear).__name__}")
        self.bilinear = bilinear
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (N, C, h, w) -> (N, C or C / 2, 2h, 2w)
        x = pad_to_match(x, skip)  # -> (N, ., H, W), the skip's height and width
        x = torch.cat([skip, x], dim=1)  # (N, in_channels, H, W)
        return self.conv(x)  # (N, out_channels, H, W)


class OutConv(nn.Module):
    """A 1x1 convolution: one logit per class and pixel.

    Taught in: "U-Net from building blocks".
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        _check_channels("in_channels", in_channels)
        _check_channels("out_channels", out_channels)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)  # (N, C_in, H, W) -> (N, C_out, H, W)


class UNet(nn.Module):
    """The four-level U-Net: an encoder of four :class:`Down` steps, a decoder of four
    :class:`Up` steps that each concatenate the encoder map of the same size, and a
    1x1 :class:`OutConv`.

    ``UNet(n_channels, n_classes)`` returns logits of shape
    ``(N, n_classes, H, W)`` for an input ``(N, n_channels, H, W)`` with
    ``H, W >= 16`` (any size, odd ones included). ``base_channels`` is the width of
    the first level (64 in the paper); each level below doubles it. With
    ``bilinear=True`` the bottom level and the decoder are half as wide, since
    bilinear upsampling cannot halve the channels the way a transposed convolution
    does.

    Taught in: "U-Net from building blocks".
    """

    def __init__(
        self, n_channels: int, n_classes: int, bilinear: bool = True, *, base_channels: int = 64
    ) -> None:
        super().__init__()
        _check_channels("n_channels", n_channels)
        _check_channels("n_classes", n_classes)
        _check_channels("base_channels", base_channels)
        if not isinstance(bilinear, bool):
            raise TypeError(f"bilinear must be True or False, got {type(bilinear).__name__}")
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.bilinear = bilinear
        self.base_channels = base_channels

        c = base_channels
        factor = 2 if bilinear else 1
        self.inc = DoubleConv(n_channels, c)
        self.down1 = Down(c, 2 * c)
        self.down2 = Down(2 * c, 4 * c)
        self.down3 = Down(4 * c, 8 * c)
        self.down4 = Down(8 * c, 16 * c // factor)
        self.up1 = Up(16 * c, 8 * c // factor, bilinear)
        self.up2 = Up(8 * c, 4 * c // factor, bilinear)
        self.up3 = Up(4 * c, 2 * c // factor, bilinear)
        self.up4 = Up(2 * c, c, bilinear)
        self.outc = OutConv(c, n_classes)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ``TypeError``/``ValueError`` that says the fix if ``x`` is not a
        batch this network can segment; :meth:`forward` calls it first."""
        _check_image_batch("the input", x)
        if not x.is_floating_point():
            raise TypeError(
                f"the input must be a floating-point tensor, got {x.dtype}; "
                "convert it with x.float()"
            )
        n, channels, height, width = x.shape
        if channels != self.n_channels:
            raise ValueError(
                f"expected an input with {self.n_channels} channel(s) (n_channels), got "
                f"{channels} in shape {tuple(x.shape)}; build UNet({channels}, ...) for such "
                "images, or convert them"
            )
        if height < MIN_INPUT_SIZE or width < MIN_INPUT_SIZE:
            raise ValueError(
                f"expected height and width of at least {MIN_INPUT_SIZE} pixels "
                f"({UNET_LEVELS} poolings halve them), got {height} x {width}; "
                "resize or pad the images"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)  # before any convolution runs
        # c = base_channels, f = 2 if bilinear else 1; sizes for H, W divisible by 16.
        x1 = self.inc(x)  # (N, c, H, W)
        x2 = self.down1(x1)  # (N, 2c, H/2, W/2)
        x3 = self.down2(x2)  # (N, 4c, H/4, W/4)
        x4 = self.down3(x3)  # (N, 8c, H/8, W/8)
        x5 = self.down4(x4)  # (N, 16c/f, H/16, W/16): the bottom of the U
        x = self.up1(x5, x4)  # (N, 8c/f, H/8, W/8): skip from x4
        x = self.up2(x, x3)  # (N, 4c/f, H/4, W/4): skip from x3
        x = self.up3(x, x2)  # (N, 2c/f, H/2, W/2): skip from x2
        x = self.up4(x, x1)  # (N, c, H, W): skip from x1
        return self.outc(x)  # (N, n_classes, H, W): logits
