"""Checks for the exercises of "Loss functions".

Each ``check_*`` function takes the learner's function or class, prints one ✅ line
when the answer is right, raises :class:`~tutorial_lib.exercises.core.CheckFailed`
saying what is wrong, or reports "not attempted" while the stub still raises
``NotImplementedError``. Where a task says "without the built-in", the built-in
raises while the learner's code runs.

Submodules: ``cross_entropy`` (losses-ex-1), ``stable_bce`` (losses-ex-2),
``dice_tversky`` (losses-ex-3 and -4) and ``imbalance`` (losses-ex-5, with its
training protocol); ``_gradients`` compares values and gradients for the first
three. This package holds the names of all.

Taught in: "Loss functions" (exercises).
"""

from . import cross_entropy, dice_tversky, imbalance, stable_bce
from .cross_entropy import *  # noqa: F403
from .dice_tversky import *  # noqa: F403
from .imbalance import *  # noqa: F403
from .stable_bce import *  # noqa: F403

_MODULES = (cross_entropy, dice_tversky, imbalance, stable_bce)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
