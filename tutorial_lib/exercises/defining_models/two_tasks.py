"""The design exercise "One network, two tasks, a parameter budget" (defining-models-ex-6):
its training protocol :func:`train_two_tasks` and its check.

Taught in: "Defining models" (exercise "One network, two tasks, a parameter budget").
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..core import CheckFailed, exercise_check

__all__ = ["TWO_TASK_BUDGET", "TWO_TASK_MIN_ACCURACY", "check_two_task_net", "train_two_tasks"]


TWO_TASK_BUDGET = 1_000
"""Most parameters the design exercise allows."""
TWO_TASK_MIN_ACCURACY = 0.95
"""Validation accuracy each task must reach after :func:`train_two_tasks`."""
TWO_TASK_STEPS = 150
TWO_TASK_LR = 1e-2
TASKS = {"digit": 10, "parity": 2}


def _two_task_data():
    from ...data import digits_split

    split = digits_split(seed=0)
    return split.train.tensors, split.val.tensors


def train_two_tasks(
    build: Callable[[], nn.Module], *, steps: int = TWO_TASK_STEPS, seed: int = 0
) -> dict[str, float]:
    """Build a model with ``build()`` under ``seed``, train it on the digits with the
    exercise's protocol and return its validation accuracy per task.

    Protocol: ``tl.digits_split(seed=0)`` (8 x 8 images, 1,347 training and 450
    validation images), ``steps`` full-batch Adam steps (learning rate 0.01) on
    ``cross_entropy(model(x, "digit"), y) + cross_entropy(model(x, "parity"), y % 2)``.
    The caller's random state is left alone. Returns ``{"digit": ..., "parity": ...}``.

    Taught in: "Defining models" (exercise "One network, two tasks, a parameter
    budget").
    """
    (x, y), (x_val, y_val) = _two_task_data()
    targets = {"digit": y, "parity": y % 2}
    with torch.random.fork_rng(), torch.enable_grad():
        torch.manual_seed(seed)
        model = build()
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=TWO_TASK_LR)
        for _ in range(steps):
            optimizer.zero_grad()
            loss = sum(F.cross_entropy(model(x, task), targets[task]) for task in TASKS)
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        val_targets = {"digit": y_val, "parity": y_val % 2}
        return {
            task: (model(x_val, task).argmax(dim=1) == val_targets[task]).float().mean().item()
            for task in TASKS
        }


@exercise_check("TwoTaskNet")
def check_two_task_net(build: Callable[[], nn.Module]) -> str:
    """The design exercise: ``build()`` (the class ``TwoTaskNet``) has at most
    :data:`TWO_TASK_BUDGET` registered parameters, returns logits of shape (N, 10) for
    ``"digit"`` and (N, 2) for ``"parity"``, raises ``KeyError`` for another task,
    registers every layer it uses, and reaches :data:`TWO_TASK_MIN_ACCURACY` validation
    accuracy on both tasks after :func:`train_two_tasks`."""
    model = build()
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"TwoTaskNet() should be an nn.Module, got {type(model).__name__}")
    total = sum(p.numel() for p in model.parameters())
    if total > TWO_TASK_BUDGET:
        raise CheckFailed(
            f"{total:,} parameters, over the budget of {TWO_TASK_BUDGET:,}; two separate "
            "networks rarely fit: what can the two tasks share?"
        )
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    model.eval()
    with torch.no_grad():
        for task, classes in TASKS.items():
            out = model(x, task)
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (3, classes):
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise CheckFailed(
                    f"model(x, {task!r}) for x of shape (3, 1, 8, 8) should have shape "
                    f"(3, {classes}), got {got}"
                )
            if (out >= 0).all() and torch.allclose(out.sum(dim=1), torch.ones(3), atol=1e-4):
                raise CheckFailed(
                    f"model(x, {task!r}) returns probabilities (a Softmax at the end); "
                    "return logits: cross-entropy applies the softmax itself"
                )
        try:
            got = model(x, "colour")
        except KeyError:
            pass
        except Exception as err:
            raise CheckFailed(
                f"model(x, 'colour') raised {type(err).__name__}, expected KeyError"
            ) from err
        else:
            raise CheckFailed(
                "model(x, 'colour') returned a result; an unknown task must raise KeyError "
                "(keep the heads in an nn.ModuleDict and look the task up)"
            )
        try:
            copy.deepcopy(model).to(torch.float64)(x.double(), "digit")
        except RuntimeError as err:
            raise CheckFailed(
                f"after .to(torch.float64) the forward pass fails ({err}): some layers are "
                "not registered (a plain list or dict?), so the optimizer cannot train them"
            ) from err
    accuracy = train_two_tasks(build)
    low = {task: acc for task, acc in accuracy.items() if acc < TWO_TASK_MIN_ACCURACY}
    if low:
        said = ", ".join(f"{task} {acc:.1%}" for task, acc in accuracy.items())
        raise CheckFailed(
            f"after train_two_tasks the validation accuracy is {said}; both must reach "
            f"{TWO_TASK_MIN_ACCURACY:.0%} with at most {TWO_TASK_BUDGET:,} parameters "
            f"(yours: {total:,}): share more, or spend the budget where it helps"
        )
    said = ", ".join(f"{task} {acc:.1%}" for task, acc in accuracy.items())
    return (
        f"{total:,} parameters (budget {TWO_TASK_BUDGET:,}); validation accuracy {said} "
        f"(both at least {TWO_TASK_MIN_ACCURACY:.0%})."
    )
