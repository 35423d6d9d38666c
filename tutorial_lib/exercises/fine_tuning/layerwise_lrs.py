"""The check of the exercise "Layer-wise learning-rate decay" (finetune-ex-3).

Taught in: "Fine-tuning" (exercise "Layer-wise learning-rate decay").
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_layerwise_lrs"]


def _expected_lrs(names: Sequence[str], top_lr: float, factor: float) -> dict[str, float]:
    depth = len(names) - 1
    return {name: top_lr * factor ** (depth - i) for i, name in enumerate(names)}


def _lr_cases() -> list[tuple[str, list[str], float, float]]:
    cases = [
        ("the example", ["layer3", "layer4", "fc"], 1e-2, 0.1),
        ("the head only", ["fc"], 3e-3, 0.5),
        ("five layers, factor 0.5", ["layer1", "layer2", "layer3", "layer4", "fc"], 1.0, 0.5),
        ("factor 1: one rate for all", ["layer4", "fc"], 1e-2, 1.0),
    ]
    rng = random.Random(15)
    for index in range(3):
        n = rng.randint(2, 7)
        names = [f"block{i}" for i in rng.sample(range(20), n)]
        cases.append(
            (f"random case {index + 1}", names, rng.uniform(1e-4, 1e-1), rng.uniform(0.2, 0.95))
        )
    return cases


@exercise_check("layerwise_lrs")
def check_layerwise_lrs(layerwise_lrs: Callable[[list[str], float, float], Mapping]) -> str:
    """Self-check for the exercise "layer-wise learning-rate decay".

    ``layerwise_lrs(names, top_lr, factor)`` must give the last name ``top_lr`` and
    each earlier one ``factor`` times the next one's rate, on the example, on fixed
    and on random cases, without changing the list it is given, and raise
    ``ValueError`` for a factor of 0, 2 or -0.5.

    Taught in: "Fine-tuning" (exercises).
    """
    cases = _lr_cases()
    for description, names, top_lr, factor in cases:
        given = list(names)
        call = f"layerwise_lrs({names}, {top_lr:.3g}, {factor:.3g}) ({description})"
        try:
            got = layerwise_lrs(given, top_lr, factor)
        except ValueError as err:
            raise CheckFailed(
                f"{call} raised ValueError ({err}), but factor {factor:.3g} is allowed: "
                "raise only unless 0 < factor <= 1"
            ) from err
        if given != names:
            raise CheckFailed(
                f"{call} changed the list it was given (now {given}): the caller still needs "
                "it; work on a copy (names[::-1], reversed(names))"
            )
        problem = compare(got, _expected_lrs(names, top_lr, factor), rtol=1e-6, atol=0)
        if problem:
            raise CheckFailed(
                f"{call} is wrong: {problem}; the last name gets top_lr, the one before it "
                "top_lr * factor, and so on back to the first"
            )
    for factor in (0.0, 2.0, -0.5):
        try:
            layerwise_lrs(["layer4", "fc"], 1e-2, factor)
        except ValueError:
            continue
        except NotImplementedError:
            raise
        except Exception as err:
            raise CheckFailed(
                f"layerwise_lrs(..., factor={factor}) raised {type(err).__name__}, expected "
                "ValueError: raise ValueError(...) yourself (assert can be switched off)"
            ) from err
        raise CheckFailed(
            f"layerwise_lrs(..., factor={factor}) did not raise: raise ValueError unless "
            "0 < factor <= 1"
        )
    return f"{len(cases)} cases right (3 of them random), ValueError for factors 0, 2 and -0.5."
