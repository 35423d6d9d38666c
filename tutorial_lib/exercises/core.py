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

This module gathers the names of two: :mod:`.reporting` (the verdicts, strict mode,
:func:`exercise_check`) and :mod:`.cases` (:class:`Case`, :func:`compare`,
:func:`check_function`, :func:`check_module`). The checks of each chapter live in the
package of the same name beside them (``tutorial_lib.exercises.unet`` for the U-Net
chapter, and so on).

Taught in: "Defining models" (section "Exercises"); the instructor guide explains
how to write new checks.
"""

from . import cases, reporting
from .cases import *  # noqa: F403
from .reporting import *  # noqa: F403

__all__ = sorted({name for module in (cases, reporting) for name in module.__all__})
