"""Checks for the exercises of "Modifying models".

One submodule per exercise: ``last_linear``, ``grey_conv``, ``freeze_until``,
``with_category`` and ``any_size``; this package holds the names of all.

Taught in: "Modifying models" (exercises): finding the last linear layer by name, a grey
first convolution, freezing up to a named layer, a category as an extra input, and
(design) a model that reads digits of any size.
"""

from . import any_size, freeze_until, grey_conv, last_linear, with_category
from .any_size import *  # noqa: F403
from .freeze_until import *  # noqa: F403
from .grey_conv import *  # noqa: F403
from .last_linear import *  # noqa: F403
from .with_category import *  # noqa: F403

_MODULES = (any_size, freeze_until, grey_conv, last_linear, with_category)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
