import warnings

import pytest

from tutorial_lib import ExpectedErrorMissing, show_error, show_warnings


def test_show_error_prints_one_line_and_swallows(capsys):
    with show_error(ZeroDivisionError):
        1 / 0  # noqa: B018
    assert capsys.readouterr().out == "ZeroDivisionError: division by zero\n"


def test_show_error_without_message(capsys):
    with show_error():
        raise ValueError()
    assert capsys.readouterr().out == "ValueError\n"


def test_show_error_requires_an_error():
    with pytest.raises(ExpectedErrorMissing, match="expected the block to raise ValueError"):
        with show_error(ValueError):
            pass


def test_show_error_lets_other_errors_through():
    with pytest.raises(KeyError):
        with show_error(ValueError):
            raise KeyError("x")


def test_show_error_bad_argument():
    with pytest.raises(TypeError, match="exception classes"):
        with show_error("ValueError"):  # type: ignore[arg-type]
            pass


def test_show_warnings_prints_without_paths_and_dedupes(capsys):
    with show_warnings(UserWarning) as caught:
        for _ in range(3):
            warnings.warn("careful", UserWarning, stacklevel=1)
    assert capsys.readouterr().out == "UserWarning: careful\n"
    assert len(caught) == 3


def test_show_warnings_requires_the_expected_category():
    with pytest.raises(ExpectedErrorMissing, match="DeprecationWarning"):
        with show_warnings(DeprecationWarning):
            warnings.warn("other", UserWarning, stacklevel=1)
    with pytest.raises(TypeError, match="warning classes"):
        with show_warnings(ValueError):  # type: ignore[arg-type]
            pass


def test_show_warnings_without_expectation_is_silent_when_nothing_happens(capsys):
    with show_warnings():
        pass
    assert capsys.readouterr().out == ""
