"""Values and gradients of the learner's loss against a reference (private).

Taught in: "Loss functions" (exercises "Weighted cross-entropy from log-sum-exp", "Make a loss
numerically stable", "A per-sample soft Dice loss", "A Tversky loss module").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..core import CheckFailed, compare

__all__: list[str] = []


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
