"""A real DistributedDataParallel (DDP) job on the CPU: two processes, gloo backend.

Each process trains its own replica of a small digits classifier on its half of
every epoch (``DistributedSampler``); DDP averages the gradients across the
processes after every backward pass, so the replicas stay identical. Rank 0 then
saves a checkpoint with :func:`tutorial_lib.state.save_checkpoint` the way
many training scripts do, straight from the wrapper, so the weights carry the
``module.`` prefix that the chapter teaches how to remove.

Run it (everything stays on 127.0.0.1)::

    python -m tutorial_lib.ddp_example --out runs/ddp            # spawns 2 processes
    python -m torch.distributed.run --nproc-per-node 2 -m tutorial_lib.ddp_example --out runs/ddp

Taught in: "Saving and loading".
"""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from .data import digits_split
from .state import save_checkpoint

CHECKPOINT_NAME = "checkpoint.pt"
LOCALHOST = "127.0.0.1"


def build_model(hidden: int = 64, num_classes: int = 10) -> nn.Module:
    """The digits classifier every rank trains: 8x8 image → 10 logits, with named
    layers ``fc1``, ``fc2``, ``head`` (so its ``state_dict`` keys are
    ``fc1.weight``, ...).

    Taught in: "Saving and loading".
    """
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),  # (N, 1, 8, 8) -> (N, 64)
            fc1=nn.Linear(64, hidden),
            act1=nn.ReLU(),
            fc2=nn.Linear(hidden, hidden),
            act2=nn.ReLU(),
            head=nn.Linear(hidden, num_classes),  # (N, num_classes) logits
        )
    )


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port on ``host`` that was free a moment ago (the OS picks it), for
    ``MASTER_PORT``.

    Taught in: "Saving and loading".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def weights_fingerprint(model: nn.Module) -> str:
    """The first 12 hex digits of the SHA-256 of every parameter's name and bytes,
    in order: equal fingerprints mean bitwise-equal weights.

    Taught in: "Saving and loading".
    """
    digest = hashlib.sha256()
    for name, param in model.named_parameters():
        digest.update(name.encode())
        digest.update(param.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def train(out: Path, *, epochs: int, batch_size: int, lr: float, seed: int) -> None:
    """The body of every rank, once the process group is up: train, then rank 0
    saves ``out / checkpoint.pt`` (straight from the DDP wrapper, so the weights
    carry the ``module.`` prefix) and prints a summary.

    Taught in: "Saving and loading".
    """
    rank, world_size = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(seed)  # same initial weights everywhere (DDP also broadcasts rank 0's)
    split = digits_split(seed=seed)
    # Each rank sees a different shard of every epoch; set_epoch reshuffles them.
    sampler = DistributedSampler(split.train, num_replicas=world_size, rank=rank, seed=seed)
    loader = DataLoader(split.train, batch_size=batch_size, sampler=sampler)
    model = DistributedDataParallel(build_model())  # CPU: no device_ids
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()

    history = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        model.train()
        totals = torch.zeros(2, dtype=torch.float64)  # (sum of losses, examples) on this rank
        for inputs, targets in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(inputs), targets)
            loss.backward()  # DDP all-reduces (averages) the gradients here
            optimizer.step()
            totals += torch.tensor([loss.item() * len(inputs), len(inputs)], dtype=torch.float64)
        dist.all_reduce(totals)  # sum over ranks: the loss over the whole epoch
        history.append(round(float(totals[0] / totals[1]), 6))
        if rank == 0:
            print(f"epoch {epoch + 1}: train loss {history[-1]:.4f}", flush=True)

    fingerprints: list[str | None] = [None] * world_size
    dist.all_gather_object(fingerprints, weights_fingerprint(model.module))
    if rank == 0:
        path = save_checkpoint(
            out / CHECKPOINT_NAME,
            model=model.state_dict(),  # the wrapper's keys: "module.fc1.weight", ...
            optimizer=optimizer.state_dict(),
            epoch=epochs,
            world_size=world_size,
            examples_per_rank=len(sampler),
            history=history,
        )
        same = len(set(fingerprints)) == 1
        print(f"{world_size} ranks, {len(sampler)} training examples each per epoch")
        print(f"all ranks hold bitwise-identical weights: {same}")
        print(f"rank 0 saved {path.name} in {out.name}/", flush=True)
    dist.barrier()  # nobody leaves before the checkpoint is on disk


def _run_rank(
    rank: int, world_size: int, port: int, out: str, options: dict[str, float | int]
) -> None:
    """Entry point of a process started by :func:`launch` (``mp.spawn`` passes ``rank``)."""
    os.environ["MASTER_ADDR"] = LOCALHOST
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        train(Path(out), **options)
    finally:
        dist.destroy_process_group()


def launch(out: Path, *, world_size: int = 2, **options: float | int) -> None:
    """Start ``world_size`` processes on this machine with ``torch.multiprocessing``
    and wait for them; an error in any rank is raised here.

    Taught in: "Saving and loading".
    """
    # Like torchrun: one thread per process, so the ranks do not fight over the cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    port = free_port()
    mp.spawn(_run_rank, args=(world_size, port, str(out), options), nprocs=world_size, join=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m tutorial_lib.ddp_example --out DIR [--epochs N ...]``.
    Spawns the ranks itself, or, when started by ``torchrun`` (``RANK`` and
    ``WORLD_SIZE`` set), runs as one of them.

    Taught in: "Saving and loading".
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the checkpoint")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--world-size", type=int, default=2, help="processes to spawn")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.batch_size < 1 or args.world_size < 1:
        parser.error("--epochs, --batch-size and --world-size must be positive")
    args.out.mkdir(parents=True, exist_ok=True)
    options = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
    }
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # started by torchrun
        dist.init_process_group("gloo")  # reads MASTER_ADDR/PORT, RANK, WORLD_SIZE
        try:
            train(args.out, **options)
        finally:
            dist.destroy_process_group()
    else:
        launch(args.out, world_size=args.world_size, **options)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
