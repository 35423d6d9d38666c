"""The check of the exercise "One step over several micro-batches" (optim-ex-1).

Taught in: "Optimizers and learning-rate schedulers" (exercise "One step over several
micro-batches").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..._validate import is_real
from ..core import CheckFailed, exercise_check

__all__ = ["check_accumulated_step"]


def _grads(model: nn.Module, loss_fn: Callable, inputs: torch.Tensor, targets: torch.Tensor):
    loss = loss_fn(model(inputs), targets)
    return loss.item(), [g.detach() for g in torch.autograd.grad(loss, list(model.parameters()))]


def _params_after(before: list[torch.Tensor], grads: list[torch.Tensor], lr: float):
    # The first step of SGD (with or without momentum): p - lr * grad.
    return [b - lr * g for b, g in zip(before, grads, strict=True)]


def _same(got: list[torch.Tensor], expected: list[torch.Tensor]) -> bool:
    return all(
        torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(got, expected, strict=True)
    )


_STEP_HINTS = {
    "stale": "the stale gradients were not cleared: call optimizer.zero_grad() once, before the "
    "first backward()",
    "last": "only the last micro-batch's gradient was used: zero_grad() inside the loop clears "
    "the earlier ones; call it once, before the loop",
    "sum": "the gradient is the sum of the micro-batch means, several times too large: scale "
    "each micro-batch's loss by its share len(inputs) / total",
    "equal": "every micro-batch got the same weight 1/k; with unequal sizes scale each loss by "
    "its share of the samples, len(inputs) / total",
}


def _accumulated_case(
    fn: Callable[..., Any],
    where: str,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    model: nn.Module,
    lr: float,
    momentum: float,
    loss_fn: Callable,
) -> None:
    before = [p.detach().clone() for p in model.parameters()]
    sizes = [len(x) for x, _ in batches]
    total = sum(sizes)
    per_batch = [_grads(model, loss_fn, x, y) for x, y in batches]

    def combine(weights: Sequence[float]) -> list[torch.Tensor]:
        return [
            sum(w * grads[i] for w, (_, grads) in zip(weights, per_batch, strict=True))
            for i in range(len(before))
        ]

    shares = [n / total for n in sizes]
    expected_loss = sum(w * loss for w, (loss, _) in zip(shares, per_batch, strict=True))
    stale = [torch.full_like(p, 0.5) for p in before]
    right = combine(shares)
    variants = {
        "stale": [g + s for g, s in zip(right, stale, strict=True)],
        "last": combine([0.0] * (len(sizes) - 1) + [shares[-1]]),
        "last, unscaled": combine([0.0] * (len(sizes) - 1) + [1.0]),
        "sum": combine([1.0] * len(sizes)),
        "equal": combine([1 / len(sizes)] * len(sizes)),
    }
    for p, s in zip(model.parameters(), stale, strict=True):
        p.grad = s.clone()  # gradients left over from an earlier step
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    steps: list[int] = []
    original_step = optimizer.step

    def counting_step(*args: Any, **kwargs: Any) -> Any:
        steps.append(1)
        return original_step(*args, **kwargs)

    optimizer.step = counting_step  # type: ignore[method-assign]
    seen: list[int] = []

    def record(module: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor):
            seen.append(len(args[0]))

    handle = model.register_forward_pre_hook(record)
    try:
        got = fn(model, optimizer, loss_fn, [(x.clone(), y.clone()) for x, y in batches])
    finally:
        handle.remove()
    if any(n > max(sizes) for n in seen):
        raise CheckFailed(
            f"{where}: the model ran on {max(seen)} samples at once, more than the largest "
            "micro-batch: the point is never to run the whole batch; run the model on each "
            "micro-batch and let backward() add up the gradients"
        )
    if isinstance(got, torch.Tensor):
        raise CheckFailed(
            f"{where}: returned a tensor; return a Python float (loss.item()), a tensor keeps "
            "its graph alive"
        )
    if not is_real(got):
        raise CheckFailed(f"{where}: expected a Python float, got {type(got).__name__}")
    if len(steps) != 1:
        raise CheckFailed(
            f"{where}: optimizer.step() was called {len(steps)} times; accumulate the gradients "
            "of all micro-batches with backward() and step once at the end"
        )
    after = [p.detach() for p in model.parameters()]
    if not _same(after, _params_after(before, right, lr)):
        for key, grads in variants.items():
            if _same(after, _params_after(before, grads, lr)):
                raise CheckFailed(f"{where}: {_STEP_HINTS[key.split(',')[0]]}")
        raise CheckFailed(
            f"{where}: the parameters after your step differ from one step on the concatenated "
            "batch; clear the old gradients, call backward() on every micro-batch's loss scaled "
            "by its share, then optimizer.step() once, using the model, loss_fn and optimizer "
            "you are given"
        )
    if not math.isclose(got, expected_loss, rel_tol=1e-5, abs_tol=1e-7):
        plain_mean = sum(loss for loss, _ in per_batch) / len(sizes)
        hint = (
            "that is the plain mean of the micro-batch losses; weight them by size"
            if math.isclose(got, plain_mean, rel_tol=1e-5)
            else "return the loss of the whole batch, from before the step"
        )
        raise CheckFailed(f"{where}: expected the loss {expected_loss:.5f}, got {got:.5f}: {hint}")


@exercise_check("accumulated_step")
def check_accumulated_step(fn: Callable[..., Any]) -> str:
    """Self-check of optim-ex-1, ``fn(model, optimizer, loss_fn, batches) -> float``.

    One optimizer step over several micro-batches must equal one step on the
    micro-batches concatenated (``loss_fn`` averages over its batch), with stale
    gradients present beforehand, and return that batch's loss as a float. Two
    cases: equal micro-batches with plain SGD and cross-entropy; unequal ones with
    SGD and momentum and a label-smoothed loss. A wrong step is diagnosed (stale
    gradients kept, only the last micro-batch, summed or equally weighted losses,
    several optimizer steps).

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    generator = torch.Generator().manual_seed(1)

    def smoothed(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets, label_smoothing=0.2)

    cases = [
        ("3 equal micro-batches, SGD, cross-entropy", (4, 4, 4), 0.1, 0.0, F.cross_entropy),
        (
            "micro-batches of 2, 5 and 9, SGD with momentum, smoothed loss",
            (2, 5, 9),
            0.05,
            0.9,
            smoothed,
        ),
    ]
    for index, (label, sizes, lr, momentum, loss_fn) in enumerate(cases):
        with torch.random.fork_rng():
            torch.manual_seed(10 + index)
            model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
        batches = [
            (torch.randn(n, 6, generator=generator), torch.randint(0, 3, (n,), generator=generator))
            for n in sizes
        ]
        _accumulated_case(fn, f"case {index + 1} ({label})", batches, model, lr, momentum, loss_fn)
    return "one step equal to a step on the concatenated batch, and its loss, in both cases."
