import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tutorial_lib import CheckFailed, count_parameters
from tutorial_lib.exercises.unet import check_block
from tutorial_lib.unet import (
    MIN_INPUT_SIZE,
    DoubleConv,
    Down,
    OutConv,
    UNet,
    Up,
    pad_to_match,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ----------------------------------------------------------------- closed-form counts
def double_conv_count(cin, cout, mid=None):
    mid = mid or cout
    # two bias-free 3x3 convolutions, each followed by a BatchNorm (weight + bias)
    return 9 * cin * mid + 2 * mid + 9 * mid * cout + 2 * cout


def unet_count(n_channels, n_classes, bilinear, c=64):
    f = 2 if bilinear else 1
    total = double_conv_count(n_channels, c)
    for cin, cout in [(c, 2 * c), (2 * c, 4 * c), (4 * c, 8 * c), (8 * c, 16 * c // f)]:
        total += double_conv_count(cin, cout)
    for cin, cout in [(16 * c, 8 * c // f), (8 * c, 4 * c // f), (4 * c, 2 * c // f), (2 * c, c)]:
        if bilinear:
            total += double_conv_count(cin, cout, cin // 2)
        else:  # 2x2 transposed convolution cin -> cin / 2 with bias
            total += 4 * cin * (cin // 2) + cin // 2 + double_conv_count(cin, cout)
    return total + c * n_classes + n_classes


@pytest.mark.parametrize(
    ("bilinear", "expected"),
    [(True, 17_263_042), (False, 31_037_698)],
)
def test_classic_parameter_counts(bilinear, expected):
    # UNet(3, 2): RGB in, two classes out, width 64 - the numbers the chapter states.
    assert unet_count(3, 2, bilinear) == expected
    counted = count_parameters(UNet(3, 2, bilinear))
    assert counted.total == counted.trainable == expected


@pytest.mark.parametrize("bilinear", [True, False])
@pytest.mark.parametrize(("n_channels", "n_classes", "c"), [(1, 1, 8), (3, 5, 4), (2, 3, 6)])
def test_narrow_parameter_counts(bilinear, n_channels, n_classes, c):
    model = UNet(n_channels, n_classes, bilinear, base_channels=c)
    assert count_parameters(model).total == unet_count(n_channels, n_classes, bilinear, c)


def test_state_dict_keys_follow_the_block_names():
    keys = set(UNet(1, 1, False, base_channels=4).state_dict())
    for key in [
        "inc.double_conv.0.weight",
        "inc.double_conv.1.running_var",
        "down4.maxpool_conv.1.double_conv.3.weight",
        "up1.up.weight",
        "up1.up.bias",
        "up4.conv.double_conv.4.bias",
        "outc.conv.weight",
        "outc.conv.bias",
    ]:
        assert key in keys
    assert not any(key.startswith("up1.up") for key in UNet(1, 1, base_channels=4).state_dict())


# ----------------------------------------------------------------- blocks vs functional
def _bn_train(x, bn):
    # BatchNorm in training mode computed by hand: biased variance over (N, H, W).
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    w, b = bn.weight.double().view(1, -1, 1, 1), bn.bias.double().view(1, -1, 1, 1)
    return (x - mean) / torch.sqrt(var + bn.eps) * w + b


def _double_conv_reference(block, x):
    conv1, bn1, _, conv2, bn2, _ = block.double_conv
    x = x.double()
    x = F.relu(_bn_train(F.conv2d(x, conv1.weight.double(), padding=1), bn1))
    return F.relu(_bn_train(F.conv2d(x, conv2.weight.double(), padding=1), bn2))


def _randomize_bn(module):
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.uniform_(-0.5, 0.5)


@pytest.mark.parametrize("mid", [None, 5])
def test_double_conv_matches_functional_float64(mid):
    block = DoubleConv(3, 4, mid)
    _randomize_bn(block)
    assert all(isinstance(m, nn.Conv2d) and m.bias is None for m in block.double_conv[::3])
    assert block.double_conv[0].out_channels == (mid or 4)
    x = torch.randn(2, 3, 9, 7)
    x_before = x.clone()
    out = block.train()(x)
    assert out.shape == (2, 4, 9, 7)
    torch.testing.assert_close(out.double(), _double_conv_reference(block, x), atol=1e-5, rtol=0)
    assert torch.equal(x, x_before)
    assert count_parameters(block).total == double_conv_count(3, 4, mid)


@pytest.mark.parametrize(("height", "width"), [(8, 8), (9, 13)])
def test_down_pools_then_convolves(height, width):
    block = Down(2, 3).train()
    x = torch.randn(2, 2, height, width)
    pooled = x.unfold(2, 2, 2).unfold(3, 2, 2).amax(dim=(-1, -2))  # 2x2 max without F
    assert pooled.shape == (2, 2, height // 2, width // 2)
    expected = _double_conv_reference(block.maxpool_conv[1], pooled)
    torch.testing.assert_close(block(x).double(), expected, atol=1e-5, rtol=0)


def test_outconv_is_a_per_pixel_linear_layer():
    block = OutConv(4, 3)
    x = torch.randn(2, 4, 5, 6)
    w, b = block.conv.weight[:, :, 0, 0], block.conv.bias
    expected = torch.einsum("nchw,kc->nkhw", x.double(), w.double()) + b.double().view(1, -1, 1, 1)
    torch.testing.assert_close(block(x).double(), expected, atol=1e-6, rtol=0)
    assert count_parameters(block).total == 4 * 3 + 3


# ----------------------------------------------------------------- padding
def _pad_reference(x, height, width):
    out = torch.zeros(*x.shape[:2], height, width, dtype=x.dtype)
    top, left = (height - x.shape[2]) // 2, (width - x.shape[3]) // 2
    out[:, :, top : top + x.shape[2], left : left + x.shape[3]] = x
    return out


@pytest.mark.parametrize(("size", "target"), [((4, 4), (5, 5)), ((4, 6), (7, 6)), ((3, 3), (3, 3))])
def test_pad_to_match(size, target):
    x = torch.randn(2, 3, *size)
    reference = torch.zeros(2, 5, *target)
    x_before = x.clone()
    got = pad_to_match(x, reference)
    torch.testing.assert_close(got, _pad_reference(x, *target), atol=0, rtol=0)
    assert torch.equal(x, x_before)


def test_pad_to_match_odd_difference_goes_bottom_right():
    got = pad_to_match(torch.ones(1, 1, 1, 1), torch.zeros(1, 1, 4, 2))
    assert got[0, 0].tolist() == [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize(
    ("x", "reference", "error", "match"),
    [
        (torch.zeros(1, 1, 6, 4), torch.zeros(1, 1, 5, 5), ValueError, "x is larger than"),
        (torch.zeros(1, 4, 4), torch.zeros(1, 1, 5, 5), ValueError, r"\(N, C, H, W\)"),
        ([[0.0]], torch.zeros(1, 1, 5, 5), TypeError, "torch.Tensor"),
    ],
)
def test_pad_to_match_bad_input(x, reference, error, match):
    with pytest.raises(error, match=match):
        pad_to_match(x, reference)


# ----------------------------------------------------------------- Up
def _up_reference(block, x, skip):
    if block.bilinear:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
    else:
        x = F.conv_transpose2d(x, block.up.weight, block.up.bias, stride=2)
    x = _pad_reference(x, *skip.shape[2:])
    return _double_conv_reference(block.conv, torch.cat([skip, x], dim=1))


@pytest.mark.parametrize("bilinear", [True, False])
@pytest.mark.parametrize("skip_size", [(8, 8), (9, 11)])
def test_up_matches_reference(bilinear, skip_size):
    block = Up(8, 3, bilinear).train()
    in_channels = 4 if bilinear else 8  # bilinear: the input already has half the channels
    x = torch.randn(2, in_channels, skip_size[0] // 2, skip_size[1] // 2)
    skip = torch.randn(2, 4, *skip_size)
    out = block(x, skip)
    assert out.shape == (2, 3, *skip_size)
    torch.testing.assert_close(out.double(), _up_reference(block, x, skip), atol=1e-5, rtol=0)


def test_up_bilinear_is_align_corners():
    # The corners of a bilinear upsampling with align_corners=True are the input corners.
    x = torch.arange(4.0).view(1, 1, 2, 2)
    up = Up(2, 1).up(x)
    assert up[0, 0, 0, 0] == 0 and up[0, 0, -1, -1] == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"in_channels": 7, "out_channels": 3}, ValueError, "must be even"),
        ({"in_channels": 8, "out_channels": 0}, ValueError, "positive number of channels"),
        ({"in_channels": 8, "out_channels": 3, "bilinear": "yes"}, TypeError, "True or False"),
        ({"in_channels": 8.0, "out_channels": 3}, TypeError, "in_channels must be an int"),
    ],
)
def test_block_constructors_reject_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Up(**kwargs)


def test_double_conv_and_outconv_reject_bad_arguments():
    with pytest.raises(ValueError, match="mid_channels"):
        DoubleConv(3, 4, 0)
    with pytest.raises(TypeError, match="out_channels must be an int"):
        OutConv(3, True)


# ----------------------------------------------------------------- UNet
@pytest.mark.parametrize("bilinear", [True, False])
@pytest.mark.parametrize("size", [(16, 16), (32, 48), (17, 17), (33, 45), (31, 16)])
def test_unet_output_shape(bilinear, size):
    model = UNet(2, 3, bilinear, base_channels=4)
    x = torch.randn(2, 2, *size)
    x_before = x.clone()
    out = model(x)
    assert out.shape == (2, 3, *size)
    assert torch.isfinite(out).all()
    assert torch.equal(x, x_before)


def test_unet_forward_is_the_composition_of_its_blocks():
    model = UNet(1, 2, base_channels=4).eval()
    x = torch.randn(1, 1, 21, 35)
    with torch.no_grad():
        x1 = model.inc(x)
        x2 = model.down1(x1)
        x3 = model.down2(x2)
        x4 = model.down3(x3)
        x5 = model.down4(x4)
        y = model.up4(model.up3(model.up2(model.up1(x5, x4), x3), x2), x1)
        torch.testing.assert_close(model(x), model.outc(y), atol=0, rtol=0)
    assert x5.shape[2:] == (1, 2)


@pytest.mark.parametrize("bilinear", [True, False])
def test_gradients_reach_every_parameter(bilinear):
    model = UNet(1, 1, bilinear, base_channels=4)
    x = torch.randn(2, 1, 19, 23)
    F.binary_cross_entropy_with_logits(model(x), torch.rand(2, 1, 19, 23)).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


class _Spy(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return x


@pytest.mark.parametrize(
    ("shape", "dtype", "error", "match"),
    [
        (
            (2, 3, 32, 32),
            torch.float32,
            ValueError,
            r"expected an input with 1 channel\(s\).*got 3",
        ),
        ((2, 1, 15, 32), torch.float32, ValueError, "at least 16 pixels.*got 15 x 32"),
        ((2, 1, 32, 8), torch.float32, ValueError, "at least 16 pixels.*got 32 x 8"),
        ((1, 32, 32), torch.float32, ValueError, r"\(N, C, H, W\), got 3 dimensions"),
        ((1, 1, 1, 32, 32), torch.float32, ValueError, r"\(N, C, H, W\), got 5 dimensions"),
        ((2, 1, 32, 32), torch.int64, TypeError, "floating-point.*x.float"),
    ],
)
def test_unet_rejects_bad_input_before_any_convolution(shape, dtype, error, match):
    model = UNet(1, 1, base_channels=4)
    spy = _Spy()
    model.inc = nn.Sequential(spy, model.inc)  # counts calls into the first convolution
    x = torch.zeros(shape, dtype=dtype)
    with pytest.raises(error, match=match):
        model(x)
    assert spy.calls == 0
    assert MIN_INPUT_SIZE == 16


def test_unet_rejects_a_non_tensor():
    with pytest.raises(TypeError, match="torch.Tensor"):
        UNet(1, 1, base_channels=4)([[0.0]])


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((0, 1), {}, ValueError, "n_channels must be a positive"),
        ((1, 1.5), {}, TypeError, "n_classes must be an int"),
        ((1, 1), {"base_channels": 0}, ValueError, "base_channels"),
        ((1, 1, 1), {}, TypeError, "bilinear must be True or False"),
    ],
)
def test_unet_constructor_rejects_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        UNet(*args, **kwargs)


def test_base_channels_is_keyword_only():
    with pytest.raises(TypeError):
        UNet(1, 1, True, 8)
    assert UNet(1, 1, base_channels=8).inc.double_conv[0].out_channels == 8


# ----------------------------------------------------------------- check_block
class _GoodDown(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.convs = DoubleConv(cin, cout)

    def forward(self, x):
        return self.convs(self.pool(x))


class _ConvThenPool(_GoodDown):
    def forward(self, x):
        return self.pool(self.convs(x))


class _ReluBeforeBatchNorm(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = self.bn1(F.relu(self.conv1(self.pool(x))))
        return F.relu(self.bn2(self.conv2(x)))


def test_check_block_passes_a_correct_block(capsys):
    reference = Down(2, 4)
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    check_block(lambda: _GoodDown(2, 4), reference, inputs=torch.randn(2, 2, 9, 10), name="ok")
    assert capsys.readouterr().out.startswith("✅ ok: same parameter shapes")
    after = reference.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert reference.training


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: _ConvThenPool(2, 4), "output in eval mode differs"),
        (lambda: _ReluBeforeBatchNorm(2, 4), "output in eval mode differs"),
        (lambda: _GoodDown(2, 5), r"expected shape \(4, 2, 3, 3\)"),
        (lambda: nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(2, 4, 3, padding=1)), "expected 12"),
        (lambda: nn.Flatten(), "expected 12"),
        (lambda: "not a module", "expected an nn.Module"),
    ],
)
def test_check_block_catches_wrong_blocks(build, match):
    with pytest.raises(CheckFailed, match=match):
        check_block(build, Down(2, 4), inputs=torch.randn(2, 2, 8, 8))


def test_check_block_not_attempted(capsys):
    def stub():
        raise NotImplementedError

    check_block(stub, Down(2, 4), inputs=torch.randn(2, 2, 8, 8))
    assert "⏳ stub: not attempted yet" in capsys.readouterr().out


def test_check_block_rejects_bad_arguments():
    with pytest.raises(TypeError, match="build must be a function"):
        check_block(Down(2, 4), Down(2, 4), inputs=torch.randn(1, 2, 8, 8))
    with pytest.raises(TypeError, match="reference must be an nn.Module"):
        check_block(lambda: Down(2, 4), "Down", inputs=torch.randn(1, 2, 8, 8))
