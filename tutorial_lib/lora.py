"""Low-rank adapters (LoRA, Hu et al., 2021) for ``nn.Linear`` and ``nn.Conv2d``.

A LoRA layer keeps the pretrained weight ``W`` frozen and learns a low-rank change
``(alpha / rank) * B @ A``: ``A`` is ``(rank, fan_in)``, random; ``B`` is
``(out, rank)``, zero, so that a freshly adapted model computes exactly what the
pretrained one did. Only ``A`` and ``B`` train, a small share of the parameters,
and they can be saved alone (:func:`lora_state_dict`) or added into ``W``
(:func:`merge_lora`), after which the model is a plain model again.

The adapters are wrapper modules (:class:`LoRALinear`, :class:`LoRAConv2d`, with
the original layer as ``.base``): the forward pass adds ``B(A(x))`` to ``base(x)``
without forming ``W + BA``, and the adapter's tensors have names of their own.

Taught in: "Hooks, parametrizations and adapters".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import is_int, is_real, require_module

__all__ = ["LORA_LAYERS", "LoRAConv2d", "LoRALinear", "add_lora", "lora_state_dict", "merge_lora"]


def _check_rank_alpha(rank: object, alpha: object) -> tuple[int, float]:
    if not is_int(rank):
        raise TypeError(f"rank must be an int, got {type(rank).__name__}")
    if rank <= 0:
        raise ValueError(f"rank must be at least 1, got {rank}; rank 1 is the smallest adapter")
    if alpha is None:
        return int(rank), float(rank)
    if not is_real(alpha):
        raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}; alpha / rank scales the update")
    return int(rank), float(alpha)


class _LoRA(nn.Module):
    """What both adapters share: the frozen ``base``, ``lora_A``, ``lora_B``, ``scaling``."""

    base: nn.Module

    def _init_adapter(
        self, base: nn.Module, a_shape: tuple[int, ...], out: int, rank: int, alpha: float
    ) -> None:
        self.base = base
        for param in base.parameters():
            param.requires_grad_(False)
        weight = base.weight
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        self.lora_A = nn.Parameter(torch.empty(a_shape, dtype=weight.dtype, device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(out, rank, dtype=weight.dtype, device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear; B = 0

    def delta_weight(self) -> torch.Tensor:
        """``(alpha / rank) * B @ A`` in the shape of ``base.weight``."""
        flat = self.lora_B @ self.lora_A.flatten(1)  # (out, rank) @ (rank, fan_in)
        return (self.scaling * flat).view_as(self.base.weight)

    def merged(self) -> nn.Module:
        """The base layer with the update added into its weight (a new module)."""
        import copy

        layer = copy.deepcopy(self.base)
        with torch.no_grad():
            layer.weight += self.delta_weight()
        return layer

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha:g}"


class LoRALinear(_LoRA):
    """``base(x) + (alpha / rank) * x @ A.T @ B.T`` for an ``nn.Linear`` ``base``.

    Taught in: "Hooks, parametrizations and adapters".
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float | None = None) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        rank, alpha = _check_rank_alpha(rank, alpha)
        self._init_adapter(base, (rank, base.in_features), base.out_features, rank, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = F.linear(F.linear(x, self.lora_A), self.lora_B)  # (..., rank) -> (..., out)
        return self.base(x) + self.scaling * update


class LoRAConv2d(_LoRA):
    """``base(x)`` plus a rank-``rank`` convolution: ``A`` is a convolution with
    ``base``'s kernel, stride, padding and dilation onto ``rank`` channels, ``B`` a
    1x1 convolution back to ``base.out_channels``. Grouped convolutions and padding
    modes other than zeros cannot take this adapter.

    Taught in: "Hooks, parametrizations and adapters".
    """

    def __init__(self, base: nn.Conv2d, rank: int, alpha: float | None = None) -> None:
        super().__init__()
        if not isinstance(base, nn.Conv2d):
            raise TypeError(f"LoRAConv2d wraps an nn.Conv2d, got {type(base).__name__}")
        if base.groups != 1 or base.padding_mode != "zeros" or isinstance(base.padding, str):
            raise TypeError(
                "LoRAConv2d needs groups=1, padding_mode='zeros' and numeric padding; this "
                f"convolution has groups={base.groups}, padding_mode={base.padding_mode!r}, "
                f"padding={base.padding!r}: leave it out of target"
            )
        rank, alpha = _check_rank_alpha(rank, alpha)
        kh, kw = base.kernel_size
        self._init_adapter(base, (rank, base.in_channels, kh, kw), base.out_channels, rank, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.base
        # (N, in, H, W) -> (N, rank, H', W') -> (N, out, H', W')
        low = F.conv2d(x, self.lora_A, None, base.stride, base.padding, base.dilation)
        update = F.conv2d(low, self.lora_B[:, :, None, None])
        return base(x) + self.scaling * update


LORA_LAYERS: dict[type[nn.Module], type[_LoRA]] = {nn.Linear: LoRALinear, nn.Conv2d: LoRAConv2d}
"""The layer types that can take an adapter, each with its adapter class."""


def _adaptable(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if name and type(m) in LORA_LAYERS]


def add_lora(
    model: nn.Module,
    rank: int,
    alpha: float | None = None,
    *,
    target: Sequence[str] | None = None,
) -> nn.Module:
    """Wrap the layers named in ``target`` (dotted names, e.g. ``"layer1.0.conv1"``;
    ``None``: every ``nn.Linear`` and ``nn.Conv2d``) in rank-``rank`` adapters with
    scaling ``alpha / rank`` (``alpha`` defaults to ``rank``), in place, and freeze
    every other parameter of ``model``. Returns ``model``.

    An unknown name lists the layers that can take an adapter; a layer of another
    type raises ``TypeError``. Unfreeze what should also train (a new head) after.

    Taught in: "Hooks, parametrizations and adapters".
    """
    require_module(model)
    rank, alpha = _check_rank_alpha(rank, alpha)
    modules = dict(model.named_modules())
    if any(isinstance(m, _LoRA) for m in modules.values()):
        raise ValueError("this model already has LoRA adapters; merge_lora(model) first")
    valid = _adaptable(model)
    if target is None:
        names = valid
    elif isinstance(target, str) or not isinstance(target, Sequence):
        raise TypeError(f'target must be a list of layer names like ["fc"], got {target!r}')
    else:
        names = list(target)
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear or nn.Conv2d layer to adapt")
    for name in names:
        if name not in modules or not name:
            raise ValueError(
                f"{type(model).__name__} has no layer named {name!r}; layers that can take an "
                f"adapter: {', '.join(valid)}"
            )
        if type(modules[name]) not in LORA_LAYERS:
            raise TypeError(
                f"{name!r} is a {type(modules[name]).__name__}, which cannot take an adapter; "
                "LoRA wraps nn.Linear and nn.Conv2d layers"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"target names a layer twice: {names}")
    for param in model.parameters():
        param.requires_grad_(False)
    for name in names:
        parent, _, child = name.rpartition(".")
        layer = modules[name]
        model.get_submodule(parent).register_module(
            child, LORA_LAYERS[type(layer)](layer, rank, alpha)
        )
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every adapter by its base layer with ``W + (alpha / rank) * B @ A`` as
    its weight, in place; returns ``model``, which then computes the same outputs (up
    to rounding) with no adapter left.

    Taught in: "Hooks, parametrizations and adapters".
    """
    require_module(model)
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, _LoRA)]
    if not found:
        raise ValueError("the model has no LoRA adapters to merge; add_lora adds them")
    if isinstance(model, _LoRA):
        raise TypeError("merge_lora takes the model that holds the adapters; use layer.merged()")
    for name, layer in found:
        parent, _, child = name.rpartition(".")
        model.get_submodule(parent).register_module(child, layer.merged())
    return model


def lora_state_dict(model: nn.Module, *, extra: Sequence[str] = ()) -> dict[str, torch.Tensor]:
    """The adapters' tensors only (keys ending in ``lora_A`` / ``lora_B``), plus every
    tensor of the submodules named in ``extra`` (a new head: ``extra=["fc"]``),
    detached copies. Load them into a model with the same adapters with
    ``model.load_state_dict(state, strict=False)`` and check ``unexpected_keys``.

    Taught in: "Hooks, parametrizations and adapters".
    """
    require_module(model)
    if isinstance(extra, str):
        raise TypeError(f'extra must be a list of layer names like ["fc"], got {extra!r}')
    modules = dict(model.named_modules())
    for name in extra:
        if name not in modules or not name:
            raise ValueError(
                f"{type(model).__name__} has no layer named {name!r}; valid top-level names: "
                f"{', '.join(n for n, _ in model.named_children())}"
            )
    state = model.state_dict()
    keys = [k for k in state if k.endswith((".lora_A", ".lora_B"))]
    if not keys:
        raise ValueError("the model has no LoRA adapters; add_lora adds them")
    keys += [k for k in state if any(k.startswith(n + ".") for n in extra) and k not in keys]
    return {k: state[k].detach().clone() for k in keys}
