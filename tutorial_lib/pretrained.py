"""The course's own pretrained source model: a torchvision ResNet-18 trained on digits 0-4.

ImageNet weights need the network, so the chapter on fine-tuning transfers from a
model the course pretrains itself, offline: torchvision's ResNet-18 architecture
(at half width by default) with a stem adapted to small one-channel images,
trained on scikit-learn's digits 0-4. The first call trains it (deterministically,
from ``PretrainConfig.seed``) and caches the weights with a JSON record of their
SHA-256, the training config and the accuracy measured on held-out digits 0-4;
later calls load the cache in a fraction of a second. A changed config, a missing
or corrupted file (SHA-256 mismatch, unreadable) means training again, and
:func:`load_source_model` says so instead of loading silently.

Cache folder: the ``TUTORIAL_CACHE_DIR`` environment variable if set, else
``$XDG_CACHE_HOME/tutorial_lib``, else ``~/.cache/tutorial_lib``.

Taught in: "Fine-tuning".
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._validate import is_real
from .device import get_device

CACHE_ENV_VAR = "TUTORIAL_CACHE_DIR"
"""Environment variable naming the cache folder (overrides the XDG default)."""
WEIGHTS_FILE = "source_resnet18_digits.pt"
RECORD_FILE = "source_resnet18_digits.json"
RECIPE_VERSION = 1
"""Bumped whenever the training code changes, so that old caches are retrained."""

__all__ = [
    "CACHE_ENV_VAR",
    "PretrainConfig",
    "SourceModel",
    "build_source_model",
    "default_cache_dir",
    "load_source_model",
    "pretrain_source_model",
]


# --------------------------------------------------------------------------- config
def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines the pretrained weights.

    The defaults are the course's source model: a ResNet-18 at half width, 98-99 %
    accurate on held-out digits 0-4 after a few seconds of CPU time. Tests pass a
    tiny config (``width=4, epochs=1, per_class=4``) to exercise the cache in a
    second.

    - ``classes``: the source digits; the model has one output per class.
    - ``size``: image side in pixels (the digits are 8x8; other sizes are resized).
    - ``width``: channels of the first stage (64 is ResNet-18 itself; the stages
      have ``width``, ``2*width``, ``4*width``, ``8*width`` channels).
    - ``epochs``, ``batch_size``, ``lr``, ``weight_decay``: AdamW with a one-cycle
      learning-rate schedule.
    - ``shift``: random translations of up to ``shift`` pixels during training.
    - ``per_class``: keep only this many training images per class (``None``: all).
    - ``val_fraction``: share of each class held out to measure source accuracy.
    - ``seed``: seeds the initial weights, the split and the batch order.
    """

    classes: tuple[int, ...] = (0, 1, 2, 3, 4)
    size: int = 8
    width: int = 32
    epochs: int = 6
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    shift: int = 0
    per_class: int | None = None
    val_fraction: float = 0.25
    seed: int = 0
    recipe: int = field(default=RECIPE_VERSION)

    def __post_init__(self) -> None:
        if not isinstance(self.classes, (tuple, list)) or not all(_is_int(c) for c in self.classes):
            raise TypeError(f"classes must be a tuple of ints, got {self.classes!r}")
        object.__setattr__(self, "classes", tuple(self.classes))
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must hold at least two distinct digits, got {self.classes}")
        if not all(0 <= c <= 9 for c in self.classes):
            raise ValueError(f"classes must be digits 0-9, got {self.classes}")
        for name in ("size", "width", "epochs", "batch_size", "shift", "seed", "recipe"):
            if not _is_int(getattr(self, name)):
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
        if self.per_class is not None and (not _is_int(self.per_class) or self.per_class < 1):
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
        if not _is_int(value):
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


def _source_split(config: PretrainConfig):
    from .data import digits_split

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
    CPU in eval mode; ``source_accuracy`` is measured on the held-out digits of
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
    images, labels = split.train.tensors
    val_images, val_labels = split.val.tensors
    # Every random number is drawn on the CPU (initialisation before .to(device), the
    # batch order from a seeded generator), so forking the CPU generator is enough.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_source_model(len(config.classes), width=config.width).to(device)
        generator = torch.Generator().manual_seed(config.seed)
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=config.lr,
            weight_decay=config.weight_decay,
            fused=device.type in ("cpu", "cuda"),  # one kernel per step: 5x faster on a CPU
        )
        steps_per_epoch = math.ceil(len(images) / config.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch
        )
        model.train()
        for _ in range(config.epochs):
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), config.batch_size):
                batch = order[start : start + config.batch_size]
                inputs = images[batch]
                if config.shift:
                    inputs = _random_shift(inputs, config.shift, generator)
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(inputs.to(device)), labels[batch].to(device))
                loss.backward()
                optimizer.step()
                scheduler.step()
    model = model.cpu()
    return model, _accuracy(model, val_images, val_labels)


# --------------------------------------------------------------------------- cache
def default_cache_dir() -> Path:
    """The folder :func:`load_source_model` uses: ``$TUTORIAL_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/tutorial_lib``, else ``~/.cache/tutorial_lib``.

    Taught in: "Fine-tuning".
    """
    forced = os.environ.get(CACHE_ENV_VAR, "").strip()
    if forced:
        return Path(forced).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "tutorial_lib"


@dataclass(frozen=True)
class SourceModel:
    """What :func:`load_source_model` returns.

    ``status`` is ``"loaded"`` (cache hit) or ``"trained"``; ``reason`` says why it
    trained (empty on a hit); ``seconds`` is the time spent loading or training;
    ``source_accuracy`` is the held-out accuracy on the source digits, measured
    when the model was trained; ``cached`` is ``False`` when the cache could not be
    written.
    """

    model: nn.Module
    config: PretrainConfig
    status: str
    reason: str
    sha256: str
    source_accuracy: float
    seconds: float
    cached: bool


def _check_config(config: object) -> PretrainConfig:
    if config is None:
        return PretrainConfig()
    if not isinstance(config, PretrainConfig):
        raise TypeError(f"config must be a PretrainConfig or None, got {type(config).__name__}")
    return config


def _config_changes(recorded: object, wanted: dict[str, Any]) -> str:
    if not isinstance(recorded, dict):
        return "the record holds no training config"
    keys = sorted(set(recorded) | set(wanted))
    changes = [
        f"{key}: {recorded.get(key, '(missing)')!r} -> {wanted.get(key, '(missing)')!r}"
        for key in keys
        if recorded.get(key) != wanted.get(key)
    ]
    return "; ".join(changes)


def _try_load(folder: Path, config: PretrainConfig) -> tuple[nn.Module, dict] | str:
    """The cached model and its record, or the reason it cannot be used."""
    weights_path, record_path = folder / WEIGHTS_FILE, folder / RECORD_FILE
    if not record_path.exists() and not weights_path.exists():
        return "no cached model yet"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        sha256 = record["sha256"]
        accuracy = float(record["source_accuracy"])
        recorded_config = record["config"]
    except FileNotFoundError:
        return "the cache record is missing"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"the cache record is unreadable ({type(err).__name__})"
    changes = _config_changes(recorded_config, config.as_dict())
    if changes:
        return f"the cached model was trained with another config ({changes})"
    try:
        data = weights_path.read_bytes()
    except OSError:
        return "the cached weights file is missing or unreadable"
    if hashlib.sha256(data).hexdigest() != sha256:
        return "the cached weights do not match their recorded SHA-256 (corrupted or replaced)"
    try:
        # weights_only=True: tensors and containers only, never arbitrary pickled code.
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        with torch.device("meta"):  # no memory, no random initialisation: the state fills it
            model = build_source_model(len(config.classes), width=config.width)
        model.load_state_dict(state, assign=True)
    except Exception as err:  # any failure to read them means: train again
        return f"the cached weights cannot be loaded ({type(err).__name__})"
    record["source_accuracy"] = accuracy
    return model.eval(), record


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and
    ``os.replace``: a reader sees the old file or the new one, never half of one."""
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def load_source_model(
    config: PretrainConfig | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = "cpu",
    verbose: bool = True,
) -> SourceModel:
    """Return the course's pretrained source model, from the cache or freshly trained.

    On a cache hit the weights are read once, their SHA-256 compared with the
    record, and loaded with ``torch.load(weights_only=True)``. Otherwise (no cache,
    another config, a corrupted or unreadable file) the model is trained with
    :func:`pretrain_source_model` on ``device`` (the CPU by default, see there)
    and the cache is rewritten: weights first, then the record, each atomically.
    With ``verbose`` one line says which happened and why; the returned
    :class:`SourceModel` says it too. The model is on the CPU in eval mode either
    way, with identical weights.

    ``cache_dir`` defaults to :func:`default_cache_dir`. A cache that cannot be
    written is reported and skipped, not fatal.

    Taught in: "Fine-tuning".
    """
    config = _check_config(config)
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path or None, got {type(cache_dir).__name__}")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    device = get_device(device)  # a bad device fails now, not after a cache miss

    start = time.perf_counter()
    found = _try_load(folder, config)
    if not isinstance(found, str):
        model, record = found
        seconds = time.perf_counter() - start
        if verbose:
            print(
                f"source model: loaded from the cache (SHA-256 {record['sha256'][:12]}..., "
                f"source accuracy {record['source_accuracy']:.1%})"
            )
        return SourceModel(
            model, config, "loaded", "", record["sha256"], record["source_accuracy"], seconds, True
        )

    reason = found
    if verbose:
        print(f"source model: {reason}; training it now ({config.epochs} epochs)")
    model, accuracy = pretrain_source_model(config, device=device)
    seconds = time.perf_counter() - start
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    data = buffer.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    record = {
        "file": WEIGHTS_FILE,
        "sha256": sha256,
        "config": config.as_dict(),
        "source_accuracy": accuracy,
        "architecture": (
            f"torchvision resnet18 layout, width {config.width}, "
            "conv1 3x3 stride 1 on 1 channel, maxpool Identity"
        ),
        "train_seconds": round(seconds, 2),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    cached = True
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / WEIGHTS_FILE, data)
        _atomic_write(folder / RECORD_FILE, (json.dumps(record, indent=2) + "\n").encode())
    except OSError as err:
        cached = False
        if verbose:
            print(f"source model: could not write the cache ({type(err).__name__}); not cached")
    if verbose and cached:
        print(f"source model: trained (source accuracy {accuracy:.1%}) and cached")
    return SourceModel(model.eval(), config, "trained", reason, sha256, accuracy, seconds, cached)
