"""The cache of the course's pretrained source model: trained once, loaded in a
fraction of a second afterwards, and never trusted blindly.

The weights are stored with a JSON record of their SHA-256, the training config
and the accuracy measured on held-out source images, one pair of files per
source (:func:`cache_paths`), so the glyph and the digit source models are cached
side by side. A changed config, a missing or
corrupted file (SHA-256 mismatch, unreadable) means training again, and
:func:`load_source_model` says so instead of loading silently. Both files are
written with :func:`tutorial_lib.state.atomic_write`; the weights are read with
:func:`tutorial_lib.state.load_checkpoint` (``weights_only=True``) after their hash
(:func:`tutorial_lib.download.sha256`) is checked.

Cache folder: the ``TUTORIAL_CACHE_DIR`` environment variable if set, else
``$XDG_CACHE_HOME/tutorial_lib``, else ``~/.cache/tutorial_lib``.

Taught in: "Fine-tuning".
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .device import get_device
from .download import sha256 as file_sha256
from .pretrained import PretrainConfig, _check_config, build_source_model, pretrain_source_model
from .state import atomic_write, load_checkpoint

CACHE_ENV_VAR = "TUTORIAL_CACHE_DIR"
"""Environment variable naming the cache folder (overrides the XDG default)."""

__all__ = [
    "CACHE_ENV_VAR",
    "SourceModel",
    "cache_paths",
    "default_cache_dir",
    "load_source_model",
]


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


def cache_paths(
    config: PretrainConfig | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, Path]:
    """``(weights, record)``: the files that cache the source model of ``config``.

    ``source_resnet18_<source>.pt`` (a ``state_dict``) and
    ``source_resnet18_<source>.json`` (SHA-256, config, accuracy, versions) in
    ``cache_dir`` (default: :func:`default_cache_dir`): one pair per source, so
    switching between the glyph and the digit source does not retrain either.

    Taught in: "Fine-tuning".
    """
    config = _check_config(config)
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir must be a path or None, got {type(cache_dir).__name__}")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stem = f"source_resnet18_{config.source}"
    return folder / f"{stem}.pt", folder / f"{stem}.json"


@dataclass(frozen=True)
class SourceModel:
    """What :func:`load_source_model` returns.

    ``status`` is ``"loaded"`` (cache hit) or ``"trained"``; ``reason`` says why it
    trained (empty on a hit); ``seconds`` is the time spent loading or training;
    ``sha256`` is that of the cached weights file (empty when the cache could not be
    written); ``source_accuracy`` is the held-out accuracy on the source classes,
    measured when the model was trained; ``cached`` is ``False`` when the cache could
    not be written.
    """

    model: nn.Module
    config: PretrainConfig
    status: str
    reason: str
    sha256: str
    source_accuracy: float
    seconds: float
    cached: bool


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
    weights_path, record_path = cache_paths(config, folder)
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
        if file_sha256(weights_path) != sha256:
            return "the cached weights do not match their recorded SHA-256 (corrupted or replaced)"
    except OSError:
        return "the cached weights file is missing or unreadable"
    try:
        # weights_only=True: tensors and containers only, never arbitrary pickled code.
        state = load_checkpoint(weights_path)
        with torch.device("meta"):  # no memory, no random initialisation: the state fills it
            model = build_source_model(len(config.classes), width=config.width)
        model.load_state_dict(state, assign=True)
    except Exception as err:  # any failure to read them means: train again
        cause = err.__cause__ or err  # load_checkpoint's ValueError wraps torch's error
        return f"the cached weights cannot be loaded ({type(cause).__name__})"
    record["source_accuracy"] = accuracy
    return model.eval(), record


def load_source_model(
    config: PretrainConfig | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = "cpu",
    verbose: bool = True,
) -> SourceModel:
    """Return the course's pretrained source model, from the cache or freshly trained.

    On a cache hit the SHA-256 of the weights file is compared with the record,
    and the file is loaded with ``weights_only=True``. Otherwise (no cache,
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
    weights_path, record_path = cache_paths(config, cache_dir)
    folder = weights_path.parent
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
        print(f"source model ({config.source}): {reason}; training it now ({config.epochs} epochs)")
    model, accuracy = pretrain_source_model(config, device=device)
    seconds = time.perf_counter() - start
    record = {
        "file": weights_path.name,
        "sha256": "",  # of the file, once written
        "config": config.as_dict(),
        "source_accuracy": accuracy,
        "architecture": (
            f"torchvision resnet18 layout, {len(config.classes)} classes, width {config.width}, "
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
        weights = model.state_dict()
        atomic_write(weights_path, lambda file: torch.save(weights, file))
        record["sha256"] = digest = file_sha256(weights_path)
        atomic_write(record_path, (json.dumps(record, indent=2) + "\n").encode())
    except OSError as err:
        cached, digest = False, ""
        if verbose:
            print(f"source model: could not write the cache ({type(err).__name__}); not cached")
    if verbose and cached:
        print(f"source model: trained (source accuracy {accuracy:.1%}) and cached")
    return SourceModel(model.eval(), config, "trained", reason, digest, accuracy, seconds, cached)
