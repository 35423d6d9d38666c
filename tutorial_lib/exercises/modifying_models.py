"""Checks for the exercises of "Modifying models".

Taught in: "Modifying models" (exercises): finding the last linear layer by name, a grey
first convolution, freezing up to a named layer, a category as an extra input, and
(design) a model that reads digits of any size.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import torch
from torch import nn
from torchvision import models

from .. import surgery
from ..data import digits_split
from ..metrics import accuracy
from ._shared import call
from .core import CheckFailed, compare, exercise_check

__all__ = [
    "check_any_size",
    "check_freeze_until",
    "check_grey_first_conv",
    "check_last_linear_name",
    "check_with_category",
]


# --------------------------------------------------------------------------- ex-1
class _Heads(nn.Module):
    """A model the check builds: the last linear layer sits in a ModuleDict."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(1), nn.Linear(4, 6))
        self.heads = nn.ModuleDict(
            {
                "main": nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 3)),
                "aux": nn.Linear(6, 2),
            }
        )
        self.norm = nn.LayerNorm(3)


@exercise_check("last_linear_name")
def check_last_linear_name(last_linear_name: Callable[[nn.Module], str], alexnet: nn.Module) -> str:
    """``last_linear_name(model)`` must return the dotted name of the last ``nn.Linear``
    (any subclass counts) in ``named_modules()`` order, and raise ``ValueError`` for a
    model without one. Tried on ResNet-18, the chapter's ``alexnet``, MobileNet V3
    small, a ``Sequential``, and models the check builds.

    Taught in: "Modifying models" (exercises).
    """
    attention = nn.Sequential(nn.Linear(8, 8), nn.MultiheadAttention(8, 2))
    cases = [
        (models.resnet18(weights=None), "fc", "ResNet-18"),
        (alexnet, "classifier.6", "AlexNet"),
        (models.mobilenet_v3_small(weights=None), "classifier.3", "MobileNet V3 small"),
        (
            nn.Sequential(
                nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10), nn.LogSoftmax(1)
            ),
            "3",
            "a Sequential ending in LogSoftmax",
        ),
        (_Heads(), "heads.aux", "a model the check builds, with a ModuleDict of heads"),
        (
            nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Dropout(), nn.Identity()),
            "2",
            "a model the check builds, ending in Dropout and Identity",
        ),
        (attention, "1.out_proj", "a model the check builds, ending in nn.MultiheadAttention"),
    ]
    for model, expected, description in cases:
        got = call(last_linear_name, model, what=description)
        if got != expected:
            hint = ""
            if expected == "1.out_proj" and got == "0":
                hint = (
                    " (attention's out_proj is a subclass of nn.Linear: test with "
                    "isinstance(module, nn.Linear), not type(module) is nn.Linear)"
                )
            raise CheckFailed(f"{description}: expected {expected!r}, got {got!r}{hint}")
    no_linear = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
    try:
        got = last_linear_name(no_linear)
    except ValueError:
        pass
    except NotImplementedError:
        raise
    except Exception as err:
        raise CheckFailed(
            f"a model without nn.Linear raised {type(err).__name__}: {err}; raise a ValueError "
            "that says the model has no nn.Linear"
        ) from err
    else:
        raise CheckFailed(f"a model without nn.Linear returned {got!r}; raise a ValueError instead")
    return f"the right name for {len(cases)} models, and ValueError for a model without nn.Linear."


# --------------------------------------------------------------------------- ex-2
class _UsedBuiltin(Exception):
    """Raised by the stand-in for ``adapt_first_conv`` while a check runs."""


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise _UsedBuiltin


@contextmanager
def _without(
    fn: Callable[..., Any], builtin: Callable[..., Any], module: Any, name: str
) -> Iterator[None]:
    """Replace ``builtin`` by :func:`_refuse` in ``module`` and wherever the learner's
    function ``fn`` sees it among its globals."""
    namespace = getattr(fn, "__globals__", {})
    names = [key for key, value in namespace.items() if value is builtin]
    package = sys.modules[__name__.split(".")[0]]  # tutorial_lib, which re-exports it
    with (
        mock.patch.object(module, name, _refuse),
        mock.patch.object(package, name, _refuse),
        mock.patch.dict(namespace, dict.fromkeys(names, _refuse)),
    ):
        yield


def _conv_state(conv: nn.Conv2d) -> tuple:
    return (
        conv.in_channels,
        conv.weight.detach().clone(),
        None if conv.bias is None else conv.bias.detach().clone(),
    )


_SETTINGS = (
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "padding_mode",
    "groups",
)


@exercise_check("grey_first_conv")
def check_grey_first_conv(grey_first_conv: Callable[[nn.Conv2d], nn.Conv2d]) -> str:
    """``grey_first_conv(conv)`` must return a new ``nn.Conv2d`` with one input channel
    and every other setting of ``conv`` (kernel size, stride, padding, dilation,
    padding mode, bias), computing on a grey image what ``conv`` computes on that
    image copied into three channels; ``conv`` is not changed, no tensor is shared
    with it, and ``adapt_first_conv`` is not used.

    Taught in: "Modifying models" (exercises).
    """
    generator = torch.Generator().manual_seed(0)
    convs = [
        (nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1), "stride 2, padding 1"),
        (nn.Conv2d(3, 4, kernel_size=5, bias=False), "no bias"),
        (nn.Conv2d(3, 6, kernel_size=3, padding=2, dilation=2), "dilation 2"),
        (
            nn.Conv2d(3, 5, kernel_size=3, padding=1, padding_mode="reflect"),
            'padding_mode="reflect"',
        ),
        (nn.Conv2d(3, 7, kernel_size=(3, 5), stride=(1, 2), padding=(1, 0)), "a non-square kernel"),
    ]
    grey = torch.rand(2, 1, 13, 12, generator=generator)
    for conv, description in convs:
        with torch.no_grad():  # trained-looking weights, and a bias far from zero
            conv.weight.normal_(0, 0.5, generator=generator)
            if conv.bias is not None:
                conv.bias.uniform_(0.5, 1.5, generator=generator)
        before = _conv_state(conv)
        with torch.no_grad():
            expected = conv(grey.repeat(1, 3, 1, 1))
        try:
            with _without(grey_first_conv, surgery.adapt_first_conv, surgery, "adapt_first_conv"):
                new = call(grey_first_conv, conv, what=description, reraise=(_UsedBuiltin,))
        except _UsedBuiltin:
            raise CheckFailed(
                "your function calls adapt_first_conv, the library function this exercise asks "
                "you to write yourself: sum conv.weight over its input channels (dim=1)"
            ) from None
        if new is conv:
            raise CheckFailed(
                f"{description}: returned conv itself; do not change conv: build a new "
                "nn.Conv2d (or change a copy.deepcopy of it)"
            )
        after = _conv_state(conv)
        if after[0] != before[0] or compare(after[1:], before[1:]) is not None:
            raise CheckFailed(
                f"{description}: your function changed conv; do not change conv, work on a "
                "new layer"
            )
        if not isinstance(new, nn.Conv2d):
            raise CheckFailed(f"{description}: expected an nn.Conv2d, got {type(new).__name__}")
        if new.in_channels != 1 or new.weight.shape[1] != 1:
            raise CheckFailed(
                f"{description}: expected in_channels=1 and a weight of shape (out, 1, kh, "
                "kw), got "
                f"in_channels={new.in_channels} and weight {tuple(new.weight.shape)}"
            )
        for setting in _SETTINGS:
            if getattr(new, setting) != getattr(conv, setting):
                raise CheckFailed(
                    f"{description}: {setting} is {getattr(new, setting)!r}, conv has "
                    f"{getattr(conv, setting)!r}; keep every setting of conv"
                )
        if (new.bias is None) != (conv.bias is None):
            raise CheckFailed(
                f"{description}: conv {'has no' if conv.bias is None else 'has a'} bias; so "
                "must the new layer"
            )
        own = {p.data_ptr() for p in conv.parameters()}
        shared = [n for n, p in new.named_parameters() if p.data_ptr() in own]
        if shared:
            raise CheckFailed(
                f"{description}: the new layer shares {shared} with conv, so training it "
                "would change "
                "conv too; copy the values (.clone() or copy_)"
            )
        if not all(p.requires_grad for p in new.parameters()):
            raise CheckFailed(
                f"{description}: the new layer's parameters must stay trainable "
                "(requires_grad=True)"
            )
        with torch.no_grad():
            got = new(grey)
        problem = compare(got, expected, atol=1e-4)
        if problem:
            summed = conv.weight.detach().sum(dim=1, keepdim=True)
            if torch.allclose(new.weight.detach(), summed / 3, atol=1e-6):
                raise CheckFailed(
                    f"{description}: the filters are averaged over the channels; the grey image "
                    "reaches all three channels, so sum them (sum(dim=1, keepdim=True))"
                )
            if torch.allclose(new.weight.detach(), summed, atol=1e-6) and conv.bias is not None:
                raise CheckFailed(
                    f"{description}: the filters are right but the bias differs; copy conv.bias"
                )
            raise CheckFailed(
                f"{description}: on a grey image the new layer differs from conv on that "
                "image copied "
                f"into three channels ({problem}); sum the filters over the input channels (dim=1)"
            )
    return (
        f"{len(convs)} convolutions (stride, no bias, dilation, reflect padding, non-square): "
        "same outputs as on an RGB copy, conv unchanged, nothing shared."
    )


# --------------------------------------------------------------------------- ex-3
def _expected_flags(model: nn.Module, name: str) -> dict[str, bool]:
    """Which parameters ``freeze_until(model, name)`` leaves trainable: those of the
    modules after the subtree of ``name`` in ``named_modules()`` order."""
    modules = list(model.named_modules())
    end = max(i for i, (n, _) in enumerate(modules) if n == name or n.startswith(name + "."))
    flags: dict[str, bool] = {}
    for i, (module_name, module) in enumerate(modules):
        for param_name, _ in module.named_parameters(recurse=False):
            flags[f"{module_name}.{param_name}" if module_name else param_name] = i > end
    return flags


def _stack() -> nn.Sequential:
    return nn.Sequential(*(nn.Linear(4, 4) for _ in range(12)))  # children "0" ... "11"


@exercise_check("freeze_until")
def check_freeze_until(freeze_until: Callable[[nn.Module, str], nn.Module]) -> str:
    """``freeze_until(model, name)`` must freeze every parameter up to the end of the
    submodule ``name`` (in ``named_modules()`` order, so a module without parameters
    such as ``"maxpool"`` works too), make every later one trainable, return the model,
    and raise for a name the model does not have, before changing anything.

    Taught in: "Modifying models" (exercises).
    """
    cases = [
        ("layer3.0", False, lambda: models.resnet18(weights=None)),
        ("layer2", True, lambda: models.resnet18(weights=None)),
        ("conv1", False, lambda: models.resnet18(weights=None)),
        ("maxpool", True, lambda: models.resnet18(weights=None)),
        ("avgpool", False, lambda: models.resnet18(weights=None)),
        ("1", True, _stack),
    ]
    for name, start_frozen, build in cases:
        model = build().requires_grad_(not start_frozen)
        where = (
            f'freeze_until(model, "{name}") on a '
            f"{'fully frozen ' if start_frozen else ''}{type(model).__name__}"
        )
        if build is _stack:
            where += " of 12 Linear layers (children named 0 to 11)"
        expected = _expected_flags(model, name)
        got = call(freeze_until, model, name, what=where)
        if got is not model:
            raise CheckFailed(
                f"{where} returned {type(got).__name__ if got is not None else None}; return "
                "the model "
                "you were given (the one whose flags you changed)"
            )
        for param_name, param in model.named_parameters():
            if param.requires_grad != expected[param_name]:
                state = "trainable" if expected[param_name] else "frozen"
                place = "comes after" if expected[param_name] else "comes before or inside"
                trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
                wanted = sum(p.numel() for n, p in model.named_parameters() if expected[n])
                raise CheckFailed(
                    f"{where}: {param_name} should be {state} (it {place} {name!r} in "
                    f"named_modules() order); {trainable:,} parameters are trainable, "
                    f"expected {wanted:,}"
                )
    model = models.resnet18(weights=None)
    model.layer1.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    try:
        freeze_until(model, "layer5")
    except NotImplementedError:
        raise
    except Exception:
        if [p.requires_grad for p in model.parameters()] != flags:
            raise CheckFailed(
                'freeze_until(model, "layer5") raised, but only after changing requires_grad; '
                "check the name before changing anything (model.get_submodule(name))"
            ) from None
    else:
        raise CheckFailed(
            'freeze_until(model, "layer5") did not raise, but ResNet-18 has no "layer5"; raise an '
            "error (model.get_submodule(name) raises AttributeError)"
        )
    return (
        f"the right trainable parameters for {len(cases)} names (maxpool and avgpool too, from "
        "trainable and frozen models), and an error for an unknown name."
    )


# --------------------------------------------------------------------------- ex-4
@exercise_check("WithCategory")
def check_with_category(with_category: type[nn.Module]) -> str:
    """``WithCategory(backbone, num_features, num_categories, embedding_dim,
    num_classes)`` must hold the backbone, an ``nn.Embedding(num_categories,
    embedding_dim)`` and one ``nn.Linear(num_features + embedding_dim, num_classes)``
    (checked by counting parameters, for two sets of sizes), return logits of shape
    ``(N, num_classes)``, let the category change the output by the same amount for
    every image, and pass gradients to the backbone and the embedding.

    Taught in: "Modifying models" (exercises).
    """
    torch.manual_seed(0)
    configs = [
        (
            nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1)),
            8,
            3,
            5,
            10,
        ),
        (
            nn.Sequential(
                nn.Conv2d(3, 6, 3),
                nn.Tanh(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(1),
                nn.Linear(6, 12),
            ),
            12,
            7,
            4,
            2,
        ),
    ]
    pictures = torch.rand(4, 3, 16, 16)
    for backbone, features, categories, dim, classes in configs:
        sizes = f"WithCategory(backbone, {features}, {categories}, {dim}, {classes})"
        model = call(with_category, backbone, features, categories, dim, classes, what=sizes)
        if not isinstance(model, nn.Module):
            raise CheckFailed(f"{sizes}: expected an nn.Module, got {type(model).__name__}")
        own = sum(p.numel() for p in backbone.parameters())
        wanted = own + categories * dim + (features + dim) * classes + classes
        total = sum(p.numel() for p in model.parameters())
        if total != wanted:
            raise CheckFailed(
                f"{sizes}: expected {wanted:,} parameters (backbone {own:,} + embedding "
                f"{categories}x{dim} + linear ({features} + {dim})x{classes} + {classes}), "
                f"got {total:,}; "
                "use the sizes you are given"
            )
        embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        if not any(e.num_embeddings == categories and e.embedding_dim == dim for e in embeddings):
            raise CheckFailed(
                f"{sizes}: expected an nn.Embedding({categories}, {dim}) in the model"
            )
        model.eval()
        with torch.no_grad():
            out = call(model, pictures, torch.arange(4) % categories, what=f"{sizes} forward")
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, classes):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise CheckFailed(f"{sizes}: expected output shape (4, {classes}), got {shape}")
            if (out >= 0).all() and torch.allclose(out.sum(dim=1), torch.ones(4), atol=1e-5):
                raise CheckFailed(
                    f"{sizes}: the outputs are probabilities (rows sum to 1); return logits, "
                    "CrossEntropyLoss applies log_softmax itself"
                )
            two = pictures[:2]
            per_category = torch.stack(
                [model(two, torch.full((2,), c, dtype=torch.long)) for c in range(categories)]
            )  # (categories, 2, classes)
        shifts = per_category - per_category[:1]  # effect of each category against category 0
        if any(torch.allclose(per_category[c], per_category[0]) for c in range(1, categories)):
            raise CheckFailed(
                f"{sizes}: the category does not change the output; use the embedding"
            )
        if not torch.allclose(shifts[:, 0], shifts[:, 1], atol=1e-5):
            raise CheckFailed(
                f"{sizes}: the category's effect on the logits depends on the image; join the "
                "embedding with the features right before the one final nn.Linear"
            )
        model.zero_grad()
        call(
            model, pictures, torch.arange(4) % categories, what=f"{sizes} forward"
        ).sum().backward()
        if not any(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone.parameters()):
            raise CheckFailed(
                f"{sizes}: no gradient reached the backbone you were given (detached, under "
                "no_grad, or a copy?); training must be able to fine-tune it"
            )
        if not all(e.weight.grad is not None for e in embeddings):
            raise CheckFailed(f"{sizes}: no gradient reached the embedding")
    return (
        "parameters, output shape, logits, an additive category effect and gradients, for "
        "two sets of sizes."
    )


# --------------------------------------------------------------------------- ex-5
ANY_SIZES = (16, 24, 32, 48)
ANY_SIZE_MARGIN = 0.05


@exercise_check("any_size")
def check_any_size(
    any_size: Callable[[nn.Module], nn.Module],
    source: nn.Module,
    colourise: Callable[[torch.Tensor, int], torch.Tensor],
    *,
    sizes: tuple[int, ...] = ANY_SIZES,
    margin: float = ANY_SIZE_MARGIN,
) -> str:
    """``any_size(source)`` must return a model that classifies the chapter's coloured
    digits 0-4 at every size in ``sizes`` without training, each time at most
    ``margin`` below the source model's validation accuracy at 16x16; the source
    model must stay as it was (weights, layers, outputs) and share no parameter with
    the new model.

    Taught in: "Modifying models" (exercises).
    """
    source = copy.deepcopy(source).eval()  # the chapter's model stays safe from the answer
    val16 = digits_split(classes=range(5), size=16).val
    probe16 = colourise(val16.tensors[0][:8], 2)
    before_state = {k: v.clone() for k, v in source.state_dict().items()}
    before_text = repr(source)
    with torch.no_grad():
        before_out = source(probe16)
        floor = accuracy(source(colourise(val16.tensors[0], 2)), val16.tensors[1]) - margin
    model = call(any_size, source, what="any_size(source)")
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"expected an nn.Module, got {type(model).__name__}")
    if model is source:
        raise CheckFailed(
            "returned the source model itself; return a new model (copy.deepcopy the source)"
        )
    after = source.state_dict()
    changed = repr(source) != before_text or any(
        not torch.equal(before_state[k], after[k]) for k in before_state
    )
    with torch.no_grad():
        changed = changed or not torch.equal(source.eval()(probe16), before_out)
    if changed:
        raise CheckFailed(
            "your function changed the source model; leave it as it is and change a "
            "copy.deepcopy of it"
        )
    own = {p.data_ptr() for p in source.parameters()}
    if any(p.data_ptr() in own for p in model.parameters()):
        raise CheckFailed(
            "the new model shares parameters with the source model, so fine-tuning it would change "
            "the source too; build it from copy.deepcopy(source)"
        )
    model.eval()
    results = []
    for size in sizes:
        val = digits_split(classes=range(5), size=size).val
        images, labels = colourise(val.tensors[0], 2), val.tensors[1]
        with torch.no_grad():
            logits = call(model, images, what=f"on {size}x{size} digits")
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(images), 5):
            shape = (
                tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            )
            raise CheckFailed(
                f"on {size}x{size} digits: expected logits of shape ({len(images)}, 5), got {shape}"
            )
        acc = accuracy(logits, labels)
        results.append(f"{size}: {acc:.2f}")
        if acc < floor:
            raise CheckFailed(
                f"on {size}x{size} digits the accuracy is {acc:.3f}, below {floor:.3f} (the source "
                f"model's accuracy at 16x16 minus {margin}); a new layer starts from scratch, and "
                "pooling changes the scale the filters see: measure the options and keep the one "
                "that loses least"
            )
    return (
        f"accuracy without training at every size ({', '.join(results)}), at least "
        f"{floor:.3f}; the source is untouched."
    )
