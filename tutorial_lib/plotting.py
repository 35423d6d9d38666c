"""Figures the chapters draw more than once. No global style changes: every
function draws on the axes it is given (or new ones) and returns them.

Taught in: "Defining models" (training curves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with the package
    from matplotlib.axes import Axes


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
    ax.set_xlabel("epoch")
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax
