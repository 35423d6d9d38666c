"""The check of the exercise "Freeze up to a layer, by name" (modifying-ex-3).

Taught in: "Modifying models" (exercise "Freeze up to a layer, by name").
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision import models

from .._shared import call
from ..core import CheckFailed, exercise_check

__all__ = ["check_freeze_until"]


def _expected_flags(model: nn.Module, name: str) -> dict[str, bool]:
    """Which parameters ``freeze_until(model, name)`` leaves trainable: those of the
    modules after the subtree of ``name`` in ``named_modules()`` order."""
    modules = list(model.named_modules())
    end = max(i for i, (n, _) in enumerate(modules) if n == name or n.startswith(name + "."))
    flags: dict[str, bool] = {}
    for i, (module_name, module) in enumerate(modules):
        for param_name, _ in module.named_parameters(recurse=False):
            flags[f"{module_name}.{param_name}" if module_name else param_name] = i > end
    return flags


def _stack() -> nn.Sequential:
    return nn.Sequential(*(nn.Linear(4, 4) for _ in range(12)))  # children "0" ... "11"


@exercise_check("freeze_until")
def check_freeze_until(freeze_until: Callable[[nn.Module, str], nn.Module]) -> str:
    """``freeze_until(model, name)`` must freeze every parameter up to the end of the
    submodule ``name`` (in ``named_modules()`` order, so a module without parameters
    such as ``"maxpool"`` works too), make every later one trainable, return the model,
    and raise for a name the model does not have, before changing anything.

    Taught in: "Modifying models" (exercises).
    """
    cases = [
        ("layer3.0", False, lambda: models.resnet18(weights=None)),
        ("layer2", True, lambda: models.resnet18(weights=None)),
        ("conv1", False, lambda: models.resnet18(weights=None)),
        ("maxpool", True, lambda: models.resnet18(weights=None)),
        ("avgpool", False, lambda: models.resnet18(weights=None)),
        ("1", True, _stack),
    ]
    for name, start_frozen, build in cases:
        model = build().requires_grad_(not start_frozen)
        where = (
            f'freeze_until(model, "{name}") on a '
            f"{'fully frozen ' if start_frozen else ''}{type(model).__name__}"
        )
        if build is _stack:
            where += " of 12 Linear layers (children named 0 to 11)"
        expected = _expected_flags(model, name)
        got = call(freeze_until, model, name, what=where)
        if got is not model:
            raise CheckFailed(
                f"{where} returned {type(got).__name__ if got is not None else None}; return "
                "the model "
                "you were given (the one whose flags you changed)"
            )
        for param_name, param in model.named_parameters():
            if param.requires_grad != expected[param_name]:
                state = "trainable" if expected[param_name] else "frozen"
                place = "comes after" if expected[param_name] else "comes before or inside"
                trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
                wanted = sum(p.numel() for n, p in model.named_parameters() if expected[n])
                raise CheckFailed(
                    f"{where}: {param_name} should be {state} (it {place} {name!r} in "
                    f"named_modules() order); {trainable:,} parameters are trainable, "
                    f"expected {wanted:,}"
                )
    model = models.resnet18(weights=None)
    model.layer1.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    try:
        freeze_until(model, "layer5")
    except NotImplementedError:
        raise
    except Exception:
        if [p.requires_grad for p in model.parameters()] != flags:
            raise CheckFailed(
                'freeze_until(model, "layer5") raised, but only after changing requires_grad; '
                "check the name before changing anything (model.get_submodule(name))"
            ) from None
    else:
        raise CheckFailed(
            'freeze_until(model, "layer5") did not raise, but ResNet-18 has no "layer5"; raise an '
            "error (model.get_submodule(name) raises AttributeError)"
        )
    return (
        f"the right trainable parameters for {len(cases)} names (maxpool and avgpool too, from "
        "trainable and frozen models), and an error for an unknown name."
    )
