"""The check of the exercise "Choose the pooling at run time" (defining-models-ex-4).

Taught in: "Defining models" (exercise "Choose the pooling at run time").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_pooler"]


@exercise_check("Pooler")
def check_pooler(pooler: type) -> str:
    """``Pooler``: an ``nn.ModuleDict`` with ``"max"`` and ``"avg"``; ``forward(x,
    kind)`` equal to the functional pooling for both kinds (even and odd sizes, one
    instance for both); an unknown kind raises ``KeyError``."""
    model = pooler()
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"Pooler() should be an nn.Module, got {type(model).__name__}")
    dicts = [m for m in model.modules() if isinstance(m, nn.ModuleDict)]
    if not any(set(d.keys()) == {"max", "avg"} for d in dicts):
        found = [sorted(d.keys()) for d in dicts]
        raise CheckFailed(
            "hold the two poolings in an nn.ModuleDict with the keys 'max' and 'avg' "
            f"(found ModuleDicts with keys {found}); a plain dict or an if/else is not "
            "registered: print(model) and model.to(...) do not see it"
        )
    generator = torch.Generator().manual_seed(4)
    for shape in [(2, 3, 8, 8), (1, 2, 9, 7)]:
        x = torch.randn(*shape, generator=generator)
        for kind, fn in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
            problem = compare(model(x.clone(), kind), fn(x, 2))
            if problem:
                raise CheckFailed(
                    f"Pooler()(x, {kind!r}) for x of shape {shape} differs from "
                    f"F.{fn.__name__}(x, 2): {problem}; is the right pooling under this key, "
                    "with kernel size 2?"
                )
    try:
        got = model(torch.zeros(1, 1, 4, 4), "min")
    except KeyError:
        pass
    except Exception as err:
        raise CheckFailed(
            f"Pooler()(x, 'min') raised {type(err).__name__}, expected KeyError (look the "
            "kind up in the ModuleDict)"
        ) from err
    else:
        raise CheckFailed(
            f"Pooler()(x, 'min') returned a {type(got).__name__}; an unknown kind must raise "
            "KeyError (look it up in the ModuleDict) instead of falling back to one pooling"
        )
    return "ModuleDict with 'max' and 'avg', both kinds equal to F's pooling, KeyError otherwise."
