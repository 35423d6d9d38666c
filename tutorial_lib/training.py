"""A small, honest training loop: epochs over a DataLoader, optional validation,
metrics, a progress bar and a returned history.

Taught in: "Defining models" (using it), "Optimizers and learning-rate schedulers"
(what it does inside).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader

from ._validate import is_int, require_module
from .device import get_device

__all__ = ["Callback", "History", "evaluate", "fit"]


def _progress_bar(epochs: int, desc: str, progress: bool) -> Any:
    """A tqdm bar over the epochs, imported only when a loop runs (no work at import).

    Without ipywidgets, ``tqdm.auto`` warns that it falls back to a text bar: that one
    warning is silenced, every other warning still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from tqdm.auto import tqdm

    return tqdm(range(1, epochs + 1), desc=desc, disable=not progress, leave=True)


Metric = Callable[[torch.Tensor, torch.Tensor], float]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class History(dict):
    """Per-epoch values, e.g. ``history["train_loss"] == [0.9, 0.4, ...]``.

    A ``dict`` of lists of floats, plus :meth:`last` for the final value of each.
    """

    def last(self) -> dict[str, float]:
        """The value of every series after the last epoch."""
        return {key: values[-1] for key, values in self.items() if values}

    def append(self, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.setdefault(key, []).append(float(value))


def _to_device(batch: object, device: torch.device) -> object:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(item, device) for item in batch)
    raise TypeError(
        f"a batch must be a tensor or a tuple/list of tensors, got {type(batch).__name__}"
    )


def _split_batch(batch: object) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        raise TypeError(
            "each batch must be a pair (inputs, targets), as a TensorDataset of two "
            f"tensors gives; got {type(batch).__name__} of length "
            f"{len(batch) if isinstance(batch, (list, tuple)) else 'n/a'}"
        )
    return batch[0], batch[1]


def _check_loader(loader: object, name: str) -> None:
    if not isinstance(loader, (DataLoader, Iterable)):
        raise TypeError(f"{name} must be a DataLoader, got {type(loader).__name__}")


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    *,
    loss_fn: LossFn,
    metrics: Mapping[str, Metric] | None = None,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Average loss and metrics of ``model`` over ``loader`` in eval mode.

    Averages are weighted by batch size, so a short last batch counts for what it
    holds. The model's previous train/eval mode is restored afterwards.

    Taught in: "Defining models".
    """
    _check_loader(loader, "loader")
    if device is None:  # evaluate where the model already is
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    else:
        device = get_device(device)
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    try:
        for batch in loader:
            inputs, targets = _split_batch(_to_device(batch, device))
            outputs = model(inputs)
            n = len(inputs)
            totals["loss"] = totals.get("loss", 0.0) + loss_fn(outputs, targets).item() * n
            for name, metric in (metrics or {}).items():
                totals[name] = totals.get(name, 0.0) + float(metric(outputs, targets)) * n
            count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("loader produced no batches; check the dataset is not empty")
    return {name: total / count for name, total in totals.items()}


class Callback:
    """Hooks that :func:`fit` calls; subclass and override the ones you need.

    - ``on_epoch_start(epoch, model)``: before the epoch's first batch (e.g. unfreeze
      a stage for gradual unfreezing);
    - ``on_batch_end(epoch, step, loss)``: after each optimizer step (``loss`` is a
      float);
    - ``on_epoch_end(epoch, model, record)``: after the epoch's values are recorded
      (``record`` is that epoch's row of the :class:`History`); return ``True`` to
      stop training (early stopping), e.g. to save a checkpoint, return nothing.

    Epochs are counted from 1.

    Taught in: "Fine-tuning" ("Gradual unfreezing").
    """

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        """Called before the first batch of ``epoch``."""

    def on_batch_end(self, epoch: int, step: int, loss: float) -> None:
        """Called after the optimizer (and a per-batch scheduler) stepped."""

    def on_epoch_end(
        self, epoch: int, model: nn.Module, record: Mapping[str, float]
    ) -> bool | None:
        """Called after the epoch's values are recorded; ``True`` stops training."""
        return None


SCHEDULER_INTERVALS = ("epoch", "batch")


def _check_fit_arguments(
    model: object,
    optimizer: object,
    epochs: object,
    scheduler: object,
    scheduler_interval: object,
    callbacks: object,
) -> list[Callback]:
    if not is_int(epochs) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    require_module(model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if scheduler_interval not in SCHEDULER_INTERVALS:
        raise ValueError(
            f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r} "
            "(OneCycleLR and warm-up schedules step per batch, most others per epoch)"
        )
    if isinstance(scheduler, ReduceLROnPlateau) and scheduler_interval == "batch":
        raise ValueError(
            "ReduceLROnPlateau watches a per-epoch loss: use scheduler_interval='epoch'"
        )
    if scheduler is not None and not hasattr(scheduler, "step"):
        raise TypeError(
            f"scheduler must be a learning-rate scheduler, got {type(scheduler).__name__}"
        )
    callbacks = list(callbacks or [])
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks must be tutorial_lib.Callback instances, got {type(callback).__name__}"
                " (subclass Callback and override on_epoch_start/on_batch_end/on_epoch_end)"
            )
    return callbacks


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    *,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    val_loader: DataLoader | None = None,
    metrics: Mapping[str, Metric] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | ReduceLROnPlateau | None = None,
    scheduler_interval: str = "epoch",
    callbacks: Sequence[Callback] | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    desc: str = "epochs",
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`History`.

    Each epoch runs ``zero_grad → forward → loss → backward → step`` over every
    batch of ``train_loader``, then (when given) evaluates on ``val_loader``.
    The scheduler steps after the optimizer: once per epoch
    (``scheduler_interval="epoch"``, the default) or after every batch
    (``"batch"``: ``OneCycleLR``, warm-up). A ``ReduceLROnPlateau`` steps once per
    epoch on ``val_loss`` (``train_loss`` without a validation loader).
    ``callbacks`` (:class:`Callback`) run at the start and end of every epoch and
    after every batch; one that returns ``True`` from ``on_epoch_end`` stops the
    training there.

    The history holds ``train_loss`` (mean over the epoch's batches, weighted by
    batch size), ``lr`` (of the first parameter group, as used at the epoch's first
    batch), each metric on the training batches as ``train_<name>``, and, with a
    validation loader, ``val_loss`` and ``val_<name>``.

    A non-finite training loss raises ``FloatingPointError`` naming the epoch and
    batch, instead of training on garbage. The model is moved to ``device``
    (default: :func:`tutorial_lib.get_device`).

    Taught in: "Defining models"; its inside in "Optimizers and learning-rate
    schedulers".
    """
    callbacks = _check_fit_arguments(
        model, optimizer, epochs, scheduler, scheduler_interval, callbacks
    )
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    metrics = dict(metrics or {})
    device = get_device(device)
    model.to(device)
    per_batch = scheduler is not None and scheduler_interval == "batch"

    history = History()
    bar = _progress_bar(epochs, desc, progress)
    for epoch in bar:
        for callback in callbacks:
            callback.on_epoch_start(epoch, model)
        model.train()
        lr = optimizer.param_groups[0]["lr"]
        totals = {"loss": 0.0, **{name: 0.0 for name in metrics}}
        count = 0
        for step, batch in enumerate(train_loader):
            inputs, targets = _split_batch(_to_device(batch, device))
            optimizer.zero_grad(set_to_none=True)
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {epoch}, batch {step}; "
                    "lower the learning rate or check the inputs for NaN/inf"
                )
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            n = len(inputs)
            value = loss.item()  # a float, not the graph
            totals["loss"] += value * n
            with torch.no_grad():
                for name, metric in metrics.items():
                    totals[name] += float(metric(outputs, targets)) * n
            count += n
            for callback in callbacks:
                callback.on_batch_end(epoch, step, value)
        if count == 0:
            raise ValueError("train_loader produced no batches; check the dataset is not empty")
        record = {"train_loss": totals["loss"] / count, "lr": lr}
        record.update({f"train_{name}": totals[name] / count for name in metrics})
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn=loss_fn, metrics=metrics, device=device)
            record.update({f"val_{name}": value for name, value in val.items()})
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(record.get("val_loss", record["train_loss"]))
        elif scheduler is not None and not per_batch:
            scheduler.step()
        history.append(record)
        bar.set_postfix({k: _short(v) for k, v in record.items() if k != "lr"}, refresh=False)
        stop = [callback.on_epoch_end(epoch, model, record) for callback in callbacks]
        if any(flag is True for flag in stop):
            break
    bar.close()
    return history


def _short(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else str(value)
