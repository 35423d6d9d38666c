"""Hooks that are always removed, gradient norms per layer, checkpoint key migration.

A hook is a function that PyTorch calls at a fixed moment: before a module's
forward (``register_forward_pre_hook``), after it (``register_forward_hook``), when
the gradient of its output arrives (``register_full_backward_hook``), when a
tensor's gradient is computed (``Tensor.register_hook``), or around
``state_dict()`` / ``load_state_dict()``. Every registration returns a handle;
a hook stays until ``handle.remove()`` is called, so a run that fails half-way
leaves its hooks behind unless they are removed in a ``finally`` block.
:class:`Hooks` is that ``finally`` block as a context manager.

Taught in: "Hooks, parametrizations and adapters".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from ._validate import require_module

__all__ = [
    "HOOK_KINDS",
    "GradientNorms",
    "Hooks",
    "count_hooks",
    "rename_keys_on_load",
]

# kind -> the nn.Module method that registers it
HOOK_KINDS: dict[str, str] = {
    "forward_pre": "register_forward_pre_hook",
    "forward": "register_forward_hook",
    "backward_pre": "register_full_backward_pre_hook",
    "backward": "register_full_backward_hook",
}
"""The module hook kinds :meth:`Hooks.register` takes, each with the ``nn.Module`` method
that registers it."""

# kind -> the private dict where nn.Module keeps its hooks of that kind
_HOOK_DICTS = {
    "forward_pre": "_forward_pre_hooks",
    "forward": "_forward_hooks",
    "backward_pre": "_backward_pre_hooks",
    "backward": "_backward_hooks",
    "state_dict": "_state_dict_hooks",
    "load_state_dict_pre": "_load_state_dict_pre_hooks",
}


class Hooks:
    """A set of hooks that is removed as a whole, also when the block raises.

    >>> with Hooks() as hooks:
    ...     hooks.register(model.layer1, "forward", fn)
    ...     model(x)          # fn runs here
    ... # every hook registered through ``hooks`` is gone here, error or not

    ``register(module, kind, fn, **options)`` registers a module hook of ``kind``
    (a key of :data:`HOOK_KINDS`; options such as ``with_kwargs=True`` or
    ``prepend=True`` go to PyTorch), ``add(handle)`` adopts any handle (a tensor
    hook, a state-dict hook), ``remove()`` removes them all now.

    Taught in: "Hooks, parametrizations and adapters".
    """

    def __init__(self) -> None:
        self._handles: list[RemovableHandle] = []

    def add(self, handle: RemovableHandle) -> RemovableHandle:
        """Adopt ``handle`` (what a ``register_*`` call returned); return it."""
        if not isinstance(handle, RemovableHandle):
            raise TypeError(
                "add() takes the handle that a register_*hook call returns, got "
                f"{type(handle).__name__}"
            )
        self._handles.append(handle)
        return handle

    def register(
        self, module: nn.Module, kind: str, fn: Callable[..., Any], **options: Any
    ) -> RemovableHandle:
        """Register ``fn`` as a ``kind`` hook of ``module`` and keep its handle."""
        require_module(module, "module")
        if kind not in HOOK_KINDS:
            raise ValueError(
                f"unknown hook kind {kind!r}; valid kinds: {', '.join(HOOK_KINDS)} "
                "(tensor and state-dict hooks: register them yourself and pass the "
                "handle to add())"
            )
        if not callable(fn):
            raise TypeError(f"the hook must be callable, got {type(fn).__name__}")
        return self.add(getattr(module, HOOK_KINDS[kind])(fn, **options))

    def remove(self) -> None:
        """Remove every hook registered so far (removing twice is harmless)."""
        while self._handles:
            self._handles.pop().remove()

    def __len__(self) -> int:
        return len(self._handles)

    def __enter__(self) -> Hooks:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()  # the error, if any, propagates


def count_hooks(model: nn.Module) -> dict[str, int]:
    """``{"forward": 2, ...}``: how many hooks of each kind the modules of ``model``
    hold, kinds with none left out; ``{}`` means no module hook is left.

    Taught in: "Hooks, parametrizations and adapters".
    """
    require_module(model)
    counts: dict[str, int] = {}
    for module in model.modules():
        for kind, attribute in _HOOK_DICTS.items():
            found = len(getattr(module, attribute, {}) or {})
            if found:
                counts[kind] = counts.get(kind, 0) + found
    return counts


class GradientNorms:
    """Record the L2 norm of the gradient that reaches each layer's output, one value
    per backward pass, with full backward hooks on the layers of ``types``.

    >>> with GradientNorms(model) as norms:
    ...     for step in range(5):
    ...         loss_fn(model(x), y).backward()
    >>> norms.history["layer1.0.conv1"]   # five floats

    The hooks go when the block ends. A layer whose output is changed in place
    afterwards (a BatchNorm followed by ``ReLU(inplace=True)``) cannot carry a
    full backward hook: PyTorch raises in the forward pass, so the default types
    are the convolutions and linear layers.

    Taught in: "Hooks, parametrizations and adapters".
    """

    def __init__(
        self, model: nn.Module, types: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
    ) -> None:
        require_module(model)
        if not (isinstance(types, tuple) and types and all(isinstance(t, type) for t in types)):
            raise TypeError(f"types must be a non-empty tuple of layer classes, got {types!r}")
        self.names = [name for name, m in model.named_modules() if isinstance(m, types)]
        if not self.names:
            wanted = ", ".join(t.__name__ for t in types)
            raise ValueError(f"{type(model).__name__} has no layer of the types {wanted}")
        self.model = model
        self.history: dict[str, list[float]] = {name: [] for name in self.names}
        self._hooks = Hooks()

    def _hook(self, name: str) -> Callable[..., None]:
        def record(module: nn.Module, grad_input: Any, grad_output: tuple) -> None:
            self.history[name].append(grad_output[0].detach().norm().item())

        return record

    def __enter__(self) -> GradientNorms:
        try:
            for name in self.names:
                self._hooks.register(self.model.get_submodule(name), "backward", self._hook(name))
        except BaseException:
            self._hooks.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._hooks.remove()


def rename_keys_on_load(module: nn.Module, renames: Mapping[str, str]) -> RemovableHandle:
    """Let ``module.load_state_dict`` read checkpoints of an older layout: a
    load-state-dict pre-hook renames every key that starts with an old prefix
    (``{"classifier.": "head."}``) before strict loading compares the keys.

    Keys of the current layout pass unchanged, so new checkpoints load too. A
    checkpoint that holds a key under both its old and its new name is ambiguous
    and raises ``ValueError``. Returns the hook's handle.

    Taught in: "Hooks, parametrizations and adapters".
    """
    require_module(module, "module")
    if not isinstance(renames, Mapping) or not renames:
        raise TypeError('renames must be a non-empty dict like {"classifier.": "head."}')
    for old, new in renames.items():
        if not (isinstance(old, str) and isinstance(new, str)) or not old or old == new:
            raise ValueError(
                f"each rename maps an old key prefix to a different new one, got {old!r} -> {new!r}"
            )
    pairs = dict(renames)

    def migrate(
        module: nn.Module, state_dict: dict[str, torch.Tensor], prefix: str, *args: Any
    ) -> None:
        for key in list(state_dict):
            local = key[len(prefix) :] if key.startswith(prefix) else None
            if local is None:
                continue
            for old, new in pairs.items():
                if local.startswith(old):
                    renamed = prefix + new + local[len(old) :]
                    if renamed in state_dict:
                        raise ValueError(
                            f"the checkpoint holds both {key!r} and {renamed!r}; "
                            "it mixes the old and the new layout"
                        )
                    state_dict[renamed] = state_dict.pop(key)  # a copy: torch copies first
                    break

    return module.register_load_state_dict_pre_hook(migrate)
