"""Random number generators: seed them all, and save and restore their states.

- :func:`seed_everything`: one call at the top of every chapter.
- :func:`get_rng_states` / :func:`set_rng_states`: every generator a training loop
  uses, in a form that a ``weights_only=True`` checkpoint can hold, for a resume
  that continues exactly where the run stopped.

Taught in: "Defining models" (first cell of every chapter) and "Saving and loading".
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ._validate import is_int

__all__ = ["get_rng_states", "seed_everything", "set_rng_states"]


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every CUDA device).

    With ``deterministic=True`` cuDNN autotuning is turned off and PyTorch is asked
    to use deterministic algorithms where it has them (warning, not failing, where
    it has none), so that re-running a notebook prints the same numbers.

    Returns a ``torch.Generator`` seeded with ``seed``: pass it to a ``DataLoader``
    (``generator=``) so that shuffling does not depend on what ran before.

    Taught in: "Defining models".
    """
    if not is_int(seed, numpy=True):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds the legacy global RNG that libraries use
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # cuBLAS needs this for deterministic matrix products on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def get_rng_states() -> dict[str, Any]:
    """The states of Python's ``random``, NumPy's global RNG, torch's CPU RNG and
    (when present) every CUDA device, as a dict that :func:`tutorial_lib.state.save_checkpoint` can
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
