"""The check of the exercise "Measure the gain of a nonlinearity" (inspecting-ex-4).

Taught in: "Inspecting and initializing models" (exercise "Measure the gain of a nonlinearity").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..._validate import is_real
from ...inspection import activation_stds
from .._shared import seeded
from ..core import CheckFailed, exercise_check

__all__ = ["check_measured_gain"]


class _Abs(nn.Module):
    """|x|: a nonlinearity that calculate_gain does not know."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


def _exact_gain(activation: nn.Module, *, centred: bool = False) -> float:
    """1 / sqrt(E[f(z)^2]) for z ~ N(0, 1), by quadrature on a fine grid (with
    ``centred=True``: 1 / std(f(z)), the usual mistake)."""
    z = torch.linspace(-12.0, 12.0, 480_001, dtype=torch.float64)
    density = torch.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    with torch.no_grad():
        f = activation(z)
        second_moment = torch.trapezoid(f.pow(2) * density, z).item()
        mean = torch.trapezoid(f * density, z).item()
    return 1 / math.sqrt(second_moment - mean**2 if centred else second_moment)


GAIN_TOLERANCE = 0.01
STD_BAND = (0.1, 10.0)


@exercise_check("measured gain")
def check_measured_gain(
    measured_gain: Callable[[nn.Module], Any],
    deep_mlp_for: Callable[[nn.Module, int, int], nn.Module],
    *,
    depth: int = 50,
    width: int = 256,
) -> str:
    """Check the experiment "measure the gain of a nonlinearity".

    ``measured_gain(activation)`` must be within 1% of ``1 / sqrt(E[f(z)^2])``
    (z standard normal) for ReLU, LeakyReLU(0.2), Tanh, GELU and |x|. Then, for
    LeakyReLU(0.2) and |x|, ``deep_mlp_for(activation, depth, width)`` must be an
    ``nn.Sequential`` of ``depth`` pairs (``Linear(width, width, bias=False)``, the
    activation), and for two builds (different seeds) the standard deviation after
    every activation, for 128 standard-normal inputs, must lie in [0.1, 10].

    Taught in: "Inspecting and initializing models" (exercises).
    """
    gains = {
        "nn.ReLU()": nn.ReLU(),
        "nn.LeakyReLU(0.2)": nn.LeakyReLU(0.2),
        "nn.Tanh()": nn.Tanh(),
        "nn.GELU()": nn.GELU(),
        "|x| (a module returning x.abs())": _Abs(),
    }
    for index, (label, activation) in enumerate(gains.items()):
        exact = _exact_gain(activation)
        with seeded(10 + index):
            got = measured_gain(activation)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not is_real(got):
            raise CheckFailed(f"measured_gain({label}) returned {type(got).__name__}, not a number")
        if not abs(got - exact) <= GAIN_TOLERANCE * exact:
            if math.isclose(got, _exact_gain(activation, centred=True), rel_tol=GAIN_TOLERANCE):
                hint = (
                    "that is 1 / std(f(z)); the gain is 1 / sqrt(E[f(z)^2]), the root of the "
                    "second moment (the std subtracts the mean)"
                )
            else:
                hint = (
                    "compute 1 / sqrt(mean(f(z)**2)) from more samples (at least 100 000) of "
                    "z ~ N(0, 1)"
                )
            if label == "nn.Tanh()" and math.isclose(got, 5 / 3, rel_tol=1e-3):
                hint = "5/3 is calculate_gain's convention for tanh, not a measurement"
            raise CheckFailed(
                f"measured_gain({label}) returned {got:.4f}, expected {exact:.4f} (within "
                f"{GAIN_TOLERANCE:.0%}): {hint}"
            )
    low, high = STD_BAND
    inputs = torch.randn(128, width, generator=torch.Generator().manual_seed(12345))
    networks = {"nn.LeakyReLU(0.2)": nn.LeakyReLU(0.2), "|x|": _Abs()}
    worst = []
    for label, activation in networks.items():
        for seed in (1, 2):
            with seeded(1000 + seed):
                model = deep_mlp_for(activation, depth, width)
            _check_structure(model, activation, depth, width, label)
            values = [r.std for r in activation_stds(model, inputs, module_types=type(activation))]
            if len(values) != depth:
                raise CheckFailed(
                    f"deep_mlp_for({label}, {depth}, {width}): expected {depth} uses of the "
                    f"activation, counted {len(values)}"
                )
            for layer, value in enumerate(values, start=1):
                if not low <= value <= high:
                    direction = (
                        "grows: the gain is too large"
                        if value > high
                        else (
                            "vanishes: the gain is too small (weights need std gain / sqrt(fan_in))"
                        )
                    )
                    raise CheckFailed(
                        f"deep_mlp_for({label}, {depth}, {width}), build {seed}: the std after "
                        f"layer {layer} is {value:.3g}, outside [{low}, {high}]; the signal "
                        f"{direction}"
                    )
            worst.append((min(values), max(values)))
    lowest, highest = min(w[0] for w in worst), max(w[1] for w in worst)
    return (
        f"gains within {GAIN_TOLERANCE:.0%} for 5 nonlinearities; {depth}-layer networks keep "
        f"their activation std between {lowest:.2f} and {highest:.2f}."
    )


def _check_structure(model: Any, activation: nn.Module, depth: int, width: int, label: str) -> None:
    where = f"deep_mlp_for({label}, {depth}, {width})"
    if not isinstance(model, nn.Sequential):
        raise CheckFailed(f"{where}: expected an nn.Sequential, got {type(model).__name__}")
    layers = list(model)
    if len(layers) != 2 * depth:
        raise CheckFailed(
            f"{where}: expected {2 * depth} layers ({depth} pairs Linear, activation), got "
            f"{len(layers)}"
        )
    for i in range(depth):
        linear, act = layers[2 * i], layers[2 * i + 1]
        if (
            not isinstance(linear, nn.Linear)
            or linear.bias is not None
            or tuple(linear.weight.shape) != (width, width)
        ):
            raise CheckFailed(
                f"{where}: layer {2 * i} should be nn.Linear({width}, {width}, bias=False), got "
                f"{linear}"
            )
        if type(act) is not type(activation):
            raise CheckFailed(
                f"{where}: layer {2 * i + 1} should be the given activation "
                f"({type(activation).__name__}), got {type(act).__name__}"
            )
