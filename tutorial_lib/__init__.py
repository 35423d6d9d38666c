"""PyTorch model engineering: the course companion package.

Each public function's docstring names the chapter that teaches it. Nothing runs
at import time beyond importing torch (matplotlib is imported when a figure is
drawn).

The modules, one concern each (``tutorial_lib.<module>``; every public name is also
available as ``tutorial_lib.<name>``, and each module's ``__all__`` is the one list
of its public names):

=================  ====================================================================
``data``           the course's data sets: digits splits, synthetic shapes
``device``         choosing the device
``reproducibility`` seeding every generator; saving and restoring their states
``training``       ``fit`` (per-epoch or per-batch scheduling, callbacks), ``evaluate``
``metrics``        accuracy and Dice
``losses``         Dice, IoU, Dice+BCE and focal loss
``unet``           the U-Net's building blocks
``inspection``     parameter counts, activation statistics
``initialization`` initialisation by layer type, fan-in/out, distribution checks
``surgery``        changing a model: first convolution, extra inputs and outputs
``activations``    activation maps
``param_groups``   optimizer parameter groups (no weight decay on norms and biases)
``schedules``      tracing a learning-rate schedule without training
``finetune``       freezing, unfreezing, frozen BatchNorm
``hooks``          hooks that are always removed, gradient norms, checkpoint key migration
``lora``           low-rank adapters: add, save, merge
``state``          one atomic write; checkpoints; ``module.`` prefixes
``partial_loading`` loading the tensors that fit, with a report
``download``       hash-checked downloads
``glyphs``         the broad source task: letters and symbols from matplotlib's fonts
``pretrained``     the course's source models: config, architecture, training
``source_cache``   their cache: trained once, checked by SHA-256, loaded after
``plots``          every figure helper
``demo``           showing an error or a warning in a cell
``exercises``      the self-checks of the exercises (``exercises.core`` and one package
                   per chapter, one module per exercise)
=================  ====================================================================

Taught in: "Defining models" (the first chapter to import it).
"""

import sys as _sys

from .activations import *  # noqa: F403
from .data import *  # noqa: F403
from .demo import *  # noqa: F403
from .device import *  # noqa: F403
from .download import *  # noqa: F403
from .exercises.core import Case as Case
from .exercises.core import CheckFailed as CheckFailed
from .exercises.core import check_function as check_function
from .exercises.core import check_module as check_module
from .exercises.core import compare as compare
from .finetune import *  # noqa: F403
from .glyphs import *  # noqa: F403
from .hooks import *  # noqa: F403
from .initialization import *  # noqa: F403
from .inspection import *  # noqa: F403
from .lora import *  # noqa: F403
from .losses import *  # noqa: F403
from .metrics import *  # noqa: F403
from .param_groups import *  # noqa: F403
from .partial_loading import *  # noqa: F403
from .plots import *  # noqa: F403
from .pretrained import *  # noqa: F403
from .reproducibility import *  # noqa: F403
from .schedules import *  # noqa: F403
from .source_cache import *  # noqa: F403
from .state import *  # noqa: F403
from .surgery import *  # noqa: F403
from .training import *  # noqa: F403
from .unet import *  # noqa: F403

# The modules imported above, found by name rather than listed a second time.
_MODULES = tuple(
    module
    for name, module in sorted(_sys.modules.items())
    if name.startswith(__name__ + ".")
    and name.count(".") == 1
    and not name.rsplit(".", 1)[1].startswith("_")
    and name != __name__ + ".exercises"
)
# The exercise checks that chapters also call as tl.check_function and friends.
_EXERCISE_NAMES = ["Case", "CheckFailed", "check_function", "check_module", "compare"]

__all__ = sorted({name for module in _MODULES for name in module.__all__} | set(_EXERCISE_NAMES))

__version__ = "0.1.0"
