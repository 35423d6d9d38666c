"""Micro-benchmarks written to the benchmark report (`make benchmark`).

Each entry of ``BENCHMARKS`` is a function returning
``{"name": str, "summary": str, ...numbers}``. Chapters add their own here
(e.g. a loss against its reference implementation). Timings never appear in
tests: they vary from machine to machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 5, number: int = 3) -> float:
    """Best mean seconds per call over ``repeat`` rounds of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def shapes_generation() -> dict:
    """How fast the synthetic segmentation data is drawn (the U-Net and loss chapters
    draw a few hundred images per run)."""
    from tutorial_lib import make_shapes

    seconds = best_of(lambda: make_shapes(256, size=64, seed=0), repeat=3, number=1)
    return {
        "name": "make_shapes(256, size=64)",
        "seconds": seconds,
        "summary": f"{seconds * 1000:.0f} ms ({256 / seconds:.0f} images/s)",
    }


BENCHMARKS: list[Callable[[], dict]] = [shapes_generation]
