"""tutorial_lib.schedules: traces against closed forms computed in float64 by hand,
ReduceLROnPlateau against a hand simulation, no step-order warning, bad input."""

import copy
import math
import warnings
from bisect import bisect_right

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.optim import lr_scheduler as S  # noqa: E402

from tutorial_lib.plots import plot_lr, plot_lr_grid  # noqa: E402
from tutorial_lib.schedules import trace_lr  # noqa: E402

LR = 0.1


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _close(got, expected, rel=1e-9, abs_=1e-12):
    assert len(got) == len(expected)
    for t, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert math.isclose(g, e, rel_tol=rel, abs_tol=abs_), f"step {t}: got {g}, expected {e}"


# ----------------------------------------------------------------- closed forms
def test_step_lr():
    got = trace_lr(lambda o: S.StepLR(o, step_size=7, gamma=0.5), 30)
    assert len(got) == 1
    _close(got[0], [LR * 0.5 ** (t // 7) for t in range(30)])


def test_multistep_lr():
    milestones = [5, 12, 20]
    got = trace_lr(lambda o: S.MultiStepLR(o, milestones, gamma=0.3), 25)[0]
    _close(got, [LR * 0.3 ** bisect_right(milestones, t) for t in range(25)])


def test_exponential_lr():
    got = trace_lr(lambda o: S.ExponentialLR(o, gamma=0.9), 40)[0]
    _close(got, [LR * 0.9**t for t in range(40)])


def test_cosine_annealing_lr():
    t_max, eta_min = 20, 0.001
    got = trace_lr(lambda o: S.CosineAnnealingLR(o, T_max=t_max, eta_min=eta_min), t_max + 1)[0]
    expected = [
        eta_min + (LR - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2 for t in range(t_max + 1)
    ]
    _close(got, expected, rel=1e-7, abs_=1e-10)  # torch uses a recursive form


def test_cosine_warm_restarts():
    got = trace_lr(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=8), 30)[0]
    _close(got, [LR * (1 + math.cos(math.pi * (t % 8) / 8)) / 2 for t in range(30)])


def test_linear_warmup_constant_and_polynomial():
    got = trace_lr(lambda o: S.LinearLR(o, start_factor=0.2, total_iters=4), 8)[0]
    _close(got, [LR * (0.2 + 0.8 * min(t, 4) / 4) for t in range(8)])
    got = trace_lr(lambda o: S.ConstantLR(o, factor=0.25, total_iters=3), 6)[0]
    _close(got, [LR * (0.25 if t < 3 else 1.0) for t in range(6)])
    got = trace_lr(lambda o: S.PolynomialLR(o, total_iters=10, power=2.0), 14)[0]
    _close(got, [LR * (1 - min(t, 10) / 10) ** 2 for t in range(14)])


def test_lambda_and_multiplicative():
    got = trace_lr(lambda o: S.LambdaLR(o, lambda e: 1 / (1 + e)), 10)[0]
    _close(got, [LR / (1 + t) for t in range(10)])
    got = trace_lr(lambda o: S.MultiplicativeLR(o, lambda e: 0.8), 10)[0]
    _close(got, [LR * 0.8**t for t in range(10)])


def test_cyclic_triangular():
    base, top, up = 0.01, 0.1, 5
    got = trace_lr(lambda o: S.CyclicLR(o, base_lr=base, max_lr=top, step_size_up=up), 23)[0]

    def tri(t):
        cycle = math.floor(1 + t / (2 * up))
        x = abs(t / up - 2 * cycle + 1)
        return base + (top - base) * max(0.0, 1 - x)

    _close(got, [tri(t) for t in range(23)])


def test_one_cycle_cosine():
    total, top, pct = 20, 0.1, 0.3
    got = trace_lr(lambda o: S.OneCycleLR(o, max_lr=top, total_steps=total, pct_start=pct), total)
    start, end = top / 25, top / 25 / 1e4
    peak = pct * total - 1  # the step at which the rate reaches max_lr

    def cos_anneal(a, b, frac):
        return b + (a - b) * (1 + math.cos(math.pi * frac)) / 2

    expected = [
        cos_anneal(start, top, t / peak)
        if t <= peak
        else cos_anneal(top, end, (t - peak) / (total - 1 - peak))
        for t in range(total)
    ]
    _close(got[0], expected)


def test_warmup_by_sequential_and_chained():
    warm, total = 5, 25

    def sequential(o):
        return S.SequentialLR(
            o,
            [
                S.LinearLR(o, start_factor=0.2, total_iters=warm),
                S.CosineAnnealingLR(o, total - warm),
            ],
            milestones=[warm],
        )

    got = trace_lr(sequential, total)[0]
    expected = [
        LR * (0.2 + 0.8 * t / warm)
        if t < warm
        else LR * (1 + math.cos(math.pi * (t - warm) / (total - warm))) / 2
        for t in range(total)
    ]
    _close(got, expected, rel=1e-7, abs_=1e-10)

    def chained(o):
        return S.ChainedScheduler(
            [S.LinearLR(o, start_factor=0.2, total_iters=warm), S.ExponentialLR(o, gamma=0.9)]
        )

    got = trace_lr(chained, 12)[0]
    _close(got, [LR * (0.2 + 0.8 * min(t, warm) / warm) * 0.9**t for t in range(12)])


def test_several_groups_follow_their_own_base_rate():
    got = trace_lr(lambda o: S.StepLR(o, step_size=3, gamma=0.1), 10, lr=[1.0, 0.01, 0.5])
    assert len(got) == 3
    for base, values in zip([1.0, 0.01, 0.5], got, strict=True):
        _close(values, [base * 0.1 ** (t // 3) for t in range(10)])
    # a per-group lambda list
    got = trace_lr(lambda o: S.LambdaLR(o, [lambda e: 1.0, lambda e: 0.5**e]), 4, lr=[0.2, 0.2])
    _close(got[0], [0.2] * 4)
    _close(got[1], [0.2 * 0.5**t for t in range(4)])


# ----------------------------------------------------------------- ReduceLROnPlateau
def _simulate_plateau(metrics, lr, *, factor, patience, threshold, cooldown, min_lr):
    """An independent simulation of ReduceLROnPlateau (mode='min', relative threshold)."""
    best, bad, cool, out = math.inf, 0, 0, []
    for value in metrics:
        out.append(lr)
        if value < best * (1 - threshold):
            best, bad = value, 0
        else:
            bad += 1
        if cool > 0:
            cool -= 1
            bad = 0
        if bad > patience:
            lr = max(lr * factor, min_lr)
            cool, bad = cooldown, 0
    return out


def test_plateau_matches_a_hand_written_sequence():
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8]
    got = trace_lr(lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=2), 10, metrics=metrics)
    # best at steps 0, 1, 5; three bad steps (2, 3, 4) exceed patience 2 -> halve after step 4
    _close(got[0], [0.1] * 5 + [0.05] * 4 + [0.025])


@pytest.mark.parametrize(
    "options",
    [
        dict(factor=0.5, patience=1, threshold=0.0, cooldown=0, min_lr=0.0),
        dict(factor=0.1, patience=3, threshold=0.05, cooldown=2, min_lr=1e-4),
        dict(factor=0.3, patience=0, threshold=1e-4, cooldown=1, min_lr=0.02),
    ],
)
def test_plateau_matches_simulation(options):
    gen = torch.Generator().manual_seed(3)
    noise = torch.rand(60, generator=gen, dtype=torch.float64).tolist()
    metrics = [1 / (1 + 0.2 * t) + 0.05 * n for t, n in enumerate(noise)]
    got = trace_lr(lambda o: S.ReduceLROnPlateau(o, **options), 60, lr=0.2, metrics=metrics)
    _close(got[0], _simulate_plateau(metrics, 0.2, **options))


def test_plateau_mode_max_and_several_groups():
    accuracy = [0.5, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7]
    got = trace_lr(
        lambda o: S.ReduceLROnPlateau(o, mode="max", factor=0.1, patience=1, threshold=0),
        7,
        lr=[0.1, 1.0],
        metrics=accuracy,
    )
    _close(got[0], [0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01])
    _close(got[1], [1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1])


# ----------------------------------------------------------------- mechanics
def test_no_step_order_warning_and_optimizer_steps_first():
    calls = []

    class Recording(S.LRScheduler):
        def get_lr(self):
            calls.append(getattr(self.optimizer, "_opt_called", False))
            return [group["lr"] for group in self.optimizer.param_groups]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trace_lr(Recording, 5)
        trace_lr(lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=10), 10)
        trace_lr(lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=3), 10)
    # the first call is the constructor's; every later one comes after optimizer.step()
    assert calls == [False, True, True, True, True, True]


def test_inputs_are_not_modified_and_factories_called_once():
    lrs = [0.1, 0.2]
    metrics = [3.0, 2.0, 2.0, 2.0]
    before = (copy.deepcopy(lrs), copy.deepcopy(metrics))
    seen = []

    def optimizer_factory(groups):
        seen.append([g["lr"] for g in groups])
        return torch.optim.Adam(groups)

    def scheduler_factory(opt):
        seen.append(type(opt).__name__)
        return S.ReduceLROnPlateau(opt, patience=1)

    trace_lr(scheduler_factory, 4, lr=lrs, metrics=metrics, optimizer_factory=optimizer_factory)
    assert (lrs, metrics) == before
    assert seen == [[0.1, 0.2], "Adam"]


def test_one_cycle_with_adam_cycles_betas_without_error():
    got = trace_lr(
        lambda o: S.OneCycleLR(o, max_lr=0.01, total_steps=10),
        10,
        optimizer_factory=lambda groups: torch.optim.Adam(groups),
    )[0]
    assert max(got) == pytest.approx(0.01) and got[0] == pytest.approx(0.01 / 25)


def test_a_factory_that_uses_another_optimizer_is_refused():
    other = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    with pytest.raises(ValueError, match="built on another optimizer"):
        trace_lr(lambda o: S.StepLR(other, 2), 3)


def test_bad_input():
    factory = lambda o: S.StepLR(o, 2)  # noqa: E731
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(TypeError, match="function that builds the scheduler"):
        trace_lr(S.StepLR(opt, 2), 3)
    with pytest.raises(TypeError, match="function that builds"):
        trace_lr("StepLR", 3)
    with pytest.raises(ValueError, match="at least 1"):
        trace_lr(factory, 0)
    with pytest.raises(TypeError, match="steps must be an int"):
        trace_lr(factory, 3.0)
    with pytest.raises(TypeError, match="steps must be an int"):
        trace_lr(factory, True)
    with pytest.raises(ValueError, match="finite and positive"):
        trace_lr(factory, 3, lr=-0.1)
    with pytest.raises(ValueError, match="finite and positive"):
        trace_lr(factory, 3, lr=[0.1, float("nan")])
    with pytest.raises(ValueError, match="empty sequence"):
        trace_lr(factory, 3, lr=[])
    with pytest.raises(TypeError, match="lr must be a float"):
        trace_lr(factory, 3, lr="0.1")
    with pytest.raises(TypeError, match=r"lr\[1\] must be a number"):
        trace_lr(factory, 3, lr=[0.1, "x"])
    with pytest.raises(ValueError, match="only for ReduceLROnPlateau"):
        trace_lr(factory, 3, metrics=[1.0, 1.0, 1.0])
    plateau = lambda o: S.ReduceLROnPlateau(o)  # noqa: E731
    with pytest.raises(ValueError, match="pass metrics"):
        trace_lr(plateau, 3)
    with pytest.raises(ValueError, match="one value per step: got 2 for steps=3"):
        trace_lr(plateau, 3, metrics=[1.0, 2.0])
    with pytest.raises(TypeError, match=r"use \.item\(\)"):
        trace_lr(plateau, 2, metrics=[1.0, torch.tensor(2.0)])
    with pytest.raises(TypeError, match="list of numbers"):
        trace_lr(plateau, 2, metrics="12")
    with pytest.raises(TypeError, match="must return a learning-rate scheduler"):
        trace_lr(lambda o: o, 3)
    with pytest.raises(TypeError, match="must return a torch.optim.Optimizer"):
        trace_lr(factory, 3, optimizer_factory=lambda groups: groups)


# ----------------------------------------------------------------- plotting
def test_plot_lr_single_trace_and_groups():
    trace = trace_lr(lambda o: S.StepLR(o, 2), 6, lr=[0.1, 0.5])
    ax = plot_lr(trace, title="step", logy=True)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["group 0", "group 1"]
    assert list(lines[1].get_ydata()) == trace[1]
    assert list(lines[0].get_xdata()) == list(range(6))
    assert ax.get_yscale() == "log" and ax.get_title() == "step"
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"


def test_plot_lr_mapping_on_given_axes_and_flat_list():
    _, ax = plt.subplots()
    out = plot_lr({"a": [0.1, 0.2], "b": [[0.3, 0.1], [0.2, 0.2]]}, ax=ax, xlabel="epoch")
    assert out is ax
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b (group 0)", "b (group 1)"]
    assert list(ax.get_lines()[0].get_ydata()) == [0.1, 0.2]
    assert ax.get_xlabel() == "epoch"
    ax2 = plot_lr([0.1, 0.05])
    assert ax2.get_legend() is None  # one unnamed line needs no legend


def test_plot_lr_grid_panels():
    traces = {f"s{i}": [0.1 * (i + 1)] * 5 for i in range(5)}
    traces["two groups"] = [[0.1, 0.1], [0.2, 0.2]]
    fig = plot_lr_grid(traces, ncols=4, logy=True)
    axes = fig.axes
    assert len(axes) == 8
    visible = [ax for ax in axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(traces)
    assert not any(ax.get_visible() for ax in axes[6:])
    assert list(visible[2].get_lines()[0].get_ydata()) == [0.30000000000000004] * 5
    assert len(visible[5].get_lines()) == 2 and visible[5].get_yscale() == "log"
    # every column's lowest visible panel is labelled
    assert [ax.get_xlabel() for ax in visible] == ["", "", "step", "step", "step", "step"]


def test_plotting_leaves_global_style_alone():
    before = dict(matplotlib.rcParams)
    plot_lr([0.1, 0.2])
    plot_lr_grid({"a": [0.1], "b": [0.2]})
    assert dict(matplotlib.rcParams) == before


def test_plot_bad_input():
    with pytest.raises(ValueError, match="non-empty list"):
        plot_lr([])
    with pytest.raises(ValueError, match="empty mapping"):
        plot_lr({})
    with pytest.raises(TypeError, match=r"trace\[1\] must be a non-empty list of numbers"):
        plot_lr([[0.1], ["x"]])
    with pytest.raises(TypeError, match="mapping name -> trace"):
        plot_lr_grid([0.1, 0.2])
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        plot_lr_grid({"a": [0.1]}, ncols=0)
