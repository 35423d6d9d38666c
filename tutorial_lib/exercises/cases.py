"""Reference cases and the generic checks that run them.

:class:`Case` holds one call and its expected result, :func:`compare` describes how a
result differs from the expected one, :func:`check_function` runs a function on its
cases and :func:`check_module` checks a module's parameters and outputs; all report
through :func:`~tutorial_lib.exercises.reporting.report`.

Taught in: "Defining models" (section "Exercises").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .._validate import is_real
from .reporting import NOT_ATTEMPTED, CheckFailed, report

__all__ = ["Case", "check_function", "check_module", "compare"]


@dataclass(frozen=True)
class Case:
    """One reference case: call with ``args`` / ``kwargs``, expect ``expected``.

    ``expected`` may be a value (compared with :func:`compare`: tensors by shape,
    dtype and values within tolerance, numbers within tolerance, containers item by
    item) or a callable ``expected(got) -> str | None`` returning a description of
    what is wrong, or ``None`` when the result is right.
    """

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    expected: Any = None
    description: str = ""

    def label(self, index: int) -> str:
        return f"case {index + 1}" + (f" ({self.description})" if self.description else "")


def compare(got: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> str | None:
    """Describe how ``got`` differs from ``expected``, or return ``None`` if they match.

    Taught in: "Defining models".
    """
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got {type(got).__name__}"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got {tuple(got.shape)}"
        if got.dtype != expected.dtype:
            return f"expected dtype {expected.dtype}, got {got.dtype}"
        got_cpu, exp_cpu = got.detach().cpu(), expected.detach().cpu()
        if exp_cpu.is_floating_point() or exp_cpu.is_complex():
            if torch.allclose(got_cpu, exp_cpu, rtol=rtol, atol=atol, equal_nan=True):
                return None
            diff = (got_cpu - exp_cpu).abs().max().item()
            return f"values differ: largest absolute difference {diff:.3g} (tolerance {atol:g})"
        if torch.equal(got_cpu, exp_cpu):
            return None
        return f"values differ in {(got_cpu != exp_cpu).sum().item()} of {exp_cpu.numel()} places"
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return None if got == expected else f"expected {expected!r}, got {got!r}"
    if isinstance(expected, (int, float)):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not is_real(got):
            return f"expected a number, got {type(got).__name__}"
        if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
            return None
        return f"expected {expected!r}, got {got!r}"
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return f"expected a mapping, got {type(got).__name__}"
        if set(got) != set(expected):
            return f"expected keys {sorted(map(str, expected))}, got {sorted(map(str, got))}"
        for key in expected:
            problem = compare(got[key], expected[key], rtol=rtol, atol=atol)
            if problem:
                return f"at key {key!r}: {problem}"
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"expected a {type(expected).__name__}, got {type(got).__name__}"
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = compare(g, e, rtol=rtol, atol=atol)
            if problem:
                return f"at item {i}: {problem}"
        return None
    return None if got == expected else f"expected {expected!r}, got {got!r}"


def _not_attempted(name: str, strict: bool | None = None) -> None:
    return report(name, "todo", NOT_ATTEMPTED, strict=strict)


def check_function(
    fn: Callable[..., Any],
    cases: Sequence[Case],
    *,
    name: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    strict: bool | None = None,
) -> None:
    """Run ``fn`` on every case; report a pass, or raise :class:`CheckFailed` at
    the first wrong case. While ``fn`` raises ``NotImplementedError`` it reports
    "not attempted" (a note, or :class:`NotAttempted` in strict mode).

    Taught in: "Defining models".
    """
    if not callable(fn):
        raise TypeError(f"expected a function to check, got {type(fn).__name__}")
    if not cases:
        raise ValueError("a check needs at least one case")
    name = name or getattr(fn, "__name__", "your function")
    for index, case in enumerate(cases):
        if not isinstance(case, Case):
            raise TypeError(f"cases must be Case objects, item {index} is {type(case).__name__}")
        try:
            got = fn(*case.args, **dict(case.kwargs))
        except NotImplementedError:
            return _not_attempted(name, strict)
        except Exception as err:  # report the learner's error with the case that caused it
            raise CheckFailed(
                f"{name}: {case.label(index)} raised {type(err).__name__}: {err}"
            ) from err
        problem = (
            case.expected(got)
            if callable(case.expected) and not isinstance(case.expected, torch.Tensor)
            else compare(got, case.expected, rtol=rtol, atol=atol)
        )
        if problem:
            raise CheckFailed(f"{name}: {case.label(index)} is wrong: {problem}")
    return report(name, "pass", f"all {len(cases)} case(s) passed.", strict=strict)


def check_module(
    build: Callable[[], nn.Module] | nn.Module,
    *,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    output_shape: Sequence[int] | None = None,
    num_parameters: int | None = None,
    num_trainable: int | None = None,
    reference: nn.Module | None = None,
    name: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    strict: bool | None = None,
) -> None:
    """Check a module (or a zero-argument function building one).

    Checks, each only when given: the number of parameters (total and trainable;
    catches layers kept in a plain Python list), the output shape for ``inputs``,
    and equal outputs to a ``reference`` module (both run in eval mode on the same
    ``inputs``; the reference must hold the weights the learner's module should
    compute with, e.g. the same layer objects). Prints a pass line, or raises
    :class:`CheckFailed`; reports "not attempted" when building or running raises
    ``NotImplementedError``.

    Taught in: "Defining models".
    """
    name = name or getattr(build, "__name__", type(build).__name__)
    try:
        module = build if isinstance(build, nn.Module) else build()
    except NotImplementedError:
        return _not_attempted(name, strict)
    if not isinstance(module, nn.Module):
        raise CheckFailed(f"{name}: expected an nn.Module, got {type(module).__name__}")
    args = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)

    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if num_parameters is not None and total != num_parameters:
        raise CheckFailed(
            f"{name}: expected {num_parameters:,} parameters, got {total:,} "
            "(layers kept in a plain list or dict are not registered: use nn.ModuleList / "
            "nn.ModuleDict)"
        )
    if num_trainable is not None and trainable != num_trainable:
        raise CheckFailed(
            f"{name}: expected {num_trainable:,} trainable parameters, got {trainable:,}"
        )
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(*args)
            expected = reference.eval()(*args) if reference is not None else None
    except NotImplementedError:
        return _not_attempted(name, strict)
    except Exception as err:
        raise CheckFailed(f"{name}: the forward pass raised {type(err).__name__}: {err}") from err
    finally:
        module.train(was_training)
    if output_shape is not None:
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"{name}: expected a tensor output, got {type(out).__name__}")
        if tuple(out.shape) != tuple(output_shape):
            raise CheckFailed(
                f"{name}: expected output shape {tuple(output_shape)}, got {tuple(out.shape)}"
            )
    if expected is not None:
        problem = compare(out, expected, rtol=rtol, atol=atol)
        if problem:
            raise CheckFailed(f"{name}: output differs from the reference: {problem}")
    checked = [
        label
        for label, given in (
            ("parameter count", num_parameters),
            ("trainable count", num_trainable),
            ("output shape", output_shape),
            ("reference output", reference),
        )
        if given is not None
    ]
    return report(name, "pass", f"{', '.join(checked) or 'forward pass'} correct.", strict=strict)
