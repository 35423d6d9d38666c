"""The check of the exercise "New classes and new keypoints" (features-ex-3).

Taught in: "Feature extraction and detection heads" (exercise "New classes and new keypoints").
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from .._shared import call
from ..core import CheckFailed, exercise_check

__all__ = ["check_adapt_keypoint_rcnn"]


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
