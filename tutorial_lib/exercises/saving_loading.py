"""Checks for the exercises of "Saving and loading".

Each ``check_*`` function takes the learner's answer (and the chapter objects it
needs), runs it on cases of its own, prints a ✅ line, or raises
:class:`~tutorial_lib.exercises.core.CheckFailed` saying what is wrong and how to
fix it; a stub that still raises ``NotImplementedError`` is reported as not
attempted. Checks that write files do so in a fresh temporary folder that they
delete afterwards, so repeated attempts never collide.

Taught in: "Saving and loading" (exercises).
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..state import save_checkpoint
from ._shared import call, scratch_folder
from .core import CheckFailed, exercise_check

__all__ = [
    "SMALL_MAX_LOGIT_DIFF",
    "SMALL_MAX_RATIO",
    "check_add_prefix",
    "check_resume_latest",
    "check_select_matching",
    "check_small_checkpoint",
    "check_to_safetensors",
]


def _shares_memory(a: object, b: torch.Tensor) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.data_ptr() == b.data_ptr()
        and a.shape == b.shape
        and a.stride() == b.stride()
    )


def _bn_model() -> nn.Module:
    return nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 4, 3), bn=nn.BatchNorm2d(4)))


# ---------------------------------------------------------------- saving-ex-1
@exercise_check("add_prefix")
def check_add_prefix(
    fn: Callable[[Mapping[str, Any], str], Any], build: Callable[[], nn.Module]
) -> str:
    """Self-check of saving-ex-1, ``fn(state_dict, prefix) -> new dict``.

    For ``"module."`` and ``"_orig_mod."`` on ``build().state_dict()`` and for
    ``"encoder."`` on a model with BatchNorm buffers: a new mapping whose keys are
    ``prefix + key`` in the argument's order, whose values are the argument's own
    tensors (the same memory, not copies), the argument left unchanged; the
    ``"module."`` result must load into ``nn.DataParallel(build())``, the
    ``"encoder."`` one into a module holding the model as ``encoder``.

    Taught in: "Saving and loading" (exercises).
    """
    cases: list[tuple[nn.Module, str]] = [(build(), "module."), (build(), "_orig_mod.")]
    cases.append((_bn_model(), "encoder."))
    for model, prefix in cases:
        state = model.state_dict()
        keys, values = list(state), list(state.values())
        got = fn(state, prefix)
        where = f"prefix {prefix!r}"
        if got is state:
            raise CheckFailed(f"{where}: returned the argument itself; build a new dict")
        if list(state) != keys or any(
            v is not w for v, w in zip(state.values(), values, strict=True)
        ):
            raise CheckFailed(
                f"{where}: the argument was changed; leave it alone and build a new dict"
            )
        if not isinstance(got, Mapping):
            raise CheckFailed(f"{where}: expected a dict, got {type(got).__name__}")
        expected = [prefix + key for key in keys]
        if list(got) != expected:
            if sorted(got) == sorted(expected):
                raise CheckFailed(
                    f"{where}: the right keys in another order; keep the argument's order"
                )
            raise CheckFailed(f"{where}: expected keys like {expected[:2]}, got {list(got)[:2]}")
        copied = [
            key
            for key, value in zip(keys, values, strict=True)
            if not _shares_memory(got[prefix + key], value)
        ]
        if copied:
            raise CheckFailed(
                f"{where}: the tensor of {copied[0]!r} was copied (clone or deepcopy); put the "
                "argument's own tensors in the new dict, so that no memory is duplicated"
            )
        if prefix == "module.":
            nn.DataParallel(build()).load_state_dict(got)
        elif prefix == "encoder.":
            holder = nn.Module()
            holder.encoder = _bn_model()
            holder.load_state_dict(got)
    return "new dicts with prefixed keys in order, the same tensors, loadable, for 3 prefixes."


# ---------------------------------------------------------------- saving-ex-2
def _reversed_case() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """A model with buffers, and a checkpoint in another order with a transposed shape
    (same number of elements) and an unknown name."""
    model = nn.Sequential(
        OrderedDict(conv=nn.Conv2d(1, 4, 3), bn=nn.BatchNorm2d(4), fc=nn.Linear(8, 6))
    )
    other = nn.Sequential(
        OrderedDict(conv=nn.Conv2d(1, 4, 3), bn=nn.BatchNorm2d(4), fc=nn.Linear(6, 8))
    )
    state = other.state_dict()
    state["head.weight"] = torch.zeros(3, 8)
    return model, dict(reversed(list(state.items())))


@exercise_check("select_matching")
def check_select_matching(
    fn: Callable[[nn.Module, Mapping[str, Any]], Any],
    trained: Mapping[str, torch.Tensor],
    build: Callable[..., nn.Module],
    build_plus: Callable[..., nn.Module],
) -> str:
    """Self-check of saving-ex-2, ``fn(model, state_dict) -> selected dict``.

    Cases: ``trained`` (the chapter's trained ``DigitNet`` weights) against
    ``build_plus(num_classes=5)``, ``build(hidden=32)`` and ``build()``, and a model
    with BatchNorm buffers against a checkpoint in reversed order with a transposed
    weight (same number of elements) and an unknown name. The selection must hold
    exactly the names of ``model.state_dict()`` found in the checkpoint with the
    same shape, in the model's order, with the checkpoint's own tensors, and the
    model must be left unchanged (nothing loaded).

    Taught in: "Saving and loading" (exercises).
    """
    cases = [
        (build_plus(num_classes=5), dict(trained), "an extra layer and a new head"),
        (build(hidden=32), dict(trained), "a narrower model"),
        (build(), dict(trained), "the same model"),
        (*_reversed_case(), "BatchNorm buffers, a reordered checkpoint, a transposed weight"),
    ]
    for model, state, label in cases:
        own = model.state_dict()
        snapshot = {name: value.clone() for name, value in own.items()}
        expected = [n for n in own if n in state and tuple(state[n].shape) == tuple(own[n].shape)]
        got = fn(model, state)
        where = f"{label}"
        after = model.state_dict()
        if any(not torch.equal(after[name], value) for name, value in snapshot.items()):
            raise CheckFailed(
                f"{where}: the model's tensors changed: select_matching must only select, not "
                "load (load_matching and load_state_dict load; do not call them)"
            )
        if not isinstance(got, Mapping):
            raise CheckFailed(f"{where}: expected a dict, got {type(got).__name__}")
        names = list(got)
        elsewhere = [n for n in names if n in own and n not in state]
        if elsewhere:
            raise CheckFailed(
                f"{where}: {elsewhere[0]!r} is not in the checkpoint, yet your selection has it: "
                "match by name, never by position"
            )
        wrong_shape = [n for n in names if n in own and n not in expected]
        if wrong_shape:
            n = wrong_shape[0]
            raise CheckFailed(
                f"{where}: {n!r} has shape {tuple(state[n].shape)} in the checkpoint and "
                f"{tuple(own[n].shape)} in the model; compare the shapes themselves (same "
                "number of elements is not enough)"
            )
        unknown = [n for n in names if n not in own]
        if unknown:
            raise CheckFailed(f"{where}: {unknown[0]!r} is not in model.state_dict(); leave it out")
        missing = [n for n in expected if n not in got]
        if missing:
            hint = (
                "buffers such as BatchNorm's running statistics are in model.state_dict(), not in "
                "model.parameters()"
                if any(n not in dict(model.named_parameters()) for n in missing)
                else "every model name found in the checkpoint with the same shape belongs in it"
            )
            raise CheckFailed(f"{where}: missing {missing}; {hint}")
        if names != expected:
            raise CheckFailed(
                f"{where}: the right names in another order; follow the model's order "
                "(iterate over model.state_dict())"
            )
        if any(not _shares_memory(got[n], state[n]) for n in names):
            raise CheckFailed(
                f"{where}: the values must be the checkpoint's own tensors, not copies"
            )
    return f"the right selection, in the model's order, nothing loaded, for {len(cases)} cases."


# ---------------------------------------------------------------- saving-ex-3
_SKIP_HINT = (
    "a file in the folder is not a valid checkpoint (truncated by a crash, or no checkpoint "
    "at all): skip every file that load_checkpoint refuses (it raises ValueError)"
)


@exercise_check("resume_latest")
def check_resume_latest(
    fn: Callable[..., Any],
    make_training: Callable[..., Sequence[Any]],
    train_epochs: Callable[..., list[dict[str, float]]],
    *,
    run_folder: str | os.PathLike[str],
    reference_losses: Sequence[float],
    epochs: int,
) -> str:
    """Self-check of saving-ex-3, ``fn(folder, model, optimizer, scheduler, loader) -> epoch``.

    Builds folders from the checkpoints of the uninterrupted run in ``run_folder``
    (``epoch-XX.pt``, written by ``train_epochs``): (a) epochs 2 and 5, ``best.pt``
    (a copy of epoch 2, written last), a truncated ``epoch-06.pt`` and a text file;
    (b) epoch 3 as ``last.pt`` and an empty ``epoch-04.pt``; (c) an empty folder.
    For (a) and (b) the function must return 5 and 3, and training on to ``epochs``
    with ``train_epochs`` in the objects of ``make_training(seed=7)`` must give
    exactly ``reference_losses`` from there; for (c) it must return 0 and leave the
    model unchanged.

    Taught in: "Saving and loading" (exercises).
    """
    source = Path(run_folder)

    def epoch_file(n: int) -> Path:
        return source / f"epoch-{n:02d}.pt"

    with scratch_folder("resume-check-") as scratch:
        folder_a, folder_b, folder_c = (scratch / name for name in ("a", "b", "c"))
        for folder in (folder_a, folder_b, folder_c):
            folder.mkdir()
        clock = 1_700_000_000
        writes = [
            (folder_a / "epoch-02.pt", epoch_file(2).read_bytes()),
            (folder_a / "epoch-05.pt", epoch_file(5).read_bytes()),
            (folder_a / "epoch-06.pt", epoch_file(6).read_bytes()[:5000]),  # a crash mid-write
            (folder_a / "notes.txt", b"lr 3e-3, cosine over 8 epochs\n"),
            (folder_a / "best.pt", epoch_file(2).read_bytes()),  # copied last: the newest file
            (folder_b / "last.pt", epoch_file(3).read_bytes()),
            (folder_b / "epoch-04.pt", b""),  # truncated, then the process died
        ]
        for index, (path, data) in enumerate(writes):
            path.write_bytes(data)
            os.utime(path, (clock + index, clock + index))
        cases = [
            (folder_a, 5, "epochs 2 and 5, best.pt (epoch 2), a truncated epoch-06.pt, notes.txt"),
            (folder_b, 3, "last.pt (epoch 3) and an empty epoch-04.pt"),
            (folder_c, 0, "an empty folder"),
        ]
        for folder, expected, label in cases:
            objects = make_training(seed=7)
            before = {k: v.clone() for k, v in objects[0].state_dict().items()}
            hint = (
                "with no checkpoint in the folder, return 0 and leave the objects as they are"
                if expected == 0
                else _SKIP_HINT
            )
            try:
                first = call(fn, folder, *objects, hint=hint)
            except CheckFailed as err:
                raise CheckFailed(f"{label}: {err}") from err
            if first != expected:
                raise CheckFailed(
                    f"{label}: expected to continue from epoch {expected} (the largest epoch "
                    f"stored in a checkpoint that loads; not the newest file, not the first one), "
                    f"got {first!r}"
                )
            if expected == 0:
                after = objects[0].state_dict()
                if any(not torch.equal(after[k], v) for k, v in before.items()):
                    raise CheckFailed(
                        f"{label}: the model changed although there was nothing to load"
                    )
                continue
            history = train_epochs(*objects, first=first, last=epochs)
            tail = [row["loss"] for row in history]
            wanted = list(reference_losses[expected:])
            if tail != wanted:
                worst = max(abs(x - y) for x, y in zip(tail, wanted, strict=True))
                raise CheckFailed(
                    f"{label}: resumed from epoch {expected}, the losses differ from the "
                    f"uninterrupted run by up to {worst:.2e}; restore everything the checkpoint "
                    "holds: model, optimizer, scheduler, the RNG states and the loader's generator"
                )
    return (
        "picked the latest loadable checkpoint and resumed exactly (2 folders), 0 for an empty one."
    )


# ---------------------------------------------------------------- saving-ex-4
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


# ---------------------------------------------------------------- saving-ex-5
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
