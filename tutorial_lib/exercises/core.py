"""The machinery every exercise check uses: cases, comparison, and one way to report.

A check runs the learner's code on reference cases and reports one of three outcomes
through :func:`report`, the only function that prints a verdict:

- **pass**: one line starting with ✅ that says what was checked;
- **fail**: raises :class:`CheckFailed` naming the case, what was expected and what
  came back;
- **not attempted**: the code still raises ``NotImplementedError`` (the exercise
  stub). In a notebook this prints a ⏳ line and returns, so a student notebook runs
  top to bottom before any exercise is done. In **strict mode** (a grader sets the
  environment variable ``TUTORIAL_STRICT=1``, or passes ``strict=True``) it raises
  :class:`NotAttempted`, a :class:`CheckFailed`, so a stub is never counted as done.

The checks of each chapter live in the module of the same name beside this one
(``tutorial_lib.exercises.unet`` for the U-Net chapter, and so on).

Taught in: "Defining models" (section "Exercises"); the instructor guide explains
how to write new checks.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from .._validate import is_real

PASS = "✅"
TODO = "⏳"


STRICT_ENV = "TUTORIAL_STRICT"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


class CheckFailed(AssertionError):
    """Raised by a self-check when the learner's code gives a wrong result."""


class NotAttempted(CheckFailed):
    """Raised in strict mode when the code still raises ``NotImplementedError``."""


def strict_mode(strict: bool | None = None) -> bool:
    """Whether checks count "not attempted" as a failure.

    ``strict`` wins when given; otherwise the environment variable
    ``TUTORIAL_STRICT`` decides (``1``/``true``/``yes``/``on``; unset or
    ``0``/``false``/``no``/``off`` means friendly mode).

    Taught in: the instructor guide ("How the self-checks work").
    """
    if strict is not None:
        if not isinstance(strict, bool):
            raise TypeError(f"strict must be True, False or None, got {strict!r}")
        return strict
    value = os.environ.get(STRICT_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{STRICT_ENV}={os.environ[STRICT_ENV]!r} is not understood: set it to 1 (strict, for "
        "grading) or 0 (friendly), or unset it"
    )


Status = Literal["pass", "fail", "todo"]


def report(name: str, status: Status, message: str, *, strict: bool | None = None) -> None:
    """Report the outcome of a check: the one place where verdicts are printed.

    ``"pass"`` prints ``✅ name: message``;
    ``"fail"`` raises :class:`CheckFailed` (``name: message``); ``"todo"`` prints
    ``⏳ name: message`` and returns, or raises :class:`NotAttempted` in strict mode.

    Taught in: the instructor guide ("How the self-checks work").
    """
    if status == "pass":
        print(f"{PASS} {name}: {message}")
    elif status == "todo":
        if strict_mode(strict):
            raise NotAttempted(f"{name}: not attempted: {message}")
        print(f"{TODO} {name}: {message}")
    elif status == "fail":
        raise CheckFailed(f"{name}: {message}")
    else:
        raise ValueError(f"status must be 'pass', 'fail' or 'todo', got {status!r}")


NOT_ATTEMPTED = "not attempted yet (the code still raises NotImplementedError)."


def exercise_check(name: str) -> Callable[[Callable[..., str]], Callable[..., None]]:
    """Turn a function that returns what passed (or raises) into a reporting check.

    The decorated function raises :class:`CheckFailed` with a message (without the
    name; it is added) when the answer is wrong, and returns a one-line description
    of what it verified when it is right. The wrapper reports through
    :func:`report`: a ``NotImplementedError`` from the learner's code becomes "not
    attempted", any other error from it a failure that names the error. Every
    wrapper accepts ``strict=`` (default: the ``TUTORIAL_STRICT`` environment
    variable).

    Taught in: the instructor guide ("Adding an exercise").
    """

    def decorate(fn: Callable[..., str]) -> Callable[..., None]:
        @functools.wraps(fn)
        def check(*args: Any, strict: bool | None = None, **kwargs: Any) -> None:
            try:
                message = fn(*args, **kwargs)
            except NotImplementedError:
                return report(name, "todo", NOT_ATTEMPTED, strict=strict)
            except NotAttempted:
                raise
            except CheckFailed as err:
                text = str(err)
                return report(name, "fail", text.removeprefix(f"{name}: "), strict=strict)
            except Exception as err:  # an error in the learner's code, with its type
                raise CheckFailed(f"{name}: your code raised {type(err).__name__}: {err}") from err
            return report(name, "pass", message, strict=strict)

        return check

    return decorate


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
