"""Model surgery: give a trained model an extra input or an extra output, adapt its
first convolution to another number of input channels, and check which weights a
training step changed.

Taught in: "Modifying models".
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ._validate import is_int, require_module, require_tensor

__all__ = [
    "LogitsAndFeatures",
    "WithExtraInput",
    "WithExtraOutput",
    "adapt_first_conv",
    "changed_entries",
    "snapshot",
]

FILLS = ("mean", "zeros")


def _check_features(features: object, what: str) -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"{what} must return a tensor, got {type(features).__name__}")
    if features.ndim != 2:
        raise ValueError(
            f"{what} returned shape {tuple(features.shape)}, but (N, F) features are needed: "
            "end the backbone with nn.Flatten(1), or replace a torchvision classifier "
            "with nn.Identity() (e.g. model.fc = nn.Identity())"
        )
    return features


class _BackboneAndHead(nn.Module):
    """A backbone and a head, both checked to be modules."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        require_module(backbone, "backbone")
        require_module(head, "head")
        self.backbone = backbone
        self.head = head


class WithExtraInput(_BackboneAndHead):
    """A backbone whose features are joined with an extra input before the head.

    ``forward(x, extra)`` computes ``head(cat([backbone(x), extra], dim=1))``:

    - ``backbone(x)`` must return ``(N, F)`` features (a torchvision classifier with
      its last layer replaced by ``nn.Identity()``, or a body ending in
      ``nn.Flatten(1)``);
    - ``extra`` is a floating-point tensor ``(N, E)``, or ``(N,)`` for one number
      per sample (it becomes ``(N, 1)``);
    - ``head`` takes ``F + E`` features, e.g. ``nn.Linear(F + E, num_classes)``.

    Taught in: "Modifying models" (section "An extra input").
    """

    def forward(self, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        features = _check_features(self.backbone(x), "the backbone")  # (N, F)
        require_tensor(extra, "extra")
        if not extra.is_floating_point():
            raise TypeError(
                f"extra must be a floating-point tensor, got {extra.dtype}; convert it with "
                ".float() (and scale it like the other inputs)"
            )
        if extra.ndim == 1:
            extra = extra.unsqueeze(1)  # (N,) -> (N, 1)
        if extra.ndim != 2:
            raise ValueError(
                f"extra must have shape (N,) or (N, E), got {tuple(extra.shape)}; "
                "flatten it per sample with extra.flatten(1)"
            )
        if extra.shape[0] != features.shape[0]:
            raise ValueError(
                f"extra has {extra.shape[0]} rows but the batch has {features.shape[0]} samples; "
                "pass one row of extra values per input"
            )
        joined = torch.cat([features, extra.to(features.dtype)], dim=1)  # (N, F + E)
        return self.head(joined)


class LogitsAndFeatures(NamedTuple):
    """What :class:`WithExtraOutput` returns: unpack it like a pair."""

    logits: torch.Tensor
    features: torch.Tensor


class WithExtraOutput(_BackboneAndHead):
    """A backbone and a head that return the head's output *and* the features.

    ``forward(x)`` returns ``LogitsAndFeatures(head(f), f)`` with ``f = backbone(x)``
    of shape ``(N, F)``: both come from one forward pass, so a loss on either (or on
    both) back-propagates through the same graph.

    Taught in: "Modifying models" (section "An extra output").
    """

    def forward(self, x: torch.Tensor) -> LogitsAndFeatures:
        features = _check_features(self.backbone(x), "the backbone")  # (N, F)
        return LogitsAndFeatures(self.head(features), features)


def adapt_first_conv(conv: nn.Conv2d, in_channels: int, *, fill: str = "mean") -> nn.Conv2d:
    """A copy of ``conv`` that takes ``in_channels`` input channels and reuses its filters.

    - More channels than ``conv`` has (e.g. RGB + depth, 3 -> 4): the existing
      filters are copied unchanged for the first channels; the new channels get
      ``fill="mean"`` (the mean of the existing filters: a new channel starts out
      treated like a grey image) or ``fill="zeros"`` (the new channels start with no
      effect, so the layer computes exactly what ``conv`` did on the old channels;
      gradients still reach the new filters and train them).
    - One channel (e.g. RGB -> grey): the filters are summed over their input
      channels, so the new layer on a grey image gives what ``conv`` gave on that
      image copied into every channel.
    - The same number: a copy.

    The bias, stride, padding, dilation, padding mode, dtype and device are kept.
    ``conv`` itself is not changed and shares no storage with the result. Assign the
    result where the old layer was, e.g. ``model.conv1 = adapt_first_conv(model.conv1, 4)``.

    Taught in: "Modifying models" (section "A fourth input channel").
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be an nn.Conv2d, got {type(conv).__name__}")
    if isinstance(conv.weight, nn.parameter.UninitializedParameter):
        raise ValueError("conv is a lazy layer that has not seen an input yet; run it once first")
    if not is_int(in_channels):
        raise TypeError(f"in_channels must be an int, got {type(in_channels).__name__}")
    if in_channels < 1:
        raise ValueError(f"in_channels must be at least 1, got {in_channels}")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    if conv.groups != 1:
        raise ValueError(
            f"conv has groups={conv.groups}; only ordinary (groups=1) convolutions can be "
            "adapted, because grouped filters see only some of the input channels"
        )
    old = conv.in_channels
    if 1 < in_channels < old:
        raise ValueError(
            f"going from {old} to {in_channels} input channels is ambiguous (which channels "
            "stay?); choose them yourself, e.g. new.weight.copy_(conv.weight[:, [0, 2]]), "
            "or use in_channels=1 for a grey image"
        )

    weight = conv.weight.detach()  # (out, old, kh, kw)
    if in_channels == 1:
        new_weight = weight.sum(dim=1, keepdim=True)  # (out, 1, kh, kw)
    else:
        extra = in_channels - old
        if fill == "mean":
            added = weight.mean(dim=1, keepdim=True).expand(-1, extra, -1, -1)
        else:
            added = weight.new_zeros(weight.shape[0], extra, *weight.shape[2:])
        new_weight = torch.cat([weight, added], dim=1)  # (out, in_channels, kh, kw)

    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=1,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=weight.device,
        dtype=weight.dtype,
    )
    with torch.no_grad():
        new.weight.copy_(new_weight)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of every entry of ``model.state_dict()`` (parameters and
    buffers such as BatchNorm's running statistics), to compare with later.

    Taught in: "Modifying models" (section "A half-frozen body with new layers").
    """
    require_module(model, "model")
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def changed_entries(model: nn.Module, before: dict[str, torch.Tensor]) -> list[str]:
    """Names of the ``state_dict`` entries of ``model`` that differ from ``before``
    (a :func:`snapshot`), in ``state_dict`` order. "Differ" means not bit-for-bit
    equal: a frozen weight must not move at all.

    Taught in: "Modifying models" (section "A half-frozen body with new layers").
    """
    require_module(model, "model")
    if not isinstance(before, dict):
        raise TypeError(f"before must be a dict from snapshot(model), got {type(before).__name__}")
    now = model.state_dict()
    if set(now) != set(before):
        missing = sorted(set(now) - set(before))[:3]
        extra = sorted(set(before) - set(now))[:3]
        raise ValueError(
            "before was taken from a different model: names only in the model "
            f"{missing}, only in the snapshot {extra}; take a new snapshot(model)"
        )
    changed = []
    for name, value in now.items():
        old = before[name]
        if old.shape != value.shape:
            raise ValueError(
                f"{name!r} has shape {tuple(value.shape)} but {tuple(old.shape)} in the "
                "snapshot; take a new snapshot(model) after changing layers"
            )
        if not torch.equal(old.to(value.device), value.detach()):
            changed.append(name)
    return changed
