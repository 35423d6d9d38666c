"""Exercise checks: the shared machinery and one package per chapter.

``tutorial_lib.exercises.core`` holds what every check uses (:class:`Case`,
:func:`compare`, :func:`check_function`, :func:`check_module`, :func:`report`,
strict mode; defined in ``reporting`` and ``cases``), ``_shared`` the helpers that
several chapters' checks use; ``tutorial_lib.exercises.<notebook>`` holds the checks
of one chapter, named after its notebook (``unet``, ``fine_tuning``, ...), one
submodule per exercise. A chapter's check cell reads ``from tutorial_lib.exercises
import unet as ex`` and calls ``ex.check_...``.

Taught in: the instructor guide ("How the self-checks work", "Adding an exercise");
every chapter ends with its exercises.
"""

from .core import (
    NOT_ATTEMPTED,
    PASS,
    STRICT_ENV,
    TODO,
    Case,
    CheckFailed,
    NotAttempted,
    check_function,
    check_module,
    compare,
    exercise_check,
    report,
    strict_mode,
)

__all__ = [
    "NOT_ATTEMPTED",
    "PASS",
    "STRICT_ENV",
    "TODO",
    "Case",
    "CheckFailed",
    "NotAttempted",
    "check_function",
    "check_module",
    "compare",
    "exercise_check",
    "report",
    "strict_mode",
]
