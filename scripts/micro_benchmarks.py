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


def focal_loss_vs_torchvision() -> dict:
    """``tutorial_lib.losses.sigmoid_focal_loss`` against ``torchvision.ops.sigmoid_focal_loss``
    on the same large input (a batch of 16 masks of 256x256, 5% foreground), forward and
    forward + backward. Ours also checks its inputs (one pass over the targets) and computes
    ``1 - p_t`` from ``sigmoid(-x)`` to avoid cancellation; the ratio shows what that costs."""
    import torch
    from torchvision.ops import sigmoid_focal_loss as reference

    from tutorial_lib.losses import sigmoid_focal_loss

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 1, 256, 256, generator=generator)
    targets = (torch.rand(logits.shape, generator=generator) < 0.05).float()
    leaf = logits.clone().requires_grad_(True)

    def forward(fn: Callable[..., torch.Tensor]) -> Callable[[], object]:
        return lambda: fn(logits, targets, alpha=0.25, gamma=2.0, reduction="mean")

    def forward_backward(fn: Callable[..., torch.Tensor]) -> Callable[[], object]:
        def step() -> None:
            leaf.grad = None
            fn(leaf, targets, alpha=0.25, gamma=2.0, reduction="mean").backward()

        return step

    ours = best_of(forward(sigmoid_focal_loss))
    theirs = best_of(forward(reference))
    ours_fb = best_of(forward_backward(sigmoid_focal_loss))
    theirs_fb = best_of(forward_backward(reference))
    return {
        "name": "sigmoid_focal_loss vs torchvision.ops (16x1x256x256, mean)",
        "seconds": ours,
        "reference_seconds": theirs,
        "ratio": ours / theirs,
        "seconds_forward_backward": ours_fb,
        "reference_seconds_forward_backward": theirs_fb,
        "ratio_forward_backward": ours_fb / theirs_fb,
        "summary": (
            f"forward {ours * 1000:.1f} ms vs {theirs * 1000:.1f} ms "
            f"(x{ours / theirs:.2f}); forward+backward {ours_fb * 1000:.1f} ms vs "
            f"{theirs_fb * 1000:.1f} ms (x{ours_fb / theirs_fb:.2f})"
        ),
    }


BENCHMARKS: list[Callable[[], dict]] = [shapes_generation, focal_loss_vs_torchvision]
