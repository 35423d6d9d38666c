import random

import numpy as np
import pytest
import torch

from tutorial_lib import seed_everything


@pytest.fixture(autouse=True)
def _restore_determinism():
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _draw():
    return (
        random.random(),
        np.random.rand(),  # noqa: NPY002 - the legacy global RNG is what we seed
        torch.rand(3).tolist(),
    )


def test_same_seed_same_numbers_everywhere():
    seed_everything(123)
    first = _draw()
    seed_everything(123)
    assert _draw() == first


def test_different_seeds_differ():
    seed_everything(1)
    a = _draw()
    seed_everything(2)
    assert _draw() != a


def test_returned_generator_is_seeded_and_independent():
    gen = seed_everything(7)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(7))
    torch.rand(100)  # consuming the global RNG must not affect the returned generator
    assert torch.equal(torch.randperm(10, generator=gen), expected)


def test_deterministic_flags():
    seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.benchmark


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_out_of_range(bad):
    with pytest.raises(ValueError, match="seed must be in"):
        seed_everything(bad)


@pytest.mark.parametrize("bad", [1.5, "3", True, None])
def test_bad_type(bad):
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything(bad)  # type: ignore[arg-type]
