import copy

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tutorial_lib import Callback, History, accuracy, evaluate, fit, seed_everything


def _data(n=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen)
    w = torch.randn(5, 3, generator=gen)
    y = (x @ w).argmax(dim=1)
    return TensorDataset(x, y)


def _loader(ds, batch_size=16, shuffle=False):
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle)


def test_fit_matches_a_hand_written_loop():
    """One epoch of fit == the textbook loop with the same initial weights."""
    seed_everything(0)
    model = nn.Linear(5, 3)
    reference = copy.deepcopy(model)
    ds = _data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    history = fit(
        model,
        _loader(ds),
        loss_fn=nn.functional.cross_entropy,
        optimizer=opt,
        epochs=1,
        device="cpu",
        progress=False,
    )
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    losses = []
    for x, y in _loader(ds):
        ref_opt.zero_grad()
        loss = nn.functional.cross_entropy(reference(x), y)
        loss.backward()
        ref_opt.step()
        losses.append(loss.item() * len(x))
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert history["train_loss"] == [pytest.approx(sum(losses) / len(ds))]
    assert history["lr"] == [0.1]


def test_fit_learns_and_records_validation():
    seed_everything(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    full = _data(320, seed=1)
    train = TensorDataset(*(t[:256] for t in full.tensors))
    val = TensorDataset(*(t[256:] for t in full.tensors))
    history = fit(
        model,
        _loader(train, shuffle=True),
        val_loader=_loader(val),
        loss_fn=nn.functional.cross_entropy,
        optimizer=torch.optim.Adam(model.parameters(), lr=0.02),
        epochs=15,
        metrics={"acc": accuracy},
        progress=False,
        device="cpu",
    )
    assert isinstance(history, History)
    assert set(history) == {"train_loss", "lr", "train_acc", "val_loss", "val_acc"}
    assert all(len(v) == 15 for v in history.values())
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history.last()["val_acc"] > 0.8
    # The last val_loss equals an independent evaluation of the final model.
    final = evaluate(model, _loader(val), loss_fn=nn.functional.cross_entropy)
    assert final["loss"] == pytest.approx(history["val_loss"][-1])


def test_scheduler_steps_once_per_epoch_after_the_optimizer():
    model = nn.Linear(5, 3)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = fit(
        model,
        _loader(_data()),
        loss_fn=nn.functional.cross_entropy,
        optimizer=opt,
        scheduler=sched,
        epochs=3,
        progress=False,
        device="cpu",
    )
    assert history["lr"] == [1.0, 0.5, 0.25]


def test_evaluate_weights_batches_by_size_and_restores_mode():
    model = nn.Linear(5, 3)
    model.train()
    ds = _data(10)
    result = evaluate(model, _loader(ds, batch_size=4), loss_fn=nn.functional.cross_entropy)
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(ds.tensors[0]), ds.tensors[1]).item()
    assert result["loss"] == pytest.approx(expected, rel=1e-6)
    assert model.training


def test_non_finite_loss_raises_with_epoch_and_batch():
    model = nn.Linear(5, 3)

    def bad_loss(out, y):
        return out.sum() * float("nan")

    with pytest.raises(FloatingPointError, match="epoch 1, batch 0"):
        fit(
            model,
            _loader(_data()),
            loss_fn=bad_loss,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            progress=False,
            device="cpu",
        )


def test_errors_in_the_model_are_not_swallowed():
    model = nn.Linear(4, 3)  # wrong input size
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        fit(
            model,
            _loader(_data()),
            loss_fn=nn.functional.cross_entropy,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1,
            progress=False,
            device="cpu",
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive int"),
        ({"epochs": 1.5}, ValueError, "epochs must be a positive int"),
        ({"optimizer": "sgd"}, TypeError, "torch.optim.Optimizer"),
        ({"model": "net"}, TypeError, "nn.Module"),
        ({"train_loader": 5}, TypeError, "DataLoader"),
        ({"scheduler_interval": "step"}, ValueError, "'epoch' or 'batch'"),
        ({"callbacks": [print]}, TypeError, "Callback instances"),
        ({"scheduler": "cosine"}, TypeError, "learning-rate scheduler"),
    ],
)
def test_fit_bad_input(kwargs, error, match):
    model = nn.Linear(5, 3)
    args = dict(
        model=model,
        train_loader=_loader(_data()),
        loss_fn=nn.functional.cross_entropy,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=1,
        progress=False,
    )
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fit(**args)


def test_bad_batches_and_empty_loaders():
    model = nn.Linear(5, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    triples = DataLoader(TensorDataset(torch.zeros(4, 5), torch.zeros(4), torch.zeros(4)))
    with pytest.raises(TypeError, match="pair"):
        fit(
            model,
            triples,
            loss_fn=nn.functional.mse_loss,
            optimizer=opt,
            epochs=1,
            progress=False,
            device="cpu",
        )
    empty = DataLoader(TensorDataset(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="no batches"):
        fit(
            model,
            empty,
            loss_fn=nn.functional.cross_entropy,
            optimizer=opt,
            epochs=1,
            progress=False,
            device="cpu",
        )
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, empty, loss_fn=nn.functional.cross_entropy)


def test_history_helpers():
    history = History()
    history.append({"a": 1, "b": 2.5})
    history.append({"a": 3})
    assert history == {"a": [1.0, 3.0], "b": [2.5]}
    assert history.last() == {"a": 3.0, "b": 2.5}


def _fit(model, opt, **kwargs):
    return fit(
        model,
        _loader(_data()),  # 64 samples in 4 batches of 16
        loss_fn=nn.functional.cross_entropy,
        optimizer=opt,
        progress=False,
        device="cpu",
        **kwargs,
    )


def test_per_batch_scheduler_matches_a_hand_written_loop():
    """OneCycleLR stepped after every batch: same weights and rates as the loop."""
    seed_everything(0)
    model = nn.Linear(5, 3)
    reference = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=8)
    history = _fit(model, opt, scheduler=sched, scheduler_interval="batch", epochs=2)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    ref_sched = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=0.5, total_steps=8)
    first_lrs = []
    for _ in range(2):
        first_lrs.append(ref_opt.param_groups[0]["lr"])
        for x, y in _loader(_data()):
            ref_opt.zero_grad()
            nn.functional.cross_entropy(reference(x), y).backward()
            ref_opt.step()
            ref_sched.step()
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert history["lr"] == first_lrs
    assert first_lrs[0] != first_lrs[1]  # the rate moved within the first epoch
    assert sched.last_epoch == 8  # stepped once per batch, not per epoch


def test_reduce_lr_on_plateau_steps_on_the_epoch_loss():
    model = nn.Linear(5, 3)
    # The optimizer holds a parameter outside the model: the model never changes,
    # so the loss is on a plateau from the first epoch on.
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)
    history = _fit(model, opt, scheduler=sched, epochs=3, val_loader=_loader(_data(seed=3)))
    assert history["lr"] == [1.0, 1.0, 0.5]  # no improvement after epoch 2: halved
    assert len(set(history["val_loss"])) == 1
    with pytest.raises(ValueError, match="per-epoch loss"):
        _fit(model, opt, scheduler=sched, scheduler_interval="batch", epochs=1)


class _Recorder(Callback):
    def __init__(self, stop_after=None):
        self.events, self.stop_after = [], stop_after

    def on_epoch_start(self, epoch, model):
        self.events.append(("start", epoch, model.training))

    def on_batch_end(self, epoch, step, loss):
        assert isinstance(loss, float)
        self.events.append(("batch", epoch, step))

    def on_epoch_end(self, epoch, model, record):
        self.events.append(("end", epoch, round(record["train_loss"], 6)))
        return self.stop_after is not None and epoch >= self.stop_after


def test_callbacks_run_in_order_and_can_stop_training():
    model = nn.Linear(5, 3)
    recorder = _Recorder()
    history = _fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, callbacks=[recorder]
    )
    kinds = [event[:2] for event in recorder.events]
    assert kinds == [("start", 1)] + [("batch", 1)] * 4 + [("end", 1), ("start", 2)] + [
        ("batch", 2)
    ] * 4 + [("end", 2)]
    assert [e[2] for e in recorder.events if e[0] == "end"] == [
        round(v, 6) for v in history["train_loss"]
    ]
    stopper = _Recorder(stop_after=2)
    history = _fit(
        model, torch.optim.SGD(model.parameters(), lr=0.1), epochs=10, callbacks=[stopper]
    )
    assert len(history["train_loss"]) == 2  # stopped early
    assert Callback().on_epoch_end(1, model, {}) is None  # the base class does nothing


def test_a_callback_can_unfreeze_a_layer_at_an_epoch():
    """Gradual unfreezing: the first layer trains from epoch 2 on."""
    seed_everything(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    model[0].requires_grad_(False)
    first = model[0].weight.detach().clone()

    class Unfreeze(Callback):
        def on_epoch_start(self, epoch, model):
            if epoch == 2:
                model[0].requires_grad_(True)

        def on_epoch_end(self, epoch, model, record):
            changed.append(not torch.equal(model[0].weight, first))

    changed = []
    _fit(model, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, callbacks=[Unfreeze()])
    assert changed == [False, True]
