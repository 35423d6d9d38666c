"""Checks for the exercises of "Feature extraction and detection heads".

One submodule per exercise: ``hooks`` (features with forward hooks), ``cam`` (a class
activation map), ``keypoint_rcnn`` (new box and keypoint predictors) and
``cheap_features`` (the experiment, with :func:`probe_accuracy`); this package holds
the names of all.

Taught in: "Feature extraction and detection heads" (exercises): features with forward
hooks, a class activation map, new box and keypoint predictors for Keypoint R-CNN, and
(experiment) cheap features that a linear probe reads well.
"""

from . import cam, cheap_features, hooks, keypoint_rcnn
from .cam import *  # noqa: F403
from .cheap_features import *  # noqa: F403
from .hooks import *  # noqa: F403
from .keypoint_rcnn import *  # noqa: F403

_MODULES = (cam, cheap_features, hooks, keypoint_rcnn)
__all__ = sorted({name for module in _MODULES for name in module.__all__})
