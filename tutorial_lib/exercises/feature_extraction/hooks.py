"""The check of the exercise "Features with forward hooks" (features-ex-1).

Taught in: "Feature extraction and detection heads" (exercise "Features with forward hooks").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._shared import call
from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_capture_outputs"]


class _Branchy(nn.Module):
    """A model torch.fx cannot trace: its forward branches on the data."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.c = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(x) if x.mean() > 0 else self.b(x)
        return self.c(torch.tanh(x))


class _Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this layer always fails (the check wants to see the hooks go)")


def _record(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> tuple[dict, dict]:
    """The inputs and outputs of the submodules ``names`` for ``model(x)``, by hooks."""
    inputs, outputs, handles = {}, {}, []
    try:
        for name in names:
            module = model.get_submodule(name)

            def keep(module: nn.Module, args: tuple, output: Any, name: str = name) -> None:
                inputs[name], outputs[name] = args[0], output

            handles.append(module.register_forward_hook(keep))
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, outputs


def _hooked(model: nn.Module) -> list[str]:
    return [
        name or "the model"
        for name, m in model.named_modules()
        if m._forward_hooks or m._forward_pre_hooks
    ]


@exercise_check("capture_outputs")
def check_capture_outputs(
    capture_outputs: Callable[[nn.Module, torch.Tensor, list[str]], Mapping[str, torch.Tensor]],
    digits_cnn: nn.Module,
    resnet: nn.Module,
) -> str:
    """``capture_outputs(model, x, names)`` must run ``model(x)`` once and return
    ``{name: output}`` for the submodules ``names``, in that order, with the values the
    check's own hooks record; it must work on nested names and on a model torch.fx
    cannot trace, leave the training mode and gradients to the caller, and remove its
    hooks, also when the forward pass raises. The chapter's models are copied first.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    torch.manual_seed(0)
    digits, net = copy.deepcopy(digits_cnn).eval(), copy.deepcopy(resnet).eval()
    digit_x, image_x = torch.rand(4, 1, 32, 32), torch.randn(2, 3, 64, 64)
    cases = [
        (digits, digit_x, ["block1", "block3", "fc"], "digit CNN"),
        (net, image_x, ["layer2", "layer4"], "ResNet-18"),
        (
            net,
            image_x,
            ["layer1.0.conv1", "layer2.0.downsample", "layer3.1.conv2"],
            "ResNet-18, nested names",
        ),
        (
            digits,
            digit_x,
            ["fc", "block2.0", "block1"],
            "digit CNN, names not in the order they run",
        ),
        (
            _Branchy(),
            torch.rand(5, 6),  # positive: the forward pass takes the branch through a
            ["a", "c"],
            "a model torch.fx cannot trace (its forward branches on the data)",
        ),
        (
            copy.deepcopy(digits_cnn).train(),
            digit_x,
            ["block2", "fc"],
            "digit CNN in training mode",
        ),
    ]
    for model, x, names, description in cases:
        where = f"{description}, names {names}"
        with torch.no_grad():
            inputs, expected = _record(copy.deepcopy(model), x, names)
        calls = []
        counter = model.register_forward_pre_hook(lambda module, args, calls=calls: calls.append(1))
        was_training = model.training
        try:
            got = call(capture_outputs, model, x, list(names), what=where)
        finally:
            counter.remove()
        left = _hooked(model)
        if left:
            raise CheckFailed(
                f"{where}: hooks are still registered on {left}; call handle.remove() on each"
            )
        if model.training != was_training:
            raise CheckFailed(
                f"{where}: your function switched the model to "
                f"{'train' if model.training else 'eval'} "
                "mode; leave the mode to the caller"
            )
        if not calls:
            raise CheckFailed(
                f"{where}: your function never called model(x) (create_feature_extractor traces a "
                "copy of forward, a loop calls the children): register forward hooks and "
                "call model(x)"
            )
        if len(calls) != 1:
            raise CheckFailed(
                f"{where}: the model ran {len(calls)} times; run it once and hook every name"
            )
        if not isinstance(got, Mapping):
            raise CheckFailed(f"{where}: expected a dict, got {type(got).__name__}")
        if list(got) != list(names):
            if set(got) == set(names):
                raise CheckFailed(
                    f"{where}: the keys come in the order {list(got)}; return them in the "
                    "order of names"
                )
            raise CheckFailed(f"{where}: expected the keys {list(names)}, got {list(got)}")
        for name in names:
            if compare(got[name], expected[name]) is None:
                continue
            if compare(got[name], inputs[name]) is None:
                raise CheckFailed(
                    f"{where}: {name!r} holds the input of that module; a forward hook's third "
                    "argument is its output"
                )
            raise CheckFailed(f"{where}: {name!r} differs: {compare(got[name], expected[name])}")
    model, x = copy.deepcopy(digits_cnn).eval(), torch.rand(2, 1, 32, 32)
    got = call(capture_outputs, model, x, ["block2", "fc"], what="digit CNN with gradients on")
    if not all(isinstance(v, torch.Tensor) and v.requires_grad for v in got.values()):
        raise CheckFailed(
            "with gradients on, the outputs carry no gradient (torch.no_grad() or detach() "
            "inside?); "
            "leave gradients to the caller, so that features can be fine-tuned"
        )
    boom = nn.Sequential(nn.Linear(3, 3), _Boom(), nn.Linear(3, 3))
    try:
        returned = capture_outputs(boom, torch.randn(2, 3), ["0", "2"])
    except NotImplementedError:
        raise
    except Exception:
        left = _hooked(boom)
        if left:
            raise CheckFailed(
                f"hooks are still registered on {left} after the forward pass raised; remove them "
                "in a finally block, so they go also when the forward pass raises"
            ) from None
    else:
        raise CheckFailed(
            f"the forward pass raised, but your function returned {type(returned).__name__}; "
            "let the error propagate (and remove the hooks in a finally block)"
        )
    return (
        f"{len(cases)} cases (nested names, any order, an untraceable model, training mode), "
        "gradients kept, and no hook left behind, even when the forward pass raises."
    )
