import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tutorial_lib import plot_history  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_plots_every_series_but_lr_against_epochs():
    history = {"train_loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0], "lr": [0.1] * 3}
    ax = plot_history(history)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"train_loss", "val_loss"}
    assert list(lines["val_loss"].get_xdata()) == [1, 2, 3]
    assert list(lines["val_loss"].get_ydata()) == [3.5, 2.5, 2.0]
    assert ax.get_xlabel() == "epoch"


def test_several_runs_keys_and_existing_axes():
    _, ax = plt.subplots()
    runs = {"sgd": {"train_loss": [1, 0.5]}, "adam": {"train_loss": [1, 0.2]}}
    out = plot_history(runs, keys=["train_loss"], ax=ax, title="t", logy=True)
    assert out is ax
    assert [line.get_label() for line in ax.get_lines()] == ["sgd: train_loss", "adam: train_loss"]
    assert ax.get_yscale() == "log" and ax.get_title() == "t"


def test_does_not_change_global_style():
    before = dict(matplotlib.rcParams)
    plot_history({"loss": [1, 2]})
    assert dict(matplotlib.rcParams) == before


def test_bad_input():
    with pytest.raises(ValueError, match="non-empty mapping"):
        plot_history({})
    with pytest.raises(KeyError, match="series \\['acc'\\] not in history"):
        plot_history({"loss": [1]}, keys=["acc"])
