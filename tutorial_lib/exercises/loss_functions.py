"""Checks for the exercises of "Loss functions".

Each ``check_*`` function takes the learner's function or class, prints one ✅ line
when the answer is right, raises :class:`~tutorial_lib.exercises.core.CheckFailed`
saying what is wrong, or reports "not attempted" while the stub still raises
``NotImplementedError``. Where a task says "without the built-in", the built-in
raises while the learner's code runs.

Taught in: "Loss functions" (exercises).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import losses as _losses
from ._shared import forbid
from .core import CheckFailed, compare, exercise_check

__all__ = [
    "ImbalanceResult",
    "check_cross_entropy",
    "check_imbalance_loss",
    "check_soft_dice",
    "check_stable_bce",
    "check_tversky",
    "imbalanced_points",
    "train_on_imbalanced",
]


def _gradient(fn: Callable[..., torch.Tensor], x: torch.Tensor, *rest: Any, **kw: Any):
    """``fn(x, *rest, **kw)`` and the gradient of its sum with respect to ``x``."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(x, *rest, **kw)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"expected a tensor, got {type(out).__name__}")
    if not out.requires_grad:
        raise CheckFailed(
            "the result is not connected to the input (no gradient flows back): compute it "
            "with torch operations on the tensor, without .item(), .detach() or NumPy"
        )
    (grad,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    return out, torch.zeros_like(x) if grad is None else grad


def _values_and_gradients(
    fn: Callable[..., torch.Tensor],
    reference: Callable[..., torch.Tensor],
    cases: Sequence[tuple[str, tuple, dict]],
    forbidden: Callable[[], Any],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    hint: str = "",
    grad_hint: str = "",
) -> None:
    for index, (description, args, kwargs) in enumerate(cases, start=1):
        where = f"case {index} ({description})"
        expected, expected_grad = _gradient(reference, *args, **kwargs)
        try:
            with forbidden():
                got, grad = _gradient(fn, *args, **kwargs)
        except CheckFailed as err:
            raise CheckFailed(f"{where}: {err}") from err
        except NotImplementedError:
            raise
        except Exception as err:
            raise CheckFailed(f"{where} raised {type(err).__name__}: {err}") from err
        problem = compare(got, expected.detach(), rtol=rtol, atol=atol)
        if problem:
            raise CheckFailed(f"{where}: the values are wrong: {problem}{hint}")
        problem = compare(grad, expected_grad, rtol=1e-4, atol=1e-5)
        if problem:
            raise CheckFailed(
                f"{where}: the values are right but the gradient is wrong: {problem}{grad_hint}"
            )


# -------------------------------------------------------------------- losses-ex-1
def _ce_cases() -> list[tuple[str, tuple, dict]]:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=gen)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    offsets = torch.tensor([[0.0], [-900.0], [300.0], [0.0], [-50.0], [600.0]])
    weight = torch.tensor([0.2, 1.0, 3.0, 0.5])
    ignored = torch.tensor([0, -100, 1, 1, -100, 3])
    hidden = torch.randn(9, 7, generator=gen, dtype=torch.float64)
    hidden_labels = torch.randint(0, 7, (9,), generator=gen)
    hidden_labels[[2, 5]] = 4
    return [
        ("random logits", (logits, labels), {}),
        (
            "rows with very different offsets: shift each row by its own maximum",
            (logits + offsets, labels),
            {},
        ),
        ("logits 500 times larger: exp overflows, use log-sum-exp", (500 * logits, labels), {}),
        (
            "a uniform prediction over 10 classes: log 10",
            (torch.zeros(1, 10), torch.tensor([7])),
            {},
        ),
        (
            "class weights: the mean divides by the sum of the weights of the labels",
            (logits, labels),
            {"weight": weight},
        ),
        (
            "labels equal to ignore_index (default -100) are left out, also from the mean",
            (logits, ignored),
            {},
        ),
        (
            "float64, ignore_index=4 and class weights, given positionally",
            (hidden, hidden_labels, torch.linspace(0.5, 2.0, 7, dtype=torch.float64), 4),
            {},
        ),
    ]


@exercise_check("cross_entropy_by_hand")
def check_cross_entropy(cross_entropy_by_hand: Callable[..., Any]) -> str:
    """Check ``cross_entropy_by_hand(logits, labels, weight=None, ignore_index=-100)``
    against ``F.cross_entropy`` (values and gradients): random and huge logits, rows
    with different offsets, a uniform prediction, class weights, ignored labels and a
    float64 case with positional arguments. ``F.cross_entropy``, ``F.nll_loss`` and
    ``nn.CrossEntropyLoss`` raise while the learner's code runs. The result must be a
    0-dimensional tensor.

    Taught in: "Loss functions" (exercises).
    """

    def forbidden():
        return forbid(
            [(F, "cross_entropy"), (F, "nll_loss")],
            "you called F.cross_entropy (or F.nll_loss, or nn.CrossEntropyLoss): compute "
            "log-sum-exp minus the logit of the label yourself",
        )

    cases = _ce_cases()
    for index, (description, args, kwargs) in enumerate(cases, start=1):
        with forbidden():
            try:
                got = cross_entropy_by_hand(*args, **kwargs)
            except (CheckFailed, NotImplementedError):
                raise
            except Exception as err:
                raise CheckFailed(
                    f"case {index} ({description}) raised {type(err).__name__}: {err}"
                ) from err
        if not isinstance(got, torch.Tensor) or got.ndim != 0:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckFailed(
                f"case {index} ({description}): expected a 0-dimensional tensor (the mean over "
                f"the batch, not .item() and not one loss per sample), got {shape}"
            )

    def reference(
        x: torch.Tensor,
        y: torch.Tensor,
        weight: torch.Tensor | None = None,
        ignore_index: int = -100,
    ) -> torch.Tensor:
        return F.cross_entropy(x, y, weight=weight, ignore_index=ignore_index)

    _values_and_gradients(
        cross_entropy_by_hand,
        reference,
        cases,
        forbidden,
        rtol=1e-5,
        atol=1e-4,
    )
    return f"values and gradients equal F.cross_entropy in {len(cases)} cases, without calling it."


# -------------------------------------------------------------------- losses-ex-2
@exercise_check("stable_bce")
def check_stable_bce(stable_bce: Callable[..., Any]) -> str:
    """Check ``stable_bce(logits, targets)`` against
    ``F.binary_cross_entropy_with_logits(..., reduction="none")``: values and
    gradients for logits from -200 to 200 with soft targets, random 2-d inputs and a
    float64 case. The built-in BCE functions raise while it runs.

    Taught in: "Loss functions" (exercises).
    """
    gen = torch.Generator().manual_seed(2)
    extreme = torch.tensor([-200.0, -30.0, -1.0, 0.0, 2.0, 40.0, 200.0])
    soft = torch.tensor([1.0, 0.0, 1.0, 0.5, 0.0, 0.3, 0.0])
    wide = 60 * torch.randn(5, 8, generator=gen)
    wide_targets = torch.rand(5, 8, generator=gen)
    cases = [
        ("logits from -200 to 200, soft targets", (extreme, soft), {}),
        ("random (5, 8) logits of size up to ~200", (wide, wide_targets), {}),
        ("float64", (wide.double(), (wide_targets > 0.5).double()), {}),
    ]

    def reference(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(x, t, reduction="none")

    def forbidden():
        return forbid(
            [
                (F, "binary_cross_entropy_with_logits"),
                (F, "binary_cross_entropy"),
                (torch, "binary_cross_entropy_with_logits"),
            ],
            "you called a built-in BCE function (or nn.BCEWithLogitsLoss): write it with "
            "F.logsigmoid",
        )

    _values_and_gradients(
        stable_bce,
        reference,
        cases,
        forbidden,
        atol=1e-4,
        hint=(
            "; every value must be finite and exact for large |logit|: use "
            "log(sigmoid(x)) = logsigmoid(x) and log(1 - sigmoid(x)) = logsigmoid(-x), "
            "no clamping, one value per element"
        ),
        grad_hint=(
            "; autograd differentiates the formula you wrote: at a kink such as max(x, 0) "
            "or |x| at x = 0 it picks one side, and a clamp has gradient 0; F.logsigmoid is "
            "smooth everywhere"
        ),
    )
    return f"values and gradients equal the built-in in {len(cases)} cases, up to |logit| = 200."


# -------------------------------------------------------------------- losses-ex-3
def _set_cases() -> tuple[torch.Tensor, torch.Tensor, list]:
    gen = torch.Generator().manual_seed(3)
    logits = 2 * torch.randn(3, 1, 6, 6, generator=gen)
    masks = (torch.rand(3, 1, 6, 6, generator=gen) < 0.3).float()
    masks[2] = 0  # an image without foreground
    flat = 3 * torch.randn(4, 20, generator=gen)
    flat_masks = (torch.rand(4, 20, generator=gen) < 0.5).float()
    multi = torch.randn(2, 3, 4, 5, generator=gen)
    multi_masks = (torch.rand(2, 3, 4, 5, generator=gen) < 0.4).float()
    return logits, masks, [flat, flat_masks, multi, multi_masks]


@exercise_check("soft_dice_loss")
def check_soft_dice(
    soft_dice_loss: Callable[..., Any], shape_logits: torch.Tensor, shape_masks: torch.Tensor
) -> str:
    """Check ``soft_dice_loss(logits, masks, smooth=1.0)`` against
    ``tutorial_lib.losses.dice_loss(..., reduction="none")`` (values and gradients):
    an empty mask, ``smooth=0`` (also positional), the chapter's shapes, ``(N, D)``
    and ``(N, C, H, W)`` inputs. The library's Dice functions raise while it runs.

    Taught in: "Loss functions" (exercises).
    """
    logits, masks, (flat, flat_masks, multi, multi_masks) = _set_cases()
    cases = [
        ("three images, one of them empty", (logits, masks), {}),
        ("smooth=0", (logits[:2], masks[:2]), {"smooth": 0.0}),
        ("the chapter's shape masks", (shape_logits, shape_masks), {}),
        ("(N, D) inputs, smooth=0.5 given positionally", (flat, flat_masks, 0.5), {}),
        ("(N, C, H, W) with 3 channels", (multi, multi_masks), {}),
    ]

    def reference(x: torch.Tensor, t: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
        return _losses.dice_loss(x, t, smooth=smooth, reduction="none")

    def forbidden():
        return forbid(
            [(_losses, "_dice_per_sample"), (_losses, "_overlaps")],
            "you called the library's dice_loss (or DiceLoss): write the formula yourself",
        )

    _values_and_gradients(
        soft_dice_loss,
        reference,
        cases,
        forbidden,
        hint=(
            "; apply the sigmoid, flatten each sample with flatten(1) (any number of "
            "dimensions), sum per sample, and put smooth in the numerator and the denominator"
        ),
    )
    return f"per-sample values and gradients equal dice_loss in {len(cases)} cases."


# -------------------------------------------------------------------- losses-ex-4
def _tversky(
    logits: torch.Tensor, masks: torch.Tensor, alpha: float, beta: float, smooth: float
) -> torch.Tensor:
    p, t = torch.sigmoid(logits).flatten(1), masks.flatten(1)
    tp, fp, fn = (p * t).sum(1), (p * (1 - t)).sum(1), ((1 - p) * t).sum(1)
    return (1 - (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)).mean()


@exercise_check("TverskyLoss")
def check_tversky(
    tversky_class: type, shape_logits: torch.Tensor, shape_masks: torch.Tensor
) -> str:
    """Check the module ``TverskyLoss(alpha=0.5, beta=0.5, smooth=1.0)``: it must be
    an ``nn.Module``; with ``smooth=0``, ``α = β = 0.5`` gives ``dice_loss`` and
    ``α = β = 1`` gives ``iou_loss``; the defaults, an asymmetric case, ``(N, D)``
    inputs and the gradient are compared with an independent implementation.

    Taught in: "Loss functions" (exercises).
    """
    logits, masks, (flat, flat_masks, multi, multi_masks) = _set_cases()
    cases = [
        (
            "α = β = 0.5, smooth=0 is the Dice loss",
            (shape_logits, shape_masks),
            {"alpha": 0.5, "beta": 0.5, "smooth": 0.0},
            _losses.dice_loss(shape_logits, shape_masks, smooth=0.0),
        ),
        (
            "α = β = 1, smooth=0 is the IoU loss",
            (shape_logits, shape_masks),
            {"alpha": 1.0, "beta": 1.0, "smooth": 0.0},
            _losses.iou_loss(shape_logits, shape_masks, smooth=0.0),
        ),
        (
            "α = 0.3, β = 0.7: FP weighted by α, FN by β",
            (logits, masks),
            {"alpha": 0.3, "beta": 0.7},
            None,
        ),
        ("the defaults TverskyLoss()", (logits, masks), {}, None),
        (
            "(N, D) inputs, α = 0.8, β = 0.2, smooth = 0.5",
            (flat, flat_masks),
            {"alpha": 0.8, "beta": 0.2, "smooth": 0.5},
            None,
        ),
        ("(N, C, H, W) with 3 channels, β = 2", (multi, multi_masks), {"beta": 2.0}, None),
    ]
    for index, (description, (x, t), options, identity) in enumerate(cases, start=1):
        where = f"case {index} ({description})"
        criterion = tversky_class(**options)
        if not isinstance(criterion, nn.Module):
            raise CheckFailed(
                f"TverskyLoss must subclass nn.Module, got {type(criterion).__name__}"
            )
        full = {"alpha": 0.5, "beta": 0.5, "smooth": 1.0, **options}
        expected = _tversky(x, t, **full) if identity is None else identity
        try:
            got, grad = _gradient(criterion, x, t)
        except (CheckFailed, NotImplementedError):
            raise
        except Exception as err:
            raise CheckFailed(f"{where} raised {type(err).__name__}: {err}") from err
        if got.ndim != 0:
            raise CheckFailed(
                f"{where}: expected one number (the mean over the samples), got shape "
                f"{tuple(got.shape)}"
            )
        problem = compare(got, expected.detach(), rtol=1e-5, atol=1e-5)
        if problem:
            raise CheckFailed(
                f"{where}: {problem}; compute TP, FP, FN per sample (flatten(1)), "
                "T = (TP + s) / (TP + α FP + β FN + s), and return the mean of 1 - T"
            )
        _, expected_grad = _gradient(lambda z, m, o=full: _tversky(z, m, **o), x, t)
        problem = compare(grad, expected_grad, rtol=1e-4, atol=1e-6)
        if problem:
            raise CheckFailed(f"{where}: the value is right but the gradient is wrong: {problem}")
    return f"an nn.Module; Dice and IoU identities, defaults and {len(cases) - 2} more cases right."


# -------------------------------------------------------------------- losses-ex-5
def imbalanced_points(
    n: int, positive_fraction: float, *, seed: int, separation: float = 1.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points in 2-d: class 1 (a fraction ``positive_fraction``) is a standard
    normal blob shifted by ``separation`` along both axes, class 0 one at the origin.
    Returns ``(x, y)`` with ``x`` of shape ``(n, 2)`` and float targets ``y`` of shape
    ``(n,)``.

    Taught in: "Loss functions" (exercises).
    """
    generator = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, generator=generator) < positive_fraction).float()
    x = torch.randn(n, 2, generator=generator) + separation * y[:, None]
    return x, y


@dataclass(frozen=True)
class ImbalanceResult:
    """Held-out results of one training run on the imbalanced points."""

    recall: float  # fraction of the minority class (1) predicted as 1
    specificity: float  # fraction of the majority class (0) predicted as 0
    positive_fraction: float


STEPS = 200
BAND = 0.8


def train_on_imbalanced(
    make_loss: Callable[[torch.Tensor], Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
    *,
    positive_fraction: float = 0.05,
    seed: int = 0,
) -> ImbalanceResult:
    """Train ``nn.Linear(2, 1)`` on 2 000 :func:`imbalanced_points` with the loss
    ``make_loss(train_targets)`` (full batch, Adam, learning rate 0.05, 200 steps) and
    return recall and specificity on 4 000 held-out points, predicting 1 where the
    logit is above 0. Deterministic for a given ``seed``; about 0.2 s.

    Taught in: "Loss functions" (exercises).
    """
    x, y = imbalanced_points(2000, positive_fraction, seed=2 * seed + 1)
    x_val, y_val = imbalanced_points(4000, positive_fraction, seed=2 * seed + 2)
    loss_fn = make_loss(y.clone())
    if not callable(loss_fn):
        raise CheckFailed(
            f"make_imbalance_loss must return a loss function, got {type(loss_fn).__name__}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = loss_fn(model(x).squeeze(1), y)
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0 or not loss.requires_grad:
            raise CheckFailed(
                "the loss must return one number as a 0-dimensional tensor connected to the "
                f"logits, got {loss!r:.60}"
            )
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        predicted = model(x_val).squeeze(1) > 0
    positive = y_val > 0
    recall = (predicted & positive).sum().item() / positive.sum().item()
    specificity = (~predicted & ~positive).sum().item() / (~positive).sum().item()
    return ImbalanceResult(recall, specificity, positive_fraction)


@exercise_check("make_imbalance_loss")
def check_imbalance_loss(
    make_imbalance_loss: Callable[[torch.Tensor], Callable[..., torch.Tensor]],
) -> str:
    """Check the experiment "a loss for a 5% minority class" by its outcome: trained
    with :func:`train_on_imbalanced` on 5% positives, and on a hidden set with 20%
    positives, the model must reach recall and specificity of at least 0.8 each on
    held-out points (plain BCE reaches a recall of about 0.3 on the 5% set).

    Taught in: "Loss functions" (exercises).
    """
    results = []
    for fraction, seed in ((0.05, 0), (0.2, 1)):
        result = train_on_imbalanced(make_imbalance_loss, positive_fraction=fraction, seed=seed)
        if not (math.isfinite(result.recall) and math.isfinite(result.specificity)):
            raise CheckFailed(f"{fraction:.0%} positives: the training diverged")
        if result.recall < BAND:
            raise CheckFailed(
                f"with {fraction:.0%} positives the minority recall is {result.recall:.2f} "
                f"(specificity {result.specificity:.2f}), below {BAND}: the rare class needs "
                "more weight, about n_negative / n_positive, computed from train_targets"
            )
        if result.specificity < BAND:
            raise CheckFailed(
                f"with {fraction:.0%} positives the specificity is {result.specificity:.2f} "
                f"(recall {result.recall:.2f}), below {BAND}: the rare class weighs too much, "
                "the model now calls too many points positive; weight it by about "
                "n_negative / n_positive, computed from train_targets"
            )
        results.append(result)
    summary = ", ".join(
        f"{r.positive_fraction:.0%} positives: recall {r.recall:.2f}, specificity "
        f"{r.specificity:.2f}"
        for r in results
    )
    return f"{summary} (both at least {BAND})."
