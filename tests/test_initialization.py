import copy
import math

import pytest
import torch
from torch import nn

from tutorial_lib.initialization import (
    KSResult,
    compare_distribution,
    compare_initialization,
    fan_in_and_fan_out,
    init_by_type,
    ks_two_sample,
)

# ----------------------------------------------------------------- fan_in_and_fan_out


@pytest.mark.parametrize(
    "shape", [(4, 3), (8, 3, 5, 5), (6, 2, 3), (2, 4, 3, 3, 3), (1, 1), (5, 0, 3, 3)]
)
def test_fans_match_torch_helper(shape):
    tensor = torch.empty(shape)
    expected = nn.init._calculate_fan_in_and_fan_out(tensor)  # private: reference only
    assert fan_in_and_fan_out(tensor) == expected
    assert fan_in_and_fan_out(shape) == expected
    assert fan_in_and_fan_out(torch.Size(shape)) == expected


def test_fans_of_layers_by_hand():
    assert fan_in_and_fan_out(nn.Linear(20, 7).weight) == (20, 7)
    assert fan_in_and_fan_out(nn.Conv2d(3, 16, kernel_size=(3, 5)).weight) == (45, 240)
    # a transposed conv stores (in, out, k, k): torch's convention reads dim 1 as fan_in
    assert fan_in_and_fan_out(nn.ConvTranspose2d(4, 6, 2).weight) == (24, 16)


@pytest.mark.parametrize("bad", [torch.zeros(5), (5,), ()])
def test_fans_reject_1d_with_a_fix(bad):
    with pytest.raises(ValueError, match="zeros_"):
        fan_in_and_fan_out(bad)


@pytest.mark.parametrize("bad", [5, "3x4", (3, 2.0), (3, -1), (True, 2), None])
def test_fans_bad_types(bad):
    with pytest.raises(TypeError):
        fan_in_and_fan_out(bad)


# ----------------------------------------------------------------- init_by_type


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.bn = nn.BatchNorm2d(4)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(4, 3)
        self.out = NamedLinear(3, 2)


class NamedLinear(nn.Linear):
    """A subclass, to test that the most specific rule wins."""


def test_init_by_type_matches_a_hand_loop():
    rules = {
        nn.Conv2d: lambda m: (nn.init.constant_(m.weight, 0.5), nn.init.zeros_(m.bias)),
        nn.BatchNorm2d: lambda m: (m.weight.fill_(2.0), m.bias.fill_(-1.0)),  # needs no_grad
        nn.Linear: lambda m: nn.init.eye_(m.weight),
    }
    model, reference = Net(), Net()
    reference.load_state_dict(model.state_dict())
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(0.5)
                module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(2.0)
                module.bias.fill_(-1.0)
            elif isinstance(module, nn.Linear):
                module.weight.copy_(torch.eye(*module.weight.shape))
    before_bias = model.head.bias.clone()
    names = init_by_type(model, rules)
    assert names == ["block.conv", "block.bn", "head", "out"]  # "out" via its base class
    for (name, got), (_, want) in zip(
        model.state_dict().items(), reference.state_dict().items(), strict=True
    ):
        assert torch.equal(got, want), name
    assert torch.equal(model.head.bias, before_bias)  # untouched by the rule
    assert all(p.requires_grad for p in model.parameters())


def test_init_by_type_most_specific_class_wins_and_rules_untouched():
    seen = []
    rules = {
        nn.Module: lambda m: seen.append(("module", type(m).__name__)),
        nn.Linear: lambda m: seen.append(("linear", type(m).__name__)),
        NamedLinear: lambda m: seen.append(("named", type(m).__name__)),
    }
    frozen_rules = dict(rules)
    init_by_type(Net(), rules)
    assert seen == [
        ("module", "Net"),
        ("module", "Block"),
        ("module", "Conv2d"),
        ("module", "BatchNorm2d"),
        ("linear", "Linear"),
        ("named", "NamedLinear"),
    ]
    assert rules == frozen_rules


def test_init_by_type_tuple_keys_and_shared_modules_once():
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.Conv1d(3, 3, 1), shared)
    calls = []
    names = init_by_type(model, {(nn.Linear, nn.Conv1d): lambda m: calls.append(m)})
    assert names == ["0", "1"]
    assert calls == [shared, model[1]]


def test_init_by_type_kaiming_rule_gives_kaiming_distribution():
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 128, 3), nn.ReLU())
    init_by_type(
        model,
        {
            nn.Conv2d: lambda m: nn.init.kaiming_normal_(
                m.weight, nonlinearity="relu", generator=gen
            )
        },
    )
    expected_std = math.sqrt(2 / (64 * 9))
    assert model[0].weight.std().item() == pytest.approx(expected_std, rel=0.01)


def test_init_by_type_errors():
    model = nn.Sequential(nn.Conv1d(2, 2, 1))
    with pytest.raises(ValueError, match=r"no module .* rules for \['Conv2d'\].*'Conv1d'"):
        init_by_type(model, {nn.Conv2d: lambda m: None})
    with pytest.raises(ValueError, match="rules is empty"):
        init_by_type(model, {})
    with pytest.raises(ValueError, match="Conv1d has two rules"):
        init_by_type(model, {nn.Conv1d: print, (nn.Linear, nn.Conv1d): print})
    with pytest.raises(TypeError, match="nn.Module classes"):
        init_by_type(model, {"Conv1d": print})
    with pytest.raises(TypeError, match="must be a function"):
        init_by_type(model, {nn.Conv1d: nn.init.zeros_(torch.empty(2))})
    with pytest.raises(TypeError, match="rules must be a mapping"):
        init_by_type(model, [(nn.Conv1d, print)])
    with pytest.raises(TypeError, match="expected an nn.Module"):
        init_by_type(model.state_dict(), {nn.Conv1d: print})


# ----------------------------------------------------------------- KS test


def test_ks_statistic_and_threshold_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    special = pytest.importorskip("scipy.special")
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(300, generator=gen)
    b = torch.randn(5, 40, generator=gen) * 1.2 + 0.1
    b[0, :5] = a[:5]  # ties between the samples
    result = ks_two_sample(a, b, alpha=0.01)
    assert isinstance(result, KSResult)
    reference = stats.ks_2samp(a.double().numpy(), b.double().numpy().ravel(), method="asymp")
    assert result.statistic == pytest.approx(reference.statistic, abs=1e-12)
    n, m = 300, 200
    # kolmogi inverts the whole Kolmogorov series; our c(alpha) keeps its first term
    assert result.threshold == pytest.approx(
        special.kolmogi(0.01) * math.sqrt((n + m) / (n * m)), rel=1e-6
    )


def test_ks_statistic_by_hand():
    # a = {1, 2, 3}, b = {2.5, 4}: after 2 the CDFs are 2/3 and 0, the largest gap.
    result = ks_two_sample(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.5, 4.0]), alpha=0.05)
    assert result.statistic == pytest.approx(2 / 3, abs=1e-12)
    expected = math.sqrt(-math.log(0.025) / 2) * math.sqrt(5 / 6)
    assert result.threshold == pytest.approx(expected, rel=1e-12)
    assert result.same  # five values cannot reject at this level


def test_ks_detects_a_wrong_scale_but_not_a_same_distribution():
    gen = torch.Generator().manual_seed(2)
    a = torch.empty(200, 200).uniform_(-1, 1, generator=gen)
    b = torch.empty(200, 200).uniform_(-1, 1, generator=gen)
    assert ks_two_sample(a, b).same
    assert not ks_two_sample(a, 1.05 * b).same
    assert ks_two_sample(a, a).statistic == 0.0


@pytest.mark.parametrize("alpha", [0, 1, -0.1, "0.05", True])
def test_ks_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        ks_two_sample(torch.zeros(3), torch.zeros(3), alpha=alpha)


def test_ks_bad_samples():
    with pytest.raises(ValueError, match="empty"):
        ks_two_sample(torch.zeros(0), torch.zeros(3))
    with pytest.raises(ValueError, match="nan or inf"):
        ks_two_sample(torch.tensor([1.0, float("nan")]), torch.zeros(3))
    with pytest.raises(TypeError, match="b must be a tensor"):
        ks_two_sample(torch.zeros(3), [0.0, 1.0])


# ----------------------------------------------------------------- comparisons


def test_compare_distribution():
    gen = torch.Generator().manual_seed(3)
    reference = nn.init.xavier_uniform_(torch.empty(256, 128), generator=gen)
    good = nn.init.xavier_uniform_(torch.empty(256, 128), generator=gen)
    assert compare_distribution(good, reference) is None
    xavier_normal = nn.init.xavier_normal_(torch.empty(256, 128), generator=gen)
    assert "KS distance" in compare_distribution(xavier_normal, reference)
    assert "expected shape (256, 128)" in compare_distribution(good.t(), reference)
    assert "expected a tensor" in compare_distribution(good.tolist(), reference)
    assert compare_distribution(torch.zeros(4), torch.zeros(4)) is None
    assert "every value to be 1" in compare_distribution(torch.zeros(4), torch.ones(4))
    assert "nan" in compare_distribution(torch.full((4,), float("nan")), reference[0, :4])
    with pytest.raises(TypeError, match="expected must be a tensor"):
        compare_distribution(good, "xavier")


def test_compare_initialization():
    def build(seed):
        gen = torch.Generator().manual_seed(seed)
        model = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 64))
        init_by_type(
            model,
            {
                nn.Linear: lambda m: (
                    nn.init.kaiming_uniform_(m.weight, nonlinearity="relu", generator=gen),
                    nn.init.zeros_(m.bias),
                )
            },
        )
        return model

    reference = build(0)
    snapshot = copy.deepcopy(reference.state_dict())
    assert compare_initialization(build(1), reference) is None
    wrong = build(2)
    nn.init.xavier_uniform_(wrong[2].weight)
    assert compare_initialization(wrong, reference).startswith("2.weight: ")
    wrong = build(2)
    nn.init.ones_(wrong[0].bias)
    assert compare_initialization(wrong, reference).startswith("0.bias: expected every value")
    other = nn.Sequential(nn.Linear(128, 256))
    assert "expected parameters" in compare_initialization(other, reference)
    assert "expected an nn.Module" in compare_initialization(reference.state_dict(), reference)
    with pytest.raises(TypeError):
        compare_initialization(reference, reference.state_dict())
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in snapshot.items())
