"""Tests of checkpoints and the files around them: atomic writes and saves, safe
loads and prefixes (tutorial_lib.state), exact resume (RNG states,
tutorial_lib.reproducibility), partial loading (tutorial_lib.partial_loading),
hashes and checked downloads served from 127.0.0.1 (tutorial_lib.download)."""

from __future__ import annotations

import copy
import functools
import hashlib
import http.server
import pickle
import random
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tutorial_lib.download import HashMismatchError, download_checked, hash_prefix_from_name, sha256
from tutorial_lib.partial_loading import LoadReport, ShapeMismatch, load_matching
from tutorial_lib.reproducibility import get_rng_states, set_rng_states
from tutorial_lib.state import atomic_write, load_checkpoint, save_checkpoint, strip_prefix


def small_model(hidden: int = 6, classes: int = 3) -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(4, hidden),
            act=nn.ReLU(),
            drop=nn.Dropout(0.3),
            head=nn.Linear(hidden, classes),
        )
    )


def assert_nested_equal(a, b):
    """Bitwise equality of nested dicts / lists / tensors."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            assert_nested_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_nested_equal(x, y)
    else:
        assert a == b


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- save / load
def test_save_then_load_round_trip_equals_torch_load(tmp_path):
    torch.manual_seed(0)
    model = small_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step()
    parts = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": 7,
        "meta": {"name": "run-1", "lrs": [0.1, 0.01], "shape": torch.Size([2, 3])},
    }
    before = copy.deepcopy(parts)
    path = save_checkpoint(tmp_path / "ckpt.pt", **parts)
    assert path == tmp_path / "ckpt.pt"
    assert_nested_equal(parts, before)  # the caller's objects are untouched
    loaded = load_checkpoint(path)
    assert_nested_equal(loaded, before)
    # Independent reader: plain torch.load with weights_only=True.
    assert_nested_equal(torch.load(path, weights_only=True), before)
    assert files_in(tmp_path) == ["ckpt.pt"]


def test_saved_file_gets_the_usual_permissions(tmp_path):
    reference = tmp_path / "reference.bin"
    reference.write_bytes(b"")  # created like any other file, honouring the umask
    save_checkpoint(tmp_path / "ckpt.pt", epoch=1)
    assert (tmp_path / "ckpt.pt").stat().st_mode == reference.stat().st_mode


def test_overwrite_replaces_the_previous_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "ckpt.pt", epoch=1)
    save_checkpoint(tmp_path / "ckpt.pt", epoch=2)
    assert load_checkpoint(tmp_path / "ckpt.pt") == {"epoch": 2}
    assert files_in(tmp_path) == ["ckpt.pt"]


@pytest.mark.parametrize("crash", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch, crash):
    old = {"weight": torch.arange(6.0).reshape(2, 3)}
    save_checkpoint(tmp_path / "ckpt.pt", model=old, epoch=1)

    def crashing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half of a zip archive")  # what a crash mid-write leaves
        raise crash

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(type(crash)):
        save_checkpoint(tmp_path / "ckpt.pt", model={"weight": torch.zeros(2, 3)}, epoch=2)
    monkeypatch.undo()
    assert files_in(tmp_path) == ["ckpt.pt"]  # no temporary file left behind
    loaded = load_checkpoint(tmp_path / "ckpt.pt")
    assert loaded["epoch"] == 1 and torch.equal(loaded["model"]["weight"], old["weight"])


def test_crash_during_first_save_leaves_nothing(tmp_path, monkeypatch):
    def crashing_save(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError("power cut")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(tmp_path / "ckpt.pt", epoch=1)
    assert files_in(tmp_path) == []


def test_a_plain_interrupted_write_is_what_the_atomic_save_prevents(tmp_path):
    # Control for the test above: truncating a file in place breaks it for good.
    save_checkpoint(tmp_path / "ckpt.pt", model={"w": torch.ones(100)})
    data = (tmp_path / "ckpt.pt").read_bytes()
    (tmp_path / "ckpt.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "ckpt.pt")


def test_save_refuses_a_whole_module(tmp_path):
    model = small_model()
    with pytest.raises(TypeError, match=r"model=model\.state_dict\(\)"):
        save_checkpoint(tmp_path / "ckpt.pt", model=model)
    assert files_in(tmp_path) == []


def test_save_refuses_state_dict_without_parentheses(tmp_path):
    model = small_model()
    with pytest.raises(TypeError, match="parentheses"):
        save_checkpoint(tmp_path / "ckpt.pt", model=model.state_dict)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros(3), "NumPy array"),
        (Path("x"), "PosixPath|WindowsPath"),
        ({"ok": 1, "where": {"inner": lambda: 0}}, r"meta\['where'\]\['inner'\]"),
        (frozenset([1]), "frozenset"),
        ({"accuracy": np.float64(0.5)}, r"meta\['accuracy'\] is a NumPy float64.*\.item\(\)"),
        ([np.int64(3)], r"meta\[0\] is a NumPy int64"),
    ],
)
def test_save_refuses_what_weights_only_cannot_load(tmp_path, value, message):
    with pytest.raises(TypeError, match=message):
        save_checkpoint(tmp_path / "ckpt.pt", meta=value)
    assert files_in(tmp_path) == []


def test_every_accepted_type_really_loads_with_weights_only(tmp_path):
    value = {
        "t": torch.ones(2, dtype=torch.bfloat16),
        "p": nn.Parameter(torch.zeros(1)),
        "n": [1, 2.5, 1j, True, None, "s", b"b"],
        "torch": (torch.Size([1]), torch.float16, torch.device("cpu")),
        "od": OrderedDict(a={3}),
        0: "int keys, as in optimizer state",
    }
    save_checkpoint(tmp_path / "ckpt.pt", meta=value)
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["meta"][0].startswith("int")


def test_save_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="nothing to save"):
        save_checkpoint(tmp_path / "ckpt.pt")
    with pytest.raises(TypeError, match="path must be"):
        save_checkpoint(3, epoch=1)
    with pytest.raises(FileNotFoundError, match="mkdir"):
        save_checkpoint(tmp_path / "missing" / "ckpt.pt", epoch=1)
    with pytest.raises(IsADirectoryError, match="file name"):
        save_checkpoint(tmp_path, epoch=1)


def test_load_missing_file_or_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(IsADirectoryError):
        load_checkpoint(tmp_path)
    with pytest.raises(TypeError):
        load_checkpoint(None)


def test_load_refuses_a_pickled_model_with_a_clear_message(tmp_path):
    torch.save(small_model(), tmp_path / "whole.pt")
    with pytest.raises(ValueError, match=r"weights_only=True refuses.*Sequential.*state_dict"):
        load_checkpoint(tmp_path / "whole.pt")


class _Payload:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _Payload.ran = True
    return {"model": {}}


def test_load_never_runs_code_from_the_file(tmp_path):
    torch.save(_Payload(), tmp_path / "evil.pt")
    _Payload.ran = False
    with pytest.raises(ValueError, match="pickled Python objects"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not _Payload.ran
    # Control: the unsafe loader does run it.
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert _Payload.ran


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda path: path.write_bytes(b""), "not a readable checkpoint.*EOFError"),
        (lambda path: path.write_bytes(b"junk" * 20), "not a readable checkpoint"),
        (
            lambda path: path.write_bytes(pickle.dumps({"a": 1}, protocol=2)),
            "not a readable checkpoint",
        ),
        (lambda path: torch.save([1, 2], path), "holds a list"),
        (lambda path: torch.save({1: 2}, path), "holds a dict"),
    ],
)
def test_load_rejects_what_is_not_a_checkpoint(tmp_path, write, message):
    write(tmp_path / "x.pt")
    with pytest.raises(ValueError, match=message):
        load_checkpoint(tmp_path / "x.pt")


def test_load_passes_map_location(tmp_path):
    save_checkpoint(tmp_path / "ckpt.pt", model={"w": torch.ones(3)})
    loaded = load_checkpoint(tmp_path / "ckpt.pt", map_location="meta")
    assert loaded["model"]["w"].device.type == "meta"


# --------------------------------------------------------------------------- RNG states
def draw() -> tuple:
    return (
        random.random(),
        np.random.rand(3).tolist(),  # noqa: NPY002 - the global RNG is what we test
        np.random.randn(),  # noqa: NPY002 - uses the cached Gaussian
        torch.rand(3).tolist(),
    )


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(1)  # noqa: NPY002
    torch.manual_seed(1)
    np.random.randn()  # noqa: NPY002 - leaves a cached Gaussian in the state
    save_checkpoint(tmp_path / "ckpt.pt", rng=get_rng_states())
    expected = draw()
    draw()  # move every generator on
    set_rng_states(load_checkpoint(tmp_path / "ckpt.pt")["rng"])
    assert draw() == expected


def test_set_rng_states_bad_input():
    with pytest.raises(TypeError, match="get_rng_states"):
        set_rng_states([1, 2])
    with pytest.raises(ValueError, match="numpy"):
        set_rng_states({"python": random.getstate(), "torch": torch.get_rng_state()})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only fallback")
def test_cuda_states_without_cuda_warn_and_restore_the_rest():
    states = get_rng_states()
    expected = torch.rand(2)
    states["cuda"] = [torch.zeros(16, dtype=torch.uint8)]
    with pytest.warns(UserWarning, match="CUDA random numbers will differ"):
        set_rng_states(states)
    assert torch.equal(torch.rand(2), expected)


# --------------------------------------------------------------------------- exact resume
def make_run(seed: int):
    """Model with dropout, AdamW, a per-step scheduler and a shuffling loader."""
    torch.manual_seed(seed)
    model = small_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=40)
    data = TensorDataset(torch.randn(48, 4, generator=torch.Generator().manual_seed(9)),
                         torch.arange(48) % 3)  # fmt: skip
    loader = DataLoader(data, batch_size=8, shuffle=True, generator=torch.Generator())
    loader.generator.manual_seed(seed)
    return model, optimizer, scheduler, loader


def run_epochs(model, optimizer, scheduler, loader, epochs: int) -> list[float]:
    """Train whole epochs, as a real loop does; return the loss of every step."""
    losses = []
    for _ in range(epochs):
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(inputs), targets)
            loss.backward()
            optimizer.step()
            scheduler.step()  # OneCycleLR: once per step
            losses.append(loss.item())
    return losses


def checkpoint_parts(model, optimizer, scheduler, loader) -> dict:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": get_rng_states(),
        "loader_rng": loader.generator.get_state(),
    }


def restore(parts, model, optimizer, scheduler, loader) -> None:
    model.load_state_dict(parts["model"])
    optimizer.load_state_dict(parts["optimizer"])
    scheduler.load_state_dict(parts["scheduler"])
    set_rng_states(parts["rng"])
    loader.generator.set_state(parts["loader_rng"])


# 6 batches per epoch: N = 12 steps (2 epochs), then save, then M = 18 steps (3 epochs).
N_EPOCHS, M_EPOCHS = 2, 3


def test_resume_is_bitwise_identical_to_uninterrupted_training(tmp_path):
    reference = make_run(seed=0)
    reference_losses = run_epochs(*reference, N_EPOCHS + M_EPOCHS)

    first = make_run(seed=0)
    losses = run_epochs(*first, N_EPOCHS)
    save_checkpoint(tmp_path / "ckpt.pt", **checkpoint_parts(*first))
    torch.rand(100)  # anything that ran in between must not matter
    resumed = make_run(seed=123)  # fresh objects, different initial weights
    restore(load_checkpoint(tmp_path / "ckpt.pt"), *resumed)
    losses += run_epochs(*resumed, M_EPOCHS)

    assert len(losses) == 30
    assert losses == reference_losses  # exact float equality, step by step
    assert_nested_equal(resumed[0].state_dict(), reference[0].state_dict())
    assert_nested_equal(resumed[1].state_dict(), reference[1].state_dict())
    assert resumed[2].state_dict() == reference[2].state_dict()


@pytest.mark.parametrize("forget", ["optimizer", "rng", "loader_rng"])
def test_resume_without_every_part_drifts(tmp_path, forget):
    # The exactness above is not an accident: leave one part out and it is lost.
    reference = make_run(seed=0)
    run_epochs(*reference, N_EPOCHS + M_EPOCHS)
    first = make_run(seed=0)
    run_epochs(*first, N_EPOCHS)
    parts = checkpoint_parts(*first)
    resumed = make_run(seed=123)
    model, optimizer, scheduler, loader = resumed
    model.load_state_dict(parts["model"])
    scheduler.load_state_dict(parts["scheduler"])
    if forget != "optimizer":
        optimizer.load_state_dict(parts["optimizer"])
    if forget != "rng":
        set_rng_states(parts["rng"])
    if forget != "loader_rng":
        loader.generator.set_state(parts["loader_rng"])
    run_epochs(*resumed, M_EPOCHS)
    assert not torch.equal(model.fc1.weight, reference[0].fc1.weight)


# --------------------------------------------------------------------------- strip_prefix
def test_strip_prefix_of_a_data_parallel_state_dict():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    wrapped = nn.DataParallel(model)
    state = wrapped.state_dict()
    keys_before = list(state)
    metadata_before = dict(state._metadata)
    stripped = strip_prefix(state)
    assert list(stripped) == list(model.state_dict())  # reference: the inner module
    assert all(stripped[k] is state["module." + k] for k in stripped)  # shared, not copied
    assert list(state) == keys_before and dict(state._metadata) == metadata_before
    assert stripped is not state
    assert "1" in stripped._metadata and "module.1" not in stripped._metadata
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    fresh.load_state_dict(stripped)  # strict
    assert torch.equal(fresh[0].weight, model[0].weight)


def test_strip_prefix_of_torch_compile():
    model = nn.Linear(2, 2)
    compiled = torch.compile(model)  # compiles lazily; nothing runs here
    state = compiled.state_dict()
    assert list(state) == ["_orig_mod.weight", "_orig_mod.bias"]
    assert list(strip_prefix(state, "_orig_mod.")) == ["weight", "bias"]


def test_strip_prefix_leaves_other_keys_alone():
    state = {"module.a": 1, "b": 2, "x.module.c": 3}
    assert strip_prefix(state) == {"a": 1, "b": 2, "x.module.c": 3}
    assert state == {"module.a": 1, "b": 2, "x.module.c": 3}


def test_strip_prefix_bad_input():
    with pytest.raises(TypeError, match="mapping"):
        strip_prefix([("module.a", 1)])
    with pytest.raises(TypeError, match="prefix"):
        strip_prefix({}, prefix=1)
    with pytest.raises(ValueError, match="empty"):
        strip_prefix({}, prefix="")
    with pytest.raises(ValueError, match="already exist"):
        strip_prefix({"module.a": 1, "a": 2})


# --------------------------------------------------------------------------- load_matching
def test_load_matching_reports_and_loads_by_name_and_shape():
    torch.manual_seed(0)
    source = small_model(hidden=6, classes=3)
    target = nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(4, 6),
            act=nn.ReLU(),
            extra=nn.Linear(6, 6),
            head=nn.Linear(6, 5),  # a new head: 5 classes instead of 3
        )
    )
    checkpoint = dict(source.state_dict())
    checkpoint["old.weight"] = torch.zeros(1)
    before_ckpt = {k: v.clone() for k, v in checkpoint.items()}
    before_target = {k: v.clone() for k, v in target.state_dict().items()}

    # Reference: what the documented rule selects, computed directly.
    own = target.state_dict()
    expected = [k for k in own if k in checkpoint and checkpoint[k].shape == own[k].shape]

    report = load_matching(target, checkpoint)
    assert isinstance(report, LoadReport)
    assert list(report.loaded) == expected == ["fc1.weight", "fc1.bias"]
    assert report.missing == ("extra.weight", "extra.bias")
    assert report.unexpected == ("old.weight",)
    assert [(m.name, m.checkpoint_shape, m.model_shape) for m in report.mismatched] == [
        ("head.weight", (3, 6), (5, 6)),
        ("head.bias", (3,), (5,)),
    ]
    assert not report.complete
    after = target.state_dict()
    for name in after:
        reference = checkpoint[name] if name in expected else before_target[name]
        assert torch.equal(after[name], reference), name
    assert_nested_equal(checkpoint, before_ckpt)  # the checkpoint is untouched
    text = str(report)
    assert "loaded 2 of 6 model tensors" in text
    assert "head.weight: checkpoint (3, 6), model (5, 6)" in text
    assert "extra.bias (6,)" in text and "old.weight" in text


def test_load_state_dict_strict_false_still_raises_where_load_matching_does_not():
    target = nn.Linear(4, 5)
    checkpoint = nn.Linear(4, 3).state_dict()
    with pytest.raises(RuntimeError, match="size mismatch"):
        target.load_state_dict(checkpoint, strict=False)
    report = load_matching(target, checkpoint)
    assert report.loaded == () and len(report.mismatched) == 2


def test_load_matching_complete_load_equals_load_state_dict():
    torch.manual_seed(0)
    source = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    source[1].running_mean.fill_(0.5)
    a, b = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), copy.deepcopy(source)
    b.load_state_dict(source.state_dict())
    report = load_matching(a, source.state_dict())
    assert report.complete and report.missing == report.unexpected == ()
    assert_nested_equal(a.state_dict(), b.state_dict())


def test_load_matching_no_common_name_is_an_error_with_a_hint():
    model = nn.Linear(2, 2)
    wrapped_state = nn.DataParallel(nn.Linear(2, 2)).state_dict()
    with pytest.raises(ValueError, match=r"strip_prefix\(sd, 'module\.'\)"):
        load_matching(model, wrapped_state)
    with pytest.raises(ValueError, match=r"load into model\.module"):
        load_matching(nn.DataParallel(nn.Linear(2, 2)), model.state_dict())
    with pytest.raises(ValueError, match="no name in the checkpoint"):
        load_matching(model, {"other": torch.zeros(2)})


def test_load_matching_bad_input():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="nn.Module"):
        load_matching(model.state_dict(), model.state_dict())
    with pytest.raises(TypeError, match=r"forget the \(\)"):
        load_matching(model, model.state_dict)


# --------------------------------------------------------------------------- hashes
@pytest.mark.parametrize("size", [0, 1, 1000, 3 * 1024 + 7])
def test_sha256_matches_hashlib(tmp_path, size):
    data = bytes(random.Random(size).getrandbits(8) for _ in range(size))
    (tmp_path / "f").write_bytes(data)
    assert sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    assert sha256(str(tmp_path / "f")) == hashlib.sha256(data).hexdigest()


def test_sha256_bad_input(tmp_path):
    with pytest.raises(FileNotFoundError):
        sha256(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        sha256(tmp_path)
    with pytest.raises(TypeError):
        sha256(b"bytes are not a path")


def test_hash_prefix_from_torchvision_file_names():
    from torchvision.models import get_model_weights

    for name in ("resnet18", "vgg16", "mobilenet_v3_small"):
        for weights in get_model_weights(name):
            file_name = weights.url.rsplit("/", 1)[-1]
            # Reference: the hash sits between the last "-" and the extension.
            assert hash_prefix_from_name(file_name) == file_name.rsplit("-", 1)[1].split(".")[0]
    assert hash_prefix_from_name("my-model-0123abcd.pth") == "0123abcd"


@pytest.mark.parametrize("name", ["weights.pth", "resnet-50.pth", "model-ABCDEF12.pth"])
def test_hash_prefix_from_name_without_a_hash(name):
    with pytest.raises(ValueError, match="carries no hash"):
        hash_prefix_from_name(name)


# --------------------------------------------------------------------------- downloads
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format, *args):
        self.requests.append(self.path)


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/served on 127.0.0.1 (any free port) from a thread."""
    served = tmp_path / "served"
    served.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(served))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}", served, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def publish(served: Path, stem: str, data: bytes, *, with_hash: bool = True) -> tuple[str, str]:
    digest = hashlib.sha256(data).hexdigest()
    name = f"{stem}-{digest[:8]}.pth" if with_hash else f"{stem}.pth"
    (served / name).write_bytes(data)
    return name, digest


def test_download_with_full_and_prefix_hash(server, tmp_path):
    base, served, _ = server
    name, digest = publish(served, "weights", b"some weights" * 100, with_hash=False)
    out = tmp_path / "out"
    out.mkdir()
    path = download_checked(f"{base}/{name}", out, hash_prefix=digest)
    assert path == out / name and path.read_bytes() == b"some weights" * 100
    other = download_checked(f"{base}/{name}", out / "copy.pth", hash_prefix=digest[:8].upper())
    assert other.read_bytes() == path.read_bytes()
    assert files_in(out) == sorted([name, "copy.pth"])


def test_download_takes_the_hash_from_a_torchvision_style_name(server, tmp_path):
    base, served, _ = server
    name, _ = publish(served, "digitnet", bytes(range(256)) * 10)
    path = download_checked(f"{base}/{name}", tmp_path)
    assert sha256(path).startswith(hash_prefix_from_name(name))


def test_download_with_wrong_hash_leaves_nothing_behind(server, tmp_path):
    base, served, _ = server
    data = b"original weights" * 64
    name, digest = publish(served, "digitnet", data)
    (served / name).write_bytes(data[:-1] + b"X")  # corrupted after publishing
    corrupted = hashlib.sha256((served / name).read_bytes()).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(HashMismatchError) as info:
        download_checked(f"{base}/{name}", out)
    message = str(info.value)
    assert f'expected "{digest[:8]}"' in message and f'got "{corrupted}"' in message
    assert files_in(out) == []  # no partial file, no corrupted file
    assert isinstance(info.value, RuntimeError)


def test_download_mismatch_keeps_an_existing_file(server, tmp_path):
    base, served, _ = server
    name, digest = publish(served, "weights", b"new", with_hash=False)
    (tmp_path / name).write_bytes(b"previous good copy")
    with pytest.raises(HashMismatchError):
        download_checked(f"{base}/{name}", tmp_path, hash_prefix="0" * 8)
    assert (tmp_path / name).read_bytes() == b"previous good copy"
    assert files_in(tmp_path) == sorted([name, "served"])


def test_download_skips_a_file_that_is_already_there_and_intact(server, tmp_path):
    base, served, requests = server
    name, digest = publish(served, "weights", b"payload" * 10)
    first = download_checked(f"{base}/{name}", tmp_path)
    assert len(requests) == 1
    assert download_checked(f"{base}/{name}", tmp_path) == first
    assert len(requests) == 1  # no second request
    first.write_bytes(b"damaged")  # a damaged local copy is downloaded again
    download_checked(f"{base}/{name}", tmp_path)
    assert len(requests) == 2 and first.read_bytes() == b"payload" * 10


def test_download_bad_input(tmp_path):
    url = "http://127.0.0.1:9/weights-0123abcd.pth"  # never contacted
    with pytest.raises(TypeError, match="url"):
        download_checked(None, tmp_path)
    with pytest.raises(TypeError, match="dst"):
        download_checked(url, 5)
    with pytest.raises(ValueError, match="http://"):
        download_checked("ftp://host/weights-0123abcd.pth", tmp_path)
    with pytest.raises(ValueError, match="hex digits"):
        download_checked(url, tmp_path, hash_prefix="0123")
    with pytest.raises(ValueError, match="hex digits"):
        download_checked(url, tmp_path, hash_prefix="not-hex-at-all")
    with pytest.raises(TypeError, match="hash_prefix"):
        download_checked(url, tmp_path, hash_prefix=123)
    with pytest.raises(ValueError, match="carries no hash"):
        download_checked("http://127.0.0.1:9/weights.pth", tmp_path)
    with pytest.raises(ValueError, match="names no file"):
        download_checked("http://127.0.0.1:9/", tmp_path, hash_prefix="0123abcd")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        download_checked(url, tmp_path / "missing" / "w.pth")
    assert files_in(tmp_path) == []


# --------------------------------------------------------------------------- atomic_write
def test_atomic_write_bytes_and_writer(tmp_path):
    target = tmp_path / "out.bin"
    assert atomic_write(target, b"first") == target
    assert target.read_bytes() == b"first"
    atomic_write(target, lambda file: file.write(b"second"))
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary left
    mode = target.stat().st_mode & 0o777
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    assert mode == probe.stat().st_mode & 0o777  # the umask applies, as for open()


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def broken(file):
        file.write(b"half of the new")
        raise KeyboardInterrupt  # Ctrl-C in the middle of a save

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_write_bad_input(tmp_path):
    with pytest.raises(TypeError, match="bytes or a function"):
        atomic_write(tmp_path / "x", "text is not bytes")
    with pytest.raises(TypeError, match="os.PathLike"):
        atomic_write(3, b"")
    with pytest.raises(FileNotFoundError, match="mkdir"):
        atomic_write(tmp_path / "missing" / "x", b"")
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path, b"")


def test_shape_mismatch_is_exported_and_in_the_report():
    import tutorial_lib as tl

    assert tl.ShapeMismatch is ShapeMismatch
    model = small_model()
    other = small_model(classes=5).state_dict()
    report = load_matching(model, other)
    assert report.mismatched and all(isinstance(m, ShapeMismatch) for m in report.mismatched)
