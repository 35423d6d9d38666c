"""Files that survive crashes and load safely: one atomic write, training
checkpoints, and the prefixes that wrappers add to ``state_dict`` keys.

- :func:`atomic_write`: write a file so that a crash leaves the old one or the new
  one, never half of one; everything in the course that writes a file uses it.
- :func:`save_checkpoint` / :func:`load_checkpoint`: a checkpoint is a dict of
  named parts (``model=model.state_dict()``, ``optimizer=...``, ``epoch=3``, ...),
  written atomically and read back with ``weights_only=True``.
- :func:`strip_prefix`: the ``module.`` (``DataParallel`` / DDP) or ``_orig_mod.``
  (``torch.compile``) prefix removed, on a copy.

Loading only what fits is :mod:`tutorial_lib.partial_loading`; downloads with a
hash check are :mod:`tutorial_lib.download`; RNG states for an exact resume are in
:mod:`tutorial_lib.reproducibility`.

Taught in: "Saving and loading".
"""

from __future__ import annotations

import collections
import os
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

__all__ = ["PathLike", "atomic_write", "load_checkpoint", "save_checkpoint", "strip_prefix"]

PathLike = str | os.PathLike
"""A file path: a ``str`` or any ``os.PathLike`` such as ``pathlib.Path``."""

# Leaf types that torch.load(..., weights_only=True) accepts (checked on torch 2.6-2.15).
# Exact types: subclasses such as numpy.float64 (a float) pickle as their own class.
_SAFE_LEAVES = frozenset(
    {bool, int, float, complex, str, bytes, type(None), torch.Size, torch.dtype, torch.device}
)
_SAFE_MAPPINGS = (dict, collections.OrderedDict)
_SAFE_SEQUENCES = (list, tuple, set)


def _describe(where: str, value: object) -> str:
    """Why ``value`` cannot go into a weights-only checkpoint."""
    if isinstance(value, nn.Module):
        return (
            f"{where} is a whole {type(value).__name__} module; save its weights with "
            f"{where.split('[')[0]}=model.state_dict() (a pickled module needs its class to "
            "load and cannot be read with weights_only=True)"
        )
    if callable(value) and getattr(value, "__name__", "") == "state_dict":
        return (
            f"{where} is the method state_dict itself, not its result: call it, "
            "model.state_dict() with parentheses"
        )
    if isinstance(value, np.ndarray):
        return f"{where} is a NumPy array; convert it with torch.from_numpy(...) or .tolist()"
    if isinstance(value, np.generic):
        return f"{where} is a NumPy {type(value).__name__}; convert it with .item()"
    return (
        f"{where} is a {type(value).__name__}, which torch.load(..., weights_only=True) "
        "refuses; a checkpoint holds tensors, numbers, strings, bytes, None, torch.Size/"
        "dtype/device and dicts, lists, tuples or sets of them (convert it, e.g. str(path))"
    )


def _check_loadable(value: object, where: str) -> None:
    if isinstance(value, torch.Tensor) or type(value) in _SAFE_LEAVES:
        return
    if type(value) in _SAFE_MAPPINGS:
        for key, item in value.items():
            _check_loadable(key, f"{where} key {key!r}")
            _check_loadable(item, f"{where}[{key!r}]")
        return
    if type(value) in _SAFE_SEQUENCES:
        for index, item in enumerate(value):
            _check_loadable(item, f"{where}[{index}]")
        return
    raise TypeError(_describe(where, value))


def _fsync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: PathLike, data: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write ``data`` (bytes, or a function that writes to the open binary file) to
    ``path`` atomically, and return the path.

    The content goes to a temporary file in the same folder, is flushed to disk
    (``fsync``) and renamed over ``path`` with ``os.replace``, which is atomic; the
    folder is then synced so that the rename survives a power cut. A crash, an
    exception in ``data`` or Ctrl-C leaves the previous file at ``path`` intact and
    removes the temporary file: readers see the old file or the new one, never half
    of one. The new file gets the permissions a plain ``open`` would give it (the
    umask applies), not ``tempfile``'s private 0600.

    Every file the course writes goes through here: checkpoints
    (:func:`save_checkpoint`) and the cached source models (``tutorial_lib.pretrained``).

    Taught in: "Saving and loading".
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not (isinstance(data, (bytes, bytearray, memoryview)) or callable(data)):
        raise TypeError(
            "data must be bytes or a function that writes to a binary file, "
            f"got {type(data).__name__}"
        )
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"folder {str(folder)!r} does not exist; create it first with "
            "Path(...).mkdir(parents=True, exist_ok=True)"
        )
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file name such as 'last.pt'")
    # A fresh name in the same folder (same file system, so os.replace is a rename).
    # os.open with 0o666 honours the umask, unlike tempfile.mkstemp's private 0o600.
    temporary = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            if callable(data):
                data(file)
            else:
                file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:  # KeyboardInterrupt too: never leave a half-written file behind
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(folder)
    return path


def save_checkpoint(path: PathLike, **parts: Any) -> Path:
    """Save the named ``parts`` as one checkpoint file, atomically; return its path.

    >>> save_checkpoint("last.pt", model=model.state_dict(),
    ...                 optimizer=optimizer.state_dict(), epoch=3)  # doctest: +SKIP

    The parts are written to a temporary file in the same folder, flushed to disk
    (``fsync``) and then renamed over ``path`` with ``os.replace``, which is atomic:
    a crash or Ctrl-C during the save leaves the previous file at ``path`` intact
    and removes the temporary file. Every part is checked first so that the file
    always loads with ``weights_only=True``: a whole ``nn.Module`` or
    ``model.state_dict`` without parentheses is refused with a ``TypeError``.

    Taught in: "Saving and loading".
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not parts:
        raise ValueError(
            "nothing to save: pass the parts by name, e.g. "
            "save_checkpoint(path, model=model.state_dict(), epoch=epoch)"
        )
    for name, value in parts.items():
        _check_loadable(value, name)
    path = Path(path)
    atomic_write(path, lambda file: torch.save(dict(parts), file))
    return path


def load_checkpoint(path: PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (or any ``torch.save`` of
    a dict with string keys) with ``weights_only=True``; return its dict of parts.

    ``map_location`` is passed to ``torch.load`` (default: every tensor on the CPU;
    move the model afterwards). A missing file raises ``FileNotFoundError``; a file
    that is not a checkpoint (truncated, another format, a pickled whole model,
    something other than a dict) raises ``ValueError`` saying what it is instead.
    Nothing from the file is ever executed.

    Taught in: "Saving and loading".
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}; check the path and file name")
    if not path.is_file():
        raise IsADirectoryError(f"{str(path)!r} is a folder, not a checkpoint file")
    try:
        loaded = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types here; all mean "not a checkpoint"
        text = str(err)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise ValueError(
                f"{str(path)!r} holds pickled Python objects that weights_only=True refuses "
                f"(it needs {found.group(1)}), for example a whole model saved with "
                "torch.save(model). Save model.state_dict() instead. "
                "torch.load(path, weights_only=False) would load it, but it runs code from "
                "the file: only do that for a file you made."
            ) from err
        detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
        first = detail.group(1) if detail else (text.strip().splitlines() or [""])[0]
        first = first.split(". ")[0].rstrip(".")
        raise ValueError(
            f"{str(path)!r} is not a readable checkpoint (truncated, corrupted, or not "
            f"written by torch.save): {type(err).__name__}" + (f": {first}" if first else "")
        ) from err
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise ValueError(
            f"{str(path)!r} holds a {type(loaded).__name__}, not a checkpoint (a dict of "
            "named parts); save one with save_checkpoint(path, model=model.state_dict(), ...)"
        )
    return loaded


def strip_prefix(state_dict: Mapping[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """A copy of ``state_dict`` with ``prefix`` removed from the keys that start with it.

    ``DataParallel`` and ``DistributedDataParallel`` store their model as
    ``.module``, so their ``state_dict`` keys read ``module.fc.weight``;
    ``torch.compile`` adds ``_orig_mod.``. Built on torch's own
    ``consume_prefix_in_state_dict_if_present`` (which also renames the version
    metadata that ``load_state_dict`` reads), applied to a copy: the argument is
    never changed. The tensors are shared, not copied.

    Taught in: "Saving and loading".
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if not prefix:
        raise ValueError("prefix is empty; pass the prefix to remove, e.g. 'module.'")
    stripped = {key[len(prefix) :] for key in state_dict if key.startswith(prefix)}
    clashes = sorted(stripped & {key for key in state_dict if not key.startswith(prefix)})
    if clashes:
        raise ValueError(
            f"removing {prefix!r} would give keys that already exist, e.g. {clashes[0]!r}; "
            "the state_dict mixes prefixed and unprefixed copies of the same tensors"
        )
    result: collections.OrderedDict[str, Any] = collections.OrderedDict(state_dict)
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        result._metadata = collections.OrderedDict(metadata)  # type: ignore[attr-defined]
    consume_prefix_in_state_dict_if_present(result, prefix)
    return result
