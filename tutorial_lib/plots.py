"""Every figure helper of the course. No global style changes: every function draws
on the axes it is given (or new ones) and returns them; matplotlib is imported when a
figure is drawn, not with the package.

- :func:`plot_history`: training curves from :func:`tutorial_lib.fit`.
- :func:`plot_lr` / :func:`plot_lr_grid`: learning-rate traces from
  :func:`tutorial_lib.trace_lr`, on one axes or one panel each.
- :func:`overlay_activation_map`: a layer's activation map over its image.

Taught in: "Defining models" (training curves), "Optimizers and learning-rate
schedulers" (schedules) and "Feature extraction and detection heads" (section
"Activation maps").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ._validate import is_int, is_real
from .schedules import LRTrace

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["overlay_activation_map", "plot_history", "plot_lr", "plot_lr_grid"]


def _finish(
    ax: Axes, *, xlabel: str, ylabel: str | None = None, logy: bool, title: str | None
) -> None:
    """Labels, optional log scale and title, and a light grid: every line plot's end."""
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)


# --------------------------------------------------------------------------- training curves
def plot_history(
    history: Mapping[str, Sequence[float]] | Mapping[str, Mapping[str, Sequence[float]]],
    *,
    keys: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    logy: bool = False,
) -> Axes:
    """Plot per-epoch curves of a training history against the epoch number.

    ``history`` is what :func:`tutorial_lib.fit` returns (series name → values), or
    a mapping run name → history to compare several runs on one axes (each line is
    labelled ``"run: series"``). ``keys`` chooses the series (default: every series
    except ``lr``).

    Taught in: "Defining models".
    """
    if not isinstance(history, Mapping) or not history:
        raise ValueError("history must be a non-empty mapping of series name -> values")
    first = next(iter(history.values()))
    runs: Mapping[str, Mapping[str, Sequence[float]]]
    runs = history if isinstance(first, Mapping) else {"": history}  # type: ignore[assignment]

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.5))
    for run_name, run in runs.items():
        wanted = list(keys) if keys is not None else [k for k in run if k != "lr"]
        missing = [k for k in wanted if k not in run]
        if missing:
            raise KeyError(f"series {missing} not in history; it has {sorted(run)}")
        for key in wanted:
            values = list(run[key])
            label = f"{run_name}: {key}" if run_name else key
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
    _finish(ax, xlabel="epoch", logy=logy, title=title)
    ax.legend()
    return ax


# --------------------------------------------------------------------------- schedules
def _as_trace(trace: object, name: str) -> LRTrace:
    """Accept one group's list of rates, or a list of per-group lists."""
    if isinstance(trace, (str, bytes)) or not isinstance(trace, Sequence) or not trace:
        raise ValueError(
            f"{name} must be a non-empty list of learning rates or of per-group lists, "
            "as trace_lr returns"
        )
    if all(is_real(value) for value in trace):
        return [[float(value) for value in trace]]
    groups = []
    for index, group in enumerate(trace):
        if (
            isinstance(group, (str, bytes))
            or not isinstance(group, Sequence)
            or not group
            or not all(is_real(value) for value in group)
        ):
            raise TypeError(
                f"{name}[{index}] must be a non-empty list of numbers (one group's rates)"
            )
        groups.append([float(value) for value in group])
    return groups


def _as_traces(traces: object) -> dict[str, LRTrace]:
    if isinstance(traces, Mapping):
        if not traces:
            raise ValueError("traces is an empty mapping; give at least one name -> trace")
        return {str(name): _as_trace(trace, f"traces[{name!r}]") for name, trace in traces.items()}
    return {"": _as_trace(traces, "trace")}


def _draw(ax: Axes, label: str, trace: LRTrace, *, marker: bool) -> None:
    style = {"marker": "o", "markersize": 2} if marker else {}
    for index, values in enumerate(trace):
        if len(trace) == 1:
            line_label = label or None
        else:
            line_label = f"{label} (group {index})" if label else f"group {index}"
        ax.plot(range(len(values)), values, label=line_label, **style)


def plot_lr(
    traces: LRTrace | Sequence[float] | Mapping[str, LRTrace | Sequence[float]],
    *,
    ax: Axes | None = None,
    title: str | None = None,
    logy: bool = False,
    xlabel: str = "step",
) -> Axes:
    """Plot learning rate against step for one trace, or several on one axes.

    ``traces`` is what :func:`trace_lr` returns (one line per parameter group), a
    plain list of rates, or a mapping name → trace (lines labelled by name, and by
    group when a trace has several). Returns the axes.

    Taught in: "Optimizers and learning-rate schedulers".
    """
    runs = _as_traces(traces)
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 3.2))
    longest = max(len(values) for trace in runs.values() for values in trace)
    for name, trace in runs.items():
        _draw(ax, name, trace, marker=longest <= 40)
    _finish(ax, xlabel=xlabel, ylabel="learning rate", logy=logy, title=title)
    if any(line.get_label() and not line.get_label().startswith("_") for line in ax.get_lines()):
        ax.legend(fontsize="small")
    return ax


def plot_lr_grid(
    traces: Mapping[str, LRTrace | Sequence[float]],
    *,
    ncols: int = 4,
    panel_size: tuple[float, float] = (3.0, 2.0),
    logy: bool = False,
    xlabel: str = "step",
) -> Figure:
    """Small multiples: one panel per named trace, titled with its name.

    Reads better than one crowded axes when the schedules differ in shape and
    scale (every official scheduler, for instance). Returns the figure; unused
    panels of the last row are hidden.

    Taught in: "Optimizers and learning-rate schedulers".
    """
    if not isinstance(traces, Mapping):
        raise TypeError(f"traces must be a mapping name -> trace, got {type(traces).__name__}")
    runs = _as_traces(traces)
    if not is_int(ncols) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    ncols = min(ncols, len(runs))
    nrows = math.ceil(len(runs) / ncols)
    width, height = panel_size
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    flat = list(axes.flat)
    for ax, (name, trace) in zip(flat, runs.items(), strict=False):
        _draw(ax, "", trace, marker=False)
        ax.set_title(name, fontsize="medium")
        ax.tick_params(labelsize="small")
        ax.grid(True, alpha=0.3)
        if logy:
            ax.set_yscale("log")
        if len(trace) > 1:
            ax.legend(fontsize="x-small")
    for index, ax in enumerate(flat):
        if index >= len(runs):
            ax.set_visible(False)
        elif index + ncols >= len(runs):  # the lowest panel of its column
            ax.set_xlabel(xlabel, fontsize="small")
    for ax in axes[:, 0]:
        ax.set_ylabel("lr", fontsize="small")
    return fig


# --------------------------------------------------------------------------- activation maps
def _as_numpy(value: object, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().float().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(f"{name} must be a tensor or a NumPy array, got {type(value).__name__}")


def _image_hwc(image: object) -> np.ndarray:
    """``(H, W)``, ``(1|3, H, W)`` or ``(H, W, 1|3)`` -> ``(H, W)`` or ``(H, W, 3)``."""
    array = _as_numpy(image, "image")
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)  # (C, H, W) -> (H, W, C)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(
            f"image must be (H, W), (C, H, W) or (H, W, C) with 1 or 3 channels, "
            f"got shape {array.shape}"
        )
    if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
        raise ValueError(
            "image values must lie in [0, 1] (undo the normalisation first, e.g. "
            "x * std + mean, or divide 8-bit images by 255)"
        )
    return array


def overlay_activation_map(
    image: torch.Tensor | np.ndarray,
    activation: torch.Tensor | np.ndarray,
    *,
    ax: Axes | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
    title: str | None = None,
) -> Axes:
    """Draw ``image`` and, over it, ``activation`` with colour map ``cmap``.

    ``image`` is ``(H, W)`` (grey), ``(C, H, W)`` or ``(H, W, C)`` with values in
    ``[0, 1]``; ``activation`` is one ``(H, W)`` map (e.g. a row of
    :func:`mean_activation_map` called with the image's size), drawn on the colour
    scale ``[0, 1]``. ``alpha`` is the opacity of the map. Draws on ``ax`` (or new
    axes), hides the ticks and returns the axes.

    Taught in: "Feature extraction and detection heads".
    """
    picture = _image_hwc(image)
    heat = _as_numpy(activation, "activation")
    if heat.ndim != 2:
        raise ValueError(
            f"activation must be one (H, W) map, got shape {heat.shape}; pick one image "
            "of the batch, e.g. maps[0]"
        )
    if heat.shape != picture.shape[:2]:
        raise ValueError(
            f"activation is {heat.shape} but the image is {picture.shape[:2]}; upsample the map "
            "first with mean_activation_map(..., size=image_size)"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0.0, vmax=1.0)
    ax.imshow(heat, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
