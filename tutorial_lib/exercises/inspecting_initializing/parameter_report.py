"""The check of the exercise "A parameter report per child" (inspecting-ex-1).

Taught in: "Inspecting and initializing models" (exercise "A parameter report per child").
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...inspection import count_parameters
from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_parameter_report"]


class _Tied(nn.Module):
    """An embedding whose output layer reuses the embedding matrix (weight tying)."""

    def __init__(self, vocabulary: int = 50, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, dim)
        self.out = nn.Linear(dim, vocabulary, bias=False)
        self.out.weight = self.embed.weight


def _report_cases(small_net: type[nn.Module]) -> list[tuple[nn.Module, str]]:
    frozen = small_net()
    first_conv = next(m for m in frozen.modules() if isinstance(m, nn.Conv2d))
    first_conv.requires_grad_(False)
    sequential = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3))
    tied = nn.Sequential(OrderedDict(lm=_Tied(), head=nn.Linear(16, 2)))
    generator = torch.Generator().manual_seed(15)
    widths = torch.randint(3, 9, (3,), generator=generator).tolist()
    hidden = nn.Sequential(
        OrderedDict(
            stem=nn.Conv2d(2, widths[0], 3),
            act=nn.GELU(),
            body=nn.Sequential(nn.Conv2d(widths[0], widths[1], 1), nn.BatchNorm2d(widths[1])),
            pool=nn.AdaptiveAvgPool2d(1),
            head=nn.Linear(widths[1], widths[2]),
        )
    )
    hidden.body[1].bias.requires_grad_(False)  # one frozen tensor inside a trainable child
    hidden.head.requires_grad_(False)
    hidden.register_parameter("scale", nn.Parameter(torch.ones(3)))  # the model's own
    return [
        (frozen, f"{small_net.__name__} with its first convolution frozen"),
        (sequential, "nn.Sequential(Linear, ReLU, Linear): the ReLU has no parameters"),
        (tied, "a child whose two layers share one weight: a shared tensor counts once"),
        (hidden, "a model with other child names, frozen tensors and a parameter of its own"),
    ]


@exercise_check("parameter_report")
def check_parameter_report(parameter_report: Callable[[nn.Module], Any], small_net: type) -> str:
    """Check ``parameter_report(model)``: ``{child name: (total, trainable)}`` for every
    direct child, on the chapter's ``small_net`` (first convolution frozen) and on
    models with a parameter-less child, a tied weight, other names and a parameter that
    belongs to the model itself (not to a child).

    Taught in: "Inspecting and initializing models" (exercises).
    """
    cases = _report_cases(small_net)
    for index, (model, description) in enumerate(cases, start=1):
        expected = {name: tuple(count_parameters(child)) for name, child in model.named_children()}
        got = parameter_report(model)
        if not isinstance(got, dict):
            raise CheckFailed(
                f"case {index} ({description}): expected a dict, got {type(got).__name__}"
            )
        if set(got) != set(expected):
            extra, missing = sorted(set(got) - set(expected)), sorted(set(expected) - set(got))
            if extra and missing:
                hint = "the keys are the children's own names, as named_children() gives them"
            elif extra:
                hint = "report only the direct children (named_children), not every module"
            else:
                hint = "every direct child needs an entry, (0, 0) when it has no parameters"
            raise CheckFailed(
                f"case {index} ({description}): expected the keys {sorted(expected)}, got "
                f"{sorted(got)} (extra {extra}, missing {missing}): {hint}"
            )
        for name, (total, trainable) in expected.items():
            problem = compare(got[name], (total, trainable), rtol=0, atol=0)
            if problem:
                raise CheckFailed(
                    f"case {index} ({description}): for child {name!r} expected (total, "
                    f"trainable) = ({total}, {trainable}), got {got[name]!r}; count scalars "
                    "(numel), each shared tensor once, and a tensor as trainable when its "
                    "requires_grad is True"
                )
    return f"right (total, trainable) per direct child on {len(cases)} models."
