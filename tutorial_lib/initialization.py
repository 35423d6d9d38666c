"""Initializing weights: fans, initialization by layer type, and checks that two
initializations give the same distribution of values.

Taught in: "Inspecting and initializing models".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import torch
from torch import nn

from ._validate import is_int, is_real

__all__ = [
    "InitRule",
    "KSResult",
    "compare_distribution",
    "compare_initialization",
    "fan_in_and_fan_out",
    "init_by_type",
    "ks_two_sample",
]

InitRule = Callable[[nn.Module], object]
"""A function that initializes one module in place (its return value is ignored)."""


def fan_in_and_fan_out(tensor_or_shape: torch.Tensor | Sequence[int]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight, the numbers Xavier and Kaiming scale by.

    A weight of shape ``(out, in, *kernel)`` (``nn.Linear``: ``(out, in)``;
    ``nn.Conv2d``: ``(out, in, kh, kw)``) has ``fan_in = in * prod(kernel)`` inputs
    feeding each output and ``fan_out = out * prod(kernel)`` outputs fed by each
    input. The same convention as ``torch.nn.init`` (whose helper is private).

    Taught in: "Inspecting and initializing models".
    """
    if isinstance(tensor_or_shape, torch.Tensor):
        shape = tuple(tensor_or_shape.shape)
    elif isinstance(tensor_or_shape, Sequence) and not isinstance(tensor_or_shape, str):
        shape = tuple(tensor_or_shape)
        for size in shape:
            if not is_int(size) or size < 0:
                raise TypeError(f"a shape must hold non-negative ints, got {tensor_or_shape!r}")
    else:
        raise TypeError(f"expected a tensor or a shape, got {type(tensor_or_shape).__name__}")
    if len(shape) < 2:
        raise ValueError(
            f"fan_in and fan_out need a weight with at least 2 dimensions, got shape {shape}; "
            "a 1-D tensor such as a bias has none: initialize it with nn.init.zeros_ or "
            "nn.init.constant_ instead"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _expand_rules(
    rules: Mapping[type[nn.Module] | tuple[type[nn.Module], ...], InitRule],
) -> dict[type[nn.Module], InitRule]:
    if not isinstance(rules, Mapping):
        raise TypeError(
            f"rules must be a mapping {{module class: init function}}, got {type(rules).__name__}"
        )
    if not rules:
        raise ValueError("rules is empty; give at least one {module class: init function} pair")
    expanded: dict[type[nn.Module], InitRule] = {}
    for key, fn in rules.items():
        kinds = key if isinstance(key, tuple) else (key,)
        for kind in kinds:
            if not (isinstance(kind, type) and issubclass(kind, nn.Module)):
                raise TypeError(
                    f"rule keys must be nn.Module classes (or tuples of them), got {kind!r}"
                )
            if kind in expanded:
                raise ValueError(f"{kind.__name__} has two rules; keep one")
            if not callable(fn):
                raise TypeError(
                    f"the rule for {kind.__name__} must be a function taking the module, "
                    f"got {type(fn).__name__}"
                )
            expanded[kind] = fn
    return expanded


def init_by_type(
    model: nn.Module,
    rules: Mapping[type[nn.Module] | tuple[type[nn.Module], ...], InitRule],
) -> list[str]:
    """Initialize every submodule of ``model`` whose class has a rule, in place.

    ``rules`` maps a module class (or a tuple of classes) to a function that receives
    the module and initializes it, for example
    ``{nn.Linear: lambda m: nn.init.xavier_uniform_(m.weight)}``. A module matches
    the rule of its own class or, failing that, of its nearest base class, so
    ``{nn.Module: ...}`` would match everything, containers included. Each module
    is visited once (shared modules too), the functions run under
    ``torch.no_grad()``, and ``rules`` is not modified.

    Returns the qualified names of the modules that were initialized, in the order of
    ``model.named_modules()`` (``""`` is the model itself). Raises ``ValueError``
    when no module matches any rule: a rule set that initializes nothing is almost
    always a mistake (say, ``nn.Conv2d`` rules for a model built from ``nn.Conv1d``).

    Taught in: "Inspecting and initializing models".
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(model).__name__}")
    expanded = _expand_rules(rules)
    initialized = []
    with torch.no_grad():
        for name, module in model.named_modules():
            rule = next((expanded[k] for k in type(module).__mro__ if k in expanded), None)
            if rule is not None:
                rule(module)
                initialized.append(name)
    if not initialized:
        present = sorted({type(m).__name__ for m in model.modules()})
        wanted = sorted(k.__name__ for k in expanded)
        raise ValueError(
            f"no module of the model matches the rules for {wanted}; the model contains {present}"
        )
    return initialized


class KSResult(NamedTuple):
    """Two-sample Kolmogorov-Smirnov test: the statistic and its rejection threshold."""

    statistic: float
    threshold: float

    @property
    def same(self) -> bool:
        """``True`` when the test does not reject "both samples share one distribution"."""
        return self.statistic <= self.threshold


def _flat_float64(values: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(values).__name__}")
    flat = values.detach().reshape(-1).to("cpu", torch.float64)
    if flat.numel() == 0:
        raise ValueError(f"{name} is empty; the test needs at least one value")
    if not torch.isfinite(flat).all():
        raise ValueError(f"{name} contains nan or inf; the test needs finite values")
    return flat


def ks_two_sample(a: torch.Tensor, b: torch.Tensor, *, alpha: float = 1e-3) -> KSResult:
    """Compare the values of ``a`` and ``b`` (any shapes) with the two-sample
    Kolmogorov-Smirnov test.

    The statistic, the largest gap between the two empirical CDFs, is SciPy's
    (``scipy.stats.ks_2samp``). The threshold
    is the asymptotic critical value ``c(alpha) * sqrt((n + m) / (n * m))`` with
    ``c(alpha) = sqrt(-ln(alpha / 2) / 2)``: two samples from one distribution exceed
    it with probability about ``alpha``. Good for the large samples of a weight
    tensor; with a few dozen values it can only detect gross differences.

    Taught in: "Inspecting and initializing models".
    """
    if not is_real(alpha) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a probability in (0, 1), got {alpha!r}")
    from scipy.stats import ks_2samp  # imported when a test runs, not with the package

    x = _flat_float64(a, "a").numpy()
    y = _flat_float64(b, "b").numpy()
    statistic = float(ks_2samp(x, y, method="asymp").statistic)
    n, m = x.size, y.size
    threshold = math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))
    return KSResult(statistic, threshold)


def compare_distribution(
    got: torch.Tensor, expected: torch.Tensor, *, alpha: float = 1e-3
) -> str | None:
    """Describe how the values of ``got`` differ in distribution from those of
    ``expected`` (a sample of the right initialization), or return ``None``.

    Shapes must match. A constant ``expected`` (zeros, ones, ``constant_``) must be
    matched exactly; otherwise :func:`ks_two_sample` decides. Usable as the
    ``expected`` of a :class:`tutorial_lib.Case`:
    ``Case(args=..., expected=lambda got: compare_distribution(got, reference))``.

    Taught in: "Inspecting and initializing models".
    """
    if not isinstance(got, torch.Tensor):
        return f"expected a tensor, got {type(got).__name__}"
    if not isinstance(expected, torch.Tensor):
        raise TypeError(f"expected must be a tensor, got {type(expected).__name__}")
    if got.shape != expected.shape:
        return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
    reference = _flat_float64(expected, "expected")
    values = got.detach().reshape(-1).to("cpu", torch.float64)
    if not torch.isfinite(values).all():
        return "the values contain nan or inf"
    if bool((reference == reference[0]).all()):
        if torch.allclose(values, reference, rtol=1e-6, atol=1e-8):
            return None
        return (
            f"expected every value to be {reference[0].item():.4g}, got values from "
            f"{values.min().item():.4g} to {values.max().item():.4g}"
        )
    result = ks_two_sample(values, reference, alpha=alpha)
    if result.same:
        return None
    return (
        f"values are not distributed like the reference: std {values.std().item():.4g} "
        f"(reference {reference.std().item():.4g}), mean {values.mean().item():.4g} "
        f"(reference {reference.mean().item():.4g}); KS distance {result.statistic:.4f} "
        f"> {result.threshold:.4f}"
    )


def compare_initialization(
    got: nn.Module, expected: nn.Module, *, alpha: float = 1e-3
) -> str | None:
    """Compare the parameters of two models of the same architecture name by name
    with :func:`compare_distribution`; describe the first that differs, or return
    ``None``. Used by the chapter's exercise checks.

    Taught in: "Inspecting and initializing models".
    """
    if not isinstance(got, nn.Module):
        return f"expected an nn.Module, got {type(got).__name__}"
    if not isinstance(expected, nn.Module):
        raise TypeError(f"expected must be an nn.Module, got {type(expected).__name__}")
    got_params = dict(got.named_parameters())
    expected_params = dict(expected.named_parameters())
    if set(got_params) != set(expected_params):
        return f"expected parameters {sorted(expected_params)}, got {sorted(got_params)}"
    for name, reference in expected_params.items():
        problem = compare_distribution(got_params[name], reference, alpha=alpha)
        if problem:
            return f"{name}: {problem}"
    return None
