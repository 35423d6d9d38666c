"""The check of the exercise "A migration hook for a renamed submodule" (hooks-ex-1).

Taught in: "Hooks, parametrizations and adapters" (exercise "A migration hook for a
renamed submodule").
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._shared import call, seeded
from ..core import CheckFailed, exercise_check

__all__ = ["check_features_to_body"]


class _V2(nn.Module):
    """The old layout: ``features``."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6))
        self.extra_features = nn.Linear(6, 6)
        self.head = nn.Linear(6, 3)


class _V3(nn.Module):
    """The new layout: ``body``; ``extra_features`` keeps its name."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 6))
        self.extra_features = nn.Linear(6, 6)
        self.head = nn.Linear(6, 3)


def _renamed(key: str) -> str:
    parts = key.split(".")
    return ".".join("body" if p == "features" else p for p in parts)


def _load(
    hook: Callable[..., object], checkpoint: dict[str, torch.Tensor], nested: bool, where: str
) -> nn.Module:
    model: nn.Module = nn.ModuleDict({"net": _V3()}) if nested else _V3()
    target = model["net"] if nested else model  # type: ignore[index]
    target.register_load_state_dict_pre_hook(hook)
    given = dict(checkpoint)
    try:
        model.load_state_dict(given, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise CheckFailed(
            f"{where}: strict loading failed: {' '.join(first)[:400]}"
            + (
                "; the keys of a nested module start with prefix (here 'net.'): rename "
                "prefix + 'features.' to prefix + 'body.'"
                if nested
                else ""
            )
        ) from None
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as err:
        raise CheckFailed(f"{where}: your hook raised {type(err).__name__}: {err}") from err
    return model


@exercise_check("features_to_body")
def check_features_to_body(features_to_body: Callable[..., object]) -> str:
    """The learner's pre-hook must let ``_V3`` load ``_V2`` checkpoints strictly, alone and
    nested, rename only keys that start with the module's ``prefix + "features."``, and
    leave new checkpoints loading as before; every tensor is compared.

    Taught in: "Hooks, parametrizations and adapters" (exercises).
    """
    call(
        features_to_body,
        nn.Linear(1, 1),
        {},
        "",
        {},
        True,
        [],
        [],
        [],
        what="your hook on an empty checkpoint",
    )
    with seeded(0):
        old, new = _V2().state_dict(), _V3().state_dict()
        old_nested = nn.ModuleDict({"net": _V2()}).state_dict()
        new_nested = nn.ModuleDict({"net": _V3()}).state_dict()
    cases = [
        (old, False, "an old checkpoint (features.*)", True),
        (new, False, "a new checkpoint (body.*)", False),
        (old_nested, True, "an old checkpoint of the model inside a ModuleDict", True),
        (new_nested, True, "a new checkpoint of the model inside a ModuleDict", False),
    ]
    for checkpoint, nested, where, migrate in cases:
        snapshot = {k: v.clone() for k, v in checkpoint.items()}
        model = _load(features_to_body, checkpoint, nested, where)
        loaded = model.state_dict()
        for key, value in snapshot.items():
            name = _renamed(key) if migrate else key
            if name not in loaded:
                raise CheckFailed(f"{where}: after loading, the model has no key {name!r}")
            if not torch.equal(loaded[name], value):
                raise CheckFailed(
                    f"{where}: {name!r} does not hold the checkpoint's {key!r}; "
                    "move each tensor to its new name, unchanged"
                )
    return (
        "old and new checkpoints load strictly, alone and nested in a ModuleDict, "
        "every tensor in its place, extra_features untouched."
    )
