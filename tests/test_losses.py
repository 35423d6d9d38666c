import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss as tv_sigmoid_focal_loss

from tutorial_lib.losses import (
    DiceBCELoss,
    DiceLoss,
    FocalLoss,
    IoULoss,
    dice_bce_loss,
    dice_loss,
    iou_loss,
    sigmoid_focal_loss,
)

SET_LOSSES = [dice_loss, iou_loss, dice_bce_loss]
ALL_LOSSES = [*SET_LOSSES, sigmoid_focal_loss]
MODULES = [(DiceLoss, dice_loss), (IoULoss, iou_loss), (DiceBCELoss, dice_bce_loss)]


def _batch(shape=(4, 1, 5, 6), *, soft=False, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(shape, generator=gen, dtype=dtype)
    if soft:
        targets = torch.rand(shape, generator=gen, dtype=dtype)
    else:
        targets = (torch.rand(shape, generator=gen) < 0.3).to(dtype)
    return logits, targets


# ---------------------------------------------------------------- float64 references
def _sigmoid_np(x):
    return 1.0 / (1.0 + np.exp(-x))


def _reference_overlaps(logits, targets):
    """Per-sample intersection and sizes, with NumPy in float64 and an explicit loop."""
    p = _sigmoid_np(logits.detach().double().numpy())
    t = targets.detach().double().numpy()
    rows = []
    for i in range(p.shape[0]):
        pi, ti = p[i].ravel(), t[i].ravel()
        rows.append((float(np.dot(pi, ti)), float(pi.sum()), float(ti.sum())))
    return rows


def _reference_dice(logits, targets, smooth):
    return torch.tensor(
        [
            1 - (2 * i + smooth) / (sp + st + smooth)
            for i, sp, st in _reference_overlaps(logits, targets)
        ],
        dtype=torch.float64,
    )


def _reference_iou(logits, targets, smooth):
    return torch.tensor(
        [
            1 - (i + smooth) / (sp + st - i + smooth)
            for i, sp, st in _reference_overlaps(logits, targets)
        ],
        dtype=torch.float64,
    )


def _reference_bce(logits, targets):
    """Elementwise binary cross-entropy from the definition, float64 NumPy."""
    x = logits.detach().double().numpy()
    t = targets.detach().double().numpy()
    # log(sigmoid(x)) = -log1p(exp(-x)); fine for the moderate logits of these tests
    return torch.from_numpy(t * np.log1p(np.exp(-x)) + (1 - t) * np.log1p(np.exp(x)))


def _reduce(values, reduction):
    return {"mean": values.mean(), "sum": values.sum(), "none": values}[reduction]


# ---------------------------------------------------------------- Dice / IoU / Dice+BCE
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("smooth", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_dice_matches_float64_formula(soft, smooth, reduction):
    logits, targets = _batch(soft=soft)
    got = dice_loss(logits, targets, smooth=smooth, reduction=reduction)
    expected = _reduce(_reference_dice(logits, targets, smooth), reduction)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_iou_matches_float64_formula(soft, smooth, reduction):
    logits, targets = _batch(soft=soft, seed=1)
    got = iou_loss(logits, targets, smooth=smooth, reduction=reduction)
    expected = _reduce(_reference_iou(logits, targets, smooth), reduction)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_dice_bce_is_per_sample_bce_plus_dice(reduction):
    logits, targets = _batch(soft=True, seed=2)
    bce = _reference_bce(logits, targets).flatten(1).mean(1)
    expected = _reduce(bce + _reference_dice(logits, targets, 1.0), reduction)
    got = dice_bce_loss(logits, targets, reduction=reduction)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_dice_bce_mean_equals_builtin_bce_plus_mean_dice():
    logits, targets = _batch(shape=(3, 2, 4, 4), seed=3)
    expected = F.binary_cross_entropy_with_logits(logits, targets) + dice_loss(logits, targets)
    torch.testing.assert_close(dice_bce_loss(logits, targets), expected)


@pytest.mark.parametrize("loss_fn", SET_LOSSES)
def test_set_losses_are_per_sample(loss_fn):
    logits, targets = _batch(shape=(5, 2, 3, 3), seed=4)
    per_sample = loss_fn(logits, targets, reduction="none")
    assert per_sample.shape == (5,)
    torch.testing.assert_close(loss_fn(logits, targets), per_sample.mean())
    torch.testing.assert_close(loss_fn(logits, targets, reduction="sum"), per_sample.sum())
    for i in range(5):  # a sample's loss does not depend on the rest of the batch
        torch.testing.assert_close(loss_fn(logits[i : i + 1], targets[i : i + 1]), per_sample[i])


def test_batch_wide_dice_by_reshaping_differs_from_per_sample():
    logits, targets = _batch(shape=(2, 1, 8, 8), seed=5)
    targets[1] = 0  # one sample without foreground: per-sample and batch-wide disagree
    batch_wide = dice_loss(logits.reshape(1, -1), targets.reshape(1, -1))
    i, sp, st = (sum(col) for col in zip(*_reference_overlaps(logits, targets), strict=True))
    torch.testing.assert_close(batch_wide, torch.tensor(1 - (2 * i + 1) / (sp + st + 1)).double())
    assert abs(batch_wide.item() - dice_loss(logits, targets).item()) > 1e-3


def test_dice_and_iou_are_zero_for_perfect_and_one_minus_smooth_share_for_disjoint():
    targets = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    targets[..., :2, :] = 1
    perfect = torch.where(targets > 0, 50.0, -50.0)
    for loss_fn in (dice_loss, iou_loss):
        assert loss_fn(perfect, targets).item() == pytest.approx(0.0, abs=1e-12)
        assert loss_fn(-perfect, targets, smooth=0.0).item() == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------- edge cases
@pytest.mark.parametrize("loss_fn", [dice_loss, iou_loss])
def test_empty_mask_predicted_empty_gives_zero_loss(loss_fn):
    targets = torch.zeros(2, 1, 6, 6)
    loss = loss_fn(torch.full_like(targets, -30.0), targets, reduction="none")
    torch.testing.assert_close(loss, torch.zeros(2), atol=1e-8, rtol=0)


def test_empty_mask_with_predictions_gives_sum_p_over_sum_p_plus_smooth():
    targets = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    logits = torch.zeros_like(targets)  # p = 0.5 everywhere: sum p = 8
    assert dice_loss(logits, targets).item() == pytest.approx(8 / 9)
    assert iou_loss(logits, targets).item() == pytest.approx(8 / 9)
    assert dice_loss(logits, targets, smooth=0.0).item() == pytest.approx(1.0)


def test_empty_mask_and_empty_prediction_with_zero_smooth_is_nan_as_documented():
    targets = torch.zeros(1, 4)
    assert math.isnan(dice_loss(torch.full_like(targets, -200.0), targets, smooth=0.0).item())


@pytest.mark.parametrize("loss_fn", [dice_loss, iou_loss])
def test_all_ones_mask(loss_fn):
    targets = torch.ones(2, 1, 5, 5, dtype=torch.float64)
    assert loss_fn(torch.full_like(targets, 40.0), targets).item() == pytest.approx(0, abs=1e-12)
    # p = 0.5 everywhere: Dice = (25 + 1) / (12.5 + 25 + 1), IoU = (12.5 + 1) / (25 + 1)
    expected = 1 - 26 / 38.5 if loss_fn is dice_loss else 1 - 13.5 / 26
    assert loss_fn(torch.zeros_like(targets), targets).item() == pytest.approx(expected)


@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
def test_extreme_logits_give_finite_values_and_gradients(loss_fn):
    logits = torch.tensor([[-1e4, -100.0, 0.0, 100.0, 1e4, 30.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 1.0, 0.5, 0.0, 0.0, 1.0]])
    loss = loss_fn(logits, targets)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()


def test_focal_gradient_finite_for_small_gamma_when_confident():
    logits = torch.tensor([200.0, -200.0, 0.3], requires_grad=True)  # 1 - p_t underflows
    sigmoid_focal_loss(logits, torch.tensor([1.0, 0.0, 1.0]), gamma=0.5).backward()
    assert torch.isfinite(logits.grad).all()


def test_bool_and_integer_masks_are_converted():
    logits, targets = _batch(shape=(2, 1, 4, 4), seed=6, dtype=torch.float32)
    for loss_fn in ALL_LOSSES:
        expected = loss_fn(logits, targets)
        torch.testing.assert_close(loss_fn(logits, targets.bool()), expected)
        torch.testing.assert_close(loss_fn(logits, targets.long()), expected)


# ---------------------------------------------------------------- focal loss
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (0.5, 0.0), (-1.0, 1.5), (0.9, 5.0)])
def test_focal_matches_torchvision_values_and_gradients(soft, reduction, alpha, gamma):
    logits, targets = _batch(shape=(3, 2, 4, 5), soft=soft, seed=7)
    ours_in = logits.clone().requires_grad_(True)
    ref_in = logits.clone().requires_grad_(True)
    kw = dict(alpha=alpha, gamma=gamma, reduction=reduction)
    ours = sigmoid_focal_loss(ours_in, targets, **kw)
    ref = tv_sigmoid_focal_loss(ref_in, targets, **kw)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    weights = torch.rand(ours.shape, generator=torch.Generator().manual_seed(0)).double()
    (ours * weights).sum().backward()
    (ref * weights).sum().backward()
    torch.testing.assert_close(ours_in.grad, ref_in.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("alpha", [-1.0, -0.5])
def test_focal_gamma_zero_without_alpha_is_bce(alpha):
    logits, targets = _batch(soft=True, seed=8)
    got = sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=0.0, reduction="none")
    torch.testing.assert_close(got, _reference_bce(logits, targets), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha", [-1.0, 0.25, 1.0])
@pytest.mark.parametrize("gamma", [0.5, 2.0, 5.0])
def test_focal_never_exceeds_bce(alpha, gamma):
    logits, targets = _batch(shape=(200,), soft=True, seed=9)
    focal = sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="none")
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    assert (focal <= bce + 1e-15).all()
    assert (focal < bce).any()


def test_focal_none_keeps_the_shape_and_works_on_1d():
    logits, targets = _batch(shape=(7,), seed=10)
    assert sigmoid_focal_loss(logits, targets, reduction="none").shape == (7,)
    logits, targets = _batch(shape=(2, 3, 4), seed=10)
    assert sigmoid_focal_loss(logits, targets, reduction="none").shape == (2, 3, 4)


def test_focal_down_weights_easy_examples_more_than_hard_ones():
    logits = torch.tensor([-4.0, 2.0])  # an easy negative and a hard negative
    targets = torch.zeros(2)
    ratio = sigmoid_focal_loss(
        logits, targets, alpha=-1, reduction="none"
    ) / F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    assert ratio[0] < 1e-3 < 0.5 < ratio[1]


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck(loss_fn, reduction):
    logits, targets = _batch(shape=(2, 1, 3, 3), soft=True, seed=11)
    logits = (logits / 3).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: loss_fn(x, targets, reduction=reduction), (logits,), eps=1e-6, atol=1e-7
    )


def test_gradcheck_through_targets_for_soft_labels():
    logits, targets = _batch(shape=(2, 6), soft=True, seed=12)
    targets = (0.1 + 0.8 * targets).requires_grad_(True)  # stay inside [0, 1] under eps
    for loss_fn in ALL_LOSSES:
        assert torch.autograd.gradcheck(lambda t, f=loss_fn: f(logits, t), (targets,))


# ---------------------------------------------------------------- modules
@pytest.mark.parametrize(("module_cls", "fn"), MODULES)
def test_set_modules_equal_functions(module_cls, fn):
    logits, targets = _batch(seed=13)
    module = module_cls(smooth=0.5, reduction="none")
    torch.testing.assert_close(
        module(logits, targets), fn(logits, targets, smooth=0.5, reduction="none")
    )
    assert "smooth=0.5" in repr(module) and "reduction='none'" in repr(module)
    assert list(module.parameters()) == []


def test_focal_module_equals_function():
    logits, targets = _batch(seed=14)
    module = FocalLoss(alpha=0.5, gamma=1.0, reduction="sum")
    expected = sigmoid_focal_loss(logits, targets, alpha=0.5, gamma=1.0, reduction="sum")
    torch.testing.assert_close(module(logits, targets), expected)
    assert "alpha=0.5, gamma=1, reduction='sum'" in repr(module)


@pytest.mark.parametrize("module_cls", [DiceLoss, IoULoss, DiceBCELoss, FocalLoss])
def test_modules_validate_options_at_construction(module_cls):
    with pytest.raises(ValueError, match="'average'"):
        module_cls(reduction="average")
    with pytest.raises(TypeError):
        module_cls(0.5)  # options are keyword-only


def test_module_option_errors():
    with pytest.raises(ValueError, match="smooth must be >= 0"):
        DiceLoss(smooth=-1)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        FocalLoss(gamma=-2)
    with pytest.raises(ValueError, match="alpha .* must be <= 1"):
        FocalLoss(alpha=1.5)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
def test_shape_mismatch(loss_fn):
    with pytest.raises(ValueError, match=r"same shape, got \(2, 1, 4, 4\) and \(2, 4, 4\)"):
        loss_fn(torch.zeros(2, 1, 4, 4), torch.zeros(2, 4, 4))


@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
@pytest.mark.parametrize("bad", ["avg", "Mean", None, 1])
def test_unknown_reduction_names_the_value(loss_fn, bad):
    with pytest.raises(ValueError, match=f"reduction must be one of .*got {bad!r}"):
        loss_fn(torch.zeros(2, 3), torch.zeros(2, 3), reduction=bad)


@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
@pytest.mark.parametrize("bad", [-0.1, 1.5, 255.0, float("nan")])
def test_targets_out_of_range(loss_fn, bad):
    targets = torch.zeros(2, 3)
    targets[1, 2] = bad
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        loss_fn(torch.zeros(2, 3), targets)


def test_targets_out_of_range_message_gives_the_range():
    with pytest.raises(ValueError, match="from 0 to 255"):
        dice_loss(torch.zeros(1, 3), torch.tensor([[0.0, 255.0, 1.0]]))


@pytest.mark.parametrize("loss_fn", SET_LOSSES)
def test_set_losses_need_a_batch_dimension(loss_fn):
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        loss_fn(torch.zeros(5), torch.zeros(5))
    with pytest.raises(ValueError, match="batch is empty"):
        loss_fn(torch.zeros(0, 3), torch.zeros(0, 3))


@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
def test_type_errors(loss_fn):
    with pytest.raises(TypeError, match=r"logits.float\(\)"):
        loss_fn(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="logits must be a torch.Tensor"):
        loss_fn([[0.0, 1.0]], torch.zeros(1, 2))
    with pytest.raises(TypeError, match="targets must be a torch.Tensor"):
        loss_fn(torch.zeros(1, 2), np.zeros((1, 2)))


@pytest.mark.parametrize("loss_fn", SET_LOSSES)
@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan")])
def test_bad_smooth(loss_fn, bad):
    with pytest.raises(ValueError, match="smooth"):
        loss_fn(torch.zeros(2, 3), torch.zeros(2, 3), smooth=bad)


def test_bad_focal_options():
    x, t = torch.zeros(3), torch.zeros(3)
    with pytest.raises(ValueError, match="alpha"):
        sigmoid_focal_loss(x, t, alpha=2.0)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        sigmoid_focal_loss(x, t, gamma=-1.0)
    with pytest.raises(TypeError, match="gamma must be a number"):
        sigmoid_focal_loss(x, t, gamma="2")


@pytest.mark.parametrize("loss_fn", ALL_LOSSES)
def test_inputs_are_not_mutated(loss_fn):
    logits, targets = _batch(shape=(2, 1, 3, 3), seed=15)
    targets_bool = targets.bool()
    before = (logits.clone(), targets.clone(), targets_bool.clone())
    loss_fn(logits.requires_grad_(True), targets).backward()
    loss_fn(logits, targets_bool)
    assert torch.equal(logits.detach(), before[0])
    assert torch.equal(targets, before[1])
    assert torch.equal(targets_bool, before[2])
    assert targets_bool.dtype == torch.bool
