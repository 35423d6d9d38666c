"""tutorial_lib.hooks: hooks always removed, gradient norms, checkpoint key migration."""

import pytest
import torch
from torch import nn

from tutorial_lib.hooks import GradientNorms, Hooks, count_hooks, rename_keys_on_load


class _Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_hooks_run_and_are_gone_after_an_exception():
    model = nn.Sequential(nn.Linear(3, 3), _Boom())
    calls = []
    with pytest.raises(RuntimeError, match="boom"):
        with Hooks() as hooks:
            hooks.register(model[0], "forward", lambda m, a, out: calls.append("forward"))
            hooks.register(model[0], "forward_pre", lambda m, a: calls.append("pre"))
            hooks.add(model[0].weight.register_hook(lambda g: g))
            assert len(hooks) == 3 and count_hooks(model) == {"forward": 1, "forward_pre": 1}
            model(torch.randn(2, 3))
    assert calls == ["pre", "forward"]
    assert count_hooks(model) == {}
    assert not model[0].weight._backward_hooks


def test_forward_hook_can_replace_the_output_and_pre_hook_the_input():
    layer = nn.Identity()
    x = torch.ones(2)
    with Hooks() as hooks:
        hooks.register(
            layer, "forward_pre", lambda m, args, kwargs: ((args[0] * 3,), kwargs), with_kwargs=True
        )
        hooks.register(layer, "forward", lambda m, args, out: out + 1)
        assert layer(x).tolist() == [4.0, 4.0]
    assert layer(x).tolist() == [1.0, 1.0]


def test_gradient_norms_match_autograd():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    x = torch.randn(5, 4)
    outputs = {}
    handle = model[0].register_forward_hook(lambda m, a, out: outputs.setdefault("h", out))
    y = model(x)
    handle.remove()
    expected = torch.autograd.grad(y.pow(2).sum(), outputs["h"])[0].norm().item()
    with GradientNorms(model) as norms:
        for _ in range(2):
            model(x).pow(2).sum().backward()
    assert list(norms.history) == ["0", "2"]
    assert norms.history["0"] == pytest.approx([expected, expected], rel=1e-6)
    assert norms.history["2"] == pytest.approx([2 * y.norm().item()] * 2, rel=1e-6)
    assert count_hooks(model) == {}


class _Old(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(3, 4)
        self.classifier = nn.Linear(4, 2)


class _New(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(3, 4)
        self.head = nn.Linear(4, 2)


def test_migration_loads_old_and_new_checkpoints_strictly():
    torch.manual_seed(0)
    old = _Old().state_dict()
    new = _New()
    rename_keys_on_load(new, {"classifier.": "head."})
    new.load_state_dict(old, strict=True)
    assert torch.equal(new.head.weight, old["classifier.weight"])
    assert "classifier.weight" in old  # the caller's dict is untouched
    new.load_state_dict(_New().state_dict(), strict=True)


def test_migration_on_a_submodule_uses_its_prefix():
    outer = nn.Sequential(_New())
    rename_keys_on_load(outer[0], {"classifier.": "head."})
    outer.load_state_dict(nn.Sequential(_Old()).state_dict(), strict=True)


def test_a_wrong_checkpoint_still_fails_with_a_message():
    new = _New()
    rename_keys_on_load(new, {"classifier.": "head."})
    wrong = {
        "body.weight": torch.zeros(4, 3),
        "body.bias": torch.zeros(4),
        "fc.weight": torch.zeros(2, 4),
        "fc.bias": torch.zeros(2),
    }
    with pytest.raises(RuntimeError, match=r'Missing key\(s\).*"head.weight"'):
        new.load_state_dict(wrong)
    mixed = {**_Old().state_dict(), **_New().state_dict()}
    with pytest.raises(ValueError, match="mixes the old and the new layout"):
        new.load_state_dict(mixed)


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (
            lambda: Hooks().register(nn.Linear(2, 2), "backwards", print),
            ValueError,
            "valid kinds: forward_pre, forward, backward_pre, backward",
        ),
        (lambda: Hooks().register(nn.Linear(2, 2), "forward", 3), TypeError, "callable"),
        (lambda: Hooks().add(print), TypeError, "handle"),
        (lambda: GradientNorms(nn.ReLU()), ValueError, "no layer of the types"),
        (lambda: rename_keys_on_load(nn.Linear(2, 2), {}), TypeError, "non-empty dict"),
        (lambda: rename_keys_on_load(nn.Linear(2, 2), {"a.": "a."}), ValueError, "different"),
    ],
)
def test_bad_arguments_say_the_fix(call, error, fragment):
    with pytest.raises(error, match=fragment):
        call()
