"""The check of the design exercise "Digits of any size, without training" (modifying-ex-5).

Taught in: "Modifying models" (exercise "Digits of any size, without training").
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ...data import digits_split
from ...metrics import accuracy
from .._shared import call
from ..core import CheckFailed, exercise_check

__all__ = ["check_any_size"]


ANY_SIZES = (16, 24, 32, 48)
ANY_SIZE_MARGIN = 0.05


@exercise_check("any_size")
def check_any_size(
    any_size: Callable[[nn.Module], nn.Module],
    source: nn.Module,
    colourise: Callable[[torch.Tensor, int], torch.Tensor],
    *,
    sizes: tuple[int, ...] = ANY_SIZES,
    margin: float = ANY_SIZE_MARGIN,
) -> str:
    """``any_size(source)`` must return a model that classifies the chapter's coloured
    digits 0-4 at every size in ``sizes`` without training, each time at most
    ``margin`` below the source model's validation accuracy at 16x16; the source
    model must stay as it was (weights, layers, outputs) and share no parameter with
    the new model.

    Taught in: "Modifying models" (exercises).
    """
    source = copy.deepcopy(source).eval()  # the chapter's model stays safe from the answer
    val16 = digits_split(classes=range(5), size=16).val
    probe16 = colourise(val16.tensors[0][:8], 2)
    before_state = {k: v.clone() for k, v in source.state_dict().items()}
    before_text = repr(source)
    with torch.no_grad():
        before_out = source(probe16)
        floor = accuracy(source(colourise(val16.tensors[0], 2)), val16.tensors[1]) - margin
    model = call(any_size, source, what="any_size(source)")
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"expected an nn.Module, got {type(model).__name__}")
    if model is source:
        raise CheckFailed(
            "returned the source model itself; return a new model (copy.deepcopy the source)"
        )
    after = source.state_dict()
    changed = repr(source) != before_text or any(
        not torch.equal(before_state[k], after[k]) for k in before_state
    )
    with torch.no_grad():
        changed = changed or not torch.equal(source.eval()(probe16), before_out)
    if changed:
        raise CheckFailed(
            "your function changed the source model; leave it as it is and change a "
            "copy.deepcopy of it"
        )
    own = {p.data_ptr() for p in source.parameters()}
    if any(p.data_ptr() in own for p in model.parameters()):
        raise CheckFailed(
            "the new model shares parameters with the source model, so fine-tuning it would change "
            "the source too; build it from copy.deepcopy(source)"
        )
    model.eval()
    results = []
    for size in sizes:
        val = digits_split(classes=range(5), size=size).val
        images, labels = colourise(val.tensors[0], 2), val.tensors[1]
        with torch.no_grad():
            logits = call(model, images, what=f"on {size}x{size} digits")
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(images), 5):
            shape = (
                tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            )
            raise CheckFailed(
                f"on {size}x{size} digits: expected logits of shape ({len(images)}, 5), got {shape}"
            )
        acc = accuracy(logits, labels)
        results.append(f"{size}: {acc:.2f}")
        if acc < floor:
            raise CheckFailed(
                f"on {size}x{size} digits the accuracy is {acc:.3f}, below {floor:.3f} (the source "
                f"model's accuracy at 16x16 minus {margin}); a new layer starts from scratch, and "
                "pooling changes the scale the filters see: measure the options and keep the one "
                "that loses least"
            )
    return (
        f"accuracy without training at every size ({', '.join(results)}), at least "
        f"{floor:.3f}; the source is untouched."
    )
