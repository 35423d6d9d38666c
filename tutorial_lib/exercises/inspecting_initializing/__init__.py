"""Checks for the exercises of "Inspecting and initializing models".

Each ``check_*`` function takes the learner's function (and the chapter classes it
needs), prints one ✅ line when the answer is right, raises
:class:`~tutorial_lib.exercises.core.CheckFailed` saying what is wrong, or reports
"not attempted" while the stub still raises ``NotImplementedError``.

One submodule per exercise: ``parameter_report``, ``kaiming``, ``init_weights`` and
``gain``; this package holds the names of all.

Taught in: "Inspecting and initializing models" (exercises).
"""

from . import gain, init_weights, kaiming, parameter_report
from .gain import *  # noqa: F403
from .init_weights import *  # noqa: F403
from .kaiming import *  # noqa: F403
from .parameter_report import *  # noqa: F403

_MODULES = (gain, init_weights, kaiming, parameter_report)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
