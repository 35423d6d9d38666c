"""PyTorch model engineering: the course companion package.

Each public function's docstring names the chapter that teaches it. Nothing runs
at import time beyond importing torch.

Taught in: "Defining models" (the first chapter to import it).
"""

from .activations import mean_activation_map, overlay_activation_map
from .checkpoint import (
    HashMismatchError,
    LoadReport,
    download_checked,
    get_rng_states,
    hash_prefix_from_name,
    load_checkpoint,
    load_matching,
    save_checkpoint,
    set_rng_states,
    sha256,
    strip_prefix,
)
from .data import digits_split, load_digits_tensors, make_shapes, shapes_split
from .demo import ExpectedErrorMissing, show_error, show_warnings
from .device import get_device
from .exercises.core import Case, CheckFailed, check_function, check_module, compare
from .finetune import (
    FrozenBatchNormHooks,
    ParameterRow,
    freeze,
    freeze_up_to,
    keep_frozen_batchnorm_in_eval,
    parameter_table,
    unfreeze,
)
from .initialization import (
    KSResult,
    compare_distribution,
    compare_initialization,
    fan_in_and_fan_out,
    init_by_type,
    ks_two_sample,
)
from .inspection import ActivationStd, ParameterCount, activation_stds, count_parameters
from .losses import (
    DiceBCELoss,
    DiceLoss,
    FocalLoss,
    IoULoss,
    dice_bce_loss,
    dice_loss,
    iou_loss,
    sigmoid_focal_loss,
)
from .metrics import accuracy, dice_score
from .param_groups import NORM_LAYERS, build_param_groups, format_param_groups
from .plotting import plot_history
from .pretrained import (
    PretrainConfig,
    SourceModel,
    build_source_model,
    default_cache_dir,
    load_source_model,
    pretrain_source_model,
)
from .reproducibility import seed_everything
from .schedules import LRTrace, plot_lr, plot_lr_grid, trace_lr
from .surgery import (
    LogitsAndFeatures,
    WithExtraInput,
    WithExtraOutput,
    adapt_first_conv,
    changed_entries,
    snapshot,
)
from .training import History, evaluate, fit
from .unet import DoubleConv, Down, OutConv, UNet, Up, pad_to_match

__version__ = "0.1.0"

__all__ = [
    "FrozenBatchNormHooks",
    "ParameterRow",
    "PretrainConfig",
    "SourceModel",
    "build_source_model",
    "default_cache_dir",
    "freeze",
    "freeze_up_to",
    "keep_frozen_batchnorm_in_eval",
    "load_source_model",
    "parameter_table",
    "pretrain_source_model",
    "unfreeze",
    "DiceBCELoss",
    "DiceLoss",
    "FocalLoss",
    "IoULoss",
    "dice_bce_loss",
    "dice_loss",
    "iou_loss",
    "sigmoid_focal_loss",
    "DoubleConv",
    "Down",
    "OutConv",
    "UNet",
    "Up",
    "pad_to_match",
    "LogitsAndFeatures",
    "WithExtraInput",
    "WithExtraOutput",
    "adapt_first_conv",
    "changed_entries",
    "mean_activation_map",
    "overlay_activation_map",
    "snapshot",
    "LRTrace",
    "NORM_LAYERS",
    "build_param_groups",
    "format_param_groups",
    "plot_lr",
    "plot_lr_grid",
    "trace_lr",
    "HashMismatchError",
    "LoadReport",
    "download_checked",
    "get_rng_states",
    "hash_prefix_from_name",
    "load_checkpoint",
    "load_matching",
    "save_checkpoint",
    "set_rng_states",
    "sha256",
    "strip_prefix",
    "ActivationStd",
    "KSResult",
    "activation_stds",
    "compare_distribution",
    "compare_initialization",
    "fan_in_and_fan_out",
    "init_by_type",
    "ks_two_sample",
    "Case",
    "CheckFailed",
    "ExpectedErrorMissing",
    "History",
    "ParameterCount",
    "accuracy",
    "check_function",
    "check_module",
    "compare",
    "count_parameters",
    "dice_score",
    "digits_split",
    "evaluate",
    "fit",
    "get_device",
    "load_digits_tensors",
    "make_shapes",
    "plot_history",
    "seed_everything",
    "show_error",
    "show_warnings",
    "shapes_split",
]
