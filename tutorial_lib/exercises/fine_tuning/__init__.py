"""Checks for the exercises of "Fine-tuning".

One check per exercise, each called from the chapter's check cell as
``ex.check_...(answer, ...)`` after ``from tutorial_lib.exercises import fine_tuning
as ex``; :func:`linear_probe` is the measurement protocol of the experiment "Where
to cut the frozen body", shared by the learner's experiment and its check.

One submodule per exercise (``cut_body``, ``head_body_groups``, ``layerwise_lrs``,
``frozen_bn``), and ``probe`` for the protocol; this package holds the names of all.

Taught in: "Fine-tuning" (exercises).
"""

from . import cut_body, frozen_bn, head_body_groups, layerwise_lrs, probe
from .cut_body import *  # noqa: F403
from .frozen_bn import *  # noqa: F403
from .head_body_groups import *  # noqa: F403
from .layerwise_lrs import *  # noqa: F403
from .probe import *  # noqa: F403

_MODULES = (cut_body, frozen_bn, head_body_groups, layerwise_lrs, probe)
__all__ = sorted({name for module in _MODULES for name in module.__all__})

# Not in __all__, but tests/test_finetune.py reads them as ex.<name>.
BEST_TOLERANCE = cut_body.BEST_TOLERANCE
_forbidden = head_body_groups._forbidden
_stage_accuracies = probe._stage_accuracies
