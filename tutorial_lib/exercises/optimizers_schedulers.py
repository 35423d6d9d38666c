"""Checks for the exercises of "Optimizers and learning-rate schedulers".

Each ``check_*`` function takes the learner's answer, runs it on cases of its own
(some of them random, none of them visible in the notebook), prints a ✅ line, or
raises :class:`~tutorial_lib.exercises.core.CheckFailed` saying what is wrong and
how to fix it; a stub that still raises ``NotImplementedError`` is reported as not
attempted.

Taught in: "Optimizers and learning-rate schedulers" (exercises).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import lr_scheduler
from torch.utils.data import TensorDataset

from .._validate import is_real
from ..schedules import trace_lr
from .core import CheckFailed, exercise_check

__all__ = [
    "LR_STEPS",
    "LR_TARGET",
    "check_accumulated_step",
    "check_lr_choice",
    "check_ndim_param_groups",
    "check_plateau_lrs",
    "check_warmup_cosine",
]


# ---------------------------------------------------------------- optim-ex-1
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


# ---------------------------------------------------------------- optim-ex-2
def _official_warmup_cosine(warmup: int, total: int) -> list[float]:
    def build(opt: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
        return lr_scheduler.SequentialLR(
            opt,
            [
                lr_scheduler.LinearLR(opt, start_factor=1 / warmup, total_iters=warmup - 1),
                lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup),
            ],
            milestones=[warmup],
        )

    return trace_lr(build, total, lr=1.0)[0]


@exercise_check("warmup_cosine")
def check_warmup_cosine(fn: Callable[..., float]) -> str:
    """Self-check of optim-ex-2, ``fn(step, *, warmup, total) -> factor``.

    Traces ``LambdaLR`` with the learner's factor against the official
    ``SequentialLR(LinearLR, CosineAnnealingLR)`` for several (warm-up, total)
    pairs, two of them random, and expects the factor 0 at ``step == total``.

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    generator = torch.Generator().manual_seed(3)
    pairs = [(5, 30), (3, 12), (10, 100)]
    for _ in range(2):
        warmup = int(torch.randint(2, 9, (1,), generator=generator))
        pairs.append((warmup, warmup + int(torch.randint(5, 40, (1,), generator=generator))))
    for warmup, total in pairs:
        expected = _official_warmup_cosine(warmup, total)

        def factor(step: int, warmup: int = warmup, total: int = total) -> float:
            return fn(step, warmup=warmup, total=total)

        got = trace_lr(
            lambda opt, factor=factor: lr_scheduler.LambdaLR(opt, factor), total, lr=1.0
        )[0]
        for step, (g, e) in enumerate(zip(got, expected, strict=True)):
            if not math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-9):
                hint = (
                    "during the warm-up the factor at step t is (t + 1) / warmup, so step 0 "
                    "trains at 1/warmup of the base rate and step warmup - 1 at the full rate"
                    if step < warmup
                    else "after the warm-up, half a cosine runs from 1 at step warmup to 0 at "
                    "step total: progress = (step - warmup) / (total - warmup)"
                )
                raise CheckFailed(
                    f"warmup={warmup}, total={total}: at step {step} the factor should be "
                    f"{e:.6g}, yours gives {g:.6g}; {hint} (return the factor, not the rate)"
                )
        end = fn(total, warmup=warmup, total=total)
        if not math.isclose(float(end), 0.0, abs_tol=1e-9):
            raise CheckFailed(
                f"warmup={warmup}, total={total}: the factor at step total should be 0, got "
                f"{float(end):.6g}"
            )
    return f"matches SequentialLR(LinearLR, CosineAnnealingLR) for {len(pairs)} settings."


# ---------------------------------------------------------------- optim-ex-3
def _official_plateau(values: Sequence[float], factor: float, patience: int) -> list[float]:
    def build(opt: torch.optim.Optimizer) -> lr_scheduler.ReduceLROnPlateau:
        return lr_scheduler.ReduceLROnPlateau(opt, factor=factor, patience=patience, threshold=0)

    return trace_lr(build, len(values), lr=0.1, metrics=list(values))[0]


@exercise_check("plateau_lrs")
def check_plateau_lrs(fn: Callable[..., Sequence[float]]) -> str:
    """Self-check of optim-ex-3, ``fn(metrics, lr, *, factor, patience) -> rates``.

    Compares with ``trace_lr`` on the real ``ReduceLROnPlateau(threshold=0)`` for a
    plateau, a sequence of ties, a noisy one that improves and worsens, and random
    sequences with ties, each for several (factor, patience) pairs.

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    generator = torch.Generator().manual_seed(5)
    noise = torch.rand(60, generator=generator).tolist()
    sequences = {
        "a plateau": [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8],
        "ties are not improvements": [3.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0],
        "noisy, improving then flat": [
            max(0.4, 1.5 - 0.04 * t) + 0.05 * n for t, n in enumerate(noise)
        ],
    }
    for index in range(3):
        steps = torch.randint(0, 4, (40,), generator=generator)  # rounded: many ties
        sequences[f"random sequence {index + 1}"] = (
            (2.0 - 0.05 * torch.arange(40) + 0.1 * steps).round(decimals=1).tolist()
        )
    settings = [(0.5, 2), (0.1, 0), (0.5, 1), (0.3, 4)]
    count = 0
    for name, values in sequences.items():
        for factor, patience in settings:
            expected = _official_plateau(values, factor, patience)
            if min(expected) < 1e-6:
                continue  # the scheduler's eps=1e-8 would start to matter: not a case
            count += 1
            got = fn(list(values), 0.1, factor=factor, patience=patience)
            where = f"{name}, factor={factor}, patience={patience}"
            if not isinstance(got, Sequence) or isinstance(got, str):
                raise CheckFailed(f"{where}: expected a list of rates, got {type(got).__name__}")
            got = list(got)
            if len(got) != len(expected):
                raise CheckFailed(
                    f"{where}: expected {len(expected)} rates (one per metric, the rate each "
                    f"step trained with), got {len(got)}"
                )
            for step, (g, e) in enumerate(zip(got, expected, strict=True)):
                if not is_real(g):
                    raise CheckFailed(f"{where}: rate {step} is a {type(g).__name__}, not a float")
                if not math.isclose(g, e, rel_tol=1e-9, abs_tol=1e-12):
                    if step == 0:
                        hint = "the first rate is lr itself: record the rate before reacting"
                    elif g < e:
                        hint = (
                            "yours reduced too early: the rate drops only after MORE than "
                            "`patience` steps in a row without a metric strictly below the best "
                            "so far"
                        )
                    else:
                        hint = (
                            "yours reduced too late or not at all: a tie is not an improvement, "
                            "the best so far is kept after a reduction, and only the count "
                            "of bad steps restarts"
                        )
                    raise CheckFailed(
                        f"{where}: at step {step} the rate should be {e:.6g}, yours is {g:.6g}; "
                        f"{hint}"
                    )
    return f"matches ReduceLROnPlateau on {count} (sequence, factor, patience) cases."


# ---------------------------------------------------------------- optim-ex-4
def _ndim_model() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(1, 4, 3),
                bn=nn.BatchNorm2d(4),
                act=nn.PReLU(4),  # a 1-D weight that is neither a bias nor a normalisation
                flatten=nn.Flatten(),
                fc=nn.Linear(4 * 6 * 6, 10),
                norm=nn.LayerNorm(10),
            )
        )
    model.conv.bias.requires_grad_(False)  # frozen: must be left out
    return model


@exercise_check("ndim_param_groups")
def check_ndim_param_groups(fn: Callable[..., Any]) -> str:
    """Self-check of optim-ex-4, ``fn(model, weight_decay) -> [group, group]``.

    The model is a small CNN with a frozen convolution bias and a PReLU (a 1-D
    weight that the by-type rule of ``build_param_groups`` decays and the ndim rule
    does not). Each group must be a dict with a ``params`` list and an explicit
    ``weight_decay``; every trainable tensor must appear once, frozen ones not at
    all; exactly the tensors with two or more dimensions get ``weight_decay``
    (0.123 here), the others 0.0; ``AdamW`` must accept the groups.

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    model = _ndim_model()
    weight_decay = 0.123
    names = {id(p): name for name, p in model.named_parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    should_decay = {id(p) for p in model.parameters() if p.requires_grad and p.ndim >= 2}
    groups = fn(model, weight_decay)
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, dict) for g in groups):
        raise CheckFailed("expected a list of dicts, one per parameter group")
    for index, group in enumerate(groups):
        if not isinstance(group.get("params"), (list, tuple)):
            raise CheckFailed(
                f"group {index}: 'params' must be a list of tensors, got "
                f"{type(group.get('params')).__name__} (a generator is used up after one pass)"
            )
        if "weight_decay" not in group:
            raise CheckFailed(
                f"group {index} has no 'weight_decay' key, so it takes the optimizer's default "
                "(0.01 for AdamW); set 'weight_decay': 0.0 explicitly"
            )
    ids = [id(p) for g in groups for p in g["params"]]
    if len(ids) != len(set(ids)):
        twice = next(names.get(i, "?") for i in ids if ids.count(i) > 1)
        raise CheckFailed(f"{twice} appears in more than one place; put each tensor in one group")
    frozen = [names[i] for i in ids if i in names and i not in trainable]
    if frozen:
        raise CheckFailed(
            f"frozen parameter {frozen[0]} is in a group; leave out requires_grad=False ones"
        )
    missing = [names[i] for i in trainable if i not in set(ids)]
    if missing or not set(ids) <= trainable:
        raise CheckFailed(
            f"expected the {len(trainable)} trainable tensors of the model, missing "
            f"{missing or 'none'}; take them from model.parameters()"
        )
    decayed = set()
    for group in groups:
        decay = group["weight_decay"]
        if decay != 0 and not math.isclose(decay, weight_decay):
            raise CheckFailed(
                f"a group has weight_decay={decay}; the decayed group must use the "
                f"weight_decay argument ({weight_decay} here)"
            )
        if decay != 0:
            decayed |= {id(p) for p in group["params"]}
    wrongly = sorted(names[i] for i in decayed - should_decay)
    if wrongly:
        raise CheckFailed(
            f"{', '.join(wrongly)} should not be decayed: the rule is the number of dimensions "
            "(p.ndim >= 2), not the name or the module type; 1-D tensors get no decay"
        )
    forgotten = sorted(names[i] for i in should_decay - decayed)
    if forgotten:
        raise CheckFailed(
            f"{', '.join(forgotten)} should be decayed: every tensor with two or more "
            "dimensions (weight matrices, convolution kernels) gets the weight decay"
        )
    torch.optim.AdamW(groups, lr=1e-3)  # an optimizer must accept the groups
    return "decay exactly on the tensors with ndim >= 2, frozen ones left out, AdamW accepts."


# ---------------------------------------------------------------- optim-ex-5
LR_STEPS = 40
"""Full-batch optimizer steps the learning-rate experiment (optim-ex-5) allows."""
LR_TARGET = 0.08
"""Training loss every seed of the learning-rate experiment must reach."""
LR_SEEDS = (0, 1, 2)


def _mlp(seed: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


@exercise_check("configure")
def check_lr_choice(configure: Callable[..., Any], data: TensorDataset) -> str:
    """Self-check of optim-ex-5, ``configure(params, steps) -> (optimizer, scheduler)``.

    For each of three seeds, builds the chapter's MLP, calls ``configure`` on its
    parameters, checks that the optimizer is ``torch.optim.SGD`` with
    ``momentum=0.9`` (no weight decay, no Nesterov) over exactly those parameters
    and that the scheduler (or ``None``) belongs to that optimizer, then trains
    :data:`LR_STEPS` full-batch steps on ``data`` (the digits training set),
    stepping the scheduler after every step. Every seed's final training loss must
    be at most :data:`LR_TARGET`.

    Taught in: "Optimizers and learning-rate schedulers" (exercises).
    """
    inputs, targets = data.tensors[0].cpu(), data.tensors[1].cpu()
    finals, curves = [], []
    for seed in LR_SEEDS:
        model = _mlp(seed)
        params = list(model.parameters())
        result = configure(model.parameters(), LR_STEPS)
        if not isinstance(result, tuple) or len(result) != 2:
            raise CheckFailed("return a pair (optimizer, scheduler); the scheduler may be None")
        optimizer, scheduler = result
        if type(optimizer) is not torch.optim.SGD:
            raise CheckFailed(
                f"the experiment is about the learning rate of SGD: expected torch.optim.SGD, got "
                f"{type(optimizer).__name__}"
            )
        defaults = optimizer.defaults
        if (
            defaults.get("momentum") != 0.9
            or defaults.get("nesterov")
            or defaults.get("weight_decay")
        ):
            raise CheckFailed(
                "keep SGD's other settings fixed: momentum=0.9, no nesterov, no weight_decay; "
                "choose only the learning rate (and a schedule)"
            )
        given = [p for g in optimizer.param_groups for p in g["params"]]
        if len(given) != len(params) or {id(p) for p in given} != {id(p) for p in params}:
            raise CheckFailed("the optimizer must hold exactly the parameters passed to configure")
        if scheduler is not None:
            if getattr(scheduler, "optimizer", None) is not optimizer:
                raise CheckFailed("the scheduler must be built on the optimizer you return")
            if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
                raise CheckFailed(
                    "the check steps the scheduler without a metric; use a schedule of the "
                    "step count (ReduceLROnPlateau needs the metric)"
                )
        curve = []
        for _ in range(LR_STEPS):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(inputs), targets)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            curve.append(loss.item())
        with torch.no_grad():
            final = F.cross_entropy(model(inputs), targets).item()
        finals.append(final)
        curves.append(curve)
    shown = ", ".join(f"{value:.3f}" for value in finals)
    if all(math.isfinite(v) and v <= LR_TARGET for v in finals):
        return (
            f"training loss after {LR_STEPS} steps {shown} for seeds {list(LR_SEEDS)} "
            f"(target <= {LR_TARGET})."
        )
    jumped = any(
        not math.isfinite(b) or b > 1.5 * a for c in curves for a, b in zip(c, c[1:], strict=False)
    ) or any(not math.isfinite(v) for v in finals)
    hint = (
        "the loss jumped up during training: the rate is too large (or rises too fast)"
        if jumped
        else "the loss fell steadily but not far enough: the rate is probably too small"
    )
    raise CheckFailed(
        f"training loss after {LR_STEPS} steps: {shown} for seeds {list(LR_SEEDS)}; the target "
        f"is <= {LR_TARGET} for every seed. {hint}; try rates on a log scale, as in the section "
        "on the learning rate"
    )
