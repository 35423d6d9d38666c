"""Freezing for fine-tuning: by layer name, with BatchNorm kept in eval mode.

Freezing a parameter means ``requires_grad = False``: autograd computes no
gradient for it, its ``.grad`` stays ``None`` and every optimizer skips it. Layers
are named by their dotted path in ``model.named_modules()`` (``"layer3"``,
``"layer3.0"``, ``"fc"``), so the code says *which* layer it means instead of
counting children. Learning rates per layer (a slower body, a faster head) come
from :func:`tutorial_lib.build_param_groups` with ``module_lrs``.

Taught in: "Fine-tuning".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._validate import BATCHNORM_LAYERS, is_int, require_module
from .inspection import count_parameters

__all__ = [
    "FrozenBatchNormHooks",
    "ParameterRow",
    "freeze",
    "freeze_up_to",
    "keep_frozen_batchnorm_in_eval",
    "parameter_table",
    "unfreeze",
]


# --------------------------------------------------------------------------- names
def _unknown_name_message(model: nn.Module, name: str) -> str:
    """Say that ``name`` is not a layer of ``model`` and list the valid names at the
    level where the path stopped matching (e.g. the children of ``layer3``)."""
    modules = dict(model.named_modules())
    parameters = dict(model.named_parameters())
    if name in parameters:
        layer = name.rpartition(".")[0]
        return f"{name!r} is a parameter, not a layer; name the layer that holds it" + (
            f" ({layer!r})" if layer else " (it belongs to the model itself)"
        )
    parts = name.split(".")
    parent = ""
    for depth in range(len(parts) - 1, 0, -1):
        candidate = ".".join(parts[:depth])
        if candidate in modules:
            parent = candidate
            break
    children = [
        f"{parent}.{child}" if parent else child for child, _ in modules[parent].named_children()
    ]
    where = f"inside {parent!r}" if parent else "at the top level"
    listed = ", ".join(children) if children else "(none: it has no children)"
    return (
        f"{type(model).__name__} has no layer named {name!r}; valid names {where}: {listed}. "
        "Deeper layers are written with dots, e.g. 'layer3.0'."
    )


def _resolve(model: nn.Module, name: object) -> str:
    """Check that ``name`` names a submodule of ``model`` and return it."""
    if not isinstance(name, str):
        raise TypeError(f"a layer name must be a str like 'layer3.0', got {type(name).__name__}")
    if name == "":
        raise ValueError(
            "the empty name means the whole model; call freeze(model) or unfreeze(model)"
        )
    if name not in dict(model.named_modules()):
        raise ValueError(_unknown_name_message(model, name))
    return name


def _inside(param_name: str, layer: str) -> bool:
    return param_name.startswith(layer + ".")


# --------------------------------------------------------------------------- freezing
def freeze(module: nn.Module) -> nn.Module:
    """Set ``requires_grad = False`` on every parameter of ``module``; return it.

    Buffers such as BatchNorm running statistics are not parameters: freezing does
    not stop ``model.train()`` from updating them (see
    :func:`keep_frozen_batchnorm_in_eval`).

    Taught in: "Fine-tuning".
    """
    require_module(module, "module")
    module.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Set ``requires_grad = True`` on every parameter of ``module``; return it.

    Taught in: "Fine-tuning".
    """
    require_module(module, "module")
    module.requires_grad_(True)
    return module


def freeze_up_to(model: nn.Module, name: str) -> list[str]:
    """Freeze every parameter registered before the layer ``name`` and every
    parameter inside it (inclusive); return the names of the frozen parameters.

    Order is registration order, the order of ``model.named_modules()`` (for a
    torchvision ResNet: ``conv1, bn1, relu, maxpool, layer1 .. layer4, avgpool,
    fc``). ``freeze_up_to(resnet, "layer3.0")`` freezes the stem, ``layer1``,
    ``layer2`` and the first block of ``layer3`` (the notes' "child 6"), and leaves
    ``layer3.1``, ``layer4`` and ``fc`` as they were: parameters after ``name`` are
    not touched, so call :func:`unfreeze` first for a clean start.

    An unknown ``name`` raises ``ValueError`` listing the valid names at that level.

    Taught in: "Fine-tuning".
    """
    require_module(model)
    _resolve(model, name)
    names = [module_name for module_name, _ in model.named_modules()]
    position = names.index(name)
    last = position
    while last + 1 < len(names) and _inside(names[last + 1], name):
        last += 1  # named_modules() is pre-order: the subtree of `name` follows it
    frozen = []
    seen: set[int] = set()
    modules = dict(model.named_modules())
    for module_name in names[: last + 1]:
        prefix = f"{module_name}." if module_name else ""
        for param_name, param in modules[module_name].named_parameters(recurse=False):
            if id(param) in seen:  # a parameter shared by two layers is frozen once
                continue
            seen.add(id(param))
            param.requires_grad_(False)
            frozen.append(prefix + param_name)
    return frozen


@dataclass(frozen=True)
class ParameterRow:
    """One layer's parameter counts, as listed by :func:`parameter_table`."""

    name: str
    kind: str
    total: int
    trainable: int

    @property
    def frozen(self) -> int:
        return self.total - self.trainable

    @property
    def status(self) -> str:
        """``"trainable"``, ``"frozen"``, ``"partly frozen"`` or ``"no parameters"``."""
        if self.total == 0:
            return "no parameters"
        if self.trainable == self.total:
            return "trainable"
        return "frozen" if self.trainable == 0 else "partly frozen"


def parameter_table(model: nn.Module, *, depth: int = 1) -> list[ParameterRow]:
    """Total and trainable parameter counts of every layer ``depth`` levels down
    (``depth=1``: the children; ``depth=2``: their children, e.g. ``layer3.0``).

    A layer with fewer than ``depth`` levels below the model (a ``ReLU`` child, say)
    is listed as it is, and parameters registered directly on a container are
    listed under the container's own name, so the rows add up to
    :func:`tutorial_lib.count_parameters` of the whole model (unless layers share
    a parameter: each row counts it).

    Taught in: "Fine-tuning".
    """
    require_module(model)
    if not is_int(depth) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    rows: list[ParameterRow] = []

    def visit(module: nn.Module, name: str, level: int) -> None:
        children = list(module.named_children())
        if level == depth or not children:
            counts = count_parameters(module)
            rows.append(ParameterRow(name, type(module).__name__, counts.total, counts.trainable))
            return
        own = list(module.parameters(recurse=False))
        if own:
            total = sum(p.numel() for p in own)
            trainable = sum(p.numel() for p in own if p.requires_grad)
            rows.append(ParameterRow(name, type(module).__name__, total, trainable))
        for child_name, child in children:
            visit(child, f"{name}.{child_name}" if name else child_name, level + 1)

    visit(model, "", 0)
    return rows


# --------------------------------------------------------------------------- batchnorm
_FORCED = "_tutorial_lib_forced_eval"


def _is_frozen_batchnorm(module: nn.Module) -> bool:
    params = list(module.parameters(recurse=False))
    return bool(params) and not any(p.requires_grad for p in params)


def _frozen_bn_pre_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
    if module.training and _is_frozen_batchnorm(module):
        module.training = False  # normalise with the running statistics, update nothing
        setattr(module, _FORCED, True)


def _frozen_bn_post_hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
    if module.__dict__.pop(_FORCED, False):
        module.training = True  # back to the mode model.train() asked for


class FrozenBatchNormHooks:
    """The hooks installed by :func:`keep_frozen_batchnorm_in_eval`.

    ``len(hooks)`` is the number of BatchNorm layers watched; :meth:`remove`
    uninstalls them. Also a context manager that removes them on exit.
    """

    def __init__(self, handles: list[torch.utils.hooks.RemovableHandle], count: int) -> None:
        self._handles = handles
        self._count = count

    def __len__(self) -> int:
        return self._count

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._count = 0

    def __enter__(self) -> FrozenBatchNormHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def keep_frozen_batchnorm_in_eval(model: nn.Module) -> FrozenBatchNormHooks:
    """Make every *frozen* BatchNorm layer of ``model`` behave as in eval mode,
    whatever ``model.train()`` says.

    ``requires_grad = False`` stops the optimizer, not BatchNorm: in train mode a
    BatchNorm layer normalises with the statistics of the current batch and
    overwrites its running statistics, so a "frozen" body drifts towards the few
    images it is fine-tuned on. The usual fix, calling ``.eval()`` on those layers
    after every ``model.train()``, is easy to forget and is undone by any training
    loop that calls ``model.train()`` itself (``tutorial_lib.fit`` does, every
    epoch).

    This function installs a forward pre-hook and a forward hook on each BatchNorm
    layer instead. At each forward pass in train mode, a BatchNorm layer whose
    affine parameters all have ``requires_grad = False`` runs in eval mode (running
    statistics used, not updated) and is switched back to train mode right after,
    so ``model.training`` always reports what you asked for. The test is made at
    every call: unfreezing a layer (gradual unfreezing) lets its BatchNorm train
    again, with nothing else to do. BatchNorm layers without affine parameters
    (``affine=False``) have nothing to freeze and are left alone. Calling it twice
    installs nothing new. State dicts are unchanged; hooks survive
    ``copy.deepcopy``.

    Returns :class:`FrozenBatchNormHooks` (``.remove()`` to uninstall).

    Taught in: "Fine-tuning".
    """
    require_module(model)
    handles = []
    count = 0
    for module in model.modules():
        if not isinstance(module, BATCHNORM_LAYERS):
            continue
        count += 1
        if _frozen_bn_pre_hook in module._forward_pre_hooks.values():
            continue  # already installed
        handles.append(module.register_forward_pre_hook(_frozen_bn_pre_hook))
        handles.append(module.register_forward_hook(_frozen_bn_post_hook, always_call=True))
    return FrozenBatchNormHooks(handles, count)
