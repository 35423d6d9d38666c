"""The check of the exercise "Your own Sequential, with indexing" (defining-models-ex-3).

Taught in: "Defining models" (exercise "Your own Sequential, with indexing").
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..core import CheckFailed, compare, exercise_check

__all__ = ["check_tiny_sequential"]


def _sequential_case(
    tiny_sequential: type, layers: list[nn.Module], names: list[str] | None, x: torch.Tensor
) -> None:
    if names is None:
        call = "TinySequential(" + ", ".join(f"{type(m).__name__}(...)" for m in layers) + ")"
        how, ref = "layers given positionally", nn.Sequential(*layers)
    else:
        call = f"TinySequential(OrderedDict({names}))"
        how = "one OrderedDict of named layers"
        ref = nn.Sequential(OrderedDict(zip(names, layers, strict=True)))
    try:
        if names is None:
            mine = tiny_sequential(*layers)
        else:
            mine = tiny_sequential(OrderedDict(zip(names, layers, strict=True)))
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailed(
            f"{call} raised {type(err).__name__}: {err}; it must accept {how}"
        ) from err
    expected_names = [str(i) for i in range(len(layers))] if names is None else names
    got_names = [name for name, _ in mine.named_children()]
    if got_names != expected_names:
        raise CheckFailed(
            f"{call}: expected the registered children {expected_names}, got {got_names}"
            + (
                "; register positional layers as '0', '1', ... with add_module"
                if names is None
                else "; keep the OrderedDict's names with add_module(name, layer)"
            )
        )
    if len(mine) != len(layers):
        raise CheckFailed(f"{call}: len() returned {len(mine)}, expected {len(layers)}")
    for index in [*range(len(layers)), *range(-len(layers), 0)]:
        if mine[index] is not layers[index]:
            raise CheckFailed(
                f"{call}: model[{index}] is not the layer at position {index} "
                f"(expected {type(layers[index]).__name__}, got {type(mine[index]).__name__})"
            )
    for index in (len(layers), -len(layers) - 1):
        try:
            got = mine[index]
        except IndexError:
            continue
        except Exception as err:
            raise CheckFailed(
                f"{call}: model[{index}] raised {type(err).__name__}, expected IndexError "
                "like nn.Sequential"
            ) from err
        raise CheckFailed(
            f"{call}: model[{index}] returned {type(got).__name__} but is out of range; it must "
            "raise IndexError like nn.Sequential (do not wrap the index around)"
        )
    try:
        with torch.no_grad():
            got_out = mine(x.clone())
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailed(
            f"{call}: the forward pass raised {type(err).__name__}: {err}; run the children "
            "in the order they were registered"
        ) from err
    with torch.no_grad():
        problem = compare(got_out, ref(x.clone()))
    if problem:
        raise CheckFailed(
            f"{call}: the output differs from nn.Sequential with the same layers ({problem}); "
            "run the children in the order they were registered"
        )


@exercise_check("TinySequential")
def check_tiny_sequential(tiny_sequential: type) -> str:
    """``TinySequential``: not an ``nn.Sequential``; layers positionally (one or
    several) and from an ``OrderedDict`` (names kept, not sorted); ``len``, indexing
    with non-negative and negative integers, ``IndexError`` out of range; outputs equal
    to ``nn.Sequential`` built from the same layers."""
    if not isinstance(tiny_sequential, type) or not issubclass(tiny_sequential, nn.Module):
        raise CheckFailed(f"TinySequential must be an nn.Module subclass, got {tiny_sequential!r}")
    if issubclass(tiny_sequential, nn.Sequential):
        raise CheckFailed(
            "TinySequential subclasses nn.Sequential; write the mechanism yourself on "
            "nn.Module (add_module, _modules, a loop in forward)"
        )
    generator = torch.Generator().manual_seed(3)
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(3)
        x = torch.randn(5, 4, generator=generator)
        _sequential_case(tiny_sequential, [nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)], None, x)
        _sequential_case(tiny_sequential, [nn.Linear(4, 6)], None, x)
        _sequential_case(
            tiny_sequential,
            [nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Sigmoid()],
            ["hidden", "act", "classify", "squash"],
            x,
        )
    finally:
        torch.random.set_rng_state(torch_state)
    return (
        "positional (1 and 3 layers) and OrderedDict: names, len, indexing (negative too, "
        "IndexError out of range) and outputs like nn.Sequential."
    )
