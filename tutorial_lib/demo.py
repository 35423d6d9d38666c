"""Show an error or a warning in a notebook as one clean line.

A cell that demonstrates a failure should print the message, not a traceback full
of machine paths, and should fail loudly if the failure it promises does not
happen (so the book never claims an error that current PyTorch no longer raises).

Taught in: "Defining models" (first used there); used by every chapter.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ExpectedErrorMissing", "show_error", "show_warnings"]


class ExpectedErrorMissing(AssertionError):
    """The block under :func:`show_error` finished without raising."""


@contextmanager
def show_error(*expected: type[BaseException]) -> Iterator[None]:
    """Run the block, print ``ErrorType: message`` for the error it raises, and
    swallow it. The error must be one of ``expected`` (default: any
    ``Exception``); if the block raises nothing, :class:`ExpectedErrorMissing` is
    raised instead.

    >>> with show_error(ZeroDivisionError):
    ...     1 / 0
    ZeroDivisionError: division by zero

    Taught in: "Defining models".
    """
    types = expected or (Exception,)
    for kind in types:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise TypeError(f"expected exception classes, got {kind!r}")
    try:
        yield
    except types as err:
        message = str(err).strip()
        print(f"{type(err).__name__}: {message}" if message else type(err).__name__)
        return
    names = ", ".join(kind.__name__ for kind in types)
    raise ExpectedErrorMissing(f"expected the block to raise {names}, but it did not")


@contextmanager
def show_warnings(*expected: type[Warning]) -> Iterator[list[warnings.WarningMessage]]:
    """Record the warnings the block emits and print each as ``Category: message``
    (without the file path a normal warning shows). With ``expected`` given, at least
    one warning of those categories must occur, or :class:`ExpectedErrorMissing` is
    raised. Yields the list of recorded warnings.

    Taught in: "Defining models".
    """
    for kind in expected:
        if not (isinstance(kind, type) and issubclass(kind, Warning)):
            raise TypeError(f"expected warning classes, got {kind!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    seen = set()
    for item in caught:
        line = f"{item.category.__name__}: {str(item.message).strip()}"
        if line not in seen:  # the same warning from a loop is shown once
            seen.add(line)
            print(line)
    if expected and not any(issubclass(item.category, expected) for item in caught):
        names = ", ".join(kind.__name__ for kind in expected)
        raise ExpectedErrorMissing(f"expected a warning of type {names}, but none was emitted")
