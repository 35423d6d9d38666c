"""Load what fits: the tensors of a checkpoint whose name *and* shape match a
model, with a report of the rest.

Taught in: "Saving and loading".
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._validate import require_module

__all__ = ["LoadReport", "ShapeMismatch", "load_matching"]


@dataclass(frozen=True)
class ShapeMismatch:
    """A tensor present in both, with different shapes (so it was not loaded).

    Taught in: "Saving and loading".
    """

    name: str
    checkpoint_shape: tuple[int, ...]
    model_shape: tuple[int, ...]


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_matching` did. Names are in the model's (or, for
    ``unexpected``, the checkpoint's) order; ``shapes`` maps every model name to its
    shape. ``str(report)`` is a readable summary.

    Taught in: "Saving and loading".
    """

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[ShapeMismatch, ...]
    shapes: Mapping[str, tuple[int, ...]]

    @property
    def complete(self) -> bool:
        """Every tensor of the model was loaded."""
        return not self.missing and not self.mismatched

    def __str__(self) -> str:
        def shape(s: tuple[int, ...]) -> str:
            return f"({', '.join(map(str, s))}{',' if len(s) == 1 else ''})"

        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        lines = [f"loaded {len(self.loaded)} of {total} model tensors (matched by name and shape)"]
        if self.mismatched:
            lines.append("  shape differs, kept the model's own values:")
            lines += [
                f"    {m.name}: checkpoint {shape(m.checkpoint_shape)}, "
                f"model {shape(m.model_shape)}"
                for m in self.mismatched
            ]
        if self.missing:
            lines.append("  not in the checkpoint, kept the model's own values:")
            lines += [f"    {name} {shape(self.shapes[name])}" for name in self.missing]
        if self.unexpected:
            lines.append("  in the checkpoint but not in the model, ignored:")
            lines += [f"    {name}" for name in self.unexpected]
        return "\n".join(lines)


def _shape(value: object) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _prefix_hint(checkpoint_keys: list[str], model_keys: list[str]) -> str:
    for prefix in ("module.", "_orig_mod."):
        if any(k.startswith(prefix) for k in checkpoint_keys):
            return (
                f"; the checkpoint's keys start with {prefix!r}: use strip_prefix(sd, {prefix!r})"
            )
        if any(k.startswith(prefix) for k in model_keys):
            attr = prefix.rstrip(".")
            return f"; the model is a wrapper (keys start with {prefix!r}): load into model.{attr}"
    return ""


def load_matching(model: nn.Module, state_dict: Mapping[str, Any]) -> LoadReport:
    """Load into ``model`` every entry of ``state_dict`` whose name and shape match,
    and return a :class:`LoadReport` of what was loaded, missing, unexpected and
    shape-mismatched.

    Unlike ``model.load_state_dict(state_dict, strict=False)``, which still raises
    on the first shape mismatch, a different shape only lands in the report. Names
    are matched exactly (never by position): rename keys first, e.g. with
    :func:`strip_prefix`. When not a single name matches, that is a mistake (usually
    a prefix), so a ``ValueError`` says so. ``state_dict`` is not modified.

    Taught in: "Saving and loading".
    """
    require_module(model)
    if not isinstance(state_dict, Mapping):
        hint = " (did you forget the () of state_dict?)" if callable(state_dict) else ""
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}{hint}")
    own = model.state_dict()
    common = [name for name in own if name in state_dict]
    if state_dict and not common:
        raise ValueError(
            "no name in the checkpoint matches the model: checkpoint keys look like "
            f"{next(iter(state_dict))!r}, model keys like {next(iter(own), None)!r}"
            + _prefix_hint(list(state_dict), list(own))
        )
    selected: collections.OrderedDict[str, Any] = collections.OrderedDict()
    mismatched = []
    for name in common:
        theirs, ours = _shape(state_dict[name]), _shape(own[name])
        if theirs == ours:
            selected[name] = state_dict[name]
        else:
            mismatched.append(ShapeMismatch(name, theirs or (), ours or ()))
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        selected._metadata = metadata  # type: ignore[attr-defined] - read-only use
    model.load_state_dict(selected, strict=False)
    return LoadReport(
        loaded=tuple(selected),
        missing=tuple(n for n in own if n not in state_dict),
        unexpected=tuple(n for n in state_dict if n not in own),
        mismatched=tuple(mismatched),
        shapes={name: _shape(value) or () for name, value in own.items()},
    )
