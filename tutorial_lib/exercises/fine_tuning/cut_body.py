"""The check of the experiment "Where to cut the frozen body" (finetune-ex-1).

The learner's cut must give frozen, average-pooled features of each stage, the same in
train mode, without changing the source model; the stage named best must probe within
:data:`BEST_TOLERANCE` points of the best one.

Taught in: "Fine-tuning" (exercise "Where to cut the frozen body").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..core import CheckFailed, compare, exercise_check
from .probe import STAGES, _digits_split, _features, _stage_accuracies, _stage_outputs

__all__ = ["check_cut_body"]


BEST_TOLERANCE = 2.0
"""Percentage points: a stage this close to the best one counts as best (seed noise)."""


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
