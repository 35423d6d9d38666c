"""The check of the exercise "Head and body parameter groups by hand" (finetune-ex-2).

Taught in: "Fine-tuning" (exercise "Head and body parameter groups by hand").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

from ..core import CheckFailed, exercise_check

__all__ = ["check_param_groups"]


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
    from ... import param_groups

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
