"""Tests of tutorial_lib.ddp_example: a real 2-process DDP run on 127.0.0.1 (gloo),
checked against single-process training on the same batches."""

from __future__ import annotations

import socket

import pytest
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from tutorial_lib import ddp_example
from tutorial_lib.data import digits_split
from tutorial_lib.state import load_checkpoint, strip_prefix


def test_build_model_shapes_and_names():
    model = ddp_example.build_model()
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    assert list(model.state_dict()) == [
        f"{layer}.{kind}" for layer in ("fc1", "fc2", "head") for kind in ("weight", "bias")
    ]
    assert ddp_example.build_model(hidden=8, num_classes=3)(torch.zeros(1, 1, 8, 8)).shape == (1, 3)


def test_free_port_can_be_bound():
    port = ddp_example.free_port()
    assert 0 < port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ddp_example.LOCALHOST, port))


def test_weights_fingerprint_tells_equal_from_different_weights():
    torch.manual_seed(0)
    a = ddp_example.build_model()
    b = ddp_example.build_model()
    b.load_state_dict(a.state_dict())
    assert ddp_example.weights_fingerprint(a) == ddp_example.weights_fingerprint(b)
    with torch.no_grad():
        b.head.bias[0] += 1e-7
    assert ddp_example.weights_fingerprint(a) != ddp_example.weights_fingerprint(b)


def reference_training(*, epochs: int, batch_size: int, lr: float, seed: int, world: int = 2):
    """What DDP computes, in one process: at every step, the gradient is the mean of
    the per-rank gradients, each taken on that rank's batch."""
    torch.manual_seed(seed)
    model = ddp_example.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    data = digits_split(seed=seed).train
    samplers = [DistributedSampler(data, world, rank, seed=seed) for rank in range(world)]
    for epoch in range(epochs):
        for sampler in samplers:
            sampler.set_epoch(epoch)
        shards = [list(sampler) for sampler in samplers]
        for start in range(0, len(shards[0]), batch_size):
            optimizer.zero_grad()
            for shard in shards:
                inputs, targets = data[shard[start : start + batch_size]]
                loss = nn.functional.cross_entropy(model(inputs), targets) / world
                loss.backward()  # accumulates: the sum of loss/world = the mean over ranks
            optimizer.step()
    return model


def test_two_process_run_matches_single_process_reference(tmp_path, capfd):
    out = tmp_path / "ddp"
    assert ddp_example.main(["--out", str(out), "--epochs", "2", "--batch-size", "128"]) == 0
    printed = capfd.readouterr().out
    assert "all ranks hold bitwise-identical weights: True" in printed
    assert "2 ranks, 674 training examples each per epoch" in printed
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]

    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["world_size"] == 2 and checkpoint["epoch"] == 2
    assert len(checkpoint["history"]) == 2
    assert all(key.startswith("module.") for key in checkpoint["model"])  # saved from DDP
    model = ddp_example.build_model()
    with pytest.raises(RuntimeError, match="Missing key"):
        model.load_state_dict(checkpoint["model"])
    model.load_state_dict(strip_prefix(checkpoint["model"]))  # strict

    reference = reference_training(epochs=2, batch_size=128, lr=0.01, seed=0)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=1e-4, atol=1e-5)


def test_bad_arguments_exit_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ddp_example.main(["--out", str(tmp_path), "--epochs", "0"])
    assert "must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ddp_example.main([])
    assert "--out" in capsys.readouterr().err
