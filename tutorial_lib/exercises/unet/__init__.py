"""Checks for the exercises of "U-Net from building blocks".

One check per exercise, each called from the chapter's check cell as
``ex.check_...(answer)`` after ``from tutorial_lib.exercises import unet as ex``;
:func:`check_block` is the general tool behind the block exercises (the learner's
module against a reference block with the same weights), also usable on its own.

Submodules: ``blocks`` (:func:`check_block`), then one per exercise:
``double_conv``, ``my_down``, ``pad_like`` and ``depth`` (with
:func:`unet_parameters`); this package holds the names of all.

Taught in: "U-Net from building blocks" (exercises).
"""

from . import blocks, depth, double_conv, my_down, pad_like
from .blocks import *  # noqa: F403
from .depth import *  # noqa: F403
from .double_conv import *  # noqa: F403
from .my_down import *  # noqa: F403
from .pad_like import *  # noqa: F403

_MODULES = (blocks, depth, double_conv, my_down, pad_like)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
