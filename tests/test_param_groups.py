"""tutorial_lib.param_groups: every trainable parameter exactly once, hand-listed
no-decay sets, the decay an optimizer then applies, per-module rates, bad input."""

import copy

import pytest
import torch
from torch import nn

from tutorial_lib.param_groups import (
    NORM_LAYERS,
    build_param_groups,
    format_param_groups,
    is_bias_name,
)


class Zoo(nn.Module):
    """A model with one of every kind of layer the rules care about."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.body = nn.Sequential(
            nn.Conv1d(8, 8, 3, padding=1),  # 0: weight decays, bias not
            nn.BatchNorm1d(8),  # 1: no decay
            nn.ReLU(),
            nn.Conv1d(8, 8, 3, padding=1, bias=False),  # 3
            nn.GroupNorm(2, 8),  # 4
        )
        self.rnn = nn.LSTM(8, 8, batch_first=True)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.norm = nn.LayerNorm(8)
        self.rms = nn.RMSNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):  # (N, L) -> (N, 3)
        x = self.embed(tokens).transpose(1, 2)  # (N, 8, L)
        x = self.body(x).transpose(1, 2)  # (N, L, 8)
        x, _ = self.rnn(x)
        x, _ = self.attn(x, x, x)
        return self.head(self.rms(self.norm(x)).mean(1))


NO_DECAY = {
    "body.0.bias",
    "body.1.weight",
    "body.1.bias",
    "body.4.weight",
    "body.4.bias",
    "rnn.bias_ih_l0",
    "rnn.bias_hh_l0",
    "attn.in_proj_bias",
    "attn.out_proj.bias",
    "norm.weight",
    "norm.bias",
    "rms.weight",
    "head.bias",
}
DECAY = {
    "embed.weight",
    "body.0.weight",
    "body.3.weight",
    "rnn.weight_ih_l0",
    "rnn.weight_hh_l0",
    "attn.in_proj_weight",
    "attn.out_proj.weight",
    "head.weight",
}


def _names(model, group):
    by_id = {id(p): name for name, p in model.named_parameters()}
    return {by_id[id(p)] for p in group["params"]}


def test_hand_listed_decay_and_no_decay_sets():
    model = Zoo()
    assert {n for n, _ in model.named_parameters()} == NO_DECAY | DECAY  # the lists are complete
    groups = build_param_groups(model, weight_decay=0.05)
    assert [g["name"] for g in groups] == ["decay", "no_decay"]
    assert _names(model, groups[0]) == DECAY and groups[0]["weight_decay"] == 0.05
    assert _names(model, groups[1]) == NO_DECAY and groups[1]["weight_decay"] == 0.0
    assert all("lr" not in g for g in groups)


def test_every_trainable_parameter_exactly_once_frozen_left_out():
    model = Zoo()
    for p in model.body.parameters():
        p.requires_grad_(False)
    model.head.bias.requires_grad_(False)
    groups = build_param_groups(model, weight_decay=0.1, module_lrs={"head": 1.0, "rnn": 0.5})
    ids = [id(p) for g in groups for p in g["params"]]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(trainable)


def test_tied_weights_appear_once():
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5))
    model[1].weight = model[0].weight  # (5, 4) tied
    groups = build_param_groups(model, weight_decay=0.1)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters())) == 2


def test_adamw_applies_decay_only_where_the_groups_say():
    # With zero gradients, an AdamW step changes a parameter only by decoupled weight
    # decay: p <- p * (1 - lr * weight_decay). No-decay parameters must not move.
    torch.manual_seed(0)
    model = Zoo()
    for p in model.parameters():
        p.data.normal_()  # norm weights are 1 by default: make every value distinct
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    lr, wd = 0.1, 0.5
    opt = torch.optim.AdamW(build_param_groups(model, weight_decay=wd), lr=lr)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in model.named_parameters():
        factor = 1 - lr * wd if name in DECAY else 1.0
        torch.testing.assert_close(p.detach(), before[name] * factor, msg=name)


def test_embeddings_can_be_exempted():
    model = Zoo()
    groups = build_param_groups(
        model, weight_decay=0.1, no_decay_modules=NORM_LAYERS + (nn.Embedding,)
    )
    by_name = {g["name"]: _names(model, g) for g in groups}
    assert by_name["no_decay"] == NO_DECAY | {"embed.weight"}
    assert by_name["decay"] == DECAY - {"embed.weight"}


def test_module_learning_rates_longest_name_wins_and_default():
    model = Zoo()
    groups = build_param_groups(
        model,
        weight_decay=0.01,
        lr=1e-3,
        module_lrs={"body": 1e-4, "body.3": 5e-4, "head": 1e-2},
        with_names=True,
    )
    rate = {name: g.get("lr") for g in groups for name in g["param_names"]}
    assert rate["body.0.weight"] == 1e-4 and rate["body.1.bias"] == 1e-4
    assert rate["body.3.weight"] == 5e-4
    assert rate["head.weight"] == rate["head.bias"] == 1e-2
    assert rate["embed.weight"] == rate["norm.weight"] == 1e-3
    names = [g["name"] for g in groups]
    assert names == [
        "default/decay",
        "body/decay",
        "body/no_decay",
        "body.3/decay",
        "default/no_decay",
        "head/decay",
        "head/no_decay",
    ]
    for g in groups:  # param_names line up with params
        assert g["param_names"] == sorted(_names(model, g), key=g["param_names"].index)


def test_without_lr_the_optimizer_default_applies():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    groups = build_param_groups(model, weight_decay=0.0, module_lrs={"1": 0.5})
    opt = torch.optim.SGD(groups, lr=0.01)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == {
        "default/decay": 0.01,
        "default/no_decay": 0.01,
        "1/decay": 0.5,
        "1/no_decay": 0.5,
    }


def test_inputs_not_modified():
    model = Zoo()
    model.body[0].weight.requires_grad_(False)
    state = copy.deepcopy(model.state_dict())
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    module_lrs = {"head": 0.1}
    build_param_groups(model, weight_decay=0.1, module_lrs=module_lrs)
    assert module_lrs == {"head": 0.1}
    assert flags == {n: p.requires_grad for n, p in model.named_parameters()}
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key])


def test_unknown_module_name_lists_valid_names():
    model = Zoo()
    with pytest.raises(ValueError, match="no submodule 'haed'. Did you mean 'head'") as info:
        build_param_groups(model, weight_decay=0.1, module_lrs={"haed": 0.1})
    assert "embed, body, rnn, attn, norm, rms, head" in str(info.value)
    with pytest.raises(ValueError, match="no submodule 'body.9'"):
        build_param_groups(model, weight_decay=0.1, module_lrs={"body.9": 0.1})
    with pytest.raises(ValueError, match="no submodule 'head.weight'"):
        build_param_groups(model, weight_decay=0.1, module_lrs={"head.weight": 0.1})


def test_bad_input():
    model = Zoo()
    with pytest.raises(TypeError, match="must be an nn.Module"):
        build_param_groups(model.parameters(), weight_decay=0.1)
    with pytest.raises(ValueError, match="weight_decay must be finite and >= 0"):
        build_param_groups(model, weight_decay=-0.1)
    with pytest.raises(TypeError, match="weight_decay must be a number"):
        build_param_groups(model, weight_decay="0.1")
    with pytest.raises(ValueError, match="lr must be finite and > 0"):
        build_param_groups(model, weight_decay=0.1, lr=0.0)
    with pytest.raises(ValueError, match=r"module_lrs\['head'\] must be finite and > 0"):
        build_param_groups(model, weight_decay=0.1, module_lrs={"head": float("inf")})
    with pytest.raises(TypeError, match="module_lrs must be a dict"):
        build_param_groups(model, weight_decay=0.1, module_lrs=[("head", 0.1)])
    with pytest.raises(TypeError, match="keys must be module names"):
        build_param_groups(model, weight_decay=0.1, module_lrs={1: 0.1})
    with pytest.raises(ValueError, match="give the whole model's rate as lr="):
        build_param_groups(model, weight_decay=0.1, module_lrs={"": 0.1})
    with pytest.raises(TypeError, match="tuple of nn.Module classes"):
        build_param_groups(model, weight_decay=0.1, no_decay_modules=[nn.LayerNorm])
    model.head.requires_grad_(False)
    with pytest.raises(ValueError, match=r"\['head'\] but they hold no trainable parameters"):
        build_param_groups(model, weight_decay=0.1, module_lrs={"head": 0.1})
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_param_groups(model, weight_decay=0.1)


def test_is_bias_name():
    assert all(map(is_bias_name, ["bias", "bias_ih_l0", "in_proj_bias", "bias_k"]))
    assert not any(map(is_bias_name, ["weight", "biased", "unbiased_weight", "in_proj_weight"]))


def test_format_param_groups_from_optimizer_and_list():
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))
    groups = build_param_groups(model, weight_decay=0.05)
    text = format_param_groups(groups)
    assert text.splitlines() == [
        "group          lr  weight_decay  tensors  values",
        "decay     default          0.05        1      12",
        "no_decay  default             0        3       9",
    ]
    opt = torch.optim.AdamW(groups, lr=2e-3)
    lines = format_param_groups(opt).splitlines()
    assert lines[1].split() == ["decay", "0.002", "0.05", "1", "12"]
    plain = torch.optim.SGD(model.parameters(), lr=0.1)
    assert format_param_groups(plain).splitlines()[1].split() == [
        "group",
        "0",
        "0.1",
        "0",
        "4",
        "21",
    ]


def test_format_bad_input():
    with pytest.raises(TypeError, match="optimizer or a list"):
        format_param_groups({"params": []})
    with pytest.raises(ValueError, match="no parameter groups"):
        format_param_groups([])
    with pytest.raises(TypeError, match="group 0 must be a dict"):
        format_param_groups([{"lr": 0.1}])
