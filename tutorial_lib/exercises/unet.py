"""Checks for the exercises of "U-Net from building blocks".

One check per exercise, each called from the chapter's check cell as
``ex.check_...(answer)`` after ``from tutorial_lib.exercises import unet as ex``;
:func:`check_block` is the general tool behind the block exercises (the learner's
module against a reference block with the same weights), also usable on its own.

Taught in: "U-Net from building blocks" (exercises).
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable, Sequence
from unittest import mock

import torch
from torch import nn

from .._validate import BATCHNORM_LAYERS
from .core import NOT_ATTEMPTED, CheckFailed, compare, exercise_check, report

__all__ = [
    "check_block",
    "check_double_conv_parameters",
    "check_my_down",
    "check_pad_like",
    "check_unet_depth",
    "unet_parameters",
]


# --------------------------------------------------------------------------- check_block
def _randomized_batch_norm(reference: nn.Module) -> nn.Module:
    """A copy of ``reference`` whose BatchNorms are not the identity."""
    ref = copy.deepcopy(reference)
    generator = torch.Generator().manual_seed(0)
    for layer in ref.modules():
        is_batch_norm = isinstance(layer, BATCHNORM_LAYERS)
        if is_batch_norm and layer.track_running_stats:
            with torch.no_grad():
                if layer.affine:
                    layer.weight.uniform_(0.5, 1.5, generator=generator)
                    layer.bias.uniform_(-0.5, 0.5, generator=generator)
                layer.running_mean.uniform_(-0.5, 0.5, generator=generator)
                layer.running_var.uniform_(0.5, 2.0, generator=generator)
    return ref


def _same_block(
    module: nn.Module,
    reference: nn.Module,
    args: tuple[torch.Tensor, ...],
    *,
    rtol: float,
    atol: float,
) -> None:
    """Raise :class:`CheckFailed` (message without a name) unless ``module`` holds
    state-dict entries of the reference's shapes, in its order, and computes what it
    computes with the reference's values, in eval and in train mode. A
    ``NotImplementedError`` from a forward pass propagates."""
    ref = _randomized_batch_norm(reference)
    ref_state = list(ref.state_dict().items())
    own_state = list(module.state_dict().items())
    ref_shapes = [(key, tuple(v.shape)) for key, v in ref_state]
    own_shapes = [(key, tuple(v.shape)) for key, v in own_state]
    if len(own_state) != len(ref_state):
        raise CheckFailed(
            f"expected {len(ref_state)} parameters and buffers {ref_shapes}, got "
            f"{len(own_state)} {own_shapes} (is a layer missing, extra, or kept in a plain list?)"
        )
    for index, ((ref_key, ref_value), (own_key, own_value)) in enumerate(
        zip(ref_state, own_state, strict=True)
    ):
        if ref_value.shape != own_value.shape:
            raise CheckFailed(
                f"entry {index} of the state dict: expected shape "
                f"{tuple(ref_value.shape)} (like {ref_key!r}), got {tuple(own_value.shape)} "
                f"for {own_key!r}; check the channel numbers and the order of the layers"
            )
    pairs = zip(own_state, ref_state, strict=True)
    module.load_state_dict({own_key: ref_value.clone() for (own_key, _), (_, ref_value) in pairs})

    for mode in ("eval", "train"):
        ref.train(mode == "train")
        module.train(mode == "train")
        try:
            with torch.no_grad():
                expected = ref(*(a.clone() for a in args))
                got = module(*(a.clone() for a in args))
        except NotImplementedError:
            raise
        except CheckFailed:
            raise
        except Exception as err:
            raise CheckFailed(f"the forward pass raised {type(err).__name__}: {err}") from err
        problem = compare(got, expected, rtol=rtol, atol=atol)
        if problem:
            raise CheckFailed(
                f"with the reference's weights, the output in {mode} mode differs: "
                f"{problem}; check the order of the operations"
            )


def check_block(
    build: Callable[[], nn.Module],
    reference: nn.Module,
    *,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    name: str | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    strict: bool | None = None,
) -> None:
    """Check that the module ``build()`` returns computes what ``reference`` computes.

    The learner's module may name its layers as it likes, but it must hold the same
    parameters and buffers (state-dict entries) with the same shapes, in the same
    order. The check copies the reference's values into it position by position
    (after giving a copy of the reference random BatchNorm statistics, so that
    BatchNorm is not the identity), runs both on ``inputs`` in eval mode and in
    train mode, and compares the outputs. Prints a pass line or raises
    :class:`tutorial_lib.CheckFailed`; prints a "not attempted yet" note while
    ``build`` raises ``NotImplementedError``. ``reference`` is not modified.

    Taught in: "U-Net from building blocks" (exercises).
    """
    if not callable(build) or isinstance(build, nn.Module):
        raise TypeError(
            "build must be a function (or class) returning a new module, e.g. "
            f"lambda: MyDown(8, 16); got {type(build).__name__}"
        )
    if not isinstance(reference, nn.Module):
        raise TypeError(f"reference must be an nn.Module, got {type(reference).__name__}")
    if name is None:
        name = getattr(build, "__name__", "<lambda>")
        name = "your module" if name == "<lambda>" else name
    args = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    try:
        module = build()
        if not isinstance(module, nn.Module):
            raise CheckFailed(f"expected an nn.Module, got {type(module).__name__}")
        _same_block(module, reference, args, rtol=rtol, atol=atol)
    except NotImplementedError:
        return report(name, "todo", NOT_ATTEMPTED, strict=strict)
    except CheckFailed as err:
        return report(name, "fail", str(err), strict=strict)
    report(
        name,
        "pass",
        "same parameter shapes and same outputs (eval and train mode) as "
        f"{type(reference).__name__}.",
        strict=strict,
    )


# --------------------------------------------------------------------------- exercise 1
def _double_conv_count(in_channels: int, out_channels: int, mid_channels: int | None) -> int:
    mid = out_channels if mid_channels is None else mid_channels
    return 9 * in_channels * mid + 2 * mid + 9 * mid * out_channels + 2 * out_channels


def _refuse_modules(message: str) -> contextlib.AbstractContextManager[object]:
    """Patch ``nn.Module.__init__`` so that building any module raises ``message``."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise CheckFailed(message)

    return mock.patch.object(nn.Module, "__init__", refuse)


@exercise_check("double_conv_parameters")
def check_double_conv_parameters(fn: Callable[..., int]) -> str:
    """``double_conv_parameters(in, out, mid=None)``: the parameter count of
    ``DoubleConv`` from a formula (building any module while it runs fails the check),
    on fixed and random hidden blocks, with ``mid_channels`` positional, by keyword
    and left out; the expected numbers are checked against ``count_parameters`` of the
    real block."""
    from ..unet import DoubleConv

    rng = random.Random(7)
    shapes: list[tuple[int, int, int | None]] = [(1, 8, None), (3, 64, None), (7, 5, 3)]
    shapes += [
        (rng.randint(1, 40), rng.randint(1, 40), rng.choice([None, rng.randint(1, 40)]))
        for _ in range(5)
    ]
    expected = []
    for cin, cout, mid in shapes:
        count = _double_conv_count(cin, cout, mid)
        real = sum(p.numel() for p in DoubleConv(cin, cout, mid).parameters())
        if count != real:  # pragma: no cover - the library and the formula disagree
            raise RuntimeError(f"DoubleConv{(cin, cout, mid)}: formula {count}, module {real}")
        expected.append(count)
    with _refuse_modules(
        "double_conv_parameters builds a module (DoubleConv, Conv2d, ...); compute the "
        "count from a formula, without building anything"
    ):
        for index, ((cin, cout, mid), count) in enumerate(zip(shapes, expected, strict=True)):
            if mid is None:
                call, got = f"({cin}, {cout})", fn(cin, cout)
            elif index % 2:
                call, got = f"({cin}, {cout}, mid_channels={mid})", fn(cin, cout, mid_channels=mid)
            else:
                call, got = f"({cin}, {cout}, {mid})", fn(cin, cout, mid)
            if compare(got, count) is None:
                continue
            m = cout if mid is None else mid
            hint = ""
            if got == count + m + cout:
                hint = "; the convolutions have no bias (BatchNorm right after cancels it)"
            elif got == count + 2 * m + 2 * cout:
                hint = "; BatchNorm's running mean and variance are buffers, not parameters"
            elif mid is not None and got == _double_conv_count(cin, cout, None):
                hint = "; the first convolution goes to mid_channels, the second from it"
            elif got == count - 2 * m - 2 * cout:
                hint = "; each BatchNorm has a weight and a bias per channel"
            raise CheckFailed(
                f"double_conv_parameters{call} returned {got!r}, DoubleConv{call} has "
                f"{count:,} parameters{hint}"
            )
    return f"{len(shapes)} blocks (3 fixed, 5 hidden random), without building a module."


# --------------------------------------------------------------------------- exercise 2
@exercise_check("MyDown")
def check_my_down(my_down: Callable[[int, int], nn.Module]) -> str:
    """``MyDown(in, out)``: not built on ``Down``; with the weights of ``Down(in, out)``
    it gives the same outputs in eval and train mode, for two channel configurations
    and odd sizes (see :func:`check_block`)."""
    from ..unet import Down

    if isinstance(my_down, type) and issubclass(my_down, Down):
        raise CheckFailed(
            "MyDown subclasses Down; write it from nn.MaxPool2d (or F.max_pool2d) and "
            "DoubleConv yourself"
        )
    generator = torch.Generator().manual_seed(8)
    configs = [(4, 8, (2, 4, 17, 22)), (3, 5, (3, 3, 9, 8))]
    for cin, cout, shape in configs:
        module = my_down(cin, cout)
        if not isinstance(module, nn.Module):
            raise CheckFailed(f"MyDown({cin}, {cout}) should be an nn.Module, got {module!r}")
        if any(isinstance(m, Down) for m in module.modules()):
            raise CheckFailed(
                f"MyDown({cin}, {cout}) contains a Down; write it from nn.MaxPool2d (or "
                "F.max_pool2d) and DoubleConv yourself"
            )
        x = torch.randn(*shape, generator=generator)
        try:
            _same_block(module, Down(cin, cout), (x,), rtol=1e-5, atol=1e-5)
        except CheckFailed as err:
            raise CheckFailed(f"MyDown({cin}, {cout}): {err}") from err
    return (
        "same parameter shapes and same outputs as Down (eval and train mode), for "
        "Down(4, 8) and Down(3, 5) on odd sizes."
    )


# --------------------------------------------------------------------------- exercise 3
def _pad_reference(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    out = x.new_zeros(*x.shape[:-2], height, width)
    top, left = (height - x.shape[-2]) // 2, (width - x.shape[-1]) // 2
    out[..., top : top + x.shape[-2], left : left + x.shape[-1]] = x
    return out


@exercise_check("pad_like")
def check_pad_like(pad_like: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """``pad_like(x, skip)``: zero padding to the last two dimensions of ``skip``, half
    each side, the extra pixel bottom / right; even and odd differences in each
    direction, none at all, a 3-D ``(C, h, w)`` input, float64, gradients flowing to
    ``x``, ``x`` unchanged; calling :func:`tutorial_lib.unet.pad_to_match` fails."""
    generator = torch.Generator().manual_seed(9)
    small = torch.arange(1.0, 7.0).view(1, 1, 2, 3)
    cases: list[tuple[str, torch.Tensor, tuple[int, ...]]] = [
        ("2 x 3 into 3 x 5 (odd height difference)", small, (1, 1, 3, 5)),
        ("2 x 3 into 2 x 4 (odd width difference)", small, (1, 1, 2, 4)),
        ("2 x 3 into 5 x 3 (odd height difference only)", small, (1, 1, 5, 3)),
        ("same size", torch.randn(2, 3, 4, 5, generator=generator), (2, 6, 4, 5)),
        ("4 x 5 into 9 x 6", torch.randn(2, 3, 4, 5, generator=generator), (2, 3, 9, 6)),
        (
            "4 x 5 into 8 x 12 (even differences)",
            torch.randn(2, 3, 4, 5, generator=generator),
            (1, 1, 8, 12),
        ),
        (
            "a single image (C, h, w): 3 x 3 into 6 x 4",
            torch.randn(2, 3, 3, generator=generator),
            (5, 6, 4),
        ),
        (
            "float64, 7 x 2 into 8 x 5",
            torch.randn(1, 2, 7, 2, dtype=torch.float64, generator=generator),
            (1, 2, 8, 5),
        ),
    ]
    message = (
        "pad_like calls the library's pad_to_match; the exercise is to write the padding "
        "yourself (with F.pad, for example)"
    )
    with mock.patch("tutorial_lib.unet._check_image_batch", side_effect=CheckFailed(message)):
        for description, x, skip_shape in cases:
            skip = torch.zeros(skip_shape, dtype=x.dtype)
            x_before = x.clone()
            got = pad_like(x, skip)
            if not torch.equal(x, x_before):
                raise CheckFailed(f"case {description!r}: pad_like changed x in place")
            problem = compare(got, _pad_reference(x, *skip_shape[-2:]), rtol=0, atol=0)
            if problem:
                raise CheckFailed(
                    f"case {description!r}: {problem}; pad the last two dimensions with zeros, "
                    "half of each difference on each side, the extra pixel at the bottom / on "
                    "the right (F.pad's amounts are (left, right, top, bottom))"
                )
        x = torch.randn(1, 2, 3, 4, generator=generator, requires_grad=True)
        out = pad_like(x, torch.zeros(1, 2, 6, 7))
        if not isinstance(out, torch.Tensor) or out.grad_fn is None:
            raise CheckFailed(
                "the result is cut off from the graph (no grad_fn): in Up the gradient must "
                "flow through the padding back to x; stay with torch operations, no .detach(), "
                ".numpy() or torch.no_grad()"
            )
        out.sum().backward()
        if x.grad is None or not torch.equal(x.grad, torch.ones_like(x)):
            raise CheckFailed("the gradient reaching x is not 1 for every element of x")
    return f"{len(cases)} cases (odd, even and no difference, 3-D, float64) and the gradient."


# --------------------------------------------------------------------------- exercise 4
def unet_parameters(n_channels: int, n_classes: int, depth: int, base_channels: int) -> int:
    """Parameters of a bilinear U-Net with ``depth`` poolings, following ``UNet``'s
    pattern (``depth=4`` is ``UNet(n_channels, n_classes, base_channels=...)``).

    Taught in: "U-Net from building blocks" (exercise "A U-Net of any depth").
    """
    c = base_channels
    total = _double_conv_count(n_channels, c, None)
    for level in range(1, depth):
        total += _double_conv_count(c * 2 ** (level - 1), c * 2**level, None)
    total += _double_conv_count(c * 2 ** (depth - 1), c * 2 ** (depth - 1), None)  # the bottom
    for level in range(depth, 1, -1):  # Up(c 2^level, c 2^(level - 2)), narrowing through half
        total += _double_conv_count(c * 2**level, c * 2 ** (level - 2), c * 2 ** (level - 1))
    total += _double_conv_count(2 * c, c, c)  # the top Up(2c, c)
    return total + c * n_classes + n_classes


def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


@exercise_check("UNetOfDepth")
def check_unet_depth(build: Callable[..., nn.Module]) -> str:
    """The design exercise: ``build(n_channels, n_classes, depth, base_channels=...)``
    for depths 1 to 5: the parameter count of :func:`unet_parameters`, the output
    shape for odd sizes, a ``ValueError`` for inputs smaller than ``2 ** depth`` (and
    none at exactly ``2 ** depth``); at ``depth=4`` the same outputs as ``UNet`` with
    the same weights (eval and train mode)."""
    from ..unet import UNet

    generator = torch.Generator().manual_seed(10)
    configs = [(1, 2, 4, 4), (2, 3, 1, 3), (1, 1, 2, 4), (3, 2, 3, 2), (1, 1, 5, 4)]
    for n_channels, n_classes, depth, c in configs:
        call = f"({n_channels}, {n_classes}, depth={depth}, base_channels={c})"
        model = build(n_channels, n_classes, depth, base_channels=c)
        if not isinstance(model, nn.Module):
            raise CheckFailed(f"{call} should build an nn.Module, got {type(model).__name__}")
        total = sum(p.numel() for p in model.parameters())
        expected = unet_parameters(n_channels, n_classes, depth, c)
        if total != expected:
            hint = (
                " (blocks kept in a plain Python list are not registered: use nn.ModuleList)"
                if total < expected
                else ""
            )
            raise CheckFailed(
                f"{call} has {total:,} parameters, a U-Net of that depth has {expected:,}{hint}; "
                "follow UNet's pattern: channels double on the way down, the bottom Down and "
                "every Up but the last give half as many (bilinear), one Down and one Up per level"
            )
        size = 2**depth
        h, w = size + 5, 2 * size + 3
        x = torch.randn(2, n_channels, h, w, generator=generator)
        try:
            out = _forward(model, x)
        except Exception as err:
            raise CheckFailed(
                f"{call}: the forward pass on a (2, {n_channels}, {h}, {w}) batch raised "
                f"{type(err).__name__}: {err}"
            ) from err
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, n_classes, h, w):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(
                f"{call}: expected an output of shape {(2, n_classes, h, w)}, got {got}"
            )
        try:
            _forward(model, torch.randn(2, n_channels, size, size, generator=generator))
        except Exception as err:
            raise CheckFailed(
                f"{call}: an input of exactly {size} x {size} (2 ** depth) must work, it raised "
                f"{type(err).__name__}: {err}"
            ) from err
        for small in [(size - 1, size), (size, size - 1)]:
            try:
                _forward(model, torch.randn(2, n_channels, *small, generator=generator))
            except ValueError:
                continue
            except Exception as err:
                raise CheckFailed(
                    f"{call}: an input of {small[0]} x {small[1]} raised {type(err).__name__} "
                    f"({err}); check the size at the top of forward and raise a ValueError "
                    f"that says the minimum, {size} x {size}"
                ) from err
            raise CheckFailed(
                f"{call}: an input of {small[0]} x {small[1]} was accepted, but {depth} poolings "
                f"need at least {size} x {size}: raise a ValueError at the top of forward"
            )
        if depth == 4:
            x = torch.randn(2, n_channels, 37, 45, generator=generator)
            try:
                _same_block(
                    model, UNet(n_channels, n_classes, base_channels=c), (x,), rtol=1e-4, atol=1e-4
                )
            except CheckFailed as err:
                raise CheckFailed(
                    f"{call} against UNet{(n_channels, n_classes)} with base_channels={c}: {err} "
                    "(register inc, the Downs from the top, the Ups from the bottom, then outc, "
                    "and concatenate each Up with the encoder map of its own size)"
                ) from err
    return (
        f"{len(configs)} depths (1 to 5): parameter counts, output shapes, the minimum input "
        "size, and the outputs of UNet at depth 4."
    )
