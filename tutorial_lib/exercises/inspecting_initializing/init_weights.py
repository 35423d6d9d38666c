"""The check of the exercise "An init function for apply" (inspecting-ex-3).

Taught in: "Inspecting and initializing models" (exercise "An init function for apply").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...initialization import compare_distribution
from .._shared import seeded
from ..core import CheckFailed, exercise_check

__all__ = ["check_init_weights"]


class _Scale(nn.Module):
    """A module with a parameter that is neither a weight nor a bias: left alone."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1)


def _init_model(double_conv: type[nn.Module]) -> nn.Sequential:
    model = nn.Sequential(
        double_conv(3, 16),
        _Scale(16),
        nn.Conv2d(16, 16, 3, bias=False),
        nn.BatchNorm2d(16),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 32),
        nn.ReLU(),
        nn.Linear(32, 10, bias=False),
    )
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():  # nothing at its default: a missing rule shows
        for param in model.parameters():
            param.uniform_(2.0, 3.0, generator=generator)
    return model


def _expected_value(
    module: nn.Module, name: str, param: torch.Tensor, seed: int
) -> tuple[torch.Tensor, str]:
    generator = torch.Generator().manual_seed(seed)
    if isinstance(module, nn.Conv2d) and name == "weight":
        values = nn.init.kaiming_normal_(
            torch.empty_like(param), mode="fan_out", nonlinearity="relu", generator=generator
        )
        return values, "kaiming_normal_(mode='fan_out', nonlinearity='relu')"
    if isinstance(module, nn.Linear) and name == "weight":
        return nn.init.normal_(
            torch.empty_like(param), 0.0, 0.01, generator=generator
        ), "N(0, 0.01²)"
    if isinstance(module, nn.BatchNorm2d) and name == "weight":
        return torch.ones_like(param), "all ones"
    if isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)) and name == "bias":
        return torch.zeros_like(param), "all zeros"
    return param.detach().clone(), "left alone"


@exercise_check("init_weights")
def check_init_weights(init_weights: Callable[[nn.Module], Any], double_conv: type) -> str:
    """Check ``init_weights`` for ``model.apply``.

    The model: a ``double_conv`` block, a module with a parameter ``gamma``, a
    convolution without bias, batch norm, a linear layer with and one without bias.
    Every parameter is set to values in [2, 3] first, so a missing rule shows. After
    ``model.apply(init_weights)`` each parameter is compared with its rule (Kaiming
    normal fan_out for convolutions, N(0, 0.01²) for linear weights, ones / zeros for
    batch norm, zeros for biases) and ``gamma`` must be unchanged.

    Taught in: "Inspecting and initializing models" (exercises).
    """
    model = _init_model(double_conv)
    expected = {}
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            rule = _expected_value(module, name, param, seed=len(expected))
            expected[f"{module_name}.{name}"] = (module, *rule)
    try:
        with seeded(0):
            model.apply(init_weights)
    except NotImplementedError:
        raise
    except AttributeError as err:
        if "NoneType" in str(err):
            raise CheckFailed(
                f"apply raised AttributeError: {err}; a layer built with bias=False has "
                "bias None: initialize the bias only `if module.bias is not None`"
            ) from err
        raise CheckFailed(
            f"apply raised AttributeError: {err}; select layers with isinstance (a "
            "container such as DoubleConv has no weight of its own)"
        ) from err
    except RuntimeError as err:
        raise CheckFailed(
            f"apply raised RuntimeError: {err}; change parameters with the nn.init "
            "functions (they run under torch.no_grad())"
        ) from err
    params = dict(model.named_parameters())
    for key, (module, values, rule) in expected.items():
        problem = compare_distribution(params[key], values)
        if problem:
            kind = type(module).__name__
            raise CheckFailed(
                f"{key} (of a {kind}) should be {rule}: {problem}"
                + (
                    "; modules without a rule must be left alone"
                    if rule == "left alone"
                    else f"; is there a rule for {kind}? (every parameter was set to values "
                    "in [2, 3] before apply, so a parameter your function skips shows here)"
                )
            )
    return f"all {len(expected)} parameters initialized by their rule, other modules left alone."
