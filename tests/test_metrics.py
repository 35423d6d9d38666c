import numpy as np
import pytest
import torch

from tutorial_lib import accuracy, dice_score


def test_accuracy_against_numpy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=gen)
    targets = torch.randint(0, 4, (50,), generator=gen)
    expected = np.mean(np.argmax(logits.numpy(), axis=1) == targets.numpy())
    assert accuracy(logits, targets) == pytest.approx(expected)


def test_accuracy_extremes():
    logits = torch.eye(3)
    assert accuracy(logits, torch.tensor([0, 1, 2])) == 1.0
    assert accuracy(logits, torch.tensor([1, 2, 0])) == 0.0


@pytest.mark.parametrize(
    ("logits", "targets", "match"),
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), r"shape \(N, C\)"),
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), r"targets must have shape \(4,\)"),
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), "empty batch"),
    ],
)
def test_accuracy_bad_input(logits, targets, match):
    with pytest.raises(ValueError, match=match):
        accuracy(logits, targets)


def test_dice_against_set_formula():
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 1, 16, 16, generator=gen)
    targets = (torch.rand(3, 1, 16, 16, generator=gen) > 0.6).float()
    pred = set(np.flatnonzero(logits.numpy() > 0))  # sigmoid(x) > 0.5  <=>  x > 0
    truth = set(np.flatnonzero(targets.numpy() > 0.5))
    expected = 2 * len(pred & truth) / (len(pred) + len(truth))
    assert dice_score(logits, targets) == pytest.approx(expected, rel=1e-6)


def test_dice_perfect_and_disjoint_and_empty():
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1
    logits = (mask * 2 - 1) * 10
    assert dice_score(logits, mask) == pytest.approx(1.0)
    assert dice_score(-logits, mask) == pytest.approx(0.0, abs=1e-6)
    assert dice_score(torch.full((1, 1, 4, 4), -5.0), torch.zeros(1, 1, 4, 4)) == 1.0


def test_dice_threshold_and_shape_errors():
    with pytest.raises(ValueError, match="same shape"):
        dice_score(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="threshold"):
        dice_score(torch.zeros(2), torch.zeros(2), threshold=1.0)
