"""The check of the exercise "Resume from the latest checkpoint in a folder" (saving-ex-3).

Taught in: "Saving and loading" (exercise "Resume from the latest checkpoint in a folder").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .._shared import call, scratch_folder
from ..core import CheckFailed, exercise_check

__all__ = ["check_resume_latest"]


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
