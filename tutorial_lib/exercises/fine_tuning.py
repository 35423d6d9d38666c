"""Checks for the exercises of "Fine-tuning".

One check per exercise, each called from the chapter's check cell as
``ex.check_...(answer, ...)`` after ``from tutorial_lib.exercises import fine_tuning
as ex``; :func:`linear_probe` is the measurement protocol of the experiment "Where
to cut the frozen body", shared by the learner's experiment and its check.

Taught in: "Fine-tuning" (exercises).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import is_int
from .core import CheckFailed, compare, exercise_check

__all__ = [
    "STAGES",
    "check_cut_body",
    "check_frozen_bn_eval",
    "check_layerwise_lrs",
    "check_param_groups",
    "linear_probe",
]

STAGES = ("layer1", "layer2", "layer3", "layer4")
"""The residual stages of a ResNet-18, from the input to the output."""

PROBE_STEPS = 100
PROBE_LR = 1e-2
BEST_TOLERANCE = 2.0
"""Percentage points: a stage this close to the best one counts as best (seed noise)."""


# --------------------------------------------------------------------------- experiment
def _digits_split(per_class: int, seed: int):
    from ..data import digits_split

    return digits_split(classes=range(5, 10), relabel=True, per_class=per_class, seed=seed)


def _probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    seed: int,
    steps: int = PROBE_STEPS,
    lr: float = PROBE_LR,
) -> float:
    """Validation accuracy of a linear head trained on fixed features."""
    generator = torch.random.fork_rng()  # leave the caller's random state alone
    with generator, torch.enable_grad():
        torch.manual_seed(seed)
        head = nn.Linear(features.shape[1], int(labels.max()) + 1)
        optimizer = torch.optim.AdamW(head.parameters(), lr=lr)
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(head(features), labels).backward()
            optimizer.step()
    with torch.no_grad():
        return (head(val_features).argmax(dim=1) == val_labels).float().mean().item()


def _features(extractor: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``extractor(images)`` in eval mode, without gradients; the mode is restored."""
    was_training = extractor.training
    try:
        with torch.no_grad():
            return extractor.eval()(images)
    finally:
        extractor.train(was_training)


def linear_probe(
    extractor: nn.Module,
    split: Any,
    *,
    seed: int,
    steps: int = PROBE_STEPS,
    lr: float = PROBE_LR,
) -> float:
    """The experiment's protocol: how well a linear head does on ``extractor``'s features.

    Computes the features of ``split.train`` and ``split.val`` (a
    :func:`tutorial_lib.digits_split`) once, in eval mode, then trains a new
    ``nn.Linear`` head (initialised after ``torch.manual_seed(seed)``) for ``steps``
    full-batch AdamW steps at ``lr`` and returns its validation accuracy (0 to 1).
    The check of the exercise measures with the same protocol.

    Taught in: "Fine-tuning" (exercise "Where to cut the frozen body").
    """
    images, labels = split.train.tensors
    val_images, val_labels = split.val.tensors
    features, val_features = _features(extractor, images), _features(extractor, val_images)
    if features.dim() != 2:
        raise ValueError(
            f"expected features of shape (batch, channels), got {tuple(features.shape)}"
        )
    return _probe(features, labels, val_features, val_labels, seed=seed, steps=steps, lr=lr)


def _stage_outputs(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The average-pooled output of every stage of ``model`` (eval mode, no gradients)."""
    captured: dict[str, torch.Tensor] = {}
    handles = [
        model.get_submodule(stage).register_forward_hook(
            lambda module, args, out, stage=stage: captured.__setitem__(stage, out.mean((2, 3)))
        )
        for stage in STAGES
    ]
    try:
        _features(model, images)
    finally:
        for handle in handles:
            handle.remove()
    return captured


def _fingerprint(model: nn.Module) -> tuple[float, ...]:
    with torch.no_grad():
        return tuple(round(p.double().sum().item(), 6) for p in model.parameters())


_STAGE_ACCURACIES: dict[tuple, dict[str, float]] = {}


def _stage_accuracies(source: nn.Module, per_class: int, seeds: Sequence[int]) -> dict[str, float]:
    """Mean linear-probe accuracy (in %) over ``seeds`` for every stage of ``source``."""
    key = (_fingerprint(source), per_class, tuple(seeds))
    if key not in _STAGE_ACCURACIES:
        totals = dict.fromkeys(STAGES, 0.0)
        for seed in seeds:
            split = _digits_split(per_class, seed)
            (images, labels), (val_images, val_labels) = split.train.tensors, split.val.tensors
            train, val = _stage_outputs(source, images), _stage_outputs(source, val_images)
            for stage in STAGES:
                totals[stage] += _probe(train[stage], labels, val[stage], val_labels, seed=seed)
        _STAGE_ACCURACIES[key] = {s: 100 * t / len(seeds) for s, t in totals.items()}
    return _STAGE_ACCURACIES[key]


def _snapshot(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[bool], list[bool]]:
    state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    return (
        state,
        [p.requires_grad for p in model.parameters()],
        [m.training for m in model.modules()],
    )


def _restore(model: nn.Module, snapshot: tuple) -> list[str]:
    """Put ``model`` back as :func:`_snapshot` saw it; return what had changed."""
    state, flags, modes = snapshot
    changed = []
    now = model.state_dict()
    if now.keys() != state.keys() or any(not torch.equal(now[k], state[k]) for k in state):
        changed.append("its weights or buffers")
    if [p.requires_grad for p in model.parameters()] != flags:
        changed.append("its requires_grad flags")
    if changed:
        model.load_state_dict(state, strict=False)
        for param, flag in zip(model.parameters(), flags, strict=False):
            param.requires_grad_(flag)
    for module, mode in zip(model.modules(), modes, strict=False):
        module.training = mode
    return changed


def _check_extractor(
    extractor: Any,
    stage: str,
    source: nn.Module,
    images: torch.Tensor,
    expected: dict[str, torch.Tensor],
) -> None:
    call = f"cut_body(source_model, {stage!r})"
    if not isinstance(extractor, nn.Module):
        raise CheckFailed(f"{call} returned {type(extractor).__name__}, expected an nn.Module")
    if extractor is source:
        raise CheckFailed(f"{call} returned the source model itself; return a new model")
    source_ids = {id(p) for p in source.parameters()}
    if any(id(p) in source_ids for p in extractor.parameters()):
        raise CheckFailed(
            f"{call} shares parameters with the source model: copy it with copy.deepcopy "
            "before taking its layers"
        )
    trainable = [name for name, p in extractor.named_parameters() if p.requires_grad]
    if trainable:
        raise CheckFailed(
            f"{call} has {len(trainable)} trainable parameter tensor(s), e.g. {trainable[0]!r}: "
            "freeze every parameter of the body"
        )
    want = expected[stage]
    got = _features(extractor, images)
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{call} returned {type(got).__name__} for a batch, expected a tensor")
    if got.dim() == 4:
        raise CheckFailed(
            f"{call} returns feature maps of shape {tuple(got.shape)}; average them over height "
            "and width (nn.AdaptiveAvgPool2d(1) then nn.Flatten()) to get one vector per image"
        )
    if tuple(got.shape) != tuple(want.shape):
        hint = next(
            (
                f": these are the features of {other!r}, cut right after {stage!r}"
                for other in STAGES
                if other != stage and tuple(got.shape) == tuple(expected[other].shape)
            ),
            "",
        )
        raise CheckFailed(
            f"{call} gives features of shape {tuple(got.shape)} for {len(images)} images, "
            f"expected {tuple(want.shape)} (the average over height and width of the output "
            f"of {stage!r}){hint}"
        )
    problem = compare(got, want, rtol=1e-4, atol=1e-5)
    if problem:
        raise CheckFailed(
            f"{call}: the features differ from the average-pooled output of {stage!r} in the "
            f"source model ({problem}); keep every layer up to and including {stage!r}, in "
            "order, with the source weights, and average over height and width"
        )
    before = {key: value.clone() for key, value in extractor.state_dict().items()}
    was_training = extractor.training
    try:
        with torch.no_grad():
            in_train_mode = extractor.train()(images)
    finally:
        extractor.train(was_training)
    after = extractor.state_dict()
    drifted = [key for key in before if not torch.equal(before[key], after[key])]
    if drifted or compare(in_train_mode, got, rtol=1e-4, atol=1e-5):
        what = f"BatchNorm statistics changed ({drifted[0]})" if drifted else "features changed"
        raise CheckFailed(
            f"{call}: after .train(), as in a training loop, the {what}: keep its frozen "
            "BatchNorm layers in eval mode (keep_frozen_batchnorm_in_eval), so that the "
            "features are the same in both modes"
        )


@exercise_check("cut_body")
def check_cut_body(
    cut_body: Callable[[nn.Module, str], nn.Module],
    best_stage: object,
    source_model: nn.Module,
    *,
    per_class: int = 10,
    seeds: Sequence[int] = (0, 1, 2),
) -> str:
    """Self-check for the experiment "Where to cut the frozen body".

    ``cut_body(source_model, stage)`` must return, for every stage of
    :data:`STAGES`, a new model that shares no parameter with ``source_model``, has
    no trainable parameter, and maps images to the average over height and width of
    that stage's output in the source model (shape ``(batch, channels)``), the same
    in train mode as in eval mode (no BatchNorm drift). ``source_model`` must not
    change (the check restores it if it did). ``best_stage`` must be a stage whose
    :func:`linear_probe` accuracy (mean over ``seeds`` of the ``per_class`` split of
    the digits 5-9), measured by the check with its own cut, is within
    :data:`BEST_TOLERANCE` points of the best stage's.

    Taught in: "Fine-tuning" (exercises).
    """
    images = _digits_split(per_class, seeds[0]).train.tensors[0]
    snapshot = _snapshot(source_model)
    expected = _stage_outputs(source_model, images)
    for stage in STAGES:
        try:
            extractor = cut_body(source_model, stage)
        finally:
            changed = _restore(source_model, snapshot)
        if changed:
            raise CheckFailed(
                f"cut_body(source_model, {stage!r}) changed the source model "
                f"({' and '.join(changed)}; the check has put them back): work on "
                "copy.deepcopy(source_model)"
            )
        _check_extractor(extractor, stage, source_model, images, expected)
    if best_stage not in STAGES:
        raise CheckFailed(
            f"BEST_STAGE is {best_stage!r}: set it to the stage ({', '.join(STAGES)}) whose "
            "features gave the best linear_probe accuracy in your measurement"
        )
    accuracies = _stage_accuracies(source_model, per_class, seeds)
    best = max(accuracies, key=accuracies.get)
    table = ", ".join(f"{s} {a:.1f}%" for s, a in accuracies.items())
    if accuracies[best_stage] < accuracies[best] - BEST_TOLERANCE:
        raise CheckFailed(
            f"BEST_STAGE = {best_stage!r} reaches {accuracies[best_stage]:.1f}% with "
            f"linear_probe (mean over seeds {', '.join(map(str, seeds))}), but {best!r} "
            f"reaches {accuracies[best]:.1f}%, more than {BEST_TOLERANCE:g} points better "
            f"({table}): measure every stage and name the best one"
        )
    return (
        f"frozen, average-pooled features of every stage (also in train mode), source "
        f"untouched; BEST_STAGE {best_stage!r} reaches {accuracies[best_stage]:.1f}% "
        f"(best {accuracies[best]:.1f}%, whole body {accuracies['layer4']:.1f}%)."
    )


# --------------------------------------------------------------------------- param groups
class _HeadNamedLikeBody(nn.Module):
    """A small MLP whose body layers' names contain "fc" too (``fc1``, ``fc2``)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.fc2(F.relu(self.fc1(x)))))


def _forbidden(*args: Any, **kwargs: Any) -> Any:
    raise CheckFailed(
        "you called tl.build_param_groups; the exercise asks you to build the two groups "
        "yourself, from model.fc.parameters() and requires_grad"
    )


def _param_group_cases(
    build: Callable[[], nn.Module],
) -> Iterable[tuple[str, nn.Module, float, float]]:
    yield "all trainable", build(), 1e-2, 1e-3
    model = build()
    params = list(model.parameters())
    for param in params[: len(params) // 2]:
        param.requires_grad_(False)
    yield "first half frozen", model, 0.05, 0.002
    model = build()
    for param in model.parameters():
        param.requires_grad_(False)
    for param in list(model.parameters())[-5:-1]:  # layer4.1.conv2, .bn2 and fc.weight
        param.requires_grad_(True)
    yield "only the last layers and fc.weight trainable", model, 3e-3, 3e-4
    yield "a model with layers fc1, fc2 and the head fc", _HeadNamedLikeBody(), 0.1, 0.01


@exercise_check("head_body_groups")
def check_param_groups(
    make_groups: Callable[..., Iterable[Mapping[str, Any]]],
    build: Callable[[], nn.Module],
) -> str:
    """Self-check for the exercise "head and body parameter groups".

    ``make_groups(model, head_lr=..., body_lr=...)`` must return two groups (dicts
    with ``params`` and ``lr``): the trainable parameters of ``model.fc`` with
    ``head_lr``, every other trainable parameter with ``body_lr``, no frozen
    parameter and none twice, accepted by ``torch.optim.SGD``. Tried on models from
    ``build()`` (all trainable; first half frozen; only the last layers and
    ``fc.weight`` trainable) and on an MLP with body layers ``fc1`` and ``fc2``,
    with other rates each time; calling ``tl.build_param_groups`` fails.

    Taught in: "Fine-tuning" (exercises).
    """
    from .. import param_groups

    with (
        mock.patch.object(param_groups, "build_param_groups", _forbidden),
        mock.patch("tutorial_lib.build_param_groups", _forbidden),
    ):
        for case, model, head_lr, body_lr in _param_group_cases(build):
            _check_groups(make_groups, case, model, head_lr, body_lr)
    return (
        "two groups, every trainable parameter once (head at head_lr, body at body_lr), "
        "no frozen one, on 4 models."
    )


def _check_groups(
    make_groups: Callable[..., Iterable[Mapping[str, Any]]],
    case: str,
    model: nn.Module,
    head_lr: float,
    body_lr: float,
) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    head_ids = {id(p) for p in model.fc.parameters()}
    flags = [p.requires_grad for p in model.parameters()]
    result = make_groups(model, head_lr=head_lr, body_lr=body_lr)
    at = f"({case}, head_lr={head_lr}, body_lr={body_lr})"
    if [p.requires_grad for p in model.parameters()] != flags:
        raise CheckFailed(f"{at}: your function changed requires_grad; only read the flags")
    if isinstance(result, Mapping) or not isinstance(result, Iterable):
        raise CheckFailed(f"{at}: expected a list of two dicts, got {type(result).__name__}")
    groups = list(result)
    if len(groups) != 2:
        raise CheckFailed(f"{at}: expected 2 groups (body and head), got {len(groups)}")
    materialised = []
    seen: dict[int, float] = {}
    for group in groups:
        if not isinstance(group, Mapping) or "params" not in group or "lr" not in group:
            raise CheckFailed(f"{at}: each group must be a dict with 'params' and 'lr'")
        params = group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        for param in params:
            if id(param) in seen:
                raise CheckFailed(
                    f"{at}: {names.get(id(param), 'a parameter')} appears in two groups"
                )
            seen[id(param)] = group["lr"]
        materialised.append({**group, "params": params})
    for key, lr in seen.items():
        name = names.get(key)
        if name is None:
            raise CheckFailed(f"{at}: a group holds a tensor that is not a parameter of model")
        if not dict(model.named_parameters())[name].requires_grad:
            raise CheckFailed(
                f"{at}: the frozen parameter {name} is in a group: leave frozen parameters "
                "out, in the head too"
            )
        expected = head_lr if key in head_ids else body_lr
        if lr != expected:
            where = "head" if key in head_ids else "body"
            hint = "use the head_lr and body_lr arguments, and find the head by identity"
            if where == "body" and "fc" in name:
                hint = (
                    f"{name!r} contains 'fc' but is not in model.fc: find the head's "
                    "parameters by identity (model.fc.parameters()), not by name"
                )
            raise CheckFailed(
                f"{at}: the {where} parameter {name} has lr {lr}, expected {expected}; {hint}"
            )
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if missing:
        raise CheckFailed(
            f"{at}: {len(missing)} trainable parameter(s) in no group, e.g. {missing[0]}"
        )
    try:
        torch.optim.SGD(materialised, lr=body_lr)
    except Exception as err:
        raise CheckFailed(f"{at}: torch.optim.SGD refused the groups: {err}") from err


# --------------------------------------------------------------------------- layer-wise lrs
def _expected_lrs(names: Sequence[str], top_lr: float, factor: float) -> dict[str, float]:
    depth = len(names) - 1
    return {name: top_lr * factor ** (depth - i) for i, name in enumerate(names)}


def _lr_cases() -> list[tuple[str, list[str], float, float]]:
    cases = [
        ("the example", ["layer3", "layer4", "fc"], 1e-2, 0.1),
        ("the head only", ["fc"], 3e-3, 0.5),
        ("five layers, factor 0.5", ["layer1", "layer2", "layer3", "layer4", "fc"], 1.0, 0.5),
        ("factor 1: one rate for all", ["layer4", "fc"], 1e-2, 1.0),
    ]
    rng = random.Random(15)
    for index in range(3):
        n = rng.randint(2, 7)
        names = [f"block{i}" for i in rng.sample(range(20), n)]
        cases.append(
            (f"random case {index + 1}", names, rng.uniform(1e-4, 1e-1), rng.uniform(0.2, 0.95))
        )
    return cases


@exercise_check("layerwise_lrs")
def check_layerwise_lrs(layerwise_lrs: Callable[[list[str], float, float], Mapping]) -> str:
    """Self-check for the exercise "layer-wise learning-rate decay".

    ``layerwise_lrs(names, top_lr, factor)`` must give the last name ``top_lr`` and
    each earlier one ``factor`` times the next one's rate, on the example, on fixed
    and on random cases, without changing the list it is given, and raise
    ``ValueError`` for a factor of 0, 2 or -0.5.

    Taught in: "Fine-tuning" (exercises).
    """
    cases = _lr_cases()
    for description, names, top_lr, factor in cases:
        given = list(names)
        call = f"layerwise_lrs({names}, {top_lr:.3g}, {factor:.3g}) ({description})"
        try:
            got = layerwise_lrs(given, top_lr, factor)
        except ValueError as err:
            raise CheckFailed(
                f"{call} raised ValueError ({err}), but factor {factor:.3g} is allowed: "
                "raise only unless 0 < factor <= 1"
            ) from err
        if given != names:
            raise CheckFailed(
                f"{call} changed the list it was given (now {given}): the caller still needs "
                "it; work on a copy (names[::-1], reversed(names))"
            )
        problem = compare(got, _expected_lrs(names, top_lr, factor), rtol=1e-6, atol=0)
        if problem:
            raise CheckFailed(
                f"{call} is wrong: {problem}; the last name gets top_lr, the one before it "
                "top_lr * factor, and so on back to the first"
            )
    for factor in (0.0, 2.0, -0.5):
        try:
            layerwise_lrs(["layer4", "fc"], 1e-2, factor)
        except ValueError:
            continue
        except NotImplementedError:
            raise
        except Exception as err:
            raise CheckFailed(
                f"layerwise_lrs(..., factor={factor}) raised {type(err).__name__}, expected "
                "ValueError: raise ValueError(...) yourself (assert can be switched off)"
            ) from err
        raise CheckFailed(
            f"layerwise_lrs(..., factor={factor}) did not raise: raise ValueError unless "
            "0 < factor <= 1"
        )
    return f"{len(cases)} cases right (3 of them random), ValueError for factors 0, 2 and -0.5."


# --------------------------------------------------------------------------- BatchNorm modes
def _frozen_bn(module: nn.Module) -> bool:
    params = list(module.parameters())
    return (
        isinstance(module, nn.BatchNorm2d)
        and bool(params)
        and not any(p.requires_grad for p in params)
    )


def _bn_cases(build: Callable[[], nn.Module]) -> Iterable[tuple[str, nn.Module]]:
    from ..finetune import freeze, freeze_up_to

    model = build()
    freeze_up_to(model, "layer3.0")
    yield "frozen up to layer3.0", model
    model = build()
    freeze(model.layer2)
    freeze(model.layer4[1])
    yield "layer2 and layer4.1 frozen, the rest trainable", model
    model = build()
    freeze_up_to(model, "layer2.0")
    model.layer1[1].bn2.bias.requires_grad_(True)
    yield "frozen up to layer2.0, except the bias of layer1.1.bn2", model


@exercise_check("set_frozen_bn_eval")
def check_frozen_bn_eval(
    set_frozen_bn_eval: Callable[[nn.Module], int], build: Callable[[], nn.Module]
) -> str:
    """Self-check for the exercise "frozen BatchNorm in eval mode, by hand".

    On three models from ``build()`` (a copy of the source model: frozen up to
    ``layer3.0``; ``layer2`` and ``layer4.1`` frozen; frozen up to ``layer2.0``
    except one BatchNorm bias), each put in train mode, ``set_frozen_bn_eval(model)``
    must put exactly the ``nn.BatchNorm2d`` layers whose parameters are all frozen
    in eval mode, leave every other module in train mode and every
    ``requires_grad`` flag as it was, and return how many layers it switched.

    Taught in: "Fine-tuning" (exercises).
    """
    for case, model in _bn_cases(build):
        model.train()
        flags = [p.requires_grad for p in model.parameters()]
        got = set_frozen_bn_eval(model)
        if [p.requires_grad for p in model.parameters()] != flags:
            raise CheckFailed(f"({case}): requires_grad changed; only read the flags")
        for name, module in model.named_modules():
            label = name or "the model"
            if isinstance(module, nn.BatchNorm2d):
                frozen = _frozen_bn(module)
                if frozen and module.training:
                    raise CheckFailed(
                        f"({case}): {label} is frozen but still in train mode; go through "
                        "model.modules() (every depth) and test every parameter of the layer"
                    )
                if not frozen and not module.training:
                    partly = any(not p.requires_grad for p in module.parameters())
                    why = (
                        "only some of its parameters are frozen: switch a layer only when all "
                        "of them are"
                        if partly
                        else "it is trainable: decide from requires_grad, not from names or "
                        "positions"
                    )
                    raise CheckFailed(f"({case}): {label} was put in eval mode but {why}")
            elif not module.training:
                raise CheckFailed(
                    f"({case}): {label} ({type(module).__name__}) was put in eval mode: switch "
                    "BatchNorm layers only"
                )
        switched = sum(_frozen_bn(m) for m in model.modules())
        if not is_int(got) or got != switched:
            raise CheckFailed(
                f"({case}): expected the number of layers switched, {switched}, got {got!r}"
            )
    return "the right BatchNorm layers in eval mode and the count, on 3 differently frozen models."
