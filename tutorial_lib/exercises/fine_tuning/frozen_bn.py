"""The check of the exercise "Frozen BatchNorm in eval mode, by hand" (finetune-ex-4).

Taught in: "Fine-tuning" (exercise "Frozen BatchNorm in eval mode, by hand").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch import nn

from ..._validate import is_int
from ..core import CheckFailed, exercise_check

__all__ = ["check_frozen_bn_eval"]


def _frozen_bn(module: nn.Module) -> bool:
    params = list(module.parameters())
    return (
        isinstance(module, nn.BatchNorm2d)
        and bool(params)
        and not any(p.requires_grad for p in params)
    )


def _bn_cases(build: Callable[[], nn.Module]) -> Iterable[tuple[str, nn.Module]]:
    from ...finetune import freeze, freeze_up_to

    model = build()
    freeze_up_to(model, "layer3.0")
    yield "frozen up to layer3.0", model
    model = build()
    freeze(model.layer2)
    freeze(model.layer4[1])
    yield "layer2 and layer4.1 frozen, the rest trainable", model
    model = build()
    freeze_up_to(model, "layer2.0")
    model.layer1[1].bn2.bias.requires_grad_(True)
    yield "frozen up to layer2.0, except the bias of layer1.1.bn2", model


@exercise_check("set_frozen_bn_eval")
def check_frozen_bn_eval(
    set_frozen_bn_eval: Callable[[nn.Module], int], build: Callable[[], nn.Module]
) -> str:
    """Self-check for the exercise "frozen BatchNorm in eval mode, by hand".

    On three models from ``build()`` (a copy of the source model: frozen up to
    ``layer3.0``; ``layer2`` and ``layer4.1`` frozen; frozen up to ``layer2.0``
    except one BatchNorm bias), each put in train mode, ``set_frozen_bn_eval(model)``
    must put exactly the ``nn.BatchNorm2d`` layers whose parameters are all frozen
    in eval mode, leave every other module in train mode and every
    ``requires_grad`` flag as it was, and return how many layers it switched.

    Taught in: "Fine-tuning" (exercises).
    """
    for case, model in _bn_cases(build):
        model.train()
        flags = [p.requires_grad for p in model.parameters()]
        got = set_frozen_bn_eval(model)
        if [p.requires_grad for p in model.parameters()] != flags:
            raise CheckFailed(f"({case}): requires_grad changed; only read the flags")
        for name, module in model.named_modules():
            label = name or "the model"
            if isinstance(module, nn.BatchNorm2d):
                frozen = _frozen_bn(module)
                if frozen and module.training:
                    raise CheckFailed(
                        f"({case}): {label} is frozen but still in train mode; go through "
                        "model.modules() (every depth) and test every parameter of the layer"
                    )
                if not frozen and not module.training:
                    partly = any(not p.requires_grad for p in module.parameters())
                    why = (
                        "only some of its parameters are frozen: switch a layer only when all "
                        "of them are"
                        if partly
                        else "it is trainable: decide from requires_grad, not from names or "
                        "positions"
                    )
                    raise CheckFailed(f"({case}): {label} was put in eval mode but {why}")
            elif not module.training:
                raise CheckFailed(
                    f"({case}): {label} ({type(module).__name__}) was put in eval mode: switch "
                    "BatchNorm layers only"
                )
        switched = sum(_frozen_bn(m) for m in model.modules())
        if not is_int(got) or got != switched:
            raise CheckFailed(
                f"({case}): expected the number of layers switched, {switched}, got {got!r}"
            )
    return "the right BatchNorm layers in eval mode and the count, on 3 differently frozen models."
