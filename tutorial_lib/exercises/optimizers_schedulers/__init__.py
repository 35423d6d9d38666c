"""Checks for the exercises of "Optimizers and learning-rate schedulers".

Each ``check_*`` function takes the learner's answer, runs it on cases of its own
(some of them random, none of them visible in the notebook), prints a ✅ line, or
raises :class:`~tutorial_lib.exercises.core.CheckFailed` saying what is wrong and
how to fix it; a stub that still raises ``NotImplementedError`` is reported as not
attempted.

One submodule per exercise: ``accumulation``, ``warmup_cosine``, ``plateau``,
``ndim_groups`` and ``lr_choice``; this package holds the names of all.

Taught in: "Optimizers and learning-rate schedulers" (exercises).
"""

from . import accumulation, lr_choice, ndim_groups, plateau, warmup_cosine
from .accumulation import *  # noqa: F403
from .lr_choice import *  # noqa: F403
from .ndim_groups import *  # noqa: F403
from .plateau import *  # noqa: F403
from .warmup_cosine import *  # noqa: F403

_MODULES = (accumulation, lr_choice, ndim_groups, plateau, warmup_cosine)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
