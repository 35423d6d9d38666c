"""Answers to the exercises of "U-Net from building blocks", right and wrong (see harness.py)."""

import pytest

from harness import Answers, cases, verify

NOTEBOOK = "unet"


def my_down(init: str, forward: str) -> str:
    return (
        "class MyDown(nn.Module):\n"
        "    def __init__(self, in_channels, out_channels):\n"
        "        super().__init__()\n" + init + "\n    def forward(self, x):\n" + forward
    )


# A correct U-Net of any depth, with the parts that wrong answers change as fields.
DEPTH_UNET = """
class UNetOfDepth(nn.Module):
    def __init__(self, n_channels, n_classes, depth, base_channels=4):
        super().__init__()
        c = base_channels
        self.depth = depth
        self.inc = DoubleConv(n_channels, c)
        widths = [c * 2**level for level in range(depth + 1)]
{blocks}
        self.outc = OutConv(c, n_classes)

    def forward(self, x):
{size_check}
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
{decoder}
        return self.outc(x)
"""
BLOCKS = """\
        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1]) for i in range(depth - 1))
        self.downs.append(Down(widths[depth - 1], widths[depth] // 2))
        self.ups = nn.ModuleList(Up(widths[i], widths[i - 2]) for i in range(depth, 1, -1))
        self.ups.append(Up(2 * c, c))
"""
SIZE_CHECK = """\
        if min(x.shape[-2:]) < 2**self.depth:
            raise ValueError(f"need at least {2**self.depth} x {2**self.depth} pixels")
"""
DECODER = """\
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
"""


def depth_unet(blocks: str = BLOCKS, size_check: str = SIZE_CHECK, decoder: str = DECODER) -> str:
    return DEPTH_UNET.format(blocks=blocks, size_check=size_check, decoder=decoder)


ANSWERS = {
    "unet-ex-1": Answers(
        right={
            "per convolution, mid by 'or'": """
                def double_conv_parameters(in_channels, out_channels, mid_channels=None):
                    mid = mid_channels or out_channels
                    conv1, conv2 = 3 * 3 * in_channels * mid, 3 * 3 * mid * out_channels
                    bn1, bn2 = 2 * mid, 2 * out_channels
                    return conv1 + bn1 + conv2 + bn2
            """,
            "factored": """
                def double_conv_parameters(in_channels, out_channels, mid_channels=None):
                    if mid_channels is None:
                        mid_channels = out_channels
                    return mid_channels * (9 * in_channels + 2) + out_channels * (9 * mid_channels + 2)
            """,
        },
        wrong={
            "builds the module and counts": (
                """
                def double_conv_parameters(in_channels, out_channels, mid_channels=None):
                    return tl.count_parameters(DoubleConv(in_channels, out_channels, mid_channels)).total
                """,
                "without building",
            ),
            "convolutions with a bias": (
                """
                def double_conv_parameters(in_channels, out_channels, mid_channels=None):
                    mid = mid_channels or out_channels
                    return (9 * in_channels * mid + mid + 2 * mid) + (9 * mid * out_channels + out_channels + 2 * out_channels)
                """,
                "no bias",
            ),
            "running statistics counted": (
                """
                def double_conv_parameters(in_channels, out_channels, mid_channels=None):
                    mid = mid_channels or out_channels
                    return 9 * in_channels * mid + 4 * mid + 9 * mid * out_channels + 4 * out_channels
                """,
                "buffers",
            ),
            "mid_channels ignored": (
                """
                def double_conv_parameters(in_channels, out_channels, mid_channels=None):
                    return 9 * in_channels * out_channels + 2 * out_channels + 9 * out_channels ** 2 + 2 * out_channels
                """,
                "mid_channels",
            ),
            "the chapter's blocks looked up": (
                """
                def double_conv_parameters(in_channels, out_channels, mid_channels=None):
                    return {(1, 8): 680, (3, 64): 38_848, (128, 64): 110_848,
                            (1024, 256, 512): 5_899_776, (7, 5, 3): 340}[
                        (in_channels, out_channels) if mid_channels is None
                        else (in_channels, out_channels, mid_channels)]
                """,
                "KeyError",
            ),
            "mid defaults to in_channels": (
                """
                def double_conv_parameters(in_channels, out_channels, mid_channels=None):
                    mid = in_channels if mid_channels is None else mid_channels
                    return 9 * in_channels * mid + 2 * mid + 9 * mid * out_channels + 2 * out_channels
                """,
                "has 680 parameters",
            ),
        },
    ),
    "unet-ex-2": Answers(
        right={
            "functional max-pooling": my_down(
                "        self.convs = DoubleConv(in_channels, out_channels)\n",
                "        return self.convs(F.max_pool2d(x, kernel_size=2))\n",
            ),
            "one Sequential": my_down(
                "        self.body = nn.Sequential(nn.MaxPool2d(2, stride=2),"
                " DoubleConv(in_channels, out_channels))\n",
                "        return self.body(x)\n",
            ),
        },
        wrong={
            "a subclass of Down": (
                """
                class MyDown(Down):
                    pass
                """,
                "subclasses Down",
            ),
            "a Down inside": (
                my_down(
                    "        self.down = Down(in_channels, out_channels)\n",
                    "        return self.down(x)\n",
                ),
                "contains a Down",
            ),
            "convolve, then pool": (
                my_down(
                    "        self.pool = nn.MaxPool2d(2)\n"
                    "        self.conv = DoubleConv(in_channels, out_channels)\n",
                    "        return self.pool(self.conv(x))\n",
                ),
                "output in eval mode differs",
            ),
            "average instead of max pooling": (
                my_down(
                    "        self.pool = nn.AvgPool2d(2)\n"
                    "        self.conv = DoubleConv(in_channels, out_channels)\n",
                    "        return self.conv(self.pool(x))\n",
                ),
                "output in eval mode differs",
            ),
            "ceil_mode rounds odd sizes up": (
                my_down(
                    "        self.pool = nn.MaxPool2d(2, ceil_mode=True)\n"
                    "        self.conv = DoubleConv(in_channels, out_channels)\n",
                    "        return self.conv(self.pool(x))\n",
                ),
                "expected shape",
            ),
            "a Dropout added": (
                my_down(
                    "        self.pool = nn.MaxPool2d(2)\n"
                    "        self.conv = DoubleConv(in_channels, out_channels)\n"
                    "        self.drop = nn.Dropout(0.2)\n",
                    "        return self.drop(self.conv(self.pool(x)))\n",
                ),
                "output in train mode differs",
            ),
            "the channels of the visible check hard-coded": (
                my_down(
                    "        self.pool = nn.MaxPool2d(2)\n        self.conv = DoubleConv(4, 8)\n",
                    "        return self.conv(self.pool(x))\n",
                ),
                "MyDown(3, 5): entry 0 of the state dict",
            ),
        },
    ),
    "unet-ex-3": Answers(
        right={
            "zeros and a slice": """
                def pad_like(x, skip):
                    h, w = x.shape[-2:]
                    H, W = skip.shape[-2:]
                    top, left = (H - h) // 2, (W - w) // 2
                    out = x.new_zeros(*x.shape[:-2], H, W)
                    out[..., top:top + h, left:left + w] = x
                    return out
            """,
            "divmod and F.pad": """
                def pad_like(x, skip):
                    (dy, ry), (dx, rx) = (divmod(s - t, 2) for s, t in zip(skip.shape[-2:], x.shape[-2:]))
                    return F.pad(x, (dx, dx + rx, dy, dy + ry), mode="constant", value=0.0)
            """,
        },
        wrong={
            "the library's pad_to_match": (
                """
                def pad_like(x, skip):
                    return pad_to_match(x, skip)
                """,
                "pad_to_match",
            ),
            "F.pad amounts in (top, bottom, left, right) order": (
                """
                def pad_like(x, skip):
                    dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
                    return F.pad(x, [dy // 2, dy - dy // 2, dx // 2, dx - dx // 2])
                """,
                "F.pad's amounts are (left, right, top, bottom)",
            ),
            "the extra pixel at the top and on the left": (
                """
                def pad_like(x, skip):
                    dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
                    return F.pad(x, [dx - dx // 2, dx // 2, dy - dy // 2, dy // 2])
                """,
                "the extra pixel at the bottom",
            ),
            "everything at the bottom and on the right": (
                """
                def pad_like(x, skip):
                    dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
                    return F.pad(x, [0, dx, 0, dy])
                """,
                "half of each difference",
            ),
            "NumPy's pad, detached from the graph": (
                """
                import numpy as np

                def pad_like(x, skip):
                    dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
                    widths = [(0, 0)] * (x.ndim - 2) + [(dy // 2, dy - dy // 2), (dx // 2, dx - dx // 2)]
                    return torch.from_numpy(np.pad(x.detach().numpy(), widths))
                """,
                "cut off from the graph",
            ),
            "zeros in the default dtype": (
                """
                def pad_like(x, skip):
                    h, w = x.shape[-2:]
                    H, W = skip.shape[-2:]
                    out = torch.zeros(*x.shape[:-2], H, W)
                    out[..., (H - h) // 2:(H - h) // 2 + h, (W - w) // 2:(W - w) // 2 + w] = x
                    return out
                """,
                "dtype",
            ),
            "replicated edges instead of zeros": (
                """
                def pad_like(x, skip):
                    dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
                    return F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2], mode="replicate")
                """,
                "values differ",
            ),
            "height and width read at fixed positions 2 and 3": (
                """
                def pad_like(x, skip):
                    dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
                    return F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
                """,
                "IndexError",
            ),
        },
    ),
    "unet-ex-4": Answers(
        right={
            "named attributes with setattr, skips reversed": """
                class UNetOfDepth(nn.Module):
                    def __init__(self, n_channels, n_classes, depth, base_channels=4):
                        super().__init__()
                        c, self.depth = base_channels, depth
                        self.inc = DoubleConv(n_channels, c)
                        for i in range(1, depth + 1):
                            out = c * 2**i // (2 if i == depth else 1)
                            setattr(self, f"down{i}", Down(c * 2 ** (i - 1), out))
                        for j, i in enumerate(range(depth, 0, -1), start=1):
                            out = c if i == 1 else c * 2 ** (i - 2)
                            setattr(self, f"up{j}", Up(c * 2**i, out))
                        self.outc = OutConv(c, n_classes)

                    def forward(self, x):
                        n = 2**self.depth
                        if x.shape[2] < n or x.shape[3] < n:
                            raise ValueError(f"height and width must be at least {n}, got {tuple(x.shape[2:])}")
                        features = [self.inc(x)]
                        for i in range(1, self.depth + 1):
                            features.append(getattr(self, f"down{i}")(features[-1]))
                        x = features[-1]
                        for j, skip in enumerate(reversed(features[:-1]), start=1):
                            x = getattr(self, f"up{j}")(x, skip)
                        return self.outc(x)
            """,
            "inc inside the encoder list, zip over reversed skips": depth_unet(
                blocks=(
                    "        del self.inc\n"
                    "        self.downs = nn.ModuleList([DoubleConv(n_channels, c)])\n"
                    "        for i in range(depth):\n"
                    "            self.downs.append(Down(widths[i], widths[i + 1] // (2 if i == depth - 1 else 1)))\n"
                    "        self.ups = nn.ModuleList()\n"
                    "        for i in range(depth, 0, -1):\n"
                    "            self.ups.append(Up(widths[i], widths[i - 2] if i > 1 else c))\n"
                ),
                decoder=(
                    "        skips = skips[1:]\n"
                    "        x = skips[-1]\n"
                    "        for up, skip in zip(self.ups, reversed(skips[:-1])):\n"
                    "            x = up(x, skip)\n"
                ),
            ).replace(
                "        skips = [self.inc(x)]\n        for down in self.downs:\n"
                "            skips.append(down(skips[-1]))\n",
                "        skips = [x]\n        for down in self.downs:\n"
                "            skips.append(down(skips[-1]))\n",
            ),
        },
        wrong={
            "blocks in plain Python lists": (
                depth_unet(blocks=BLOCKS.replace("nn.ModuleList(", "list(")),
                "plain Python list",
            ),
            "the bottom not halved (the transposed-conv widths with bilinear Ups)": (
                depth_unet(
                    blocks=(
                        "        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1]) for i in range(depth))\n"
                        "        self.ups = nn.ModuleList(Up(widths[i], widths[i - 1]) for i in range(depth, 0, -1))\n"
                    )
                ),
                "a U-Net of that depth has",
            ),
            "no size check: the pooling fails deep inside": (
                depth_unet(size_check=""),
                "raise a ValueError",
            ),
            "size check off by one (<=)": (
                depth_unet(size_check=SIZE_CHECK.replace("< 2**self.depth", "<= 2**self.depth")),
                "must work",
            ),
            "size check for one pooling less": (
                depth_unet(
                    size_check=SIZE_CHECK.replace("< 2**self.depth", "< 2 ** (self.depth - 1)")
                ),
                "ValueError",
            ),
            "the bottom map left among the skips": (
                depth_unet(decoder=DECODER.replace("x = skips.pop()", "x = skips[-1]")),
                "x is larger than reference",
            ),
            "depth ignored: always four levels": (
                depth_unet(
                    blocks="        widths = [c * 2**level for level in range(5)]\n"
                    + BLOCKS.replace("depth", "4")
                ),
                "a U-Net of that depth has",
            ),
            "transposed convolutions": (
                depth_unet(
                    blocks=(
                        "        self.downs = nn.ModuleList(Down(widths[i], widths[i + 1]) for i in range(depth))\n"
                        "        self.ups = nn.ModuleList(Up(widths[i], widths[i - 1], bilinear=False)"
                        " for i in range(depth, 0, -1))\n"
                    )
                ),
                "a U-Net of that depth has",
            ),
        },
    ),
}


@pytest.mark.parametrize("case", cases(NOTEBOOK, ANSWERS), ids=str)
def test_exercise(grader, case):
    verify(grader, case)
