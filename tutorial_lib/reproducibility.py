"""One function to seed every random number generator a notebook uses.

Taught in: "Defining models" (first cell of every chapter).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from ._validate import is_int


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
