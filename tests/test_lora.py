"""tutorial_lib.lora against a float64 reference computed by hand."""

import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from tutorial_lib.lora import LoRAConv2d, LoRALinear, add_lora, lora_state_dict, merge_lora


def _randomize(layer):
    """Give B non-zero values: a fresh adapter (B = 0) would hide a wrong update."""
    with torch.no_grad():
        layer.lora_B.normal_()


def test_linear_equals_w_plus_scaled_ba_in_float64():
    torch.manual_seed(0)
    base = nn.Linear(7, 5).double()
    layer = LoRALinear(copy.deepcopy(base), rank=3, alpha=6.0)
    _randomize(layer)
    x = torch.randn(4, 7, dtype=torch.float64)
    weight = base.weight + (6.0 / 3) * layer.lora_B @ layer.lora_A  # by hand
    expected = x @ weight.T + base.bias
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_conv_equals_conv_with_w_plus_scaled_ba_in_float64():
    torch.manual_seed(1)
    base = nn.Conv2d(3, 4, kernel_size=3, stride=2, padding=1).double()
    layer = LoRAConv2d(copy.deepcopy(base), rank=2, alpha=1.0)
    _randomize(layer)
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    delta = (layer.lora_B @ layer.lora_A.reshape(2, -1)).reshape(base.weight.shape) / 2
    expected = F.conv2d(x, base.weight + delta, base.bias, stride=2, padding=1)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_fresh_adapter_changes_nothing():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    x = torch.randn(2, 1, 8, 8)
    before = model(x)
    add_lora(model, rank=2)
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)


def _adapted_model():
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 64, 3),
    ).eval()
    add_lora(model, rank=2, alpha=4.0)
    for m in model.modules():
        if isinstance(m, (LoRALinear, LoRAConv2d)):
            _randomize(m)
    return model


def test_merged_equals_unmerged_and_has_no_adapters():
    model = _adapted_model()
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        before = model(x)
        merge_lora(model)
        after = model(x)
    assert type(model[0]) is nn.Conv2d and type(model[4]) is nn.Linear
    assert not any("lora" in key for key in model.state_dict())
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5)


def test_only_adapter_parameters_get_gradients():
    model = _adapted_model().train()
    model(torch.randn(3, 1, 8, 8)).sum().backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert with_grad == trainable == {"0.lora_A", "0.lora_B", "4.lora_A", "4.lora_B"}


def test_target_wraps_only_the_named_layers():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    add_lora(model, rank=1, target=["1"])
    assert type(model[0]) is nn.Linear and isinstance(model[1], LoRALinear)


def test_lora_state_dict_holds_adapters_and_extra_and_round_trips():
    model = _adapted_model()
    state = lora_state_dict(model, extra=["1"])
    assert sorted(state) == sorted(
        [
            "0.lora_A",
            "0.lora_B",
            "4.lora_A",
            "4.lora_B",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked",
        ]
    )
    other = copy.deepcopy(model)
    for m in other.modules():
        if isinstance(m, (LoRALinear, LoRAConv2d)):
            nn.init.zeros_(m.lora_B)
    result = other.load_state_dict(state, strict=False)
    assert result.unexpected_keys == []
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"rank": 0}, ValueError, "at least 1"),
        ({"rank": -2}, ValueError, "at least 1"),
        ({"rank": 2.0}, TypeError, "must be an int"),
        ({"rank": 2, "alpha": 0}, ValueError, "positive"),
        ({"rank": 2, "target": ["fcc"]}, ValueError, "layers that can take an adapter: 0, 2"),
        ({"rank": 2, "target": ["1"]}, TypeError, "ReLU, which cannot take an adapter"),
        ({"rank": 2, "target": "0"}, TypeError, "list of layer names"),
    ],
)
def test_bad_arguments_say_the_fix(kwargs, error, fragment):
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(error, match=fragment):
        add_lora(model, **kwargs)
    assert type(model[0]) is nn.Linear  # nothing wrapped


def test_grouped_conv_cannot_take_an_adapter():
    with pytest.raises(TypeError, match="groups=1"):
        add_lora(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), rank=1)


def test_adding_twice_and_merging_nothing_fail():
    model = nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="no LoRA adapters"):
        merge_lora(model)
    with pytest.raises(ValueError, match="no LoRA adapters"):
        lora_state_dict(model)
    add_lora(model, rank=1)
    with pytest.raises(ValueError, match="already has LoRA adapters"):
        add_lora(model, rank=1)
