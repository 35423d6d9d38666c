"""The course's own pretrained source models: torchvision's ResNet-18 trained offline.

ImageNet weights need the network, so the chapter on fine-tuning transfers from
models the course pretrains itself: torchvision's ResNet-18 architecture (at half
width by default) with a stem adapted to small one-channel images, trained with
:func:`tutorial_lib.fit` (AdamW, a one-cycle schedule stepped per batch),
deterministically from ``PretrainConfig.seed``, on one of two sources
(:data:`SOURCES`): ``"glyphs"``, the broad one (66 classes of letters and symbols
rendered from matplotlib's fonts, :mod:`tutorial_lib.glyphs`), or ``"digits"``, the
narrow one (scikit-learn's digits 0-4). Caching the trained weights is
:mod:`tutorial_lib.source_cache` (:func:`tutorial_lib.load_source_model`).

Taught in: "Fine-tuning".
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, default_collate

from ._validate import is_int, is_real
from .device import get_device
from .glyphs import GLYPH_CLASSES
from .glyphs import _check_classes as _check_glyph_classes
from .training import fit

RECIPE_VERSION = 1
"""Bumped whenever the training code changes, so that old caches are retrained."""

SOURCES = ("glyphs", "digits")
"""The source tasks a :class:`PretrainConfig` can name."""
GLYPH_TRAIN_PER_CLASS = 225
"""Training images per glyph class when ``PretrainConfig.per_class`` is ``None``
(300 are generated, a quarter of them held out)."""

__all__ = [
    "GLYPH_TRAIN_PER_CLASS",
    "SOURCES",
    "PretrainConfig",
    "build_source_model",
    "pretrain_source_model",
]


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines the pretrained weights.

    The defaults are the course's source model: a ResNet-18 at half width trained
    on the 66 glyph classes (about 70 % accurate on held-out glyphs after a minute
    or two of CPU time). ``PretrainConfig(source="digits")`` is the narrow
    contrast, trained on the digits 0-4 in a few seconds. Tests pass a tiny config
    (``width=4, epochs=1, per_class=4``) to exercise the cache in a second.

    - ``source``: ``"glyphs"`` or ``"digits"`` (:data:`SOURCES`).
    - ``classes``: the source classes; the model has one output per class. For
      ``"digits"`` digits 0-9 (``None``: 0-4); for ``"glyphs"`` characters of
      :data:`tutorial_lib.GLYPH_CLASSES` (``None``: all 66).
    - ``size``: image side in pixels (the digits are 8x8; other sizes are resized).
    - ``width``: channels of the first stage (64 is ResNet-18 itself; the stages
      have ``width``, ``2*width``, ``4*width``, ``8*width`` channels).
    - ``epochs``, ``batch_size``, ``lr``, ``weight_decay``: AdamW with a one-cycle
      learning-rate schedule.
    - ``shift``: random translations of up to ``shift`` pixels during training (the
      default, 1, transferred better to the digits 5-9 than 0 or 2 on the sweep
      splits of ``scripts/finetune_lr_sweep.py``).
    - ``per_class``: training images per class. Digits: keep only this many
      (``None``: all, about 135). Glyphs: generate this many plus the held-out
      share (``None``: :data:`GLYPH_TRAIN_PER_CLASS`).
    - ``val_fraction``: share of each class held out to measure source accuracy.
    - ``seed``: seeds the glyphs, the split, the initial weights and the batch order.
    """

    source: str = "glyphs"
    classes: tuple[int, ...] | tuple[str, ...] | None = None
    size: int = 8
    width: int = 32
    epochs: int = 6
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    shift: int = 1
    per_class: int | None = None
    val_fraction: float = 0.25
    seed: int = 0
    recipe: int = field(default=RECIPE_VERSION)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        object.__setattr__(self, "classes", _check_classes(self.source, self.classes))
        for name in ("size", "width", "epochs", "batch_size", "shift", "seed", "recipe"):
            if not is_int(getattr(self, name)):
                raise TypeError(f"{name} must be an int, got {getattr(self, name)!r}")
        for name in ("size", "width", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.size < 4:
            raise ValueError(
                f"size must be at least 4 pixels for the ResNet stages, got {self.size}"
            )
        if self.shift < 0 or self.shift >= self.size:
            raise ValueError(f"shift must be in [0, size), got {self.shift}")
        if self.per_class is not None and (not is_int(self.per_class) or self.per_class < 1):
            raise ValueError(f"per_class must be a positive int or None, got {self.per_class!r}")
        for name in ("lr", "weight_decay", "val_fraction"):
            value = getattr(self, name)
            if not is_real(value):
                raise TypeError(f"{name} must be a number, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(
                f"val_fraction must be strictly between 0 and 1, got {self.val_fraction}"
            )

    def as_dict(self) -> dict[str, Any]:
        """The config as JSON-ready values (what the cache record stores)."""
        values = asdict(self)
        values["classes"] = list(self.classes)
        return values


def _check_classes(source: str, classes: object) -> tuple[int, ...] | tuple[str, ...]:
    """The source's classes as a tuple (``None``: the source's default classes)."""
    if source == "digits":
        if classes is None:
            return (0, 1, 2, 3, 4)
        if not isinstance(classes, (tuple, list)) or not all(is_int(c) for c in classes):
            raise TypeError(
                f"classes of the digits source must be a tuple of ints, got {classes!r}"
            )
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(
                f"classes must hold at least two distinct digits, got {tuple(classes)}"
            )
        if not all(0 <= c <= 9 for c in classes):
            raise ValueError(f"classes must be digits 0-9, got {tuple(classes)}")
        return tuple(int(c) for c in classes)
    if classes is None:
        return GLYPH_CLASSES
    if not isinstance(classes, (tuple, list)):
        raise TypeError(
            f"classes of the glyphs source must be a tuple of characters such as ('A', 'x'), "
            f"got {classes!r}"
        )
    return _check_glyph_classes(classes)


def _check_config(config: object) -> PretrainConfig:
    if config is None:
        return PretrainConfig()
    if not isinstance(config, PretrainConfig):
        raise TypeError(f"config must be a PretrainConfig or None, got {type(config).__name__}")
    return config


# --------------------------------------------------------------------------- model
def _init_like_torchvision(module: nn.Module) -> None:
    """The initialisation torchvision's ResNet gives its layers."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


def _stage(in_channels: int, channels: int, stride: int) -> nn.Sequential:
    """Two torchvision ``BasicBlock`` s, the first one downsampling if needed."""
    from torchvision.models.resnet import BasicBlock

    downsample = None
    if stride != 1 or in_channels != channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, channels, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(channels),
        )
    return nn.Sequential(
        BasicBlock(in_channels, channels, stride, downsample), BasicBlock(channels, channels)
    )


def build_source_model(num_classes: int = 5, *, width: int = 64, in_channels: int = 1) -> nn.Module:
    """torchvision's ResNet-18 for small one-channel images, randomly initialised.

    ``torchvision.models.resnet18(weights=None, num_classes=num_classes)`` with two
    changes for 8x8 digits: ``conv1`` is a 3x3 convolution with stride 1 on
    ``in_channels`` channels (instead of 7x7 with stride 2 on three channels) and
    ``maxpool`` is ``nn.Identity()``; without them an 8x8 image would be 2x2
    before the first residual stage. Children, names and blocks are ResNet-18's,
    so ``model.layer3[0]`` is the notes' "first block of child 6".

    ``width`` is the number of channels of the first stage: 64 is ResNet-18 itself
    (11.2 million parameters); the course's source model uses 32 (2.8 million,
    about three times faster to train on a CPU), with the four stages rebuilt from
    torchvision's own ``BasicBlock`` with ``width``, ``2*width``, ``4*width`` and
    ``8*width`` channels.

    Taught in: "Fine-tuning".
    """
    from torchvision.models import resnet18

    for name, value in (
        ("num_classes", num_classes),
        ("width", width),
        ("in_channels", in_channels),
    ):
        if not is_int(value):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if width == 64:
        model = resnet18(weights=None, num_classes=num_classes)
    else:
        with torch.device("meta"):  # the layout only: every layer with weights is replaced
            model = resnet18(weights=None, num_classes=num_classes)
        model.bn1 = nn.BatchNorm2d(width)
        model.layer1 = _stage(width, width, 1)
        model.layer2 = _stage(width, 2 * width, 2)
        model.layer3 = _stage(2 * width, 4 * width, 2)
        model.layer4 = _stage(4 * width, 8 * width, 2)
        model.fc = nn.Linear(8 * width, num_classes)
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            _init_like_torchvision(stage)  # as torchvision initialises its own stages
    # PyTorch's default initialisation for the new stem: torchvision's fan-out Kaiming
    # scheme makes a 1-channel 3x3 filter so small that training starts badly.
    model.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


# --------------------------------------------------------------------------- training
def _random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (zeros fill the border)."""
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator).tolist()
    return torch.stack(
        [padded[i, :, dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets)]
    )


class _EpochBatches(torch.utils.data.Sampler[list[int]]):
    """The index batches of one epoch: a fresh permutation from ``generator`` at the
    start of every epoch, cut into batches of ``batch_size`` (the last one shorter)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.generator = n, batch_size, generator

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=self.generator)
        for start in range(0, self.n, self.batch_size):
            yield order[start : start + self.batch_size].tolist()


def _shuffled_loader(
    dataset: TensorDataset, config: PretrainConfig, generator: torch.Generator
) -> DataLoader:
    """A loader of the batches of :class:`_EpochBatches`, each image shifted at random
    by up to ``config.shift`` pixels. The permutation and the shifts come from one
    generator, in that order (the DataLoader draws its own worker seed from the global
    generator, which training does not otherwise use)."""

    def collate(samples: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, targets = default_collate(samples)
        if config.shift:
            inputs = _random_shift(inputs, config.shift, generator)
        return inputs, targets

    batches = _EpochBatches(len(dataset), config.batch_size, generator)
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate)


def _source_split(config: PretrainConfig):
    from .data import digits_split

    if config.source == "glyphs":
        from .glyphs import glyphs_split

        train = config.per_class or GLYPH_TRAIN_PER_CLASS
        return glyphs_split(
            train,
            classes=config.classes,
            size=config.size,
            val_fraction=config.val_fraction,
            seed=config.seed,
        )
    return digits_split(
        classes=config.classes,
        size=config.size,
        relabel=True,
        val_fraction=config.val_fraction,
        per_class=config.per_class,
        seed=config.seed,
    )


@torch.no_grad()
def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(images), 256):
        logits = model(images[start : start + 256].to(device))
        correct += (logits.argmax(1).cpu() == labels[start : start + 256]).sum().item()
    return correct / len(images)


def pretrain_source_model(
    config: PretrainConfig | None = None, *, device: torch.device | str | None = "cpu"
) -> tuple[nn.Module, float]:
    """Train the source model from scratch; return ``(model, source_accuracy)``.

    No caching here (see :func:`load_source_model`). The model comes back on the
    CPU in eval mode; ``source_accuracy`` is measured on the held-out images of
    ``config.classes``. Training draws every random number from ``config.seed``
    and leaves the global random state as it found it, so a notebook prints the
    same numbers whether this ran or a cache was loaded.

    It trains on the CPU unless ``device`` says otherwise (``None``: the device
    :func:`tutorial_lib.get_device` picks). A GPU computes slightly different
    numbers, so CPU training keeps the cached weights, and every output computed
    from them, the same on a machine with or without one. (The CPU result still
    depends on the number of threads PyTorch uses.)

    Taught in: "Fine-tuning".
    """
    config = _check_config(config)
    device = get_device(device)
    split = _source_split(config)
    val_images, val_labels = split.val.tensors
    # Every random number is drawn on the CPU (initialisation before .to(device), the
    # batch order and the shifts from one seeded generator), so forking the CPU
    # generator is enough.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_source_model(len(config.classes), width=config.width).to(device)
        generator = torch.Generator().manual_seed(config.seed)
        loader = _shuffled_loader(split.train, config, generator)
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=config.lr,
            weight_decay=config.weight_decay,
            fused=device.type in ("cpu", "cuda"),  # one kernel per step: 5x faster on a CPU
        )
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * len(loader)
        )
        fit(
            model,
            loader,
            loss_fn=F.cross_entropy,
            optimizer=optimizer,
            scheduler=scheduler,
            scheduler_interval="batch",
            epochs=config.epochs,
            device=device,
            progress=False,
        )
    model = model.cpu()
    return model, _accuracy(model, val_images, val_labels)
