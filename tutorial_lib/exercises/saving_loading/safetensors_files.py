"""The checks of the two safetensors exercises (saving-ex-4 and -ex-5): converting a
checkpoint, and a checkpoint half the size.

Taught in: "Saving and loading" (exercises "Convert a checkpoint to safetensors", "A checkpoint half
the size").
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...state import save_checkpoint
from .._shared import call, scratch_folder
from ..core import CheckFailed, exercise_check

__all__ = [
    "SMALL_MAX_LOGIT_DIFF",
    "SMALL_MAX_RATIO",
    "check_small_checkpoint",
    "check_to_safetensors",
]


_SAFETENSORS_HINTS = {
    "contiguous": "safetensors stores only contiguous tensors: call .contiguous() on every tensor",
    "metadata": "metadata values must be strings: str(epoch)",
    "str": "metadata values must be strings: str(epoch)",
}


@exercise_check("to_safetensors")
def check_to_safetensors(fn: Callable[[Any, Any], Any]) -> str:
    """Self-check of saving-ex-4, ``fn(src, dst)``.

    Two checkpoints written by ``save_checkpoint`` in a temporary folder (epochs 12
    and 3; a transposed and a strided tensor, an integer buffer), converted to
    ``dst`` paths in another folder; each ``dst`` is read with
    ``safetensors.safe_open``: it must hold the ``"model"`` part's names, dtypes and
    values, and the metadata ``"epoch"`` must be the checkpoint's epoch as a string.

    Taught in: "Saving and loading" (exercises).
    """
    from safetensors import SafetensorError, safe_open

    cases = [
        (12, {"fc.weight": torch.arange(12.0).reshape(3, 4).T, "fc.bias": torch.ones(4)}),
        (
            3,
            {
                "conv.weight": torch.arange(40.0).reshape(4, 10)[:, ::2],
                "bn.num_batches_tracked": torch.tensor(7),
                "bn.running_mean": torch.linspace(-1, 1, 5),
            },
        ),
    ]
    with scratch_folder("safetensors-check-") as scratch:
        (scratch / "checkpoints").mkdir()
        (scratch / "export").mkdir()
        for epoch, weights in cases:
            src = scratch / "checkpoints" / f"run-{epoch}.pt"
            dst = scratch / "export" / f"weights-{epoch}.safetensors"
            save_checkpoint(src, model=weights, optimizer={"note": "not weights"}, epoch=epoch)
            where = f"epoch {epoch}"
            try:
                fn(str(src), str(dst))
            except NotImplementedError:
                raise
            except Exception as err:
                text = str(err)
                hint = next((h for key, h in _SAFETENSORS_HINTS.items() if key in text), "")
                raise CheckFailed(
                    f"{where}: your code raised {type(err).__name__}: {text}"
                    + (f"; {hint}" if hint else "")
                ) from err
            if not dst.exists():
                raise CheckFailed(
                    f"{where}: nothing was written to dst ({dst.name}); write to the path you are "
                    "given"
                )
            try:
                with safe_open(str(dst), framework="pt") as file:
                    metadata = file.metadata() or {}
                    got = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118
            except (SafetensorError, OSError, ValueError) as err:
                raise CheckFailed(
                    f"{where}: dst is not a safetensors file ({err}); write it with "
                    "safetensors.torch.save_file"
                ) from err
            if metadata.get("epoch") != str(epoch):
                raise CheckFailed(
                    f"{where}: expected the metadata 'epoch' to be {str(epoch)!r} (the "
                    f"checkpoint's epoch, as a string), got {metadata.get('epoch')!r}"
                )
            if set(got) != set(weights):
                raise CheckFailed(
                    f"{where}: expected the tensors {sorted(weights)} of the checkpoint's 'model' "
                    f"part, got {sorted(got)}"
                )
            for name, value in weights.items():
                if got[name].dtype != value.dtype:
                    raise CheckFailed(
                        f"{where}: {name} was saved as {got[name].dtype}, the checkpoint has "
                        f"{value.dtype}; keep the dtype"
                    )
                if not torch.equal(got[name], value):
                    raise CheckFailed(f"{where}: the values of {name} differ from the checkpoint's")
    return "names, dtypes, values and the epoch metadata right for 2 checkpoints."


SMALL_MAX_RATIO = 0.55
"""Largest size of the small checkpoint, as a share of the float32 safetensors file."""
SMALL_MAX_LOGIT_DIFF = 0.01
"""Largest absolute difference of the round-tripped model's logits on the validation images."""


@exercise_check("small checkpoint")
def check_small_checkpoint(
    save_small: Callable[[nn.Module, Any], Any],
    load_small: Callable[[Any, nn.Module], Any],
    model: nn.Module,
    build: Callable[[], nn.Module],
    images: torch.Tensor,
) -> str:
    """Self-check of saving-ex-5: a checkpoint at most half the float32 size.

    ``save_small`` gets a CPU copy of ``model`` (which must stay unchanged) and a
    path in a temporary folder; the file there must be a safetensors file at most
    :data:`SMALL_MAX_RATIO` times the size of the float32 safetensors file of the
    same weights. ``load_small(path, build())`` must return a model whose floating
    parameters are float32 and whose logits on ``images`` differ from the
    original's by at most :data:`SMALL_MAX_LOGIT_DIFF`.

    Taught in: "Saving and loading" (exercises).
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import save_file

    original = copy.deepcopy(model).cpu().eval()
    images = images.cpu()
    given = copy.deepcopy(original)
    before = {k: v.clone() for k, v in given.state_dict().items()}
    with torch.no_grad():
        reference = original(images)
    with scratch_folder("small-checkpoint-check-") as scratch:
        full = scratch / "float32.safetensors"
        save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(full))
        path = scratch / "small.safetensors"
        call(save_small, given, str(path))
        after = given.state_dict()
        if any(
            after[k].dtype != v.dtype or not torch.equal(after[k], v) for k, v in before.items()
        ):
            raise CheckFailed(
                "save_small changed the model it was given (model.half() converts the model "
                "itself): convert copies of the tensors, e.g. {name: t.to(dtype) ...}"
            )
        if not path.exists():
            raise CheckFailed(f"nothing was written to path ({path.name}); write to the path given")
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckFailed(
                f"the file is not a safetensors file ({err}); write it with safetensors' save_file"
            ) from err
        ratio = path.stat().st_size / full.stat().st_size
        if ratio > SMALL_MAX_RATIO:
            raise CheckFailed(
                f"the file is {ratio:.0%} of the float32 safetensors file; the target is at most "
                f"{SMALL_MAX_RATIO:.0%}: store the weights with fewer bits per number"
            )
        fresh = build()
        loaded = call(load_small, str(path), fresh)
        if not isinstance(loaded, nn.Module):
            raise CheckFailed(f"load_small must return the model, got {type(loaded).__name__}")
        low = [
            n
            for n, p in loaded.named_parameters()
            if p.is_floating_point() and p.dtype != torch.float32
        ]
        if low:
            raise CheckFailed(
                f"the loaded model holds {loaded.get_parameter(low[0]).dtype} parameters "
                f"({low[0]}); it must compute in float32 like the original: load into the "
                "float32 model (load_state_dict converts while copying)"
            )
        loaded.eval()
        with torch.no_grad():
            diff = (loaded(images).float() - reference).abs().max().item()
    if not diff <= SMALL_MAX_LOGIT_DIFF:
        raise CheckFailed(
            f"the logits on the validation images differ from the original's by up to {diff:.3g}; "
            f"the target is at most {SMALL_MAX_LOGIT_DIFF}: this format rounds too coarsely, "
            "measure the round-trip error of each format you considered"
        )
    return (
        f"file {ratio:.0%} of the float32 one (target <= {SMALL_MAX_RATIO:.0%}), float32 model, "
        f"logits within {diff:.2g} (target <= {SMALL_MAX_LOGIT_DIFF})."
    )
