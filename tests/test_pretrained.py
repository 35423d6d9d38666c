"""Tests of tutorial_lib.pretrained (the source model and its training) and
tutorial_lib.source_cache (its cache).

Every test trains a tiny config (a narrow ResNet-18 on 4 images per class for one
epoch), never the course's full source models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import tutorial_lib as tl
from tutorial_lib import pretrained, state
from tutorial_lib.glyphs import GLYPH_CLASSES, glyphs_split
from tutorial_lib.pretrained import PretrainConfig, build_source_model, pretrain_source_model
from tutorial_lib.source_cache import (
    CACHE_ENV_VAR,
    SourceModel,
    cache_paths,
    default_cache_dir,
    load_source_model,
)

TINY = PretrainConfig(source="digits", width=4, epochs=1, per_class=4, batch_size=10)
TINY_GLYPHS = PretrainConfig(classes=("A", "C", "D"), width=4, epochs=1, per_class=4, batch_size=10)
WEIGHTS_FILE, RECORD_FILE = (path.name for path in cache_paths(TINY, "."))


def states_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> tuple[Path, SourceModel]:
    """A cache written once by a cold call with the tiny config."""
    folder = tmp_path_factory.mktemp("warm")
    return folder, load_source_model(TINY, cache_dir=folder, device="cpu", verbose=False)


@pytest.fixture
def cache(tmp_path, warm_cache) -> Path:
    """A private copy of the warm cache that a test may damage."""
    folder = tmp_path / "cache"
    shutil.copytree(warm_cache[0], folder)
    return folder


# --------------------------------------------------------------------------- the model
def test_source_model_is_resnet18_with_a_small_image_stem():
    model = build_source_model(5)
    reference = torchvision.models.resnet18(weights=None, num_classes=5)
    assert [n for n, _ in model.named_children()] == [n for n, _ in reference.named_children()]
    assert isinstance(model, torchvision.models.ResNet)
    conv = model.conv1
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (
        1,
        64,
        (3, 3),
        (1, 1),
    )
    assert isinstance(model.maxpool, nn.Identity)
    # Same parameters as resnet18 apart from conv1: 64*3*7*7 weights there, 64*1*3*3 here.
    expected = tl.count_parameters(reference).total - 64 * 3 * 7 * 7 + 64 * 1 * 3 * 3
    assert tl.count_parameters(model).total == expected
    for name, param in reference.named_parameters():
        if not name.startswith("conv1."):
            assert dict(model.named_parameters())[name].shape == param.shape
    assert model.eval()(torch.rand(2, 1, 8, 8)).shape == (2, 5)


def test_narrow_source_model_keeps_the_layout():
    model = build_source_model(3, width=4, in_channels=2)
    assert [n for n, _ in model.named_children()] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]
    assert [model.get_submodule(f"layer{i}")[0].conv1.out_channels for i in (1, 2, 3, 4)] == [
        4,
        8,
        16,
        32,
    ]
    assert model.eval()(torch.rand(2, 2, 8, 8)).shape == (2, 3)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"num_classes": 0}, ValueError),
        ({"width": 2.0}, TypeError),
        ({"in_channels": True}, TypeError),
    ],
)
def test_build_source_model_rejects_bad_input(kwargs, error):
    with pytest.raises(error):
        build_source_model(**{"num_classes": 5, **kwargs})


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "config",
    [
        PretrainConfig(source="digits", classes=[0, 1, 2], per_class=3),
        PretrainConfig(classes=["A", "Ω"], per_class=3),
    ],
    ids=["digits", "glyphs"],
)
def test_config_round_trips_through_json(config):
    assert isinstance(config.classes, tuple)
    assert json.loads(json.dumps(config.as_dict())) == config.as_dict()
    assert PretrainConfig(**{**config.as_dict(), "classes": tuple(config.classes)}) == config


def test_the_default_source_is_the_broad_one_and_digits_are_the_contrast():
    assert PretrainConfig().source == "glyphs"
    assert PretrainConfig().classes == GLYPH_CLASSES and len(GLYPH_CLASSES) == 66
    assert PretrainConfig(source="digits").classes == (0, 1, 2, 3, 4)
    assert PretrainConfig().as_dict()["source"] == "glyphs"
    assert PretrainConfig().shift == PretrainConfig(source="digits").shift == 1  # one recipe


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"source": "mnist"}, ValueError, "source must be one of"),
        ({"source": "glyphs", "classes": (0, 1)}, ValueError, "not glyph classes"),
        ({"source": "glyphs", "classes": ("A", "8")}, ValueError, "not glyph classes"),
        ({"source": "glyphs", "classes": "ACD"}, TypeError, "tuple of characters"),
        ({"source": "glyphs", "classes": ("A", "A")}, ValueError, "two distinct"),
        ({"source": "digits", "classes": ("A", "C")}, TypeError, "tuple of ints"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": 1.5}, TypeError, "epochs"),
        ({"size": 2}, ValueError, "size"),
        ({"classes": (1,)}, ValueError, "two distinct"),
        ({"classes": (1, 1, 2)}, ValueError, "two distinct"),
        ({"classes": (0, 12)}, ValueError, "0-9"),
        ({"classes": "01234"}, TypeError, "tuple of ints"),
        ({"lr": 0}, ValueError, "lr"),
        ({"lr": "fast"}, TypeError, "lr"),
        ({"per_class": True}, ValueError, "per_class"),
        ({"shift": 8}, ValueError, "shift"),
        ({"val_fraction": 1.0}, ValueError, "val_fraction"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay"),
    ],
)
def test_config_rejects_bad_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        PretrainConfig(**{"source": "digits", **kwargs})


# --------------------------------------------------------------------------- cache folder
def test_cache_folder_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV_VAR, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tutorial_lib"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "tutorial_lib"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "tutorial_lib"
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "forced"))
    assert default_cache_dir() == tmp_path / "forced"


def test_environment_variable_is_used_by_default(monkeypatch, tmp_path, warm_cache):
    shutil.copytree(warm_cache[0], tmp_path / "env")
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "env"))
    assert load_source_model(TINY, verbose=False).status == "loaded"


# --------------------------------------------------------------------------- training
def test_cold_call_trains_writes_and_records(warm_cache):
    folder, result = warm_cache
    assert result.status == "trained" and result.reason == "no cached model yet"
    assert result.cached
    data = (folder / WEIGHTS_FILE).read_bytes()
    record = json.loads((folder / RECORD_FILE).read_text())
    assert record["sha256"] == hashlib.sha256(data).hexdigest() == result.sha256
    assert record["config"] == TINY.as_dict()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [WEIGHTS_FILE, RECORD_FILE]
    )  # no temp files
    # The recorded accuracy is the model's accuracy on the held-out source digits.
    split = tl.digits_split(classes=range(5), size=8, relabel=True, per_class=4, seed=0)
    images, labels = split.val.tensors
    with torch.no_grad():
        accuracy = (result.model.eval()(images).argmax(1) == labels).double().mean().item()
    assert (
        record["source_accuracy"]
        == pytest.approx(accuracy)
        == pytest.approx(result.source_accuracy)
    )
    assert not result.model.training
    assert next(result.model.parameters()).device.type == "cpu"


def test_training_is_deterministic_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first, acc1 = pretrain_source_model(TINY, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)
    second, acc2 = pretrain_source_model(TINY, device="cpu")
    assert states_equal(first, second) and acc1 == acc2
    other, _ = pretrain_source_model(dataclasses.replace(TINY, seed=1), device="cpu")
    assert not states_equal(first, other)


def test_training_learns_the_source_digits():
    config = PretrainConfig(
        source="digits", width=8, epochs=5, per_class=30, classes=(0, 1), batch_size=10
    )
    _, accuracy = pretrain_source_model(config, device="cpu")
    assert accuracy >= 0.8  # 0 versus 1: guessing gets 0.5 (this config reaches 0.92)


def test_training_learns_the_source_glyphs():
    config = PretrainConfig(width=8, epochs=5, per_class=30, classes=("O", "+"), batch_size=10)
    _, accuracy = pretrain_source_model(config, device="cpu")
    assert accuracy >= 0.8  # O versus +: guessing gets 0.5


def test_glyph_training_uses_the_glyph_split_and_records_its_accuracy(tmp_path):
    result = load_source_model(TINY_GLYPHS, cache_dir=tmp_path, device="cpu", verbose=False)
    assert result.status == "trained"
    assert result.model.fc.out_features == 3
    split = glyphs_split(4, classes=("A", "C", "D"), seed=0)
    assert len(split.train) == 12  # 4 training images of each of the 3 classes
    images, labels = split.val.tensors
    with torch.no_grad():
        accuracy = (result.model(images).argmax(1) == labels).double().mean().item()
    assert result.source_accuracy == pytest.approx(accuracy)
    record = json.loads(cache_paths(TINY_GLYPHS, tmp_path)[1].read_text())
    assert record["config"]["source"] == "glyphs" and record["config"]["classes"] == ["A", "C", "D"]


def test_each_source_has_its_own_cache_files(tmp_path):
    glyph_files, digit_files = cache_paths(TINY_GLYPHS, tmp_path), cache_paths(TINY, tmp_path)
    assert [p.name for p in glyph_files] == [f"source_resnet18_glyphs.{e}" for e in ("pt", "json")]
    assert [p.name for p in digit_files] == [f"source_resnet18_digits.{e}" for e in ("pt", "json")]
    for config in (TINY_GLYPHS, TINY):
        assert load_source_model(config, cache_dir=tmp_path, verbose=False).status == "trained"
    # Both stay cached side by side: switching sources does not retrain either.
    glyphs = load_source_model(TINY_GLYPHS, cache_dir=tmp_path, verbose=False)
    digits = load_source_model(TINY, cache_dir=tmp_path, verbose=False)
    assert glyphs.status == digits.status == "loaded"
    assert glyphs.model.fc.out_features == 3 and digits.model.fc.out_features == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in glyph_files + digit_files
    )


def test_a_glyph_config_change_retrains(tmp_path, capsys):
    load_source_model(TINY_GLYPHS, cache_dir=tmp_path, verbose=False)
    changed = dataclasses.replace(TINY_GLYPHS, classes=("A", "C", "E"))
    result = load_source_model(changed, cache_dir=tmp_path)
    assert result.status == "trained" and "another config (classes:" in result.reason
    assert "training it now" in capsys.readouterr().out


def test_cache_paths_rejects_bad_input():
    with pytest.raises(TypeError, match="PretrainConfig"):
        cache_paths("glyphs")
    with pytest.raises(TypeError, match="cache_dir"):
        cache_paths(None, 3)


def test_shift_augmentation_moves_pixels_and_keeps_their_sum():
    images = torch.zeros(3, 1, 6, 6)
    images[:, :, 2:4, 2:4] = 1.0
    shifted = pretrained._random_shift(images, 1, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    assert torch.equal(shifted.sum((1, 2, 3)), images.sum((1, 2, 3)))  # the square stays inside


# --------------------------------------------------------------------------- cache behaviour
def test_warm_call_loads_the_same_weights_fast(cache, warm_cache, capsys):
    state = torch.random.get_rng_state()
    result = load_source_model(TINY, cache_dir=cache)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert result.status == "loaded" and result.reason == ""
    assert states_equal(result.model, warm_cache[1].model)
    assert result.sha256 == warm_cache[1].sha256
    assert result.source_accuracy == warm_cache[1].source_accuracy
    assert not result.model.training
    assert all(p.requires_grad for p in result.model.parameters())
    assert "loaded from the cache" in capsys.readouterr().out


def retrains(folder: Path, reason: str, capsys, config: PretrainConfig = TINY) -> None:
    result = load_source_model(config, cache_dir=folder, device="cpu")
    out = capsys.readouterr().out
    assert result.status == "trained"
    assert reason in result.reason and reason in out
    record = json.loads((folder / RECORD_FILE).read_text())
    assert record["sha256"] == hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert record["config"] == config.as_dict()
    assert load_source_model(config, cache_dir=folder, verbose=False).status == "loaded"


def test_a_config_change_retrains_and_names_the_change(cache, capsys):
    changed = dataclasses.replace(TINY, epochs=2)
    retrains(cache, "another config (epochs: 1 -> 2)", capsys, changed)


def test_corrupted_weights_are_detected_by_their_hash(cache, capsys):
    path = cache / WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    retrains(cache, "do not match their recorded SHA-256", capsys)


def test_unreadable_weights_with_a_matching_hash_retrain(cache, capsys):
    data = b"not a checkpoint"
    (cache / WEIGHTS_FILE).write_bytes(data)
    record = json.loads((cache / RECORD_FILE).read_text())
    record["sha256"] = hashlib.sha256(data).hexdigest()
    (cache / RECORD_FILE).write_text(json.dumps(record))
    retrains(cache, "cannot be loaded", capsys)


class NotATensor:
    """Pickling this needs code: torch.load(weights_only=True) must refuse it."""


def test_a_pickle_that_needs_code_is_refused(cache, capsys):
    import io

    buffer = io.BytesIO()
    torch.save({"payload": NotATensor()}, buffer)
    data = buffer.getvalue()
    (cache / WEIGHTS_FILE).write_bytes(data)
    record = json.loads((cache / RECORD_FILE).read_text())
    record["sha256"] = hashlib.sha256(data).hexdigest()
    (cache / RECORD_FILE).write_text(json.dumps(record))
    retrains(cache, "cannot be loaded (UnpicklingError)", capsys)


def test_a_broken_record_retrains(cache, capsys):
    (cache / RECORD_FILE).write_text("{ not json")
    retrains(cache, "record is unreadable", capsys)


def test_a_record_without_its_weights_retrains(cache, capsys):
    (cache / WEIGHTS_FILE).unlink()
    retrains(cache, "weights file is missing", capsys)


def test_weights_without_their_record_retrain(cache, capsys):
    (cache / RECORD_FILE).unlink()
    retrains(cache, "record is missing", capsys)


def test_an_unwritable_cache_is_reported_not_fatal(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    result = load_source_model(TINY, cache_dir=blocker / "cache", device="cpu")
    assert result.status == "trained" and not result.cached
    assert "could not write the cache" in capsys.readouterr().out


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(state.os, "replace", fail)  # the one atomic write of the package
    result = load_source_model(TINY, cache_dir=tmp_path, device="cpu")
    assert result.status == "trained" and not result.cached and result.sha256 == ""
    assert "could not write the cache (OSError)" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def _hand_written_pretraining(config: PretrainConfig) -> nn.Module:
    """The training loop pretrain_source_model had before it used fit: the reference."""
    split = pretrained._source_split(config)
    images, labels = split.train.tensors
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_source_model(len(config.classes), width=config.width)
        generator = torch.Generator().manual_seed(config.seed)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
        )
        steps = -(-len(images) // config.batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=config.epochs * steps
        )
        model.train()
        for _ in range(config.epochs):
            order = torch.randperm(len(images), generator=generator)
            for start in range(0, len(images), config.batch_size):
                batch = order[start : start + config.batch_size]
                inputs = images[batch]
                if config.shift:
                    inputs = pretrained._random_shift(inputs, config.shift, generator)
                optimizer.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(inputs), labels[batch]).backward()
                optimizer.step()
                scheduler.step()
    return model.eval()


@pytest.mark.parametrize(("source", "shift"), [("digits", 0), ("digits", 1), ("glyphs", 1)])
def test_training_with_fit_equals_the_hand_written_loop(source, shift):
    """fit with a per-batch OneCycleLR, the epoch permutation and the shifts drawn from
    one generator in the same order: bit for bit the weights of the explicit loop."""
    classes = ("A", "C", "D") if source == "glyphs" else None
    config = PretrainConfig(
        source=source, classes=classes, width=4, epochs=2, per_class=6, batch_size=8, shift=shift
    )
    model, _ = pretrain_source_model(config, device="cpu")
    assert states_equal(model, _hand_written_pretraining(config))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"config": {"epochs": 1}}, TypeError, "PretrainConfig"),
        ({"cache_dir": 3}, TypeError, "cache_dir"),
        ({"device": "tpu"}, ValueError, "device"),
    ],
)
def test_load_source_model_rejects_bad_input(tmp_path, kwargs, error, match):
    kwargs = {"cache_dir": tmp_path, **kwargs}
    with pytest.raises(error, match=match):
        load_source_model(**kwargs)
    assert list(tmp_path.iterdir()) == []
