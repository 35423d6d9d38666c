"""Checks for the exercises of "Saving and loading".

Each ``check_*`` function takes the learner's answer (and the chapter objects it
needs), runs it on cases of its own, prints a ✅ line, or raises
:class:`~tutorial_lib.exercises.core.CheckFailed` saying what is wrong and how to
fix it; a stub that still raises ``NotImplementedError`` is reported as not
attempted. Checks that write files do so in a fresh temporary folder that they
delete afterwards, so repeated attempts never collide.

Submodules: ``state_dicts`` (saving-ex-1 and -2: prefixed keys, selecting what
loads), ``resume`` (saving-ex-3) and ``safetensors_files`` (saving-ex-4 and -5); this
package holds the names of all.

Taught in: "Saving and loading" (exercises).
"""

from . import resume, safetensors_files, state_dicts
from .resume import *  # noqa: F403
from .safetensors_files import *  # noqa: F403
from .state_dicts import *  # noqa: F403

_MODULES = (resume, safetensors_files, state_dicts)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
