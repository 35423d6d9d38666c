"""Downloads that arrive intact: a file is kept only when its SHA-256 starts with
the published prefix (torchvision's ``name-<hash>.pth`` convention).

Taught in: "Saving and loading".
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import torch

from .state import PathLike

__all__ = ["HashMismatchError", "download_checked", "hash_prefix_from_name", "sha256"]

_MIN_HASH_DIGITS = 8  # torchvision's file names carry the first 8 hex digits
_HEX = re.compile(r"[0-9a-f]+")


class HashMismatchError(RuntimeError):
    """A downloaded file's SHA-256 does not start with the expected prefix.

    A ``RuntimeError``, like the error ``torch.hub`` raises for the same reason.

    Taught in: "Saving and loading".
    """


def sha256(path: PathLike) -> str:
    """The SHA-256 of the file at ``path`` as 64 lowercase hex digits
    (``hashlib.file_digest``, which reads the file in chunks).

    Taught in: "Saving and loading".
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {str(path)!r}")
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


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
