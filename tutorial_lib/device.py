"""Pick the device a notebook runs on.

Taught in: "Defining models" (its setup cell); every other chapter calls
:func:`get_device` instead of hard-coding ``.cuda()``.
"""

from __future__ import annotations

import os

import torch

__all__ = ["get_device"]

DEVICE_ENV_VAR = "TUTORIAL_DEVICE"
"""Environment variable that forces a device, e.g. ``cpu``, ``cuda``, ``cuda:1`` or ``mps``."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _check_available(device: torch.device, source: str) -> torch.device:
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"{source} asks for {str(device)!r} but CUDA is not available on this machine; "
                f"unset {DEVICE_ENV_VAR} or set it to 'cpu'."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"{source} asks for {str(device)!r} but only {torch.cuda.device_count()} CUDA "
                f"device(s) exist; use an index below {torch.cuda.device_count()}."
            )
    elif device.type == "mps" and not _mps_available():
        raise RuntimeError(
            f"{source} asks for 'mps' but Apple MPS is not available; "
            f"unset {DEVICE_ENV_VAR} or set it to 'cpu'."
        )
    elif device.type not in {"cpu", "cuda", "mps"}:
        raise ValueError(
            f"{source} names device type {device.type!r}; expected one of 'cpu', 'cuda', 'mps'."
        )
    return device


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the device to run on: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or, when it is ``None``, the environment variable
    ``TUTORIAL_DEVICE``) forces a device; asking for one that this machine does not
    have raises a ``RuntimeError`` that says how to fix it, instead of silently
    falling back.

    Taught in: "Defining models".

    >>> get_device("cpu")
    device(type='cpu')
    """
    if prefer is None:
        forced = os.environ.get(DEVICE_ENV_VAR, "").strip()
        if forced:
            try:
                device = torch.device(forced)
            except RuntimeError as err:
                raise ValueError(
                    f"{DEVICE_ENV_VAR}={forced!r} is not a device name; "
                    "use 'cpu', 'cuda', 'cuda:0' or 'mps'."
                ) from err
            return _check_available(device, f"{DEVICE_ENV_VAR}={forced!r}")
    else:
        if not isinstance(prefer, (str, torch.device)):
            raise TypeError(
                f"prefer must be a str, a torch.device or None, got {type(prefer).__name__}"
            )
        try:
            device = torch.device(prefer)
        except RuntimeError as err:
            raise ValueError(
                f"prefer={prefer!r} is not a device name; use 'cpu', 'cuda', 'cuda:0' or 'mps'."
            ) from err
        return _check_available(device, f"prefer={prefer!r}")

    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")
