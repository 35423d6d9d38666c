"""Checks for the exercises of "Fine-tuning".

Taught in: "Fine-tuning" (exercises).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ..inspection import count_parameters
from .core import NOT_ATTEMPTED, CheckFailed, report

__all__ = ["check_feature_extractor", "check_param_groups"]


def _head_inputs(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """What ``model.fc`` receives for ``inputs`` in eval mode (the body's features)."""
    captured: list[torch.Tensor] = []
    handle = model.fc.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(inputs)
    finally:
        handle.remove()
        model.train(was_training)
    return captured[0]


def check_feature_extractor(
    build: Callable[[nn.Module, int], nn.Module],
    source: nn.Module,
    *,
    num_classes: int = 5,
    inputs: torch.Tensor | None = None,
    strict: bool | None = None,
) -> None:
    """Self-check for the exercise "a feature extractor from the source model".

    ``build(source, num_classes)`` must return a new model whose every parameter is
    frozen except a fresh ``fc`` head with ``num_classes`` outputs, computing the
    source model's features, and leave ``source`` itself untouched. Prints a pass
    line, raises :class:`tutorial_lib.CheckFailed`, or reports "not attempted".

    Taught in: "Fine-tuning".
    """
    name = getattr(build, "__name__", "your function")
    before = {key: value.clone() for key, value in source.state_dict().items()}
    flags = [p.requires_grad for p in source.parameters()]
    try:
        model = build(source, num_classes)
    except NotImplementedError:
        return report(name, "todo", NOT_ATTEMPTED, strict=strict)
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"{name}: expected an nn.Module, got {type(model).__name__}")
    if model is source:
        raise CheckFailed(f"{name}: returned the source model itself; return a copy")
    if [p.requires_grad for p in source.parameters()] != flags:
        raise CheckFailed(f"{name}: changed requires_grad on the source model; freeze a copy")
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear) or fc.out_features != num_classes:
        raise CheckFailed(f"{name}: expected model.fc to be nn.Linear(..., {num_classes})")
    head = {id(p) for p in fc.parameters()}
    if any(id(p) in {id(q) for q in source.parameters()} for p in model.parameters()):
        raise CheckFailed(f"{name}: the new model shares parameters with the source; deep-copy")
    wrong = [n for n, p in model.named_parameters() if p.requires_grad != (id(p) in head)]
    if wrong:
        raise CheckFailed(
            f"{name}: expected only fc to be trainable, got requires_grad wrong for "
            f"{len(wrong)} parameter(s), e.g. {wrong[0]}"
        )
    counts = count_parameters(model)
    expected_total = count_parameters(source).total - source.fc.weight.numel()
    expected_total += (source.fc.in_features + 1) * num_classes - source.fc.bias.numel()
    if counts.total != expected_total:
        raise CheckFailed(f"{name}: expected {expected_total:,} parameters, got {counts.total:,}")
    after = source.state_dict()
    if any(not torch.equal(before[k], after[k]) for k in before):
        raise CheckFailed(f"{name}: changed the source model's weights or buffers")
    if inputs is not None and not torch.allclose(
        _head_inputs(model, inputs), _head_inputs(source, inputs), atol=1e-5
    ):
        raise CheckFailed(f"{name}: the body computes other features than the source model")
    report(
        name,
        "pass",
        f"a frozen copy of the body with a new {num_classes}-way head "
        f"({counts.trainable:,} trainable of {counts.total:,}); the source is untouched.",
        strict=strict,
    )


def check_param_groups(
    make_groups: Callable[..., Iterable[Mapping[str, Any]]],
    build: Callable[[], nn.Module],
    *,
    head: str = "fc",
    head_lr: float = 1e-2,
    body_lr: float = 1e-3,
    strict: bool | None = None,
) -> None:
    """Self-check for the exercise "head and body parameter groups".

    ``make_groups(model, head_lr=..., body_lr=...)`` must return optimizer groups
    in which every trainable parameter appears exactly once, the parameters of
    ``model.<head>`` with ``head_lr`` and the others with ``body_lr``, and no frozen
    parameter appears. It is tried on a fresh model from ``build()`` and on one with
    its first half frozen, and the groups must be accepted by ``torch.optim.SGD``.

    Taught in: "Fine-tuning".
    """
    name = getattr(make_groups, "__name__", "your function")
    for case in ("all trainable", "first half frozen"):
        model = build()
        if case != "all trainable":
            params = list(model.parameters())
            for param in params[: len(params) // 2]:
                param.requires_grad_(False)
        head_ids = {id(p) for p in model.get_submodule(head).parameters()}
        try:
            groups = list(make_groups(model, head_lr=head_lr, body_lr=body_lr))
        except NotImplementedError:
            return report(name, "todo", NOT_ATTEMPTED, strict=strict)
        seen: dict[int, float] = {}
        for group in groups:
            if not isinstance(group, Mapping) or "params" not in group or "lr" not in group:
                raise CheckFailed(f"{name} ({case}): each group must be a dict with params and lr")
            for param in group["params"]:
                if id(param) in seen:
                    raise CheckFailed(f"{name} ({case}): a parameter appears in two groups")
                seen[id(param)] = group["lr"]
        trainable = {id(p): p for p in model.parameters() if p.requires_grad}
        if set(seen) != set(trainable):
            missing = len(set(trainable) - set(seen))
            extra = len(set(seen) - set(trainable))
            raise CheckFailed(
                f"{name} ({case}): expected every trainable parameter once and no frozen one; "
                f"{missing} trainable parameter(s) missing, {extra} frozen/foreign one(s) included"
            )
        for key, lr in seen.items():
            expected = head_lr if key in head_ids else body_lr
            if lr != expected:
                where = "head" if key in head_ids else "body"
                raise CheckFailed(
                    f"{name} ({case}): a {where} parameter has lr {lr}, expected {expected}"
                )
        try:
            torch.optim.SGD(groups, lr=body_lr)
        except Exception as err:
            raise CheckFailed(
                f"{name} ({case}): torch.optim.SGD refused the groups: {err}"
            ) from err
    report(
        name,
        "pass",
        f"every trainable parameter once, head at {head_lr}, body at {body_lr}.",
        strict=strict,
    )
