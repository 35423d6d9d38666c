"""Optimizer parameter groups: no weight decay on biases and normalisation weights,
and optional learning rates per submodule.

:func:`build_param_groups` returns a list of dicts that any ``torch.optim``
optimizer accepts; :func:`format_param_groups` prints what an optimizer (or such a
list) holds, one line per group.

Which parameters get no weight decay:

- biases: a parameter named ``bias``, ``bias_*`` or ``*_bias`` in its module
  (``nn.Linear.bias``, ``nn.LSTM.bias_ih_l0``, ``nn.MultiheadAttention.in_proj_bias``);
- every parameter of a normalisation layer (:data:`NORM_LAYERS`: BatchNorm,
  InstanceNorm, LayerNorm, GroupNorm, RMSNorm). Their weights scale normalised
  activations; pulling them towards zero fights the normalisation instead of
  limiting the model.

Embeddings keep their weight decay by default: an embedding table is a weight
matrix like a linear layer's, and recipes such as nanoGPT decay it. To exempt it
(for instance because decoupled decay also shrinks rows of rare tokens that get no
gradient), pass ``no_decay_modules=NORM_LAYERS + (nn.Embedding,)``. A custom
normalisation layer is exempted the same way.

Taught in: "Optimizers and learning-rate schedulers".
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn
from torch.optim import Optimizer

from ._validate import NORM_LAYERS, is_real

__all__ = ["NORM_LAYERS", "build_param_groups", "format_param_groups"]

DEFAULT_GROUP = "default"


def is_bias_name(local_name: str) -> bool:
    """Whether a parameter's own name (the part after the last dot) marks a bias.

    Taught in: "Optimizers and learning-rate schedulers".
    """
    return local_name == "bias" or local_name.startswith("bias_") or local_name.endswith("_bias")


def _check_rate(name: str, value: object, *, allow_zero: bool) -> float:
    if not is_real(value):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)  # type: ignore[arg-type]
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def _resolve_module_names(model: nn.Module, names: Sequence[str]) -> None:
    children = [name for name, _ in model.named_children()]
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"module_lrs keys must be module names (str), got {name!r}")
        if name == "":
            raise ValueError("module_lrs has the empty name ''; give the whole model's rate as lr=")
        try:
            model.get_submodule(name)
        except AttributeError:
            hint = difflib.get_close_matches(name.split(".")[0], children, n=1)
            did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ValueError(
                f"{type(model).__name__} has no submodule {name!r}.{did_you_mean} Its children "
                f"are: {', '.join(children) or '(none)'}; dotted paths such as "
                f"'{children[0] if children else 'block'}.0' reach deeper modules."
            ) from None


def _owner_of(param_name: str, module_names: Sequence[str]) -> str | None:
    """The longest module name that is a dotted prefix of ``param_name``, or ``None``."""
    best = None
    for name in module_names:
        if param_name.startswith(name + ".") and (best is None or len(name) > len(best)):
            best = name
    return best


def build_param_groups(
    model: nn.Module,
    *,
    weight_decay: float,
    lr: float | None = None,
    module_lrs: Mapping[str, float] | None = None,
    no_decay_modules: tuple[type[nn.Module], ...] = NORM_LAYERS,
    with_names: bool = False,
) -> list[dict[str, Any]]:
    """Split the trainable parameters of ``model`` into optimizer parameter groups.

    Every parameter with ``requires_grad=True`` lands in exactly one group; frozen
    parameters are left out (an optimizer does not need them, and leaving them out
    makes the groups say what is trained). Biases and the parameters of
    ``no_decay_modules`` (normalisation layers by default) get ``weight_decay=0``;
    the others get ``weight_decay``.

    ``module_lrs`` maps submodule names (``model.named_children()`` names, or
    dotted paths such as ``"body.3"``) to learning rates; a parameter takes the rate
    of the longest name that contains it. Parameters under no named module get
    ``lr`` when given, or else no ``"lr"`` key, so the optimizer's default applies.

    Each group is a dict with ``"params"``, ``"weight_decay"``, ``"name"`` (e.g.
    ``"head/decay"``, ``"head/no_decay"``; ``"decay"`` / ``"no_decay"`` without
    ``module_lrs``), ``"lr"`` where set, and ``"param_names"`` when ``with_names``
    is true. Groups come in the order their first parameter appears in the model;
    empty groups are omitted. Pass the list straight to an optimizer:
    ``torch.optim.AdamW(build_param_groups(model, weight_decay=0.05), lr=1e-3)``.

    Taught in: "Optimizers and learning-rate schedulers".
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    weight_decay = _check_rate("weight_decay", weight_decay, allow_zero=True)
    if lr is not None:
        lr = _check_rate("lr", lr, allow_zero=False)
    if module_lrs is None:
        module_lrs = {}
    if not isinstance(module_lrs, Mapping):
        raise TypeError(
            f"module_lrs must be a dict of module name -> learning rate, "
            f"got {type(module_lrs).__name__}"
        )
    if not isinstance(no_decay_modules, tuple) or not all(
        isinstance(kind, type) and issubclass(kind, nn.Module) for kind in no_decay_modules
    ):
        raise TypeError(
            "no_decay_modules must be a tuple of nn.Module classes, e.g. "
            "NORM_LAYERS + (nn.Embedding,)"
        )
    names = list(module_lrs)
    _resolve_module_names(model, names)
    rates = {
        name: _check_rate(f"module_lrs[{name!r}]", module_lrs[name], allow_zero=False)
        for name in names
    }

    # Which module owns each parameter tensor (a shared tensor: its first owner).
    owner: dict[int, tuple[nn.Module, str]] = {}
    for module in model.modules():
        for local_name, param in module.named_parameters(recurse=False):
            owner.setdefault(id(param), (module, local_name))

    groups: dict[tuple[str | None, bool], dict[str, Any]] = {}
    seen_modules: set[str | None] = set()
    for full_name, param in model.named_parameters():  # each shared tensor once
        if not param.requires_grad:
            continue
        module, local_name = owner[id(param)]
        decay = not (is_bias_name(local_name) or isinstance(module, no_decay_modules))
        key = _owner_of(full_name, names)
        seen_modules.add(key)
        group = groups.get((key, decay))
        if group is None:
            kind = "decay" if decay else "no_decay"
            group = {
                "name": f"{key or DEFAULT_GROUP}/{kind}" if names else kind,
                "params": [],
                "weight_decay": weight_decay if decay else 0.0,
            }
            group_lr = lr if key is None else rates[key]
            if group_lr is not None:
                group["lr"] = group_lr
            if with_names:
                group["param_names"] = []
            groups[(key, decay)] = group
        group["params"].append(param)
        if with_names:
            group["param_names"].append(full_name)

    if not groups:
        raise ValueError(
            "the model has no trainable parameters (all have requires_grad=False); "
            "unfreeze some before building an optimizer"
        )
    idle = [name for name in names if name not in seen_modules]
    if idle:
        raise ValueError(
            f"module_lrs names {idle} but they hold no trainable parameters "
            "(frozen, or parameter-free); remove them from module_lrs"
        )
    return list(groups.values())


def format_param_groups(groups: Optimizer | Sequence[Mapping[str, Any]]) -> str:
    """One line per parameter group: name, learning rate, weight decay, tensors, values.

    Accepts an optimizer (its ``param_groups``) or a list of group dicts such as
    :func:`build_param_groups` returns; a group without ``"lr"`` shows ``default``.

    Taught in: "Optimizers and learning-rate schedulers".
    """
    if isinstance(groups, Optimizer):
        groups = groups.param_groups
    if isinstance(groups, (str, bytes, Mapping)) or not isinstance(groups, Sequence):
        raise TypeError(
            f"expected an optimizer or a list of parameter-group dicts, got {type(groups).__name__}"
        )
    if not groups:
        raise ValueError("there are no parameter groups to show")
    rows = []
    for index, group in enumerate(groups):
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(f"group {index} must be a dict with a 'params' list")
        params = list(group["params"])
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        lr = group.get("lr")
        wd = group.get("weight_decay")
        rows.append(
            (
                str(group.get("name", f"group {index}")),
                "default" if lr is None else f"{float(lr):.3g}",
                "default" if wd is None else f"{float(wd):g}",
                str(len(tensors)),
                f"{sum(t.numel() for t in tensors):,}",
            )
        )
    header = ("group", "lr", "weight_decay", "tensors", "values")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    return "\n".join(lines)
