"""Tests of tutorial_lib.glyphs: the offline glyph source task (issue 17's broad
source): deterministic, balanced, digit-like values, no digit or look-alike class,
and rendering checked against matplotlib's own rasteriser."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tutorial_lib import glyphs, load_digits_tensors  # noqa: E402
from tutorial_lib.glyphs import (  # noqa: E402
    EXCLUDED_GLYPHS,
    GLYPH_CLASSES,
    GLYPH_FONTS,
    _font_dir,
    _fonts_for,
    make_glyphs,
    render_glyph,
)


@pytest.fixture(scope="module")
def small():
    return make_glyphs(12, seed=3)


def test_shapes_values_and_levels_look_like_the_digits(small):
    images, labels = small
    assert images.shape == (12 * len(GLYPH_CLASSES), 1, 8, 8) and images.dtype == torch.float32
    assert labels.dtype == torch.long
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(images * 16, (images * 16).round())  # multiples of 1/16
    digits, _ = load_digits_tensors()
    assert torch.equal(digits * 16, (digits * 16).round())  # as the digits are
    # Dark background, bright strokes, like the digits: the corners are mostly dark.
    corners = images[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.mean() < images.mean()


def test_every_class_has_exactly_per_class_images_in_mixed_order(small):
    _, labels = small
    assert torch.bincount(labels, minlength=len(GLYPH_CLASSES)).tolist() == [12] * len(
        GLYPH_CLASSES
    )
    assert not torch.equal(labels, labels.sort().values)  # shuffled


def test_the_same_seed_gives_the_same_images_another_seed_others(small):
    again = make_glyphs(12, seed=3)
    assert torch.equal(again[0], small[0]) and torch.equal(again[1], small[1])
    other = make_glyphs(12, seed=4)
    assert not torch.equal(other[0], small[0])


def test_no_class_is_a_digit_or_a_listed_look_alike():
    excluded = set("".join(EXCLUDED_GLYPHS).replace(" ", ""))
    assert set("0123456789") <= excluded
    assert not set(GLYPH_CLASSES) & excluded
    assert len(set(GLYPH_CLASSES)) == len(GLYPH_CLASSES) == 66


def test_every_font_ships_with_matplotlib_and_draws_every_class():
    for font in GLYPH_FONTS:
        assert (_font_dir() / font).is_file(), font
    for char in GLYPH_CLASSES:
        for font in _fonts_for(char):
            image = render_glyph(char, font, size=16)
            assert image.shape == (16, 16) and image.sum() > 4, (char, font)


def _agg_render(char: str, font: str, size: int) -> np.ndarray:
    """The same glyph rasterised by matplotlib's Agg renderer: an independent reference."""
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    fig = plt.figure(figsize=(4, 4), dpi=100)
    fig.text(
        0.5,
        0.5,
        char,
        ha="center",
        va="center",
        fontsize=200,
        fontproperties=FontProperties(fname=_font_dir() / font),
    )
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())[..., :3].mean(-1)
    plt.close(fig)
    ink = rgba < 128
    rows, cols = np.nonzero(ink)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(float)
    # Scale as render_glyph does (the height, or 90 % of the width if the glyph is
    # wider), centred, by nearest-neighbour sampling of the crop.
    height, width = crop.shape
    scale = min(size / height, 0.9 * size / width)
    steps = np.arange(size) + 0.5 - size / 2
    src_r = np.floor(steps / scale + height / 2).astype(int)
    src_c = np.floor(steps / scale + width / 2).astype(int)
    inside = (src_r[:, None] >= 0) & (src_r[:, None] < height) & (src_c >= 0) & (src_c < width)
    out = np.where(inside, crop[src_r.clip(0, height - 1)][:, src_c.clip(0, width - 1)], 0.0)
    return out


@pytest.mark.parametrize(
    ("char", "font"),
    [
        ("A", "DejaVuSans.ttf"),
        ("R", "DejaVuSerif.ttf"),
        ("Ω", "STIXGeneral.ttf"),
        ("%", "DejaVuSans-Bold.ttf"),
    ],
)
def test_rendering_matches_matplotlib_agg(char, font):
    ours = render_glyph(char, font, size=32).numpy() > 0.5
    reference = _agg_render(char, font, 32) > 0.5
    iou = (ours & reference).sum() / (ours | reference).sum()
    assert iou > 0.75, iou


def test_holes_stay_empty_and_the_glyph_fills_the_height():
    o = render_glyph("O", "DejaVuSans.ttf", size=32)
    assert o[16, 16] == 0  # even-odd fill: the counter of the O is empty
    rows = (o > 0).any(dim=1)
    assert rows[0] and rows[-1]  # touches the top and the bottom row
    bar = render_glyph("I", "DejaVuSans.ttf", size=32)
    columns = bar.sum(0)
    assert columns[:8].sum() == 0 and columns[-8:].sum() == 0  # a centred vertical bar


def test_a_subset_of_classes_is_labelled_in_its_own_order():
    images, labels = make_glyphs(5, classes=("Ω", "A"), seed=0)
    assert images.shape == (10, 1, 8, 8) and sorted(labels.tolist()) == [0] * 5 + [1] * 5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"per_class": 0}, ValueError, "per_class must be at least 1"),
        ({"per_class": 2.0}, TypeError, "per_class must be an int"),
        ({"size": 3}, ValueError, "size must be at least 4"),
        ({"render_size": 30}, ValueError, "multiple of size"),
        ({"seed": -1}, ValueError, "seed must be at least 0"),
        ({"classes": "AB"}, TypeError, "sequence of characters"),
        ({"classes": ("A", "5")}, ValueError, "not glyph classes"),
        ({"classes": ("A",)}, ValueError, "at least two distinct"),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_glyphs(**{"per_class": 2, **kwargs})


def test_render_glyph_bad_input():
    with pytest.raises(TypeError, match="single character"):
        render_glyph("AB", "DejaVuSans.ttf")
    with pytest.raises(ValueError, match="GLYPH_FONTS"):
        render_glyph("A", "Arial.ttf")


# --------------------------------------------------------------------------- glyphs_split
def test_glyphs_split_is_stratified_disjoint_and_deterministic():
    classes = ("A", "C", "Ω")
    split = glyphs.glyphs_split(6, classes=classes, val_fraction=0.25, seed=3)
    train_x, train_y = split.train.tensors
    val_x, val_y = split.val.tensors
    # 6 / (1 - 0.25) = 8 images per class: 6 for training, 2 held out.
    assert torch.bincount(train_y).tolist() == [6, 6, 6]
    assert torch.bincount(val_y).tolist() == [2, 2, 2]
    # The held-out images are other images, not copies of training ones.
    flat_train, flat_val = train_x.flatten(1), val_x.flatten(1)
    assert not (torch.cdist(flat_val, flat_train) == 0).any()
    # The same images as make_glyphs draws, in some order.
    images, labels = glyphs.make_glyphs(8, classes=classes, seed=3)
    together = torch.cat([train_x, val_x]).flatten(1)
    assert torch.equal(together.sum(1).sort().values, images.flatten(1).sum(1).sort().values)
    again = glyphs.glyphs_split(6, classes=classes, val_fraction=0.25, seed=3)
    assert torch.equal(again.train.tensors[0], train_x) and torch.equal(again.val.tensors[1], val_y)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"per_class": 0}, ValueError, "per_class"),
        ({"per_class": 2.5}, TypeError, "per_class"),
        ({"val_fraction": 1.0}, ValueError, "val_fraction"),
        ({"val_fraction": "a quarter"}, TypeError, "val_fraction"),
        ({"per_class": 1, "val_fraction": 0.2}, ValueError, "holds out no image"),
        ({"classes": ("A", "0")}, ValueError, "not glyph classes"),
    ],
)
def test_glyphs_split_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        glyphs.glyphs_split(**{"per_class": 3, "classes": ("A", "C"), **kwargs})
