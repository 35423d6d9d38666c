import numpy as np
import pytest
import torch
from torch import nn

from tutorial_lib.inspection import (
    ActivationStd,
    ParameterCount,
    activation_stds,
    count_parameters,
)

# ----------------------------------------------------------------- count_parameters


def _numel_by_hand(model: nn.Module) -> tuple[int, int]:
    """Reference: unique tensors by identity, counted from the named list with duplicates."""
    unique = {id(p): p for _, p in model.named_parameters(remove_duplicate=False)}
    total = sum(p.numel() for p in unique.values())
    trainable = sum(p.numel() for p in unique.values() if p.requires_grad)
    return total, trainable


def test_count_parameters_linear_and_conv_by_formula():
    model = nn.Sequential(nn.Conv2d(3, 8, 5), nn.ReLU(), nn.Flatten(), nn.Linear(8, 4))
    expected = (8 * 3 * 5 * 5 + 8) + (4 * 8 + 4)
    count = count_parameters(model)
    assert count == ParameterCount(expected, expected)
    assert count.frozen == 0


def test_count_parameters_tied_weights_counted_once():
    encoder = nn.Embedding(50, 16)
    decoder = nn.Linear(16, 50, bias=False)
    decoder.weight = encoder.weight  # weight tying: one tensor, two names
    model = nn.ModuleDict({"encoder": encoder, "decoder": decoder})
    assert len(list(model.named_parameters(remove_duplicate=False))) == 2
    assert count_parameters(model).total == 50 * 16 == _numel_by_hand(model)[0]


def test_count_parameters_shared_module_counted_once():
    block = nn.Linear(10, 10)
    model = nn.Sequential(block, nn.ReLU(), block)
    assert count_parameters(model) == ParameterCount(110, 110)
    assert count_parameters(model) == _numel_by_hand(model)


def test_count_parameters_frozen_and_buffers():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    model[0].requires_grad_(False)
    model[2].bias.requires_grad_(False)
    count = count_parameters(model)
    assert count.total == (12 + 3) + (3 + 3) + (6 + 2)  # running stats are buffers: not counted
    assert count.frozen == 15 + 2
    assert count.trainable == count.total - count.frozen
    assert tuple(count) == _numel_by_hand(model)
    # counting changes nothing
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True, True, False]


def test_count_parameters_custom_parameter_and_empty_model():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(7))

    assert count_parameters(Scale()) == ParameterCount(7, 7)
    assert count_parameters(nn.ReLU()) == ParameterCount(0, 0)


@pytest.mark.parametrize("bad", [torch.zeros(3), [nn.Linear(2, 2)], None])
def test_count_parameters_bad_input(bad):
    with pytest.raises(TypeError, match="expected an nn.Module"):
        count_parameters(bad)


# ----------------------------------------------------------------- activation_stds


def _deep_mlp(depth: int = 6, width: int = 32, act=nn.Tanh) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), act()]
    return nn.Sequential(*layers)


def test_activation_stds_match_a_hand_written_loop():
    torch.manual_seed(0)
    model = _deep_mlp()
    x = torch.randn(16, 32)
    expected, h = [], x
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.Tanh):
                expected.append(np.std(h.numpy().astype(np.float64)))
    got = activation_stds(model, x, module_types=nn.Tanh)
    assert [r.name for r in got] == [str(i) for i in range(1, 12, 2)]
    assert all(r.call == 0 for r in got)
    np.testing.assert_allclose([r.std for r in got], expected, rtol=1e-12)
    assert all(isinstance(r, ActivationStd) for r in got)


def test_activation_stds_default_is_every_leaf_in_call_order():
    model = _deep_mlp(depth=2, width=4)
    got = activation_stds(model, torch.randn(3, 4))
    assert [r.name for r in got] == ["0", "1", "2", "3"]
    nested = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 1))
    assert [r.name for r in activation_stds(nested, torch.randn(3, 4))] == ["0.0", "0.1", "1"]


def test_activation_stds_tuple_of_types_and_shared_module_calls():
    act = nn.ReLU()
    model = nn.Sequential(nn.Linear(5, 5), act, nn.Linear(5, 5), nn.Tanh(), act)
    got = activation_stds(model, torch.randn(8, 5), module_types=(nn.ReLU, nn.Tanh))
    # the shared ReLU is listed under its first name, once per call
    assert [(r.name, r.call) for r in got] == [("1", 0), ("3", 0), ("1", 1)]


def test_activation_stds_overflow_gives_nan_or_inf():
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    with torch.no_grad():
        for layer in model:
            layer.weight.fill_(1e30)
    got = activation_stds(model, torch.ones(2, 4), module_types=nn.Linear)
    assert not np.isfinite(got[1].std)


def test_activation_stds_leaves_model_clean():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5), nn.ReLU())
    model.train()
    x = torch.randn(4, 3, requires_grad=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    activation_stds(model, x)
    assert model.training and model[1].training
    assert all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert x.grad is None


def test_activation_stds_removes_hooks_when_forward_fails():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    model = nn.Sequential(nn.Linear(3, 3), Pair())
    with pytest.raises(TypeError, match="returned tuple, not a tensor"):
        activation_stds(model, torch.randn(2, 3))
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(RuntimeError):  # a shape error in the model itself
        activation_stds(nn.Linear(3, 3), torch.randn(2, 4))


def test_activation_stds_bad_input():
    model = _deep_mlp(depth=1, width=3)
    with pytest.raises(TypeError, match="expected an nn.Module"):
        activation_stds("model", torch.randn(2, 3))
    with pytest.raises(TypeError, match="x must be a tensor"):
        activation_stds(model, [[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="nn.Module classes"):
        activation_stds(model, torch.randn(2, 3), module_types=torch.tanh)
    with pytest.raises(ValueError, match="empty tuple"):
        activation_stds(model, torch.randn(2, 3), module_types=())
    with pytest.raises(ValueError, match=r"no module of model matches.*'Linear', 'Sequential'"):
        activation_stds(model, torch.randn(2, 3), module_types=nn.ReLU)
