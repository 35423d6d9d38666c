import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from tutorial_lib import digits_split, load_digits_tensors, make_shapes, shapes_split


@pytest.fixture(scope="module")
def sk_digits():
    return load_digits()


def test_digits_match_scikit_learn(sk_digits):
    images, labels = load_digits_tensors()
    assert images.shape == (1797, 1, 8, 8)
    assert images.dtype == torch.float32 and labels.dtype == torch.long
    np.testing.assert_allclose(images[:, 0].numpy(), sk_digits.images / 16.0, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(labels.numpy(), sk_digits.target)
    assert images.min() >= 0 and images.max() <= 1


def test_class_subset_and_relabel(sk_digits):
    images, labels = load_digits_tensors(classes=[7, 5, 9], relabel=True)
    keep = np.isin(sk_digits.target, [5, 7, 9])
    assert len(labels) == keep.sum()
    mapping = {5: 0, 7: 1, 9: 2}
    expected = np.array([mapping[t] for t in sk_digits.target[keep]])
    np.testing.assert_array_equal(labels.numpy(), expected)
    np.testing.assert_allclose(images[:, 0].numpy(), sk_digits.images[keep] / 16.0, atol=1e-7)


def test_subset_without_relabel_keeps_digit_labels():
    _, labels = load_digits_tensors(classes=range(5, 10))
    assert set(labels.tolist()) == {5, 6, 7, 8, 9}


def test_upscaling_keeps_range_and_mean():
    small, _ = load_digits_tensors()
    big, _ = load_digits_tensors(size=32)
    assert big.shape == (1797, 1, 32, 32)
    assert big.min() >= 0 and big.max() <= 1
    # Bilinear upsampling approximately preserves each image's mean intensity.
    torch.testing.assert_close(
        big.mean(dim=(1, 2, 3)), small.mean(dim=(1, 2, 3)), atol=0.03, rtol=0
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"classes": []}, ValueError, "classes is empty"),
        ({"classes": [3, 10]}, ValueError, r"digits 0-9, got \[10\]"),
        ({"relabel": True}, ValueError, "relabel=True needs classes"),
        ({"size": 0}, ValueError, "positive number of pixels"),
        ({"size": 8.0}, TypeError, "size must be an int"),
        ({"dtype": torch.int64}, ValueError, "floating-point"),
    ],
)
def test_digits_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        load_digits_tensors(**kwargs)


def test_split_is_stratified_disjoint_and_complete():
    split = digits_split(val_fraction=0.25, seed=3)
    train_y, val_y = split.train.tensors[1], split.val.tensors[1]
    assert len(train_y) + len(val_y) == 1797
    all_y = torch.cat([train_y, val_y])
    for cls in range(10):
        n = int((all_y == cls).sum())
        assert int((val_y == cls).sum()) == round(0.25 * n)
    # Disjoint: no image appears in both (digits has a few exact duplicates, so
    # compare the multiset of all images with the original data instead).
    images, _ = load_digits_tensors()
    joined = torch.cat([split.train.tensors[0], split.val.tensors[0]]).flatten(1)
    assert sorted(map(tuple, joined.tolist())) == sorted(map(tuple, images.flatten(1).tolist()))


def test_split_is_deterministic_and_seed_dependent():
    a, b = digits_split(seed=1), digits_split(seed=1)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    c = digits_split(seed=2)
    assert not torch.equal(a.train.tensors[1], c.train.tensors[1])


def test_per_class_keeps_validation_fixed():
    full = digits_split(classes=range(5, 10), relabel=True, seed=0)
    few = digits_split(classes=range(5, 10), relabel=True, per_class=5, seed=0)
    assert torch.equal(full.val.tensors[1], few.val.tensors[1])
    assert torch.bincount(few.train.tensors[1]).tolist() == [5] * 5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val_fraction": 0.0}, "strictly between 0 and 1"),
        ({"val_fraction": 1.0}, "strictly between 0 and 1"),
        ({"per_class": 0}, "per_class must be a positive int"),
        ({"per_class": 1000}, "has only"),
    ],
)
def test_split_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        digits_split(**kwargs)


def test_loaders_batches_and_shuffle_determinism():
    split = digits_split(seed=0)
    train1, val1 = split.loaders(100, seed=5)
    train2, _ = split.loaders(100, seed=5)
    x1, y1 = next(iter(train1))
    x2, y2 = next(iter(train2))
    assert x1.shape == (100, 1, 8, 8)
    assert torch.equal(y1, y2)
    assert sum(len(b[1]) for b in val1) == len(split.val)
    with pytest.raises(ValueError, match="batch_size"):
        split.loaders(0)


def test_shapes_deterministic_and_shaped():
    images, masks = make_shapes(6, size=32, seed=4)
    again, masks2 = make_shapes(6, size=32, seed=4)
    assert images.shape == masks.shape == (6, 1, 32, 32)
    assert torch.equal(images, again) and torch.equal(masks, masks2)
    assert images.min() >= 0 and images.max() <= 1
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    other, _ = make_shapes(6, size=32, seed=5)
    assert not torch.equal(images, other)


def test_noiseless_shapes_mask_is_exactly_the_bright_pixels():
    images, masks = make_shapes(20, size=48, max_shapes=1, noise=0.0, seed=0)
    for image, mask in zip(images, masks, strict=True):
        values = image.unique()
        assert len(values) == 2  # background and one shape
        assert torch.equal(mask.bool(), image == values.max())


def test_radius_controls_foreground_fraction():
    _, small = make_shapes(64, size=64, radius_range=(0.05, 0.08), seed=0)
    _, large = make_shapes(64, size=64, radius_range=(0.2, 0.25), seed=0)
    assert small.mean() < 0.06
    assert large.mean() > 3 * small.mean()
    # Upper bound: at most max_shapes circles of the largest radius.
    assert large.mean() <= 3 * math.pi * 0.25**2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be at least 1"),
        ({"n": 2.0}, TypeError, "n must be an int"),
        ({"size": 4}, ValueError, "at least 8 pixels"),
        ({"max_shapes": 0}, ValueError, "max_shapes"),
        ({"radius_range": (0.3, 0.1)}, ValueError, "radius_range"),
        ({"radius_range": (0.1, 0.6)}, ValueError, "radius_range"),
        ({"noise": -0.1}, ValueError, "noise"),
    ],
)
def test_shapes_bad_input(kwargs, error, match):
    args = {"n": 2, **kwargs}
    with pytest.raises(error, match=match):
        make_shapes(**args)


def test_shapes_split_uses_disjoint_seeds():
    split = shapes_split(4, 3, size=32, seed=10)
    assert len(split.train) == 4 and len(split.val) == 3
    assert torch.equal(split.train.tensors[0], make_shapes(4, size=32, seed=10)[0])
    assert torch.equal(split.val.tensors[0], make_shapes(3, size=32, seed=11)[0])
