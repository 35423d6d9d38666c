"""Tests of tutorial_lib.finetune: freezing, frozen BatchNorm, parameter groups."""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

import tutorial_lib as tl
from tutorial_lib.exercises import fine_tuning as ex
from tutorial_lib.finetune import (
    freeze,
    freeze_up_to,
    keep_frozen_batchnorm_in_eval,
    parameter_table,
    unfreeze,
)
from tutorial_lib.pretrained import build_source_model


@pytest.fixture
def small_resnet() -> nn.Module:
    """A narrow ResNet-18 (same layer names, 4..32 channels): fast to build and run."""
    torch.manual_seed(0)
    return build_source_model(num_classes=3, width=4)


def conv_bn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())


def flags(model: nn.Module) -> dict[str, bool]:
    return {name: p.requires_grad for name, p in model.named_parameters()}


# --------------------------------------------------------------------------- freeze / unfreeze
def test_freeze_and_unfreeze_set_every_flag_and_return_the_module(small_resnet):
    assert freeze(small_resnet) is small_resnet
    assert not any(flags(small_resnet).values())
    assert tl.count_parameters(small_resnet).trainable == 0
    assert unfreeze(small_resnet.layer4) is small_resnet.layer4
    expected = {name: name.startswith("layer4.") for name in flags(small_resnet)}
    assert flags(small_resnet) == expected


def test_freeze_leaves_buffers_and_values_alone(small_resnet):
    before = copy.deepcopy(small_resnet.state_dict())
    freeze(small_resnet)
    after = small_resnet.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("fn", [freeze, unfreeze])
def test_freeze_rejects_non_modules(fn):
    with pytest.raises(TypeError, match="nn.Module"):
        fn([nn.Parameter(torch.ones(2))])


@pytest.mark.parametrize("optimizer_name", ["SGD", "AdamW"])
def test_frozen_parameters_do_not_change_after_training_steps(small_resnet, optimizer_name):
    freeze_up_to(small_resnet, "layer3.0")
    frozen = {
        n: p.detach().clone() for n, p in small_resnet.named_parameters() if not p.requires_grad
    }
    trained = {n: p.detach().clone() for n, p in small_resnet.named_parameters() if p.requires_grad}
    options = {"momentum": 0.9} if optimizer_name == "SGD" else {}
    # Every parameter goes to the optimizer, with weight decay: still nothing frozen moves.
    optimizer = getattr(torch.optim, optimizer_name)(
        small_resnet.parameters(), lr=0.1, weight_decay=0.1, **options
    )
    x, y = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(small_resnet(x), y).backward()
        optimizer.step()
    params = dict(small_resnet.named_parameters())
    assert all(torch.equal(params[n], value) for n, value in frozen.items())
    assert all(params[n].grad is None for n in frozen)
    assert all(not torch.equal(params[n], value) for n, value in trained.items())


# --------------------------------------------------------------------------- freeze_up_to
def children_loop_reference(model: nn.Module) -> set[str]:
    """The notes' recipe, written out: children 0-5 frozen, the first block of child 6."""
    frozen = set()
    for index, (name, child) in enumerate(model.named_children()):
        if index < 6:
            frozen |= {f"{name}.{n}" for n, _ in child.named_parameters()}
        elif index == 6:
            frozen |= {f"{name}.0.{n}" for n, _ in child[0].named_parameters()}
    return frozen


def test_freeze_up_to_layer3_0_matches_the_child_6_recipe():
    model = torchvision.models.resnet18(weights=None)
    frozen = freeze_up_to(model, "layer3.0")
    assert list(model.named_children())[6][0] == "layer3"
    assert set(frozen) == children_loop_reference(model)
    assert len(frozen) == len(set(frozen))
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == set(frozen)
    # The reference by position in named_parameters(): everything up to the last
    # parameter of layer3.0, inclusive.
    names = [n for n, _ in model.named_parameters()]
    last = max(i for i, n in enumerate(names) if n.startswith("layer3.0."))
    assert frozen == names[: last + 1]
    counts = tl.count_parameters(model)
    expected_frozen = sum(
        p.numel()
        for m in [model.conv1, model.bn1, model.layer1, model.layer2, model.layer3[0]]
        for p in m.parameters()
    )
    assert counts.frozen == expected_frozen


def test_freeze_up_to_a_layer_without_parameters_freezes_what_comes_before(small_resnet):
    frozen = freeze_up_to(small_resnet, "relu")
    assert frozen == ["conv1.weight", "bn1.weight", "bn1.bias"]


def test_freeze_up_to_the_last_layer_freezes_everything(small_resnet):
    freeze_up_to(small_resnet, "fc")
    assert tl.count_parameters(small_resnet).trainable == 0


def test_freeze_up_to_leaves_later_parameters_as_they_were(small_resnet):
    freeze(small_resnet.fc)
    freeze_up_to(small_resnet, "layer1")
    assert not small_resnet.fc.weight.requires_grad  # not unfrozen
    assert small_resnet.layer2[0].conv1.weight.requires_grad


def test_freeze_up_to_freezes_a_shared_parameter_once():
    first, second = nn.Linear(3, 3), nn.Linear(3, 3)
    second.weight = first.weight
    model = nn.Sequential(first, nn.ReLU(), second, nn.Linear(3, 1))
    frozen = freeze_up_to(model, "2")
    assert frozen == ["0.weight", "0.bias", "2.bias"]
    assert model[3].weight.requires_grad


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("layer5", "conv1, bn1, relu, maxpool, layer1, layer2, layer3, layer4, avgpool, fc"),
        ("layer3.5", "inside 'layer3': layer3.0, layer3.1"),
        ("layer3.0.conv9", "layer3.0.conv1, layer3.0.bn1"),
    ],
)
def test_unknown_layer_names_list_the_valid_ones_and_change_nothing(small_resnet, name, listed):
    before = flags(small_resnet)
    with pytest.raises(ValueError, match="no layer named") as info:
        freeze_up_to(small_resnet, name)
    assert listed in str(info.value)
    assert flags(small_resnet) == before


def test_a_parameter_name_is_not_a_layer_name(small_resnet):
    with pytest.raises(ValueError, match="is a parameter, not a layer; .*'fc'"):
        freeze_up_to(small_resnet, "fc.weight")


def test_freeze_up_to_rejects_bad_names(small_resnet):
    with pytest.raises(TypeError, match="str"):
        freeze_up_to(small_resnet, 6)
    with pytest.raises(ValueError, match="whole model"):
        freeze_up_to(small_resnet, "")
    with pytest.raises(TypeError, match="nn.Module"):
        freeze_up_to("resnet", "fc")


# --------------------------------------------------------------------------- parameter_table
def test_parameter_table_rows_add_up_to_count_parameters(small_resnet):
    freeze_up_to(small_resnet, "layer3.0")
    counts = tl.count_parameters(small_resnet)
    for depth in (1, 2, 5):
        rows = parameter_table(small_resnet, depth=depth)
        assert sum(r.total for r in rows) == counts.total
        assert sum(r.trainable for r in rows) == counts.trainable
    rows = {r.name: r for r in parameter_table(small_resnet)}
    assert list(rows) == [name for name, _ in small_resnet.named_children()]
    for name, child in small_resnet.named_children():
        assert rows[name].total == sum(p.numel() for p in child.parameters())
        assert rows[name].kind == type(child).__name__
    assert rows["layer2"].status == "frozen"
    assert rows["layer3"].status == "partly frozen"
    assert rows["layer4"].status == "trainable"
    assert rows["relu"].status == "no parameters"
    assert rows["layer3"].frozen == sum(p.numel() for p in small_resnet.layer3[0].parameters())


def test_parameter_table_depth_2_names_blocks(small_resnet):
    names = [r.name for r in parameter_table(small_resnet, depth=2)]
    assert names[:6] == ["conv1", "bn1", "relu", "maxpool", "layer1.0", "layer1.1"]
    assert "fc" in names


def test_parameter_table_lists_parameters_held_by_a_container():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(3))
            self.inner = nn.Sequential(nn.Linear(3, 3))

    model = nn.Sequential(Scaled())
    rows = parameter_table(model, depth=2)
    assert [(r.name, r.total) for r in rows] == [("0", 3), ("0.inner", 12)]


@pytest.mark.parametrize("depth", [0, -1, 1.5, True])
def test_parameter_table_rejects_bad_depth(small_resnet, depth):
    with pytest.raises(ValueError, match="depth"):
        parameter_table(small_resnet, depth=depth)


# --------------------------------------------------------------------------- batchnorm
def bn_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "tracked" in k}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_frozen_batchnorm_running_stats_drift_without_the_hooks():
    model = conv_bn()
    freeze(model)
    before = bn_state(model)
    model.train()
    model(torch.rand(4, 1, 5, 5) + 1.0)
    assert not same(before, bn_state(model))  # requires_grad=False alone does not protect them


def test_frozen_batchnorm_keeps_its_stats_and_behaves_as_in_eval():
    model = conv_bn()
    model[1].running_mean.fill_(0.3)  # make eval and train normalisation differ
    freeze(model)
    hooks = keep_frozen_batchnorm_in_eval(model)
    assert len(hooks) == 1
    x = torch.rand(4, 1, 5, 5) + 1.0
    model.eval()
    expected = model(x)
    before = bn_state(model)
    model.train()
    got = model(x)
    assert torch.equal(got, expected)
    assert same(before, bn_state(model))
    assert model.training and model[1].training  # the mode you asked for is kept


def test_trainable_batchnorm_still_updates_and_unfreezing_resumes_updates():
    model = conv_bn()
    freeze(model[0])  # the conv is frozen, the BatchNorm is not
    keep_frozen_batchnorm_in_eval(model)
    model.train()
    before = bn_state(model)
    model(torch.rand(4, 1, 5, 5))
    assert not same(before, bn_state(model))
    freeze(model[1])
    before = bn_state(model)
    model(torch.rand(4, 1, 5, 5))
    assert same(before, bn_state(model))
    unfreeze(model[1])  # gradual unfreezing: nothing else to call
    model(torch.rand(4, 1, 5, 5))
    assert not same(before, bn_state(model))


def test_frozen_batchnorm_survives_fit_which_calls_train_every_epoch(small_resnet):
    freeze_up_to(small_resnet, "layer4")
    keep_frozen_batchnorm_in_eval(small_resnet)
    before = {k: v for k, v in bn_state(small_resnet).items() if not k.startswith("bn1")}
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=6)
    optimizer = torch.optim.SGD(small_resnet.fc.parameters(), lr=0.1)
    tl.fit(
        small_resnet,
        loader,
        loss_fn=nn.functional.cross_entropy,
        optimizer=optimizer,
        epochs=2,
        device="cpu",
        progress=False,
    )
    after = bn_state(small_resnet)
    assert same(before, {k: after[k] for k in before})


def test_batchnorm_hooks_are_installed_once_removable_and_copied(small_resnet):
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in small_resnet.modules())
    first = keep_frozen_batchnorm_in_eval(small_resnet)
    second = keep_frozen_batchnorm_in_eval(small_resnet)
    assert len(first) == len(second) == n_bn
    assert len(small_resnet.bn1._forward_pre_hooks) == 1
    keys = set(small_resnet.state_dict())
    freeze(small_resnet)
    clone = copy.deepcopy(small_resnet)
    assert set(clone.state_dict()) == keys
    clone.train()
    before = bn_state(clone)
    clone(torch.rand(2, 1, 8, 8))
    assert same(before, bn_state(clone))
    first.remove()
    small_resnet.train()
    before = bn_state(small_resnet)
    small_resnet(torch.rand(2, 1, 8, 8))
    assert not same(before, bn_state(small_resnet))


def test_batchnorm_mode_is_restored_when_forward_fails():
    model = conv_bn()
    freeze(model)
    with keep_frozen_batchnorm_in_eval(model):
        model.train()
        with pytest.raises(RuntimeError):
            model[1](torch.rand(2, 5, 4, 4))  # wrong number of channels
        assert model[1].training
    assert len(model[1]._forward_pre_hooks) == 0


def test_batchnorm_without_affine_parameters_is_left_alone():
    bn = nn.BatchNorm1d(3, affine=False)
    keep_frozen_batchnorm_in_eval(bn)
    bn.train()
    bn(torch.rand(5, 3))
    assert bn.num_batches_tracked.item() == 1


def test_keep_frozen_batchnorm_in_eval_rejects_non_modules():
    with pytest.raises(TypeError, match="nn.Module"):
        keep_frozen_batchnorm_in_eval(None)


# --------------------------------------------------------------------------- optimizers
def test_groups_built_before_freezing_hold_still_until_unfrozen(small_resnet):
    """Gradual unfreezing: every parameter goes to the optimizer first, then the body
    is frozen; AdamW (with weight decay) leaves it alone until it is unfrozen."""
    groups = tl.build_param_groups(small_resnet, weight_decay=0.1, module_lrs={"fc": 1e-2}, lr=1e-3)
    optimizer = torch.optim.AdamW(groups)
    freeze(small_resnet)
    unfreeze(small_resnet.fc)
    x, y = torch.rand(6, 1, 8, 8), torch.arange(6) % 3

    def step() -> None:
        optimizer.zero_grad()
        nn.functional.cross_entropy(small_resnet(x), y).backward()
        optimizer.step()

    body = {n: p.detach().clone() for n, p in small_resnet.named_parameters() if "fc" not in n}
    for _ in range(2):
        step()
    params = dict(small_resnet.named_parameters())
    assert all(torch.equal(params[n], value) for n, value in body.items())
    assert len(optimizer.state) == 2  # state only for fc.weight and fc.bias
    unfreeze(small_resnet.layer4)
    step()
    moved = {n for n, value in body.items() if not torch.equal(params[n], value)}
    assert moved == {n for n in body if n.startswith("layer4.")}


# --------------------------------------------------------------------------- self-checks
def good_cut(source, stage):
    model = copy.deepcopy(source)
    names = [name for name, _ in model.named_children()]
    kept = [getattr(model, name) for name in names[: names.index(stage) + 1]]
    body = freeze(nn.Sequential(*kept, nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    keep_frozen_batchnorm_in_eval(body)
    return body


def best_stage(model: nn.Module) -> str:
    accuracies = ex._stage_accuracies(model, 10, (0, 1, 2))
    return max(accuracies, key=accuracies.get)


def test_check_cut_body_passes_a_right_answer(small_resnet, capsys):
    ex.check_cut_body(good_cut, best_stage(small_resnet), small_resnet)
    assert "✅" in capsys.readouterr().out
    assert all(p.requires_grad for p in small_resnet.parameters())


def in_place(source, stage):
    freeze(source)
    return good_cut(source, stage)


def drifting(source, stage):
    model = copy.deepcopy(source)
    names = [name for name, _ in model.named_children()]
    kept = [getattr(model, name) for name in names[: names.index(stage) + 1]]
    return freeze(nn.Sequential(*kept, nn.AdaptiveAvgPool2d(1), nn.Flatten()))  # BN drifts


def shares_weights(source, stage):
    names = [name for name, _ in source.named_children()]
    kept = [getattr(source, name) for name in names[: names.index(stage) + 1]]
    return nn.Sequential(*kept, nn.AdaptiveAvgPool2d(1), nn.Flatten()).requires_grad_(False)


def reinitialised(source, stage):
    body = good_cut(source, stage)
    nn.init.zeros_(body[0].weight)
    return body


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (in_place, "changed the source model"),
        (shares_weights, "changed the source model"),
        (drifting, "eval mode"),
        (reinitialised, "differ"),
    ],
)
def test_check_cut_body_catches_wrong_answers(small_resnet, fn, match):
    with pytest.raises(tl.CheckFailed, match=match):
        ex.check_cut_body(fn, best_stage(small_resnet), small_resnet)
    assert all(p.requires_grad for p in small_resnet.parameters())  # restored by the check


def test_check_cut_body_rejects_a_stage_far_from_the_best(small_resnet):
    accuracies = ex._stage_accuracies(small_resnet, 10, (0, 1, 2))
    worst = min(accuracies, key=accuracies.get)
    if accuracies[worst] >= max(accuracies.values()) - ex.BEST_TOLERANCE:
        pytest.skip("every stage of this random model probes alike")
    with pytest.raises(tl.CheckFailed, match="measure every stage"):
        ex.check_cut_body(good_cut, worst, small_resnet)


def not_done(*args, **kwargs):
    raise NotImplementedError


def test_checks_report_stubs_as_not_attempted(small_resnet, capsys):
    ex.check_cut_body(not_done, None, small_resnet, strict=False)
    ex.check_param_groups(not_done, lambda: build_source_model(3, width=4), strict=False)
    ex.check_layerwise_lrs(not_done, strict=False)
    ex.check_frozen_bn_eval(not_done, lambda: build_source_model(3, width=4), strict=False)
    out = capsys.readouterr().out
    assert out.count("not attempted yet") == 4


def good_groups(model, *, head_lr, body_lr):
    head = {id(p) for p in model.fc.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in trainable if id(p) not in head], "lr": body_lr},
        {"params": [p for p in trainable if id(p) in head], "lr": head_lr},
    ]


def with_frozen(model, *, head_lr, body_lr):
    return [
        {
            "params": [p for n, p in model.named_parameters() if not n.startswith("fc.")],
            "lr": body_lr,
        },
        {"params": list(model.fc.parameters()), "lr": head_lr},
    ]


def swapped(model, *, head_lr, body_lr):
    return good_groups(model, head_lr=body_lr, body_lr=head_lr)


def twice(model, *, head_lr, body_lr):
    groups = good_groups(model, head_lr=head_lr, body_lr=body_lr)
    groups[0]["params"].append(model.fc.weight)
    return groups


def library(model, *, head_lr, body_lr):
    return tl.build_param_groups(model, weight_decay=0.0, module_lrs={"fc": head_lr}, lr=body_lr)


def test_check_param_groups(capsys):
    build = lambda: build_source_model(3, width=4)  # noqa: E731
    ex.check_param_groups(good_groups, build)
    assert "✅" in capsys.readouterr().out
    with pytest.raises(tl.CheckFailed, match="frozen"):
        ex.check_param_groups(with_frozen, build)
    with pytest.raises(tl.CheckFailed, match="lr"):
        ex.check_param_groups(swapped, build)
    with pytest.raises(tl.CheckFailed, match="two groups"):
        ex.check_param_groups(twice, build)
    with pytest.raises(tl.CheckFailed, match="build_param_groups"):
        ex.check_param_groups(library, build)
    assert tl.build_param_groups is not ex._forbidden  # the patch is undone
