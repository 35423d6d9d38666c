"""Helpers that the checks of several chapters share (private to ``tutorial_lib.exercises``).

- :func:`call`: run the learner's function and turn an error it raises into a
  :class:`~tutorial_lib.exercises.core.CheckFailed` that names the case;
- :func:`forbid`: make library functions raise while the learner's code runs (for
  exercises that say "without the built-in");
- :func:`seeded`: run a block with the global generator seeded, the caller's state
  restored afterwards;
- :func:`scratch_folder`: a fresh temporary folder for checks that write files.

Taught in: the instructor guide ("Adding an exercise").
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from .reporting import CheckFailed

__all__ = ["call", "forbid", "scratch_folder", "seeded"]


def call(
    fn: Callable[..., Any],
    *args: Any,
    what: str | None = None,
    hint: str = "",
    reraise: tuple[type[BaseException], ...] = (),
) -> Any:
    """``fn(*args)``; a learner error other than ``NotImplementedError`` (or a
    :class:`CheckFailed`, or one of ``reraise``) becomes a :class:`CheckFailed`:
    ``"<what>: your code raised <type>: <error>; <hint>"``, without the parts not given.
    """
    try:
        return fn(*args)
    except (NotImplementedError, CheckFailed, *reraise):
        raise
    except Exception as err:
        where = "" if what is None else f"{what}: "
        raise CheckFailed(
            f"{where}your code raised {type(err).__name__}: {err}" + (f"; {hint}" if hint else "")
        ) from err


@contextmanager
def forbid(targets: Sequence[tuple[Any, str]], message: str) -> Iterator[None]:
    """Make each ``owner.name`` in ``targets`` raise :class:`CheckFailed` with
    ``message`` inside the block."""
    with ExitStack() as stack:
        for owner, name in targets:
            stack.enter_context(mock.patch.object(owner, name, side_effect=CheckFailed(message)))
        yield


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with the global RNG seeded, and restore the caller's RNG after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A fresh temporary folder, deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
