"""A broad source task made offline: letters and symbols rendered from matplotlib's fonts.

ImageNet cannot be downloaded here, so the chapter on fine-tuning needs a broad
source task it can make itself: many classes, many varied images, at the 8x8
resolution of scikit-learn's digits, and none of them a digit. :func:`make_glyphs`
renders :data:`GLYPH_CLASSES` (letters, Greek letters and symbols) from the fonts
that ship inside matplotlib (:data:`GLYPH_FONTS`: DejaVu Sans, Sans Mono and Serif,
STIX, each regular, bold, italic and bold italic, and six Computer Modern faces),
then draws each image with random jitter: stroke width (dilation or erosion), a
random affine map (rotation, scale, aspect, shear, translation), area down-sampling
to 8x8, blur, contrast and noise. The values end up like the digits'
(:func:`tutorial_lib.load_digits_tensors`): ``float32`` in ``[0, 1]``, multiples of
1/16, a dark background at 0 and bright strokes, the glyph filling the height.

Each glyph is rendered once per font (its outline from ``matplotlib.textpath.TextPath``,
filled with ``Path.contains_points`` by the even-odd rule on a supersampled grid);
the jitter then runs on whole batches with ``torch.nn.functional.affine_grid`` and
``grid_sample``, so tens of thousands of images take seconds. Everything random
comes from ``seed``: the same seed gives the same images, another seed others.

Taught in: "Fine-tuning".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ._validate import is_int, is_real

if TYPE_CHECKING:
    from .data import Split

__all__ = [
    "EXCLUDED_GLYPHS",
    "GLYPH_CLASSES",
    "GLYPH_FONTS",
    "glyphs_split",
    "make_glyphs",
    "render_glyph",
]

_LETTER_FONTS = (
    # DejaVu: sans, mono and serif, each regular, bold, oblique/italic, bold oblique
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    # STIX (a Times-like serif)
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
)
_CM_FONTS = (
    # Computer Modern (TeX's faces, as matplotlib ships them): roman, bold, sans,
    # text italic, typewriter, math italic. Their files use TeX's own encoding, so
    # they are used for the Latin letters only, whose codes are the usual ones.
    "cmr10.ttf",
    "cmb10.ttf",
    "cmss10.ttf",
    "cmti10.ttf",
    "cmtt10.ttf",
    "cmmi10.ttf",
)
GLYPH_FONTS: tuple[str, ...] = _LETTER_FONTS + _CM_FONTS
"""The font files used, all from ``matplotlib/mpl-data/fonts/ttf`` (22 faces).

Left out: the Display faces, STIXNonUnicode, STIXSize* and cmex10/cmsy10 (they
hold no letters, or not at the usual codes) and LastResort (a placeholder font)."""

EXCLUDED_GLYPHS: dict[str, str] = {
    "0123456789": "digits: the target task's classes (and the narrow source's)",
    "S s $ §": "look like a 5",
    "b G δ σ": "look like a 6 (a bowl under a rising stroke)",
    "B & β": "look like an 8 at 8x8 (two stacked bowls)",
    "g q": "look like a 9 (a bowl on a descending stroke)",
    "c o p u v w x z k": "the same shape as a capital letter once scaled to the image "
    "height (C O P U V W X Z K are kept)",
    "l |": "one vertical bar: the same image as a capital I in a sans-serif face",
}
"""Glyphs that are not classes, and why: no image of a source class may be, or look
like, a target class (the digits 5-9); lower-case letters that only differ from a
capital by their size would be classes that no 8x8 image can tell apart. A 7 has no
common look-alike among the letters (its nearest, a Greek capital gamma, has its stem
on the left, and rotations stay within 12 degrees), so nothing is excluded for it.
Look-alikes of 0-4 (O, Z, I) are allowed: those digits are not the target."""

_UPPER = "ACDEFHIJKLMNOPQRTUVWXYZ"
_LOWER = "adefhijmnrty"
_SYMBOLS = "+×#%@?!*=<>/[{"
_GREEK = "αγλμπφψωΓΔΛΠΣΦΨΞΩ"
GLYPH_CLASSES: tuple[str, ...] = tuple(_UPPER + _LOWER + _SYMBOLS + _GREEK)
"""The 66 classes, in label order: 23 capitals, 12 lower-case letters, 14 symbols,
17 Greek letters (see :data:`EXCLUDED_GLYPHS` for what is left out and why)."""

_SUPERSAMPLE = 3  # points per pixel side when filling an outline (coverage in 1/9 steps)
_MARGIN_X = 0.9  # largest glyph width, as a share of the image width, before jitter
_MAX_WIDENING = 3  # dilation steps (pixels at render_size) the jitter may add
_MAX_THINNING = 1  # erosion steps it may remove (bold faces become lighter)
_CHUNK = 2048


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _fonts_for(char: str) -> tuple[str, ...]:
    return GLYPH_FONTS if char.isascii() and char.isalpha() else _LETTER_FONTS


def _outline(char: str, font: str) -> list[np.ndarray]:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    path = TextPath((0, 0), char, size=1, prop=FontProperties(fname=_font_dir() / font))
    return path.to_polygons(closed_only=True)  # curves flattened to closed polygons


def render_glyph(char: str, font: str, *, size: int = 32) -> torch.Tensor:
    """One glyph, centred and scaled to the image height, as ``(size, size)`` coverage.

    The outline of ``char`` in ``font`` (a file name from :data:`GLYPH_FONTS`) is
    scaled so that its bounding box fills the image height (or 90 % of its width,
    if the glyph is wider than tall), centred, and filled by the even-odd rule on
    a grid of 3x3 points per pixel: a pixel's value (0 to 1) is the share of its
    points inside the outline. Row 0 is the top of the image.

    Taught in: "Fine-tuning".
    """
    from matplotlib.path import Path as MplPath

    if not isinstance(char, str) or len(char) != 1:
        raise TypeError(f"char must be a single character, got {char!r}")
    if font not in GLYPH_FONTS:
        raise ValueError(f"font must be one of GLYPH_FONTS, got {font!r}; e.g. {GLYPH_FONTS[0]!r}")
    _check_int("size", size, minimum=4)
    polygons = _outline(char, font)
    if not polygons:
        raise ValueError(f"{font} has no outline for {char!r}; pick a glyph it contains")
    points = np.concatenate(polygons)
    low, high = points.min(0), points.max(0)
    extent = np.maximum(high - low, 1e-6)
    scale = min(size / extent[1], _MARGIN_X * size / extent[0])
    centre = (low + high) / 2
    # Sample points, in pixel units with y pointing up, mapped back to glyph units.
    steps = (np.arange(size * _SUPERSAMPLE) + 0.5) / _SUPERSAMPLE
    xs = (steps - size / 2) / scale + centre[0]
    ys = (size / 2 - steps) / scale + centre[1]
    grid = np.stack(np.meshgrid(xs, ys, indexing="xy"), axis=-1).reshape(-1, 2)
    inside = np.zeros(len(grid), dtype=bool)
    for polygon in polygons:
        inside ^= MplPath(polygon).contains_points(grid)  # even-odd: holes stay empty
    fine = torch.from_numpy(inside.reshape(1, 1, size * _SUPERSAMPLE, -1).astype(np.float32))
    return F.avg_pool2d(fine, _SUPERSAMPLE)[0, 0]  # (size, size)


@lru_cache(maxsize=4)
def _glyph_bank(classes: tuple[str, ...], render_size: int) -> tuple[torch.Tensor, tuple]:
    """Every (class, font) pair rendered once: ``(pairs, render_size, render_size)``
    and, per class, the rows of its pairs."""
    images, rows = [], []
    for char in classes:
        first = len(images)
        images += [render_glyph(char, font, size=render_size) for font in _fonts_for(char)]
        rows.append(tuple(range(first, len(images))))
    return torch.stack(images), tuple(rows)


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _check_classes(classes: Sequence[str] | None) -> tuple[str, ...]:
    if classes is None:
        return GLYPH_CLASSES
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise TypeError(
            f"classes must be a sequence of characters such as ('A', 'x'), got {classes!r}"
        )
    classes = tuple(classes)
    unknown = [c for c in classes if c not in GLYPH_CLASSES]
    if unknown:
        raise ValueError(
            f"classes {unknown!r} are not glyph classes; pick from GLYPH_CLASSES "
            "(digits and their look-alikes are excluded, see EXCLUDED_GLYPHS)"
        )
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ValueError(f"classes must hold at least two distinct glyphs, got {classes!r}")
    return classes


def _affine(n: int, generator: torch.Generator) -> torch.Tensor:
    """``(n, 2, 3)`` random maps from output to input coordinates (``affine_grid``)."""

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    angle = uniform(-12.0, 12.0) * math.pi / 180
    scale = uniform(0.9, 1.15)  # > 1 shrinks the glyph (the map goes output -> input)
    aspect = uniform(-0.15, 0.15).exp()
    shear = uniform(-0.25, 0.25)
    shift = torch.stack([uniform(-0.12, 0.12), uniform(-0.08, 0.08)], dim=1)
    cos, sin = angle.cos(), angle.sin()
    sx, sy = scale * aspect, scale / aspect
    # rotation @ shear @ scale, written out
    a = torch.stack([cos * sx, (cos * shear - sin) * sy], dim=1)
    b = torch.stack([sin * sx, (sin * shear + cos) * sy], dim=1)
    return torch.stack([torch.cat([a, shift[:, :1]], 1), torch.cat([b, shift[:, 1:]], 1)], 1)


def _stroke(images: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Dilate (``steps > 0``) or erode (``< 0``) each image by ``|steps|`` pixels."""
    out = images.clone()
    grown, thinned = images, images
    for step in range(1, _MAX_WIDENING + 1):
        grown = F.max_pool2d(grown, 3, stride=1, padding=1)
        out = torch.where((steps == step).view(-1, 1, 1, 1), grown, out)
    for step in range(1, _MAX_THINNING + 1):
        thinned = -F.max_pool2d(-thinned, 3, stride=1, padding=1)
        out = torch.where((steps == -step).view(-1, 1, 1, 1), thinned, out)
    return out


_BLUR = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]).div(16).view(1, 1, 3, 3)


def _jitter(glyphs: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Stroke width, affine map, area down-sampling, blur, contrast and noise."""
    n, render_size = len(glyphs), glyphs.shape[-1]
    steps = torch.randint(-_MAX_THINNING, _MAX_WIDENING + 1, (n,), generator=generator)
    images = _stroke(glyphs.unsqueeze(1), steps)  # (n, 1, R, R)
    grid = F.affine_grid(_affine(n, generator), [n, 1, render_size, render_size], False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    images = F.adaptive_avg_pool2d(images, size)  # area down-sampling, (n, 1, size, size)
    blur = torch.rand(n, 1, 1, 1, generator=generator) * 0.6
    images = (1 - blur) * images + blur * F.conv2d(images, _BLUR, padding=1)
    gain = 0.8 + 0.6 * torch.rand(n, 1, 1, 1, generator=generator)  # > 1 saturates strokes
    noise = 0.06 * torch.rand(n, 1, 1, 1, generator=generator)
    images = gain * images + noise * torch.randn(images.shape, generator=generator)
    return (images.clamp(0, 1) * 16).round() / 16  # the digits' levels: multiples of 1/16


def make_glyphs(
    per_class: int = 300,
    *,
    classes: Sequence[str] | None = None,
    size: int = 8,
    render_size: int = 32,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` jittered images of every glyph class, like the 8x8 digits.

    Returns ``(images, labels)``: ``images`` ``float32`` of shape ``(N, 1, size,
    size)`` with values in ``[0, 1]`` (multiples of 1/16, as
    :func:`tutorial_lib.load_digits_tensors` gives the digits), ``labels`` ``long``
    of shape ``(N,)``, ``N = per_class * len(classes)``; label ``i`` is
    ``classes[i]`` (default: all of :data:`GLYPH_CLASSES`). The classes are mixed in
    a random order and each has exactly ``per_class`` images, its fonts used in turn
    (each font equally often, up to one). Every image draws its own stroke width,
    rotation (up to 12 degrees), scale, aspect, shear, shift, blur, contrast and
    noise from ``seed``. ``render_size`` is the side at which glyphs are rendered
    and jittered before the area down-sampling to ``size``.

    Taught in: "Fine-tuning".
    """
    _check_int("per_class", per_class, minimum=1)
    _check_int("size", size, minimum=4)
    _check_int("render_size", render_size, minimum=size)
    _check_int("seed", seed, minimum=0)
    if render_size % size:
        raise ValueError(
            f"render_size must be a multiple of size for area down-sampling, got "
            f"render_size={render_size}, size={size}; e.g. render_size={4 * size}"
        )
    classes = _check_classes(classes)
    bank, rows = _glyph_bank(classes, render_size)

    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(classes)).repeat_interleave(per_class)
    picks = []
    for fonts in rows:  # the fonts in turn, in a random order per class
        turns = torch.tensor(fonts).repeat(math.ceil(per_class / len(fonts)))[:per_class]
        picks.append(turns[torch.randperm(per_class, generator=generator)])
    order = torch.randperm(len(labels), generator=generator)
    labels, picks = labels[order], torch.cat(picks)[order]
    images = torch.cat(
        [
            _jitter(bank[picks[s : s + _CHUNK]], size, generator)
            for s in range(0, len(picks), _CHUNK)
        ]
    )
    return images, labels


def glyphs_split(
    per_class: int = 225,
    *,
    classes: Sequence[str] | None = None,
    size: int = 8,
    val_fraction: float = 0.25,
    seed: int = 0,
) -> Split:
    """Glyphs split into training and held-out images, ``per_class`` training images
    per class.

    :func:`make_glyphs` draws ``round(per_class / (1 - val_fraction))`` images per
    class from ``seed`` (300 for the defaults), and each class keeps the share
    ``val_fraction`` of them for validation, as :func:`tutorial_lib.digits_split`
    splits the digits. The course's glyph source model trains on it.

    Taught in: "Fine-tuning".
    """
    from torch.utils.data import TensorDataset

    from .data import Split, _stratified_indices

    _check_int("per_class", per_class, minimum=1)
    if not is_real(val_fraction):
        raise TypeError(f"val_fraction must be a number, got {val_fraction!r}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}")
    total = round(per_class / (1 - val_fraction))
    if total - per_class < 1:
        raise ValueError(
            f"per_class={per_class} with val_fraction={val_fraction} holds out no image; "
            "raise per_class or val_fraction"
        )
    images, labels = make_glyphs(total, classes=classes, size=size, render_size=4 * size, seed=seed)
    train_idx, val_idx = _stratified_indices(labels, (total - per_class) / total, per_class, seed)
    return Split(
        train=TensorDataset(images[train_idx], labels[train_idx]),
        val=TensorDataset(images[val_idx], labels[val_idx]),
    )
