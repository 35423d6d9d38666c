"""The measurement protocol of the experiment "Where to cut the frozen body".

:func:`linear_probe` trains a new linear head on the features of a frozen extractor
and returns its validation accuracy; the learner's experiment measures with it, and
so does the check, on every stage of :data:`STAGES` (cached per source model).

Taught in: "Fine-tuning" (exercise "Where to cut the frozen body").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["STAGES", "linear_probe"]


STAGES = ("layer1", "layer2", "layer3", "layer4")
"""The residual stages of a ResNet-18, from the input to the output."""

PROBE_STEPS = 100
PROBE_LR = 1e-2


def _digits_split(per_class: int, seed: int):
    from ...data import digits_split

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
