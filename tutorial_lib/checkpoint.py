"""Checkpoints that survive crashes, load safely, resume exactly and arrive intact.

- :func:`save_checkpoint` / :func:`load_checkpoint`: a checkpoint is a dict of
  named parts (``model=model.state_dict()``, ``optimizer=...``, ``epoch=3``, ...),
  written atomically and read back with ``weights_only=True``.
- :func:`get_rng_states` / :func:`set_rng_states`: every random number generator
  a training loop uses, in a form that ``weights_only=True`` can load.
- :func:`strip_prefix`: the ``module.`` (``DataParallel`` / DDP) or ``_orig_mod.``
  (``torch.compile``) prefix removed, on a copy.
- :func:`load_matching`: load the tensors whose name *and* shape match, and report
  the rest.
- :func:`sha256` / :func:`download_checked`: hash a file; download one and reject
  it unless its SHA-256 starts with the published prefix.

Taught in: "Saving and loading".
"""

from __future__ import annotations

import collections
import hashlib
import os
import random
import re
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from ._validate import is_int

PathLike = str | os.PathLike

# Leaf types that torch.load(..., weights_only=True) accepts (checked on torch 2.6-2.15).
# Exact types: subclasses such as numpy.float64 (a float) pickle as their own class.
_SAFE_LEAVES = frozenset(
    {bool, int, float, complex, str, bytes, type(None), torch.Size, torch.dtype, torch.device}
)
_SAFE_MAPPINGS = (dict, collections.OrderedDict)
_SAFE_SEQUENCES = (list, tuple, set)
_MIN_HASH_DIGITS = 8  # torchvision's file names carry the first 8 hex digits
_HEX = re.compile(r"[0-9a-f]+")


# --------------------------------------------------------------------------- saving
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
            torch.save(dict(parts), file)
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


# --------------------------------------------------------------------------- RNG states
def get_rng_states() -> dict[str, Any]:
    """The states of Python's ``random``, NumPy's global RNG, torch's CPU RNG and
    (when present) every CUDA device, as a dict that :func:`save_checkpoint` can
    store and :func:`set_rng_states` restores. (NumPy's state is converted to
    tensors and numbers, which ``weights_only=True`` accepts.)

    A ``DataLoader`` with its own ``generator`` needs that generator's state too:
    ``loader.generator.get_state()``.

    Taught in: "Saving and loading".
    """
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()  # noqa: NPY002
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return states


def set_rng_states(states: Mapping[str, Any]) -> None:
    """Restore the generators saved by :func:`get_rng_states`.

    CUDA states are restored when this machine has as many CUDA devices as the one
    that saved them; otherwise a ``UserWarning`` says that CUDA random numbers will
    differ (the CPU ones are still restored).

    Taught in: "Saving and loading".
    """
    if not isinstance(states, Mapping):
        raise TypeError(
            f"states must be the dict from get_rng_states(), got {type(states).__name__}"
        )
    missing = {"python", "numpy", "torch"} - set(states)
    if missing:
        raise ValueError(
            f"states lacks {sorted(missing)}; pass the dict that get_rng_states() returned"
        )
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = states["numpy"]
    np.random.set_state(  # noqa: NPY002 - the legacy global RNG that libraries use
        (
            numpy_state["kind"],
            numpy_state["keys"].cpu().numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(states["torch"].cpu())  # CPU even if loaded with map_location="cuda"
    cuda = [state.cpu() for state in states.get("cuda", [])]
    if cuda:
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if available == len(cuda):
            torch.cuda.set_rng_state_all(cuda)
        else:
            warnings.warn(
                f"the states hold {len(cuda)} CUDA generator(s) but this machine has "
                f"{available} CUDA device(s); CUDA random numbers will differ",
                UserWarning,
                stacklevel=2,
            )


# --------------------------------------------------------------------------- prefixes
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


# --------------------------------------------------------------------------- partial loading
@dataclass(frozen=True)
class ShapeMismatch:
    """A tensor present in both, with different shapes (so it was not loaded).

    Taught in: "Saving and loading".
    """

    name: str
    checkpoint_shape: tuple[int, ...]
    model_shape: tuple[int, ...]


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_matching` did. Names are in the model's (or, for
    ``unexpected``, the checkpoint's) order; ``shapes`` maps every model name to its
    shape. ``str(report)`` is a readable summary.

    Taught in: "Saving and loading".
    """

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[ShapeMismatch, ...]
    shapes: Mapping[str, tuple[int, ...]]

    @property
    def complete(self) -> bool:
        """Every tensor of the model was loaded."""
        return not self.missing and not self.mismatched

    def __str__(self) -> str:
        def shape(s: tuple[int, ...]) -> str:
            return f"({', '.join(map(str, s))}{',' if len(s) == 1 else ''})"

        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        lines = [f"loaded {len(self.loaded)} of {total} model tensors (matched by name and shape)"]
        if self.mismatched:
            lines.append("  shape differs, kept the model's own values:")
            lines += [
                f"    {m.name}: checkpoint {shape(m.checkpoint_shape)}, "
                f"model {shape(m.model_shape)}"
                for m in self.mismatched
            ]
        if self.missing:
            lines.append("  not in the checkpoint, kept the model's own values:")
            lines += [f"    {name} {shape(self.shapes[name])}" for name in self.missing]
        if self.unexpected:
            lines.append("  in the checkpoint but not in the model, ignored:")
            lines += [f"    {name}" for name in self.unexpected]
        return "\n".join(lines)


def _shape(value: object) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _prefix_hint(checkpoint_keys: list[str], model_keys: list[str]) -> str:
    for prefix in ("module.", "_orig_mod."):
        if any(k.startswith(prefix) for k in checkpoint_keys):
            return (
                f"; the checkpoint's keys start with {prefix!r}: use strip_prefix(sd, {prefix!r})"
            )
        if any(k.startswith(prefix) for k in model_keys):
            attr = prefix.rstrip(".")
            return f"; the model is a wrapper (keys start with {prefix!r}): load into model.{attr}"
    return ""


def load_matching(model: nn.Module, state_dict: Mapping[str, Any]) -> LoadReport:
    """Load into ``model`` every entry of ``state_dict`` whose name and shape match,
    and return a :class:`LoadReport` of what was loaded, missing, unexpected and
    shape-mismatched.

    Unlike ``model.load_state_dict(state_dict, strict=False)``, which still raises
    on the first shape mismatch, a different shape only lands in the report. Names
    are matched exactly (never by position): rename keys first, e.g. with
    :func:`strip_prefix`. When not a single name matches, that is a mistake (usually
    a prefix), so a ``ValueError`` says so. ``state_dict`` is not modified.

    Taught in: "Saving and loading".
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(state_dict, Mapping):
        hint = " (did you forget the () of state_dict?)" if callable(state_dict) else ""
        raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}{hint}")
    own = model.state_dict()
    common = [name for name in own if name in state_dict]
    if state_dict and not common:
        raise ValueError(
            "no name in the checkpoint matches the model: checkpoint keys look like "
            f"{next(iter(state_dict))!r}, model keys like {next(iter(own), None)!r}"
            + _prefix_hint(list(state_dict), list(own))
        )
    selected: collections.OrderedDict[str, Any] = collections.OrderedDict()
    mismatched = []
    for name in common:
        theirs, ours = _shape(state_dict[name]), _shape(own[name])
        if theirs == ours:
            selected[name] = state_dict[name]
        else:
            mismatched.append(ShapeMismatch(name, theirs or (), ours or ()))
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        selected._metadata = metadata  # type: ignore[attr-defined] - read-only use
    model.load_state_dict(selected, strict=False)
    return LoadReport(
        loaded=tuple(selected),
        missing=tuple(n for n in own if n not in state_dict),
        unexpected=tuple(n for n in state_dict if n not in own),
        mismatched=tuple(mismatched),
        shapes={name: _shape(value) or () for name, value in own.items()},
    )


# --------------------------------------------------------------------------- downloads
class HashMismatchError(RuntimeError):
    """A downloaded file's SHA-256 does not start with the expected prefix.

    A ``RuntimeError``, like the error ``torch.hub`` raises for the same reason.

    Taught in: "Saving and loading".
    """


def sha256(path: PathLike, *, chunk_size: int = 1 << 20) -> str:
    """The SHA-256 of the file at ``path`` as 64 lowercase hex digits, read in chunks.

    Taught in: "Saving and loading".
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not is_int(chunk_size) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {str(path)!r}")
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def hash_prefix_from_name(name: str) -> str:
    """The hash prefix in a file name that follows torchvision's ``name-<hash>.ext``
    convention (found with ``torch.hub.HASH_REGEX``), e.g. ``"resnet18-f37072fd.pth"``
    gives ``"f37072fd"``. Raises ``ValueError`` when the name carries no hash of at
    least 8 hex digits.

    Taught in: "Saving and loading".
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    found = torch.hub.HASH_REGEX.search(Path(name).name)
    if found is None or len(found.group(1)) < _MIN_HASH_DIGITS:
        raise ValueError(
            f"{name!r} carries no hash of at least {_MIN_HASH_DIGITS} hex digits in the "
            "form name-<sha256 prefix>.ext; pass the published hash explicitly"
        )
    return found.group(1)


def _normalise_hash(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"hash_prefix must be a str of hex digits, got {type(value).__name__}")
    value = value.strip().lower()
    if not _HEX.fullmatch(value) or not _MIN_HASH_DIGITS <= len(value) <= 64:
        raise ValueError(
            f"hash_prefix must be {_MIN_HASH_DIGITS} to 64 hex digits (the SHA-256 or its "
            f"start), got {value!r}"
        )
    return value


def download_checked(
    url: str, dst: PathLike, *, hash_prefix: str | None = None, progress: bool = False
) -> Path:
    """Download ``url`` to ``dst`` unless the SHA-256 of what arrives does not start
    with ``hash_prefix``; return the file's path.

    - ``dst`` is a file path, or an existing folder (the file then takes its name
      from the URL).
    - ``hash_prefix`` is the published SHA-256 or its start (at least 8 hex digits);
      ``None`` takes it from the file name, torchvision-style
      (``resnet18-f37072fd.pth``; see :func:`hash_prefix_from_name`).
    - Built on ``torch.hub.download_url_to_file``, which writes to a temporary file
      next to ``dst`` and checks the hash before moving it into place: on a
      mismatch nothing is left behind, an existing ``dst`` is untouched, and
      :class:`HashMismatchError` says "expected … got …".
    - When ``dst`` already exists with a matching hash, nothing is downloaded.

    Taught in: "Saving and loading".
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    if not isinstance(dst, (str, os.PathLike)):
        raise TypeError(f"dst must be a str or os.PathLike, got {type(dst).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https", "file"}:
        raise ValueError(f"url must start with http://, https:// or file://, got {url!r}")
    url_name = unquote(parts.path.rsplit("/", 1)[-1])
    target = Path(dst)
    if target.is_dir():
        if not url_name:
            raise ValueError(f"{url!r} names no file; pass dst as a file path instead")
        target = target / url_name
    elif not target.parent.is_dir():
        raise FileNotFoundError(f"folder {str(target.parent)!r} does not exist; create it first")
    expected = _normalise_hash(
        hash_prefix if hash_prefix is not None else hash_prefix_from_name(url_name or target.name)
    )
    if target.is_file() and sha256(target).startswith(expected):
        return target  # already here and intact
    try:
        torch.hub.download_url_to_file(url, str(target), hash_prefix=expected, progress=progress)
    except RuntimeError as err:
        if "hash" not in str(err):
            raise
        raise HashMismatchError(
            f"SHA-256 check failed for {url_name or url!r}: {err}; nothing was saved to "
            f"{str(target)!r}. The file is corrupted or was replaced: do not load it."
        ) from err
    return target


__all__ = [
    "HashMismatchError",
    "LoadReport",
    "ShapeMismatch",
    "download_checked",
    "get_rng_states",
    "hash_prefix_from_name",
    "load_checkpoint",
    "load_matching",
    "save_checkpoint",
    "set_rng_states",
    "sha256",
    "strip_prefix",
]
