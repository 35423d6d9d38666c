"""Checks for the exercises of "Hooks, parametrizations and adapters".

One submodule per exercise: ``migration`` (a load-state-dict pre-hook for a renamed
submodule), ``positive`` (a positive weight as a parametrization) and ``adapt`` (the
experiment: choose a rank for a low-rank adapter); this package holds the names of all.

Taught in: "Hooks, parametrizations and adapters" (exercises): a migration hook, a
positive parametrization, and (experiment) the rank of an adapter.
"""

from . import adapt, migration, positive
from .adapt import *  # noqa: F403
from .migration import *  # noqa: F403
from .positive import *  # noqa: F403

_MODULES = (adapt, migration, positive)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
