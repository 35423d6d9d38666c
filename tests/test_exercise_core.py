import pytest
import torch
from torch import nn

from tutorial_lib.exercises import (
    STRICT_ENV,
    Case,
    CheckFailed,
    NotAttempted,
    check_function,
    check_module,
    compare,
    exercise_check,
    report,
    strict_mode,
)


@pytest.mark.parametrize(
    ("got", "expected", "fragment"),
    [
        (torch.zeros(2), torch.zeros(3), "expected shape (3,), got (2,)"),
        (torch.zeros(2, dtype=torch.long), torch.zeros(2), "expected dtype torch.float32"),
        (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.5]), "largest absolute difference 0.5"),
        (torch.tensor([1, 2]), torch.tensor([1, 3]), "values differ in 1 of 2 places"),
        ([1, 2], [1, 2, 3], "expected 3 items, got 2"),
        ({"a": 1}, {"b": 1}, "expected keys ['b'], got ['a']"),
        ({"a": 1.0}, {"a": 2.0}, "at key 'a': expected 2.0, got 1.0"),
        ("x", 3, "expected a number, got str"),
        (2, True, "expected True, got 2"),
        ([torch.zeros(1)], [torch.ones(1)], "at item 0"),
        (1.0, torch.ones(1), "expected a tensor, got float"),
    ],
)
def test_compare_describes_the_difference(got, expected, fragment):
    problem = compare(got, expected)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    ("got", "expected"),
    [
        (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-8])),
        (torch.tensor(3.0), 3.0),
        (0.1 + 0.2, 0.3),
        ((1, [2, {"k": torch.ones(2)}]), (1, [2, {"k": torch.ones(2)}])),
        (None, None),
        ("abc", "abc"),
    ],
)
def test_compare_accepts_equal_values(got, expected):
    assert compare(got, expected) is None


def square(x):
    return x * x


def test_check_function_passes_and_prints(capsys):
    check_function(square, [Case(args=(torch.tensor([2.0]),), expected=torch.tensor([4.0]))])
    assert capsys.readouterr().out.strip() == "✅ square: all 1 case(s) passed."


def test_check_function_names_the_failing_case():
    cases = [
        Case(args=(2,), expected=4),
        Case(args=(3,), expected=10, description="three"),
    ]
    with pytest.raises(CheckFailed, match=r"square: case 2 \(three\) is wrong: expected 10, got 9"):
        check_function(square, cases)


def test_check_function_reports_errors_raised_by_the_learner():
    def broken(x):
        return x.nope

    with pytest.raises(CheckFailed, match="case 1 raised AttributeError"):
        check_function(broken, [Case(args=(1,), expected=1)])


def test_check_function_callable_expectation():
    def positive(got):
        return None if got > 0 else f"expected a positive number, got {got}"

    check_function(square, [Case(args=(3,), expected=positive)])
    with pytest.raises(CheckFailed, match="expected a positive number, got -1"):
        check_function(lambda x: -1, [Case(args=(3,), expected=positive)], name="neg")


def test_not_attempted_is_reported_not_raised(capsys):
    def stub(x):
        raise NotImplementedError

    check_function(stub, [Case(args=(1,), expected=1)])
    assert "⏳ stub: not attempted yet" in capsys.readouterr().out


def test_check_function_bad_input():
    with pytest.raises(TypeError, match="expected a function"):
        check_function(3, [Case()])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one case"):
        check_function(square, [])
    with pytest.raises(TypeError, match="Case objects"):
        check_function(square, [(1, 1)])  # type: ignore[list-item]


class ListNet(nn.Module):
    """Layers in a plain list: their parameters are invisible to the module."""

    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(4, 4), nn.Linear(4, 2)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def test_check_module_catches_unregistered_parameters():
    with pytest.raises(CheckFailed, match="expected 30 parameters, got 0.*nn.ModuleList"):
        check_module(ListNet, inputs=torch.zeros(1, 4), num_parameters=30)


def test_check_module_passes_with_reference(capsys):
    layers = [nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)]
    reference = nn.Sequential(*layers)

    class Mine(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(layers)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    check_module(
        Mine,
        inputs=torch.randn(3, 4),
        output_shape=(3, 2),
        num_parameters=30,
        num_trainable=30,
        reference=reference,
    )
    out = capsys.readouterr().out
    assert out.startswith("✅ Mine: parameter count, trainable count, output shape")


def test_check_module_wrong_shape_and_reference():
    net = nn.Linear(4, 2)
    with pytest.raises(CheckFailed, match=r"expected output shape \(1, 3\), got \(1, 2\)"):
        check_module(net, inputs=torch.zeros(1, 4), output_shape=(1, 3))
    with pytest.raises(CheckFailed, match="differs from the reference"):
        check_module(net, inputs=torch.ones(1, 4), reference=nn.Linear(4, 2))
    frozen = nn.Linear(4, 2).requires_grad_(False)
    with pytest.raises(CheckFailed, match="expected 10 trainable parameters, got 0"):
        check_module(frozen, inputs=torch.zeros(1, 4), num_trainable=10)


def test_check_module_restores_training_mode_and_reports_forward_errors():
    net = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5))
    net.train()
    with pytest.raises(CheckFailed, match="forward pass raised RuntimeError"):
        check_module(net, inputs=torch.zeros(1, 5))
    assert net.training


def test_check_module_not_attempted(capsys):
    def build():
        raise NotImplementedError

    check_module(build, inputs=torch.zeros(1))
    assert "not attempted yet" in capsys.readouterr().out


def test_check_module_requires_a_module():
    with pytest.raises(CheckFailed, match="expected an nn.Module, got int"):
        check_module(lambda: 3, inputs=torch.zeros(1), name="three")


# --------------------------------------------------------------------------- strict mode
def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("YES", True), (" on ", True)]
    + [("0", False), ("", False), ("false", False), ("no", False), ("off", False)],
)
def test_strict_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(STRICT_ENV, value)
    assert strict_mode() is expected
    assert strict_mode(True) is True and strict_mode(False) is False  # the argument wins


def test_strict_mode_defaults_to_friendly_and_rejects_unclear_values(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    assert strict_mode() is False
    monkeypatch.setenv(STRICT_ENV, "maybe")
    with pytest.raises(ValueError, match="set it to 1"):
        strict_mode()
    with pytest.raises(TypeError, match="True, False or None"):
        strict_mode("yes")


@pytest.mark.parametrize(
    "run",
    [
        lambda strict: check_function(_stub, [Case(expected=1)], name="f", strict=strict),
        lambda strict: check_module(_stub, inputs=torch.zeros(1), name="f", strict=strict),
        lambda strict: check_module(
            nn.Sequential(nn.Linear(1, 1), _Raises()), inputs=torch.zeros(1, 1), strict=strict
        ),
        lambda strict: exercise_check("f")(_stub)(strict=strict),
    ],
    ids=["check_function", "check_module-build", "check_module-forward", "exercise_check"],
)
def test_not_attempted_is_a_note_or_in_strict_mode_a_failure(run, capsys, monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    run(None)
    out = capsys.readouterr().out
    assert out.startswith("⏳") and "not attempted" in out and "✅" not in out
    with pytest.raises(NotAttempted, match="not attempted"):
        run(True)
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(NotAttempted):
        run(None)
    assert "✅" not in capsys.readouterr().out  # never a pass for code that did not run
    assert issubclass(NotAttempted, CheckFailed)  # a grader counting failures counts it


class _Raises(nn.Module):
    def forward(self, x):
        raise NotImplementedError


def test_report_is_the_one_verdict():
    report("x", "pass", "fine.")
    with pytest.raises(CheckFailed, match="^x: wrong$"):
        report("x", "fail", "wrong")
    with pytest.raises(ValueError, match="'pass', 'fail' or 'todo'"):
        report("x", "ok", "?")


def test_exercise_check_reports_pass_fail_and_learner_errors(capsys, monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")

    @exercise_check("double")
    def check_double(fn):
        if fn(2) != 4:
            raise CheckFailed(f"double(2) should be 4, got {fn(2)!r}")
        return "double(2) is 4."

    check_double(lambda x: 2 * x)
    assert capsys.readouterr().out == "✅ double: double(2) is 4.\n"
    with pytest.raises(CheckFailed, match=r"^double: double\(2\) should be 4, got 5$"):
        check_double(lambda x: 5)
    with pytest.raises(CheckFailed, match="your code raised ZeroDivisionError"):
        check_double(lambda x: x / 0)
    assert check_double.__name__ == "check_double"
