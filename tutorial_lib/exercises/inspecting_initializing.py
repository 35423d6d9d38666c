"""Checks for the exercises of "Inspecting and initializing models".

Each ``check_*`` function takes the learner's function (and the chapter classes it
needs), prints one ✅ line when the answer is right, raises
:class:`~tutorial_lib.exercises.core.CheckFailed` saying what is wrong, or reports
"not attempted" while the stub still raises ``NotImplementedError``.

Taught in: "Inspecting and initializing models" (exercises).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._validate import is_real
from ..initialization import compare_distribution
from ..inspection import activation_stds, count_parameters
from ._shared import forbid, seeded
from .core import CheckFailed, compare, exercise_check

__all__ = [
    "check_init_weights",
    "check_kaiming_normal",
    "check_measured_gain",
    "check_parameter_report",
]


# ---------------------------------------------------------------- inspecting-ex-1
class _Tied(nn.Module):
    """An embedding whose output layer reuses the embedding matrix (weight tying)."""

    def __init__(self, vocabulary: int = 50, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, dim)
        self.out = nn.Linear(dim, vocabulary, bias=False)
        self.out.weight = self.embed.weight


def _report_cases(small_net: type[nn.Module]) -> list[tuple[nn.Module, str]]:
    frozen = small_net()
    first_conv = next(m for m in frozen.modules() if isinstance(m, nn.Conv2d))
    first_conv.requires_grad_(False)
    sequential = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3))
    tied = nn.Sequential(OrderedDict(lm=_Tied(), head=nn.Linear(16, 2)))
    generator = torch.Generator().manual_seed(15)
    widths = torch.randint(3, 9, (3,), generator=generator).tolist()
    hidden = nn.Sequential(
        OrderedDict(
            stem=nn.Conv2d(2, widths[0], 3),
            act=nn.GELU(),
            body=nn.Sequential(nn.Conv2d(widths[0], widths[1], 1), nn.BatchNorm2d(widths[1])),
            pool=nn.AdaptiveAvgPool2d(1),
            head=nn.Linear(widths[1], widths[2]),
        )
    )
    hidden.body[1].bias.requires_grad_(False)  # one frozen tensor inside a trainable child
    hidden.head.requires_grad_(False)
    hidden.register_parameter("scale", nn.Parameter(torch.ones(3)))  # the model's own
    return [
        (frozen, f"{small_net.__name__} with its first convolution frozen"),
        (sequential, "nn.Sequential(Linear, ReLU, Linear): the ReLU has no parameters"),
        (tied, "a child whose two layers share one weight: a shared tensor counts once"),
        (hidden, "a model with other child names, frozen tensors and a parameter of its own"),
    ]


@exercise_check("parameter_report")
def check_parameter_report(parameter_report: Callable[[nn.Module], Any], small_net: type) -> str:
    """Check ``parameter_report(model)``: ``{child name: (total, trainable)}`` for every
    direct child, on the chapter's ``small_net`` (first convolution frozen) and on
    models with a parameter-less child, a tied weight, other names and a parameter that
    belongs to the model itself (not to a child).

    Taught in: "Inspecting and initializing models" (exercises).
    """
    cases = _report_cases(small_net)
    for index, (model, description) in enumerate(cases, start=1):
        expected = {name: tuple(count_parameters(child)) for name, child in model.named_children()}
        got = parameter_report(model)
        if not isinstance(got, dict):
            raise CheckFailed(
                f"case {index} ({description}): expected a dict, got {type(got).__name__}"
            )
        if set(got) != set(expected):
            extra, missing = sorted(set(got) - set(expected)), sorted(set(expected) - set(got))
            if extra and missing:
                hint = "the keys are the children's own names, as named_children() gives them"
            elif extra:
                hint = "report only the direct children (named_children), not every module"
            else:
                hint = "every direct child needs an entry, (0, 0) when it has no parameters"
            raise CheckFailed(
                f"case {index} ({description}): expected the keys {sorted(expected)}, got "
                f"{sorted(got)} (extra {extra}, missing {missing}): {hint}"
            )
        for name, (total, trainable) in expected.items():
            problem = compare(got[name], (total, trainable), rtol=0, atol=0)
            if problem:
                raise CheckFailed(
                    f"case {index} ({description}): for child {name!r} expected (total, "
                    f"trainable) = ({total}, {trainable}), got {got[name]!r}; count scalars "
                    "(numel), each shared tensor once, and a tensor as trainable when its "
                    "requires_grad is True"
                )
    return f"right (total, trainable) per direct child on {len(cases)} models."


# ---------------------------------------------------------------- inspecting-ex-2
_KAIMING_CASES = [
    ((512, 256), 0.0, "fan_in"),
    ((512, 256), 0.0, "fan_out"),
    ((64, 32, 3, 3), 0.2, "fan_out"),
    ((64, 32, 3, 3), 1.0, "fan_in"),
    ((300, 700), 0.5, "fan_in"),
    ((96, 48, 5), 3.0, "fan_out"),
]


@exercise_check("kaiming_normal_by_hand_")
def check_kaiming_normal(kaiming_normal_by_hand_: Callable[..., Any]) -> str:
    """Check ``kaiming_normal_by_hand_(tensor, a=0.0, mode="fan_in")``.

    For linear, 1-d and 2-d convolution weights, several ``a`` and both modes (one
    call positional), the function must fill the given tensor in place, return it,
    and give values distributed like ``nn.init.kaiming_normal_(...,
    nonlinearity="leaky_relu")`` (standard deviation and a Kolmogorov-Smirnov test).
    ``nn.init.kaiming_normal_`` and ``kaiming_uniform_`` raise while it runs.

    Taught in: "Inspecting and initializing models" (exercises).
    """
    forbidden = (
        "you called nn.init.kaiming_normal_ (or kaiming_uniform_): the exercise is to "
        "compute the standard deviation yourself and draw with nn.init.normal_"
    )
    for index, (shape, a, mode) in enumerate(_KAIMING_CASES, start=1):
        reference = nn.init.kaiming_normal_(
            torch.empty(shape),
            a=a,
            mode=mode,
            nonlinearity="leaky_relu",
            generator=torch.Generator().manual_seed(index),
        )
        description = f"case {index} (shape {shape}, a={a}, mode={mode!r})"
        tensor = torch.full(shape, math.nan)
        with (
            seeded(100 + index),
            forbid(
                [(torch.nn.init, "kaiming_normal_"), (torch.nn.init, "kaiming_uniform_")], forbidden
            ),
        ):
            if index == 3:
                got = kaiming_normal_by_hand_(tensor, a, mode)  # positional arguments
            else:
                got = kaiming_normal_by_hand_(tensor, a=a, mode=mode)
        if got is not tensor:
            filled = not torch.isnan(tensor).any()
            raise CheckFailed(
                f"{description}: "
                + (
                    "the tensor was filled, but you returned another object; return tensor"
                    if filled
                    else "the given tensor was not filled in place (it still holds nan); "
                    "fill it with nn.init.normal_(tensor, 0.0, std) and return it"
                )
            )
        problem = compare_distribution(tensor, reference)
        if problem:
            fan_in = shape[1] * math.prod(shape[2:])
            fan_out = shape[0] * math.prod(shape[2:])
            std = math.sqrt(2 / (1 + a**2)) / math.sqrt(fan_in if mode == "fan_in" else fan_out)
            raise CheckFailed(
                f"{description}: {problem}; expected std {std:.4g} = sqrt(2 / (1 + a**2)) / "
                f"sqrt({mode} = {fan_in if mode == 'fan_in' else fan_out}), from a normal "
                "distribution"
            )
    return (
        f"in place, returned, and distributed like kaiming_normal_ in {len(_KAIMING_CASES)} cases."
    )


# ---------------------------------------------------------------- inspecting-ex-3
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


# ---------------------------------------------------------------- inspecting-ex-4
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
