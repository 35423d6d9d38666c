"""Verdicts: the three outcomes of a check and the one place that prints them.

:func:`report` prints a pass (✅), raises :class:`CheckFailed` for a failure, and for
"not attempted" prints a note (⏳) or, in strict mode (:func:`strict_mode`), raises
:class:`NotAttempted`; :func:`exercise_check` turns a function that returns what
passed into a check that reports through it.

Taught in: the instructor guide ("How the self-checks work", "Adding an exercise").
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Literal

__all__ = [
    "NOT_ATTEMPTED",
    "PASS",
    "STRICT_ENV",
    "TODO",
    "CheckFailed",
    "NotAttempted",
    "Status",
    "exercise_check",
    "report",
    "strict_mode",
]

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
