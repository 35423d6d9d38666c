"""Checks for the exercises of "Feature extraction and detection heads".

Taught in: "Feature extraction and detection heads" (exercises): features with forward
hooks, a class activation map, new box and keypoint predictors for Keypoint R-CNN, and
(experiment) cheap features that a linear probe reads well.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._shared import call
from .core import CheckFailed, compare, exercise_check

__all__ = [
    "CHEAP_FEATURES_MAX",
    "PROBE_BAND",
    "check_adapt_keypoint_rcnn",
    "check_capture_outputs",
    "check_cheap_features",
    "check_class_activation_map",
    "probe_accuracy",
]


# --------------------------------------------------------------------------- ex-1
class _Branchy(nn.Module):
    """A model torch.fx cannot trace: its forward branches on the data."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.c = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(x) if x.mean() > 0 else self.b(x)
        return self.c(torch.tanh(x))


class _Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this layer always fails (the check wants to see the hooks go)")


def _record(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> tuple[dict, dict]:
    """The inputs and outputs of the submodules ``names`` for ``model(x)``, by hooks."""
    inputs, outputs, handles = {}, {}, []
    try:
        for name in names:
            module = model.get_submodule(name)

            def keep(module: nn.Module, args: tuple, output: Any, name: str = name) -> None:
                inputs[name], outputs[name] = args[0], output

            handles.append(module.register_forward_hook(keep))
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return inputs, outputs


def _hooked(model: nn.Module) -> list[str]:
    return [
        name or "the model"
        for name, m in model.named_modules()
        if m._forward_hooks or m._forward_pre_hooks
    ]


@exercise_check("capture_outputs")
def check_capture_outputs(
    capture_outputs: Callable[[nn.Module, torch.Tensor, list[str]], Mapping[str, torch.Tensor]],
    digits_cnn: nn.Module,
    resnet: nn.Module,
) -> str:
    """``capture_outputs(model, x, names)`` must run ``model(x)`` once and return
    ``{name: output}`` for the submodules ``names``, in that order, with the values the
    check's own hooks record; it must work on nested names and on a model torch.fx
    cannot trace, leave the training mode and gradients to the caller, and remove its
    hooks, also when the forward pass raises. The chapter's models are copied first.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    torch.manual_seed(0)
    digits, net = copy.deepcopy(digits_cnn).eval(), copy.deepcopy(resnet).eval()
    digit_x, image_x = torch.rand(4, 1, 32, 32), torch.randn(2, 3, 64, 64)
    cases = [
        (digits, digit_x, ["block1", "block3", "fc"], "digit CNN"),
        (net, image_x, ["layer2", "layer4"], "ResNet-18"),
        (
            net,
            image_x,
            ["layer1.0.conv1", "layer2.0.downsample", "layer3.1.conv2"],
            "ResNet-18, nested names",
        ),
        (
            digits,
            digit_x,
            ["fc", "block2.0", "block1"],
            "digit CNN, names not in the order they run",
        ),
        (
            _Branchy(),
            torch.rand(5, 6),  # positive: the forward pass takes the branch through a
            ["a", "c"],
            "a model torch.fx cannot trace (its forward branches on the data)",
        ),
        (
            copy.deepcopy(digits_cnn).train(),
            digit_x,
            ["block2", "fc"],
            "digit CNN in training mode",
        ),
    ]
    for model, x, names, description in cases:
        where = f"{description}, names {names}"
        with torch.no_grad():
            inputs, expected = _record(copy.deepcopy(model), x, names)
        calls = []
        counter = model.register_forward_pre_hook(lambda module, args, calls=calls: calls.append(1))
        was_training = model.training
        try:
            got = call(capture_outputs, model, x, list(names), what=where)
        finally:
            counter.remove()
        left = _hooked(model)
        if left:
            raise CheckFailed(
                f"{where}: hooks are still registered on {left}; call handle.remove() on each"
            )
        if model.training != was_training:
            raise CheckFailed(
                f"{where}: your function switched the model to "
                f"{'train' if model.training else 'eval'} "
                "mode; leave the mode to the caller"
            )
        if not calls:
            raise CheckFailed(
                f"{where}: your function never called model(x) (create_feature_extractor traces a "
                "copy of forward, a loop calls the children): register forward hooks and "
                "call model(x)"
            )
        if len(calls) != 1:
            raise CheckFailed(
                f"{where}: the model ran {len(calls)} times; run it once and hook every name"
            )
        if not isinstance(got, Mapping):
            raise CheckFailed(f"{where}: expected a dict, got {type(got).__name__}")
        if list(got) != list(names):
            if set(got) == set(names):
                raise CheckFailed(
                    f"{where}: the keys come in the order {list(got)}; return them in the "
                    "order of names"
                )
            raise CheckFailed(f"{where}: expected the keys {list(names)}, got {list(got)}")
        for name in names:
            if compare(got[name], expected[name]) is None:
                continue
            if compare(got[name], inputs[name]) is None:
                raise CheckFailed(
                    f"{where}: {name!r} holds the input of that module; a forward hook's third "
                    "argument is its output"
                )
            raise CheckFailed(f"{where}: {name!r} differs: {compare(got[name], expected[name])}")
    model, x = copy.deepcopy(digits_cnn).eval(), torch.rand(2, 1, 32, 32)
    got = call(capture_outputs, model, x, ["block2", "fc"], what="digit CNN with gradients on")
    if not all(isinstance(v, torch.Tensor) and v.requires_grad for v in got.values()):
        raise CheckFailed(
            "with gradients on, the outputs carry no gradient (torch.no_grad() or detach() "
            "inside?); "
            "leave gradients to the caller, so that features can be fine-tuned"
        )
    boom = nn.Sequential(nn.Linear(3, 3), _Boom(), nn.Linear(3, 3))
    try:
        returned = capture_outputs(boom, torch.randn(2, 3), ["0", "2"])
    except NotImplementedError:
        raise
    except Exception:
        left = _hooked(boom)
        if left:
            raise CheckFailed(
                f"hooks are still registered on {left} after the forward pass raised; remove them "
                "in a finally block, so they go also when the forward pass raises"
            ) from None
    else:
        raise CheckFailed(
            f"the forward pass raised, but your function returned {type(returned).__name__}; "
            "let the error propagate (and remove the hooks in a finally block)"
        )
    return (
        f"{len(cases)} cases (nested names, any order, an untraceable model, training mode), "
        "gradients kept, and no hook left behind, even when the forward pass raises."
    )


# --------------------------------------------------------------------------- ex-2
def _cam(
    features: torch.Tensor,
    fc_weight: torch.Tensor,
    classes: torch.Tensor,
    size: tuple[int, int],
    *,
    align_corners: bool = False,
    scale: str = "per image, after",
) -> torch.Tensor:
    cams = torch.einsum("nkhw,nk->nhw", features, fc_weight[classes]).unsqueeze(1)
    if scale == "before":
        low, high = cams.amin(dim=(2, 3), keepdim=True), cams.amax(dim=(2, 3), keepdim=True)
        cams = (cams - low) / (high - low)
    cams = F.interpolate(cams, size=size, mode="bilinear", align_corners=align_corners)[:, 0]
    if scale == "before":
        return cams
    if scale == "batch":
        return (cams - cams.min()) / (cams.max() - cams.min())
    high = cams.amax(dim=(1, 2), keepdim=True)
    if scale == "max only":
        return cams / high
    low = cams.amin(dim=(1, 2), keepdim=True)
    return (cams - low) / (high - low)


def _plain_mean(features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    maps = F.interpolate(
        features.mean(dim=1, keepdim=True), size=size, mode="bilinear", align_corners=False
    )[:, 0]
    low, high = maps.amin(dim=(1, 2), keepdim=True), maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low)


_CAM_HINTS = (
    (dict(align_corners=True), "it was upsampled with align_corners=True; use align_corners=False"),
    (
        dict(scale="batch"),
        "it was scaled to [0, 1] over the whole batch; scale each image on its own (per image)",
    ),
    (dict(scale="before"), "it was scaled before upsampling; scale after upsampling"),
    (dict(scale="max only"), "it was divided by its maximum only; subtract the minimum first"),
)


@exercise_check("class_activation_map")
def check_class_activation_map(
    class_activation_map: Callable[..., torch.Tensor],
    digits_cnn: nn.Module,
    images: torch.Tensor,
    predictions: torch.Tensor,
) -> str:
    """``class_activation_map(features, fc_weight, classes, size)`` must return
    ``sum_k fc_weight[c, k] * features[:, k]`` for each image's class, upsampled to
    ``size`` (bilinear, ``align_corners=False``) and scaled to [0, 1] per image, shape
    ``(N, H, W)``. Tried on the block4 features of ``digits_cnn`` for ``images`` (with
    the ``predictions`` and other classes) and on features the check makes up.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    from torchvision.models.feature_extraction import create_feature_extractor

    with torch.no_grad():
        block4 = create_feature_extractor(digits_cnn.eval(), return_nodes=["block4"])(images)[
            "block4"
        ]
    fc_weight = digits_cnn.fc.weight.detach()
    generator = torch.Generator().manual_seed(0)
    made_up = torch.randn(3, 5, 3, 5, generator=generator)
    made_up_weight = torch.randn(7, 5, generator=generator)
    cases = [
        ((block4, fc_weight, predictions, (32, 32)), "predicted classes"),
        (
            (block4, fc_weight, torch.arange(len(block4)) % fc_weight.shape[0], (20, 24)),
            "other classes and size",
        ),
        (
            (made_up, made_up_weight, torch.tensor([6, 0, 3]), (9, 11)),
            "features the check made up (3, 5, 3, 5)",
        ),
    ]
    for args, description in cases:
        features, weight, classes, size = args
        with torch.no_grad():
            got = call(class_activation_map, *args, what=description)
        expected = _cam(*args)
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckFailed(
                f"{description}: expected shape {tuple(expected.shape)} (N, H, W), got {shape}"
            )
        problem = compare(got, expected, atol=1e-5)
        if problem is None:
            continue
        for options, hint in _CAM_HINTS:
            if compare(got, _cam(*args, **options), atol=1e-5) is None:
                raise CheckFailed(f"{description}: {hint}")
        if compare(got, _plain_mean(features, size), atol=1e-5) is None:
            raise CheckFailed(
                f"{description}: that is the plain channel mean; weight each channel by "
                "fc_weight[classes]"
            )
        raise CheckFailed(f"{description}: the maps differ: {problem}")
    return (
        f"{len(cases)} cases (the chapter's features, other classes and sizes, made-up features)."
    )


# --------------------------------------------------------------------------- ex-3
def _small_keypoint_rcnn() -> nn.Module:
    """A Keypoint R-CNN with a tiny backbone and heads: box features 32, keypoint 16."""
    from torchvision.models.detection import KeypointRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNHeads, KeypointRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4, padding=1), nn.ReLU())
    backbone.out_channels = 8
    return KeypointRCNN(
        backbone,
        rpn_anchor_generator=AnchorGenerator(sizes=((16, 32),), aspect_ratios=((0.5, 1.0, 2.0),)),
        box_roi_pool=MultiScaleRoIAlign(["0"], 7, 2),
        keypoint_roi_pool=MultiScaleRoIAlign(["0"], 14, 2),
        box_head=TwoMLPHead(8 * 7 * 7, 32),
        box_predictor=FastRCNNPredictor(32, 2),
        keypoint_head=KeypointRCNNHeads(8, (16, 16)),
        keypoint_predictor=KeypointRCNNPredictor(16, 17),
        min_size=64,
        max_size=64,
        box_score_thresh=0.0,
        box_detections_per_img=3,
    ).eval()


def _adapt_and_check(
    adapt: Callable[[nn.Module, int, int], nn.Module],
    model: nn.Module,
    num_classes: int,
    num_keypoints: int,
    where: str,
) -> nn.Module:
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor
    from torchvision.models.detection.keypoint_rcnn import KeypointRCNNPredictor

    old_box, old_kp = model.roi_heads.box_predictor, model.roi_heads.keypoint_predictor
    box_in = old_box.cls_score.in_features
    kp_in = old_kp.kps_score_lowres.in_channels
    model = call(adapt, model, num_classes, num_keypoints, what=where)
    heads = getattr(model, "roi_heads", None)
    if heads is None:
        raise CheckFailed(f"{where}: the model you returned has no roi_heads")
    box, kp = heads.box_predictor, heads.keypoint_predictor
    if box is old_box or not isinstance(box, FastRCNNPredictor):
        raise CheckFailed(f"{where}: replace roi_heads.box_predictor with a new FastRCNNPredictor")
    if box.cls_score.in_features != box_in:
        raise CheckFailed(
            f"{where}: the new box_predictor reads {box.cls_score.in_features} features, but "
            "the box "
            f"head gives {box_in}; read box_predictor.cls_score.in_features from the old one"
        )
    if box.cls_score.out_features != num_classes:
        extra = (
            " (class 0, the background, is already counted in num_classes)"
            if box.cls_score.out_features == num_classes + 1
            else ""
        )
        raise CheckFailed(
            f"{where}: expected {num_classes} class scores, got {box.cls_score.out_features}{extra}"
        )
    if box.bbox_pred.out_features != 4 * num_classes:
        raise CheckFailed(
            f"{where}: expected 4 x {num_classes} box coordinates, got {box.bbox_pred.out_features}"
        )
    if kp is old_kp or not isinstance(kp, KeypointRCNNPredictor):
        raise CheckFailed(
            f"{where}: replace the whole roi_heads.keypoint_predictor with a new "
            "KeypointRCNNPredictor "
            "(changing only its kps_score_lowres leaves out_channels wrong and skips its "
            "initialisation)"
        )
    if kp.kps_score_lowres.in_channels != kp_in:
        raise CheckFailed(
            f"{where}: the new keypoint predictor reads {kp.kps_score_lowres.in_channels} "
            "channels, "
            f"the keypoint head gives {kp_in}; read keypoint_predictor.kps_score_lowres.in_channels"
        )
    if kp.out_channels != num_keypoints or kp.kps_score_lowres.out_channels != num_keypoints:
        raise CheckFailed(
            f"{where}: expected {num_keypoints} heat maps, got {kp.kps_score_lowres.out_channels}"
        )
    return model


@exercise_check("adapt_keypoint_rcnn")
def check_adapt_keypoint_rcnn(
    adapt_keypoint_rcnn: Callable[[nn.Module, int, int], nn.Module], kprcnn: nn.Module
) -> str:
    """``adapt_keypoint_rcnn(model, num_classes, num_keypoints)`` must replace
    ``roi_heads.box_predictor`` and ``roi_heads.keypoint_predictor`` by new
    ``FastRCNNPredictor`` / ``KeypointRCNNPredictor`` layers whose input sizes are read
    from the layers they replace, and return the model. Tried on the chapter's model
    (its predictors are put back afterwards) and on a smaller Keypoint R-CNN the check
    builds, which must then detect with the new number of keypoints.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    heads = kprcnn.roi_heads
    saved = copy.deepcopy((heads.box_predictor, heads.keypoint_predictor))  # small layers
    try:
        _adapt_and_check(
            adapt_keypoint_rcnn,
            kprcnn,
            3,
            7,
            "the chapter's Keypoint R-CNN, 3 classes and 7 keypoints",
        )
    finally:
        heads.box_predictor, heads.keypoint_predictor = saved  # the chapter's model as it was
    where = (
        "a smaller Keypoint R-CNN the check builds (box features 32, keypoint features "
        "16), 4 classes, 3 keypoints"
    )
    model = _adapt_and_check(adapt_keypoint_rcnn, _small_keypoint_rcnn(), 4, 3, where)
    with torch.no_grad():
        (detections,) = call(
            model.eval(),
            [torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))],
            what=where,
        )
    if tuple(detections["keypoints"].shape[1:]) != (3, 3):
        raise CheckFailed(
            f"{where}: expected keypoints of shape (n, 3, 3), got "
            f"{tuple(detections['keypoints'].shape)}"
        )
    return (
        "new predictors with the right sizes on two models, and the smaller one detects 3 "
        "keypoints."
    )


# --------------------------------------------------------------------------- ex-4
CHEAP_FEATURES_MAX = 32
PROBE_BAND = 0.95
_LATER = ("block4", "pool", "flatten", "fc")


def probe_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    *,
    ridge: float = 1e-3,
) -> float:
    """Validation accuracy of a linear probe: a ridge-regression classifier on one-hot
    targets, fitted in closed form (float64) on features standardised with the
    training statistics. Deterministic, and fast for a few hundred features.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    train = train_features.detach().double().flatten(1)
    val = val_features.detach().double().flatten(1)
    mean, std = train.mean(dim=0), train.std(dim=0) + 1e-6
    train, val = (train - mean) / std, (val - mean) / std
    train = torch.cat([train, torch.ones(len(train), 1, dtype=train.dtype)], dim=1)
    val = torch.cat([val, torch.ones(len(val), 1, dtype=val.dtype)], dim=1)
    classes = int(max(train_labels.max(), val_labels.max())) + 1
    targets = F.one_hot(train_labels, classes).double()
    gram = train.T @ train + ridge * len(train) * torch.eye(train.shape[1], dtype=train.dtype)
    weights = torch.linalg.solve(gram, train.T @ targets)
    return ((val @ weights).argmax(dim=1) == val_labels).double().mean().item()


@exercise_check("cheap_features")
def check_cheap_features(
    cheap_features: Callable[[nn.Module, torch.Tensor], torch.Tensor],
    digits_cnn: nn.Module,
    split: Any,
    *,
    max_features: int = CHEAP_FEATURES_MAX,
    band: float = PROBE_BAND,
) -> str:
    """``cheap_features(model, images)`` must return ``(N, D)`` features with ``D <=
    max_features``, computed without running ``block4``, ``pool`` or ``fc``, on which
    :func:`probe_accuracy` (fitted on the training digits) reaches at least ``band``
    on the validation digits. It runs on a copy of ``digits_cnn`` in eval mode.

    Taught in: "Feature extraction and detection heads" (exercises).
    """
    model = copy.deepcopy(digits_cnn).eval()
    ran: list[str] = []
    counters = [
        model.get_submodule(name).register_forward_pre_hook(
            lambda m, a, name=name: (
                ran.append(name) if a and isinstance(a[0], torch.Tensor) else None
            )
        )
        for name in _LATER
        if hasattr(model, name)
    ]
    (train_images, train_labels), (val_images, val_labels) = split.train.tensors, split.val.tensors
    features = {}
    try:
        for part, images in (("training", train_images), ("validation", val_images)):
            with torch.no_grad():
                got = call(cheap_features, model, images, what=f"on the {part} digits")
            if not isinstance(got, torch.Tensor) or got.dim() != 2 or len(got) != len(images):
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise CheckFailed(
                    f"on the {part} digits: expected one row of features per image, shape "
                    f"({len(images)}, D), got {shape}"
                )
            features[part] = got
    finally:
        for counter in counters:
            counter.remove()
    if ran:
        raise CheckFailed(
            f"your features ran {sorted(set(ran))}; use only the layers up to block3 (cheaper, and "
            "the question is what the earlier layers know)"
        )
    size = features["training"].shape[1]
    if size > max_features:
        raise CheckFailed(
            f"{size} numbers per image, more than {max_features}; pool the feature map over its "
            "positions (mean over H and W)"
        )
    if (
        not torch.isfinite(features["training"]).all()
        or not torch.isfinite(features["validation"]).all()
    ):
        raise CheckFailed("the features contain NaN or infinity")
    acc = probe_accuracy(features["training"], train_labels, features["validation"], val_labels)
    if acc < band:
        raise CheckFailed(
            f"a linear probe on your {size} features reaches {acc:.3f} on the validation "
            "digits, below "
            f"{band}; measure each block's pooled output with probe_accuracy and take the best"
        )
    return (
        f"{size} features per image without block4; a linear probe reaches {acc:.3f} (at "
        f"least {band})."
    )
