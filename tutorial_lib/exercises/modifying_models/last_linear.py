"""The check of the exercise "Find the last linear layer by name" (modifying-ex-1).

Taught in: "Modifying models" (exercise "Find the last linear layer by name").
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision import models

from .._shared import call
from ..core import CheckFailed, exercise_check

__all__ = ["check_last_linear_name"]


class _Heads(nn.Module):
    """A model the check builds: the last linear layer sits in a ModuleDict."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(1), nn.Linear(4, 6))
        self.heads = nn.ModuleDict(
            {
                "main": nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 3)),
                "aux": nn.Linear(6, 2),
            }
        )
        self.norm = nn.LayerNorm(3)


@exercise_check("last_linear_name")
def check_last_linear_name(last_linear_name: Callable[[nn.Module], str], alexnet: nn.Module) -> str:
    """``last_linear_name(model)`` must return the dotted name of the last ``nn.Linear``
    (any subclass counts) in ``named_modules()`` order, and raise ``ValueError`` for a
    model without one. Tried on ResNet-18, the chapter's ``alexnet``, MobileNet V3
    small, a ``Sequential``, and models the check builds.

    Taught in: "Modifying models" (exercises).
    """
    attention = nn.Sequential(nn.Linear(8, 8), nn.MultiheadAttention(8, 2))
    cases = [
        (models.resnet18(weights=None), "fc", "ResNet-18"),
        (alexnet, "classifier.6", "AlexNet"),
        (models.mobilenet_v3_small(weights=None), "classifier.3", "MobileNet V3 small"),
        (
            nn.Sequential(
                nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10), nn.LogSoftmax(1)
            ),
            "3",
            "a Sequential ending in LogSoftmax",
        ),
        (_Heads(), "heads.aux", "a model the check builds, with a ModuleDict of heads"),
        (
            nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Dropout(), nn.Identity()),
            "2",
            "a model the check builds, ending in Dropout and Identity",
        ),
        (attention, "1.out_proj", "a model the check builds, ending in nn.MultiheadAttention"),
    ]
    for model, expected, description in cases:
        got = call(last_linear_name, model, what=description)
        if got != expected:
            hint = ""
            if expected == "1.out_proj" and got == "0":
                hint = (
                    " (attention's out_proj is a subclass of nn.Linear: test with "
                    "isinstance(module, nn.Linear), not type(module) is nn.Linear)"
                )
            raise CheckFailed(f"{description}: expected {expected!r}, got {got!r}{hint}")
    no_linear = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    try:
        got = last_linear_name(no_linear)
    except ValueError:
        pass
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailed(
            f"a model without nn.Linear raised {type(err).__name__}: {err}; raise a ValueError "
            "that says the model has no nn.Linear"
        ) from err
    else:
        raise CheckFailed(f"a model without nn.Linear returned {got!r}; raise a ValueError instead")
    return f"the right name for {len(cases)} models, and ValueError for a model without nn.Linear."
