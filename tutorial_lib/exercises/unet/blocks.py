""":func:`check_block`: the learner's module against a reference block with the same
weights, in eval and in train mode; the check of "Write Down yourself" and of the
U-Net of any depth build on it.

Taught in: "U-Net from building blocks" (exercises "Write Down yourself", "A U-Net of any depth").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..._validate import BATCHNORM_LAYERS
from ..core import NOT_ATTEMPTED, CheckFailed, compare, report

__all__ = ["check_block"]


def _randomized_batch_norm(reference: nn.Module) -> nn.Module:
    """A copy of ``reference`` whose BatchNorms are not the identity."""
    ref = copy.deepcopy(reference)
    generator = torch.Generator().manual_seed(0)
    for layer in ref.modules():
        is_batch_norm = isinstance(layer, BATCHNORM_LAYERS)
        if is_batch_norm and layer.track_running_stats:
            with torch.no_grad():
                if layer.affine:
                    layer.weight.uniform_(0.5, 1.5, generator=generator)
                    layer.bias.uniform_(-0.5, 0.5, generator=generator)
                layer.running_mean.uniform_(-0.5, 0.5, generator=generator)
                layer.running_var.uniform_(0.5, 2.0, generator=generator)
    return ref


def _same_block(
    module: nn.Module,
    reference: nn.Module,
    args: tuple[torch.Tensor, ...],
    *,
    rtol: float,
    atol: float,
) -> None:
    """Raise :class:`CheckFailed` (message without a name) unless ``module`` holds
    state-dict entries of the reference's shapes, in its order, and computes what it
    computes with the reference's values, in eval and in train mode. A
    ``NotImplementedError`` from a forward pass propagates."""
    ref = _randomized_batch_norm(reference)
    ref_state = list(ref.state_dict().items())
    own_state = list(module.state_dict().items())
    ref_shapes = [(key, tuple(v.shape)) for key, v in ref_state]
    own_shapes = [(key, tuple(v.shape)) for key, v in own_state]
    if len(own_state) != len(ref_state):
        raise CheckFailed(
            f"expected {len(ref_state)} parameters and buffers {ref_shapes}, got "
            f"{len(own_state)} {own_shapes} (is a layer missing, extra, or kept in a plain list?)"
        )
    for index, ((ref_key, ref_value), (own_key, own_value)) in enumerate(
        zip(ref_state, own_state, strict=True)
    ):
        if ref_value.shape != own_value.shape:
            raise CheckFailed(
                f"entry {index} of the state dict: expected shape "
                f"{tuple(ref_value.shape)} (like {ref_key!r}), got {tuple(own_value.shape)} "
                f"for {own_key!r}; check the channel numbers and the order of the layers"
            )
    pairs = zip(own_state, ref_state, strict=True)
    module.load_state_dict({own_key: ref_value.clone() for (own_key, _), (_, ref_value) in pairs})

    for mode in ("eval", "train"):
        ref.train(mode == "train")
        module.train(mode == "train")
        try:
            with torch.no_grad():
                expected = ref(*(a.clone() for a in args))
                got = module(*(a.clone() for a in args))
        except NotImplementedError:
            raise
        except CheckFailed:
            raise
        except Exception as err:
            raise CheckFailed(f"the forward pass raised {type(err).__name__}: {err}") from err
        problem = compare(got, expected, rtol=rtol, atol=atol)
        if problem:
            raise CheckFailed(
                f"with the reference's weights, the output in {mode} mode differs: "
                f"{problem}; check the order of the operations"
            )


def check_block(
    build: Callable[[], nn.Module],
    reference: nn.Module,
    *,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    name: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    strict: bool | None = None,
) -> None:
    """Check that the module ``build()`` returns computes what ``reference`` computes.

    The learner's module may name its layers as it likes, but it must hold the same
    parameters and buffers (state-dict entries) with the same shapes, in the same
    order. The check copies the reference's values into it position by position
    (after giving a copy of the reference random BatchNorm statistics, so that
    BatchNorm is not the identity), runs both on ``inputs`` in eval mode and in
    train mode, and compares the outputs. Prints a pass line or raises
    :class:`tutorial_lib.CheckFailed`; prints a "not attempted yet" note while
    ``build`` raises ``NotImplementedError``. ``reference`` is not modified.

    Taught in: "U-Net from building blocks" (exercises).
    """
    if not callable(build) or isinstance(build, nn.Module):
        raise TypeError(
            "build must be a function (or class) returning a new module, e.g. "
            f"lambda: MyDown(8, 16); got {type(build).__name__}"
        )
    if not isinstance(reference, nn.Module):
        raise TypeError(f"reference must be an nn.Module, got {type(reference).__name__}")
    if name is None:
        name = getattr(build, "__name__", "<lambda>")
        name = "your module" if name == "<lambda>" else name
    args = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    try:
        module = build()
        if not isinstance(module, nn.Module):
            raise CheckFailed(f"expected an nn.Module, got {type(module).__name__}")
        _same_block(module, reference, args, rtol=rtol, atol=atol)
    except NotImplementedError:
        return report(name, "todo", NOT_ATTEMPTED, strict=strict)
    except CheckFailed as err:
        return report(name, "fail", str(err), strict=strict)
    report(
        name,
        "pass",
        "same parameter shapes and same outputs (eval and train mode) as "
        f"{type(reference).__name__}.",
        strict=strict,
    )
