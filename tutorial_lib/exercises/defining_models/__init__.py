"""Checks for the exercises of "Defining models".

One check per exercise, each called from the chapter's check cell as
``ex.check_...(answer)`` after ``from tutorial_lib.exercises import defining_models as
ex``. :func:`train_two_tasks` is the training protocol of the design exercise "One
network, two tasks, a parameter budget", shared by the learner's own experiments and
its check.

Submodules: ``mlp`` (the two MLP exercises), ``tiny_sequential``, ``pooler``,
``count_layers`` and ``two_tasks``; this package holds the names of all.

Taught in: "Defining models" (exercises).
"""

from . import count_layers, mlp, pooler, tiny_sequential, two_tasks
from .count_layers import *  # noqa: F403
from .mlp import *  # noqa: F403
from .pooler import *  # noqa: F403
from .tiny_sequential import *  # noqa: F403
from .two_tasks import *  # noqa: F403

_MODULES = (count_layers, mlp, pooler, tiny_sequential, two_tasks)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
