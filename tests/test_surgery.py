import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from tutorial_lib.surgery import (
    LogitsAndFeatures,
    WithExtraInput,
    WithExtraOutput,
    adapt_first_conv,
    changed_entries,
    snapshot,
)


def small_backbone() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1))


# --------------------------------------------------------------------------- WithExtraInput
def test_extra_input_matches_a_hand_computed_head():
    torch.manual_seed(0)
    backbone, head = small_backbone().double(), nn.Linear(4 + 2, 5).double()
    model = WithExtraInput(backbone, head)
    x, extra = torch.randn(3, 3, 8, 8, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    features = backbone(x)
    # the head's weight split in two: one block sees the features, the other the extra input
    expected = features @ head.weight[:, :4].T + extra @ head.weight[:, 4:].T + head.bias
    torch.testing.assert_close(model(x, extra), expected)


def test_extra_input_accepts_one_number_per_sample():
    torch.manual_seed(0)
    model = WithExtraInput(small_backbone(), nn.Linear(5, 2))
    x, extra = torch.randn(4, 3, 8, 8), torch.randn(4)
    torch.testing.assert_close(model(x, extra), model(x, extra.unsqueeze(1)))
    assert extra.shape == (4,)  # the caller's tensor is not reshaped


def test_extra_input_gradients_reach_backbone_head_and_extra():
    torch.manual_seed(0)
    model = WithExtraInput(small_backbone(), nn.Linear(5, 2))
    extra = torch.randn(2, 1, requires_grad=True)
    model(torch.randn(2, 3, 8, 8), extra).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert extra.grad is not None and extra.grad.abs().sum() > 0


def test_extra_input_bad_input():
    model = WithExtraInput(small_backbone(), nn.Linear(5, 2))
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match="2 samples"):
        model(x, torch.randn(3))
    with pytest.raises(ValueError, match=r"\(N,\) or \(N, E\)"):
        model(x, torch.randn(2, 1, 1))
    with pytest.raises(TypeError, match=r"floating-point.*\.float\(\)"):
        model(x, torch.ones(2, dtype=torch.long))
    with pytest.raises(TypeError, match="extra must be a torch.Tensor"):
        model(x, [1.0, 2.0])
    unflattened = WithExtraInput(nn.Conv2d(3, 4, 3), nn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"nn\.Flatten\(1\).*nn\.Identity"):
        unflattened(x, torch.randn(2))
    with pytest.raises(TypeError, match="backbone must be an nn.Module"):
        WithExtraInput(lambda x: x, nn.Linear(5, 2))
    with pytest.raises(TypeError, match="head must be an nn.Module"):
        WithExtraInput(small_backbone(), "fc")


def test_extra_input_with_a_torchvision_resnet():
    torch.manual_seed(0)
    backbone = resnet18(weights=None)
    in_features = backbone.fc.in_features
    backbone.fc = nn.Identity()
    model = WithExtraInput(backbone, nn.Linear(in_features + 1, 10)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32), torch.tensor([0.5, 2.0]))
    assert out.shape == (2, 10)


# --------------------------------------------------------------------------- WithExtraOutput
def test_extra_output_returns_logits_and_features():
    torch.manual_seed(0)
    backbone, head = small_backbone(), nn.Linear(4, 3)
    model = WithExtraOutput(backbone, head)
    x = torch.randn(5, 3, 8, 8)
    out = model(x)
    assert isinstance(out, LogitsAndFeatures)
    logits, features = out  # unpacks like a pair
    torch.testing.assert_close(logits, nn.Sequential(backbone, head)(x))
    torch.testing.assert_close(features, backbone(x))
    assert out.logits is logits and out.features is features


def test_extra_output_one_graph_for_both_outputs():
    torch.manual_seed(0)
    model = WithExtraOutput(small_backbone(), nn.Linear(4, 3))
    logits, features = model(torch.randn(2, 3, 8, 8))
    (logits.sum() + features.pow(2).sum()).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_loss_on_the_features_alone_trains_the_backbone():
    torch.manual_seed(0)
    model = WithExtraOutput(small_backbone(), nn.Linear(4, 3))
    _, features = model(torch.randn(2, 3, 8, 8))
    features.pow(2).sum().backward()
    assert all(p.grad is not None for p in model.backbone.parameters())
    assert all(p.grad is None for p in model.head.parameters())


def test_extra_output_bad_input():
    with pytest.raises(TypeError, match="backbone must be an nn.Module"):
        WithExtraOutput(None, nn.Linear(4, 3))
    model = WithExtraOutput(nn.Conv2d(3, 4, 3), nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"returned shape \(2, 4, 6, 6\)"):
        model(torch.randn(2, 3, 8, 8))


# --------------------------------------------------------------------------- adapt_first_conv
@pytest.fixture
def rgb_conv() -> nn.Conv2d:
    torch.manual_seed(0)
    return nn.Conv2d(3, 6, kernel_size=3, stride=2, padding=1, dtype=torch.float64)


def test_zeros_fill_keeps_the_function_on_the_old_channels(rgb_conv):
    new = adapt_first_conv(rgb_conv, 4, fill="zeros")
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    depth = torch.randn(2, 1, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(new(torch.cat([x, depth], dim=1)), rgb_conv(x))


def test_mean_fill_treats_the_new_channel_like_a_grey_copy(rgb_conv):
    new = adapt_first_conv(rgb_conv, 5)  # default fill="mean"
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    extra = torch.randn(2, 2, 9, 9, dtype=torch.float64)
    # Reference: an extra channel e contributes (conv of e copied into all 3 channels) / 3.
    contribution = sum(
        F.conv2d(extra[:, i : i + 1].repeat(1, 3, 1, 1), rgb_conv.weight, stride=2, padding=1) / 3
        for i in range(2)
    )
    torch.testing.assert_close(new(torch.cat([x, extra], dim=1)), rgb_conv(x) + contribution)


def test_one_channel_sums_the_filters(rgb_conv):
    new = adapt_first_conv(rgb_conv, 1)
    grey = torch.randn(2, 1, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(new(grey), rgb_conv(grey.repeat(1, 3, 1, 1)))


def test_copy_keeps_settings_and_shares_nothing(rgb_conv):
    before = rgb_conv.weight.detach().clone()
    new = adapt_first_conv(rgb_conv, 3)
    assert new is not rgb_conv and new.weight.data_ptr() != rgb_conv.weight.data_ptr()
    torch.testing.assert_close(new.weight, rgb_conv.weight)
    for attr in ("out_channels", "kernel_size", "stride", "padding", "dilation", "padding_mode"):
        assert getattr(new, attr) == getattr(rgb_conv, attr)
    assert new.weight.dtype == torch.float64
    with torch.no_grad():
        new.weight.add_(1.0)
        adapt_first_conv(rgb_conv, 4)
    torch.testing.assert_close(rgb_conv.weight, before)  # the original never changes


def test_no_bias_and_string_padding():
    conv = nn.Conv2d(3, 2, 3, padding="same", bias=False)
    new = adapt_first_conv(conv, 4)
    assert new.bias is None and new.padding == "same"
    assert new(torch.randn(1, 4, 5, 5)).shape == (1, 2, 5, 5)


def test_resnet_with_four_channels_matches_on_rgb():
    torch.manual_seed(0)
    source = resnet18(weights=None).eval()
    target = resnet18(weights=None)
    target.load_state_dict(source.state_dict())
    target.conv1 = adapt_first_conv(source.conv1, 4)
    target.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(target(torch.cat([x, torch.zeros(2, 1, 32, 32)], 1)), source(x))


@pytest.mark.parametrize(
    ("conv", "channels", "kwargs", "error", "match"),
    [
        (nn.Linear(3, 4), 4, {}, TypeError, "must be an nn.Conv2d"),
        (nn.Conv2d(3, 4, 3), 0, {}, ValueError, "at least 1"),
        (nn.Conv2d(3, 4, 3), True, {}, TypeError, "must be an int"),
        (nn.Conv2d(3, 4, 3), 4.0, {}, TypeError, "must be an int"),
        (nn.Conv2d(3, 4, 3), 2, {}, ValueError, "ambiguous"),
        (nn.Conv2d(3, 4, 3), 4, {"fill": "random"}, ValueError, "fill must be one of"),
        (nn.Conv2d(4, 4, 3, groups=2), 5, {}, ValueError, "groups=2"),
        (nn.LazyConv2d(4, 3), 4, {}, ValueError, "lazy layer"),
    ],
)
def test_adapt_first_conv_bad_input(conv, channels, kwargs, error, match):
    with pytest.raises(error, match=match):
        adapt_first_conv(conv, channels, **kwargs)


# --------------------------------------------------------------------------- snapshot
def test_only_trainable_entries_change_after_a_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    model[1].eval()  # no running-statistics update either
    before = snapshot(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model[2](model[1](model[0](torch.randn(5, 3)))).sum().backward()
    optimizer.step()
    assert changed_entries(model, before) == ["1.weight", "1.bias", "2.weight", "2.bias"]


def test_batchnorm_buffers_count_as_changes_in_train_mode():
    model = nn.Sequential(nn.BatchNorm1d(3))
    model.requires_grad_(False)
    before = snapshot(model)
    model(torch.randn(4, 3))  # train mode: running statistics move
    assert changed_entries(model, before) == [
        "0.running_mean",
        "0.running_var",
        "0.num_batches_tracked",
    ]


def test_snapshot_is_a_copy():
    model = nn.Linear(2, 2)
    before = snapshot(model)
    assert changed_entries(model, before) == []
    with torch.no_grad():
        model.weight.add_(1.0)
    assert not torch.equal(before["weight"], model.weight)
    assert changed_entries(model, before) == ["weight"]


def test_snapshot_bad_input():
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        snapshot({"weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="different model"):
        changed_entries(nn.Linear(2, 2), snapshot(nn.Conv2d(1, 1, 1, bias=False)))
    with pytest.raises(ValueError, match="take a new snapshot"):
        changed_entries(nn.Linear(2, 2), snapshot(nn.Linear(3, 2)))
    with pytest.raises(TypeError, match="dict from snapshot"):
        changed_entries(nn.Linear(2, 2), [])
