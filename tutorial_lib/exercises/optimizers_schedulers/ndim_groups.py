"""The check of the exercise "No decay by number of dimensions" (optim-ex-4).

Taught in: "Optimizers and learning-rate schedulers" (exercise "No decay by number of dimensions").
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..core import CheckFailed, exercise_check

__all__ = ["check_ndim_param_groups"]


def _ndim_model() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(1, 4, 3),
                bn=nn.BatchNorm2d(4),
                act=nn.PReLU(4),  # a 1-D weight that is neither a bias nor a normalisation
                flatten=nn.Flatten(),
                fc=nn.Linear(4 * 6 * 6, 10),
                norm=nn.LayerNorm(10),
            )
        )
    model.conv.bias.requires_grad_(False)  # frozen: must be left out
    return model


@exercise_check("ndim_param_groups")
def check_ndim_param_groups(fn: Callable[..., Any]) -> str:
    """Self-check of optim-ex-4, ``fn(model, weight_decay) -> [group, group]``.

    The model is a small CNN with a frozen convolution bias and a PReLU (a 1-D
    weight that the by-type rule of ``build_param_groups`` decays and the ndim rule
    does not). Each group must be a dict with a ``params`` list and an explicit
    ``weight_decay``; every trainable tensor must appear once, frozen ones not at
    all; exactly the tensors with two or more dimensions get ``weight_decay``
    (0.123 here), the others 0.0; ``AdamW`` must accept the groups.

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    model = _ndim_model()
    weight_decay = 0.123
    names = {id(p): name for name, p in model.named_parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    should_decay = {id(p) for p in model.parameters() if p.requires_grad and p.ndim >= 2}
    groups = fn(model, weight_decay)
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, dict) for g in groups):
        raise CheckFailed("expected a list of dicts, one per parameter group")
    for index, group in enumerate(groups):
        if not isinstance(group.get("params"), (list, tuple)):
            raise CheckFailed(
                f"group {index}: 'params' must be a list of tensors, got "
                f"{type(group.get('params')).__name__} (a generator is used up after one pass)"
            )
        if "weight_decay" not in group:
            raise CheckFailed(
                f"group {index} has no 'weight_decay' key, so it takes the optimizer's default "
                "(0.01 for AdamW); set 'weight_decay': 0.0 explicitly"
            )
    ids = [id(p) for g in groups for p in g["params"]]
    if len(ids) != len(set(ids)):
        twice = next(names.get(i, "?") for i in ids if ids.count(i) > 1)
        raise CheckFailed(f"{twice} appears in more than one place; put each tensor in one group")
    frozen = [names[i] for i in ids if i in names and i not in trainable]
    if frozen:
        raise CheckFailed(
            f"frozen parameter {frozen[0]} is in a group; leave out requires_grad=False ones"
        )
    missing = [names[i] for i in trainable if i not in set(ids)]
    if missing or not set(ids) <= trainable:
        raise CheckFailed(
            f"expected the {len(trainable)} trainable tensors of the model, missing "
            f"{missing or 'none'}; take them from model.parameters()"
        )
    decayed = set()
    for group in groups:
        decay = group["weight_decay"]
        if decay != 0 and not math.isclose(decay, weight_decay):
            raise CheckFailed(
                f"a group has weight_decay={decay}; the decayed group must use the "
                f"weight_decay argument ({weight_decay} here)"
            )
        if decay != 0:
            decayed |= {id(p) for p in group["params"]}
    wrongly = sorted(names[i] for i in decayed - should_decay)
    if wrongly:
        raise CheckFailed(
            f"{', '.join(wrongly)} should not be decayed: the rule is the number of dimensions "
            "(p.ndim >= 2), not the name or the module type; 1-D tensors get no decay"
        )
    forgotten = sorted(names[i] for i in should_decay - decayed)
    if forgotten:
        raise CheckFailed(
            f"{', '.join(forgotten)} should be decayed: every tensor with two or more "
            "dimensions (weight matrices, convolution kernels) gets the weight decay"
        )
    torch.optim.AdamW(groups, lr=1e-3)  # an optimizer must accept the groups
    return "decay exactly on the tensors with ndim >= 2, frozen ones left out, AdamW accepts."
