"""The checks of the two state-dict exercises (saving-ex-1 and -ex-2): keys with a
prefix, and the entries of a checkpoint that fit a model; both want the checkpoint's
own tensors, not copies.

Taught in: "Saving and loading" (exercises "Load a plain state_dict into a wrapper, the other way
round", "Select what can be loaded").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..core import CheckFailed, exercise_check

__all__ = ["check_add_prefix", "check_select_matching"]


def _shares_memory(a: object, b: torch.Tensor) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.data_ptr() == b.data_ptr()
        and a.shape == b.shape
        and a.stride() == b.stride()
    )


def _bn_model() -> nn.Module:
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 4, 3), bn=nn.BatchNorm2d(4)))


@exercise_check("add_prefix")
def check_add_prefix(
    fn: Callable[[Mapping[str, Any], str], Any], build: Callable[[], nn.Module]
) -> str:
    """Self-check of saving-ex-1, ``fn(state_dict, prefix) -> new dict``.

    For ``"module."`` and ``"_orig_mod."`` on ``build().state_dict()`` and for
    ``"encoder."`` on a model with BatchNorm buffers: a new mapping whose keys are
    ``prefix + key`` in the argument's order, whose values are the argument's own
    tensors (the same memory, not copies), the argument left unchanged; the
    ``"module."`` result must load into ``nn.DataParallel(build())``, the
    ``"encoder."`` one into a module holding the model as ``encoder``.

    Taught in: "Saving and loading" (exercises).
    """
    cases: list[tuple[nn.Module, str]] = [(build(), "module."), (build(), "_orig_mod.")]
    cases.append((_bn_model(), "encoder."))
    for model, prefix in cases:
        state = model.state_dict()
        keys, values = list(state), list(state.values())
        got = fn(state, prefix)
        where = f"prefix {prefix!r}"
        if got is state:
            raise CheckFailed(f"{where}: returned the argument itself; build a new dict")
        if list(state) != keys or any(
            v is not w for v, w in zip(state.values(), values, strict=True)
        ):
            raise CheckFailed(
                f"{where}: the argument was changed; leave it alone and build a new dict"
            )
        if not isinstance(got, Mapping):
            raise CheckFailed(f"{where}: expected a dict, got {type(got).__name__}")
        expected = [prefix + key for key in keys]
        if list(got) != expected:
            if sorted(got) == sorted(expected):
                raise CheckFailed(
                    f"{where}: the right keys in another order; keep the argument's order"
                )
            raise CheckFailed(f"{where}: expected keys like {expected[:2]}, got {list(got)[:2]}")
        copied = [
            key
            for key, value in zip(keys, values, strict=True)
            if not _shares_memory(got[prefix + key], value)
        ]
        if copied:
            raise CheckFailed(
                f"{where}: the tensor of {copied[0]!r} was copied (clone or deepcopy); put the "
                "argument's own tensors in the new dict, so that no memory is duplicated"
            )
        if prefix == "module.":
            nn.DataParallel(build()).load_state_dict(got)
        elif prefix == "encoder.":
            holder = nn.Module()
            holder.encoder = _bn_model()
            holder.load_state_dict(got)
    return "new dicts with prefixed keys in order, the same tensors, loadable, for 3 prefixes."


def _reversed_case() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A model with buffers, and a checkpoint in another order with a transposed shape
    (same number of elements) and an unknown name."""
    model = nn.Sequential(
        OrderedDict(conv=nn.Conv2d(1, 4, 3), bn=nn.BatchNorm2d(4), fc=nn.Linear(8, 6))
    )
    other = nn.Sequential(
        OrderedDict(conv=nn.Conv2d(1, 4, 3), bn=nn.BatchNorm2d(4), fc=nn.Linear(6, 8))
    )
    state = other.state_dict()
    state["head.weight"] = torch.zeros(3, 8)
    return model, dict(reversed(list(state.items())))


@exercise_check("select_matching")
def check_select_matching(
    fn: Callable[[nn.Module, Mapping[str, Any]], Any],
    trained: Mapping[str, torch.Tensor],
    build: Callable[..., nn.Module],
    build_plus: Callable[..., nn.Module],
) -> str:
    """Self-check of saving-ex-2, ``fn(model, state_dict) -> selected dict``.

    Cases: ``trained`` (the chapter's trained ``DigitNet`` weights) against
    ``build_plus(num_classes=5)``, ``build(hidden=32)`` and ``build()``, and a model
    with BatchNorm buffers against a checkpoint in reversed order with a transposed
    weight (same number of elements) and an unknown name. The selection must hold
    exactly the names of ``model.state_dict()`` found in the checkpoint with the
    same shape, in the model's order, with the checkpoint's own tensors, and the
    model must be left unchanged (nothing loaded).

    Taught in: "Saving and loading" (exercises).
    """
    cases = [
        (build_plus(num_classes=5), dict(trained), "an extra layer and a new head"),
        (build(hidden=32), dict(trained), "a narrower model"),
        (build(), dict(trained), "the same model"),
        (*_reversed_case(), "BatchNorm buffers, a reordered checkpoint, a transposed weight"),
    ]
    for model, state, label in cases:
        own = model.state_dict()
        snapshot = {name: value.clone() for name, value in own.items()}
        expected = [n for n in own if n in state and tuple(state[n].shape) == tuple(own[n].shape)]
        got = fn(model, state)
        where = f"{label}"
        after = model.state_dict()
        if any(not torch.equal(after[name], value) for name, value in snapshot.items()):
            raise CheckFailed(
                f"{where}: the model's tensors changed: select_matching must only select, not "
                "load (load_matching and load_state_dict load; do not call them)"
            )
        if not isinstance(got, Mapping):
            raise CheckFailed(f"{where}: expected a dict, got {type(got).__name__}")
        names = list(got)
        elsewhere = [n for n in names if n in own and n not in state]
        if elsewhere:
            raise CheckFailed(
                f"{where}: {elsewhere[0]!r} is not in the checkpoint, yet your selection has it: "
                "match by name, never by position"
            )
        wrong_shape = [n for n in names if n in own and n not in expected]
        if wrong_shape:
            n = wrong_shape[0]
            raise CheckFailed(
                f"{where}: {n!r} has shape {tuple(state[n].shape)} in the checkpoint and "
                f"{tuple(own[n].shape)} in the model; compare the shapes themselves (same "
                "number of elements is not enough)"
            )
        unknown = [n for n in names if n not in own]
        if unknown:
            raise CheckFailed(f"{where}: {unknown[0]!r} is not in model.state_dict(); leave it out")
        missing = [n for n in expected if n not in got]
        if missing:
            hint = (
                "buffers such as BatchNorm's running statistics are in model.state_dict(), not in "
                "model.parameters()"
                if any(n not in dict(model.named_parameters()) for n in missing)
                else "every model name found in the checkpoint with the same shape belongs in it"
            )
            raise CheckFailed(f"{where}: missing {missing}; {hint}")
        if names != expected:
            raise CheckFailed(
                f"{where}: the right names in another order; follow the model's order "
                "(iterate over model.state_dict())"
            )
        if any(not _shares_memory(got[n], state[n]) for n in names):
            raise CheckFailed(
                f"{where}: the values must be the checkpoint's own tensors, not copies"
            )
    return f"the right selection, in the model's order, nothing loaded, for {len(cases)} cases."
