"""Small helpers to look inside a model: parameter counts and an activation probe.

Taught in: "Defining models" (counting), "Inspecting and initializing models"
(counting shared and frozen parameters, the activation-std probe).
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["ActivationStd", "ParameterCount", "activation_stds", "count_parameters"]


class ParameterCount(NamedTuple):
    """Numbers of scalar parameters: all of them, and those with ``requires_grad``."""

    total: int
    trainable: int

    @property
    def frozen(self) -> int:
        return self.total - self.trainable


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count the scalar parameters of ``model`` (each shared tensor once).

    Buffers (such as BatchNorm's running statistics) are not parameters and are not
    counted.

    Taught in: "Defining models", "Inspecting and initializing models".
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    total = trainable = 0
    for param in model.parameters():  # parameters() already skips duplicates
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return ParameterCount(total, trainable)


class ActivationStd(NamedTuple):
    """The standard deviation of one module's output during one forward pass.

    ``name`` is the module's qualified name in the model (``""`` for the model
    itself); ``call`` counts the calls of that module in the pass (0 for the first),
    so a module used several times gives one row per use.
    """

    name: str
    call: int
    std: float


def _selected_modules(
    model: nn.Module,
    module_types: type[nn.Module] | tuple[type[nn.Module], ...] | None,
) -> list[tuple[str, nn.Module]]:
    if module_types is None:
        return [(name, m) for name, m in model.named_modules() if not any(m.children())]
    types = module_types if isinstance(module_types, tuple) else (module_types,)
    if not types:
        raise ValueError("module_types is an empty tuple; give at least one module class")
    for kind in types:
        if not (isinstance(kind, type) and issubclass(kind, nn.Module)):
            raise TypeError(f"module_types must be nn.Module classes such as nn.ReLU, got {kind!r}")
    return [(name, m) for name, m in model.named_modules() if isinstance(m, types)]


def activation_stds(
    model: nn.Module,
    x: torch.Tensor,
    *,
    module_types: type[nn.Module] | tuple[type[nn.Module], ...] | None = None,
) -> list[ActivationStd]:
    """Run ``model(x)`` once and record the standard deviation of the output of every
    selected module, in the order the modules ran.

    The probe is a set of forward hooks, removed again when the pass ends (also when
    it fails). ``module_types`` selects the modules by class, e.g. ``nn.Tanh`` or
    ``(nn.ReLU, nn.LeakyReLU)``; ``None`` selects every leaf module (one without
    children). The std is over all elements of the output (population std, computed
    in float64); it is ``nan`` or ``inf`` when the activations overflowed.

    The pass runs under ``torch.no_grad()`` and leaves the model's train/eval mode
    alone: call ``model.eval()`` first if dropout or batch norm should be in
    inference mode.

    Taught in: "Inspecting and initializing models".
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor (the model's input), got {type(x).__name__}")
    selected = _selected_modules(model, module_types)
    if not selected:
        present = sorted({type(m).__name__ for m in model.modules()})
        raise ValueError(
            f"no module of model matches module_types={module_types!r}; "
            f"the model contains {present}"
        )

    records: list[ActivationStd] = []
    calls: defaultdict[str, int] = defaultdict(int)

    def make_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"activation_stds: module {name or '(model)'!r} "
                    f"({type(module).__name__}) returned {type(output).__name__}, not a "
                    "tensor; choose module_types whose outputs are tensors"
                )
            std = output.detach().to(torch.float64).std(correction=0).item()
            records.append(ActivationStd(name, calls[name], std))
            calls[name] += 1

        return hook

    handles = [m.register_forward_hook(make_hook(name)) for name, m in selected]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return records
