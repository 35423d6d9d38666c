"""The check of the exercise "A positive weight as a parametrization" (hooks-ex-2).

Taught in: "Hooks, parametrizations and adapters" (exercise "A positive weight as a
parametrization").
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from .._shared import call, seeded
from ..core import CheckFailed, exercise_check

__all__ = ["check_positive"]


@exercise_check("Positive")
def check_positive(Positive: type) -> str:  # noqa: N803 - the learner's class
    """``Positive`` must be an ``nn.Module`` class whose ``forward`` maps any real tensor
    to strictly positive values and whose ``right_inverse`` makes assignment store the
    assigned positive weight; gradients must reach ``original``.

    Taught in: "Hooks, parametrizations and adapters" (exercises).
    """
    if not (isinstance(Positive, type) and issubclass(Positive, nn.Module)):
        raise CheckFailed(f"Positive must be an nn.Module class, got {Positive!r}")
    extreme = torch.tensor([[-120.0, -20.0, -1.0, 0.0], [1.0, 20.0, 80.0, -1e-3]])
    got = call(lambda: Positive()(extreme), what="forward on values from -120 to 80")
    if not isinstance(got, torch.Tensor) or got.shape != extreme.shape:
        raise CheckFailed(
            f"forward must return a tensor of the input's shape {tuple(extreme.shape)}"
        )
    if not bool(torch.isfinite(got).all()):
        raise CheckFailed(
            f"forward returned non-finite values for {extreme.tolist()}: {got.tolist()}"
        )
    if not bool((got > 0).all()):
        bad = extreme[got <= 0].tolist()
        raise CheckFailed(
            f"forward is not strictly positive: inputs {bad} give values <= 0 (relu, abs and "
            "a plain softplus or exp in float32 reach 0); add a small floor or choose another map"
        )
    with seeded(0):
        layer = nn.Linear(5, 3)
        with torch.no_grad():
            layer.weight.uniform_(0.1, 2.0)
        before = layer.weight.detach().clone()
        call(
            lambda: parametrize.register_parametrization(layer, "weight", Positive()),
            what="register_parametrization(layer, 'weight', Positive())",
        )
        if not torch.allclose(layer.weight, before, rtol=1e-4, atol=1e-5):
            raise CheckFailed(
                "registering changed a weight that was already positive: right_inverse must "
                "undo forward, so that forward(right_inverse(W)) == W"
            )
        target = torch.rand(3, 5) * 3 + 0.05
        try:
            layer.weight = target
        except (NotImplementedError, CheckFailed):
            raise
        except Exception as err:
            raise CheckFailed(f"layer.weight = W raised {type(err).__name__}: {err}") from err
        if not torch.allclose(layer.weight, target, rtol=1e-4, atol=1e-5):
            worst = (layer.weight - target).abs().max().item()
            raise CheckFailed(
                f"after layer.weight = W the weight differs from W by up to {worst:.3g}: "
                "right_inverse must return the X with forward(X) == W"
            )
        original = layer.parametrizations.weight.original
        optimizer = torch.optim.SGD(layer.parameters(), lr=5.0)
        for _ in range(5):
            optimizer.zero_grad()
            layer(torch.rand(16, 5)).sum().backward()  # inputs > 0: the steps push W down
            if original.grad is None or not bool(original.grad.abs().sum() > 0):
                raise CheckFailed(
                    "no gradient reaches parametrizations.weight.original; forward must be "
                    "computed from X with differentiable torch operations"
                )
            optimizer.step()
        if not bool((layer.weight > 0).all()) or not bool(torch.isfinite(layer.weight).all()):
            raise CheckFailed("after five large SGD steps the weight is not positive and finite")
    return (
        "strictly positive for inputs from -120 to 80, assignment stores W, registering keeps "
        "a positive weight, gradients reach original, positive after SGD steps."
    )
