import pytest
import torch

from tutorial_lib import get_device
from tutorial_lib.device import DEVICE_ENV_VAR


def test_default_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("tutorial_lib.device._mps_available", lambda: False)
    assert get_device() == torch.device("cpu")
    monkeypatch.setattr("tutorial_lib.device._mps_available", lambda: True)
    assert get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_env_var_forces_cpu_even_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert get_device() == torch.device("cpu")


def test_explicit_preference_wins_over_env(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(torch.device("cpu")) == torch.device("cpu")


def test_unavailable_cuda_is_an_error_not_a_silent_fallback(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available.*TUTORIAL_DEVICE"):
        get_device()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        get_device("cuda:0")


def test_cuda_index_out_of_range(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(RuntimeError, match="only 1 CUDA"):
        get_device("cuda:3")


def test_unavailable_mps(monkeypatch):
    monkeypatch.setattr("tutorial_lib.device._mps_available", lambda: False)
    with pytest.raises(RuntimeError, match="MPS is not available"):
        get_device("mps")


@pytest.mark.parametrize("bad", ["gpu", "cpu:x", "banana"])
def test_bad_names(monkeypatch, bad):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="not a device name"):
        get_device(bad)
    monkeypatch.setenv(DEVICE_ENV_VAR, bad)
    with pytest.raises(ValueError, match="TUTORIAL_DEVICE"):
        get_device()


def test_unsupported_device_type():
    with pytest.raises(ValueError, match="expected one of"):
        get_device("meta")


def test_bad_type():
    with pytest.raises(TypeError, match="prefer must be"):
        get_device(0)  # type: ignore[arg-type]


def test_blank_env_var_is_ignored(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("tutorial_lib.device._mps_available", lambda: False)
    monkeypatch.setenv(DEVICE_ENV_VAR, "  ")
    assert get_device() == torch.device("cpu")
