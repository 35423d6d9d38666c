"""The per-cell numeric tolerance of the notebook checks (scripts/nbval_tolerance.py).

Unit tests of the comparison, then nbval itself run on small notebooks whose stored
outputs were changed: a tolerant cell still fails on a wrong number, an exact cell on
any change.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from nbval_tolerance import (
    METADATA_KEY,
    Tolerance,
    align_numbers,
    align_outputs,
    cell_tolerance,
)
from toc import toc_notebooks

ROOT = Path(__file__).resolve().parent.parent
REL_1PC = Tolerance(rel=0.01, reason="test")


# --------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("stored", "new"),
    [
        ("Dice 0.974", "Dice 0.979"),  # 0.5 % away, within 1 %
        ("loss 1.2345e-03", "loss 1.2400e-03"),
        ("acc 86.1% ± 2.3", "acc 86.5% ± 2.3"),
        ("delta -0.000", "delta 0.000"),  # sign of a rounded zero
        ("x 0.0012", "x 0.0013"),  # one unit in the last printed digit
    ],
)
def test_numbers_within_tolerance_are_accepted(stored: str, new: str) -> None:
    assert align_numbers(stored, new, REL_1PC) == stored


@pytest.mark.parametrize(
    ("stored", "new"),
    [
        ("Dice 0.974", "Dice 0.500"),  # a wrong number
        ("Dice 0.974", "Dice 0.990"),  # 1.6 % away
        ("x 0.0012", "x 0.0014"),  # two units in the last digit, 17 %
        ("correct: 487 of 500", "correct: 488 of 500"),  # integers stay exact
        ("Dice 0.974", "Dice 0.974 (worst)"),  # words changed
        ("Dice 0.974 0.975", "Dice 0.974"),  # a number missing
        ("Dice 0.974", "Dice nan"),
    ],
)
def test_numbers_out_of_tolerance_are_kept(stored: str, new: str) -> None:
    assert align_numbers(stored, new, REL_1PC) != stored


def test_names_with_digits_are_words_not_numbers() -> None:
    # "layer4" or "conv1.weight" must match exactly even with a huge tolerance
    loose = Tolerance(rel=10.0, integers=True, reason="test")
    assert align_numbers("layer4.1.conv2", "layer3.1.conv2", loose) == "layer3.1.conv2"
    assert align_numbers("resnet18: 11.7M", "resnet34: 11.7M", loose) == "resnet34: 11.7M"


def test_integers_can_be_made_tolerant() -> None:
    spec = Tolerance(rel=0.01, integers=True, reason="test")
    assert align_numbers("correct: 487", "correct: 489", spec) == "correct: 487"
    assert align_numbers("correct: 487", "correct: 497", spec) == "correct: 497"


def test_absolute_tolerance() -> None:
    spec = Tolerance(abs=0.01, reason="test")
    assert align_numbers("gap 0.000", "gap 0.009", spec) == "gap 0.000"
    assert align_numbers("gap 0.000", "gap 0.020", spec) == "gap 0.020"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rel=0.01", "must be a mapping"),
        ({"rel": 0.01}, "needs a 'reason'"),
        ({"rel": 0.0, "reason": "x"}, "'rel' or 'abs' > 0"),
        ({"rel": -1, "reason": "x"}, "must be a number >= 0"),
        ({"rel": "1%", "reason": "x"}, "must be a number >= 0"),
        ({"rel": 0.1, "reason": "x", "relative": 1}, "unknown key"),
        ({"rel": 0.1, "reason": "x", "integers": "yes"}, "true or false"),
    ],
)
def test_bad_metadata_says_what_to_write(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tolerance.from_metadata(spec, "nb.ipynb cell 3")


def test_cell_without_metadata_is_exact() -> None:
    assert cell_tolerance({"metadata": {}}) is None


# --------------------------------------------------------------------------- book cells
def _tolerant_cells() -> list[tuple[str, int, dict]]:
    cells = []
    for path in toc_notebooks(ROOT):
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb["cells"]):
            if METADATA_KEY in cell.get("metadata", {}):
                cells.append((path.stem, index, cell))
    return cells


def test_every_tolerance_in_the_book_is_valid_and_measured() -> None:
    cells = _tolerant_cells()
    assert cells, "the book has no tolerant cell: the CPU-dependent outputs are compared how?"
    for stem, index, cell in cells:
        tolerance = cell_tolerance(cell, f"{stem} cell {index}")
        assert tolerance is not None
        assert "measured" in tolerance.reason, (
            f"{stem} cell {index}: say in the reason how far the numbers were measured to move"
        )
        assert "nbval-ignore-output" not in cell["metadata"].get("tags", [])


def _stream_outputs(cell: dict) -> list:
    outs = [nbformat.from_dict(o) for o in cell.get("outputs", [])]
    return [
        {"output_type": "stream", o["name"]: o["text"]} for o in outs if o.output_type == "stream"
    ]


def _allowed(tolerance: Tolerance, token: str) -> float:
    from nbval_tolerance import _last_digit_unit

    return max(tolerance.abs, tolerance.rel * abs(float(token)), _last_digit_unit(token))


def test_real_tolerant_cells_accept_within_and_reject_beyond() -> None:
    """In every tolerant cell of the book, each float moved by half its allowance is
    accepted and moved by twice its allowance is rejected: the tokenizer finds the
    numbers of real outputs (tables, progress bars, percentages) and nothing else
    moves."""
    from nbval_tolerance import NUMBER

    checked = 0
    for stem, index, cell in _tolerant_cells():
        tolerance = cell_tolerance(cell)
        for output in _stream_outputs(cell):
            key = next(k for k in output if k != "output_type")
            text = output[key]
            for match in NUMBER.finditer(text):
                token = match.group(0)
                if "." not in token:
                    continue
                mantissa, _, exponent = token.lower().partition("e")
                decimals = len(mantissa.split(".")[1])
                style = "e" if exponent else "f"  # keep 2.71e-16 in scientific notation
                allowed = _allowed(tolerance, token)
                for factor, accepted in ((0.5, True), (2.0, False)):
                    moved = f"{float(token) + factor * allowed:.{decimals + 3}{style}}"
                    new = text[: match.start()] + moved + text[match.end() :]
                    aligned = align_outputs(
                        [{"output_type": "stream", key: new}], [output], tolerance
                    )
                    assert (aligned[0][key] == text) is accepted, (
                        f"{stem} cell {index}: {token} -> {moved} should be "
                        f"{'accepted' if accepted else 'rejected'}"
                    )
                checked += 1
    assert checked > 50


def test_real_unet_dice_changed_to_half_fails() -> None:
    """The stored held-out Dice of the U-Net chapter, 0.974, replaced by 0.500."""
    nb = nbformat.read(ROOT / "book" / "unet.ipynb", as_version=4)
    cells = [
        c
        for c in nb["cells"]
        if "held-out Dice" in "".join("".join(o.get("text", "")) for o in c.get("outputs", []))
    ]
    assert len(cells) == 1
    cell = cells[0]
    tolerance = cell_tolerance(cell)
    assert tolerance is not None, "the U-Net Dice cell should be tolerant"
    (stored,) = _stream_outputs(cell)
    text = stored["stdout"]
    dice = text.split("held-out Dice: ")[1].split()[0]
    wrong = text.replace(f"held-out Dice: {dice}", "held-out Dice: 0.500")
    aligned = align_outputs([{"output_type": "stream", "stdout": wrong}], [stored], tolerance)
    assert aligned[0]["stdout"] != text
    near = f"{float(dice) + 0.004:.3f}"
    close = text.replace(f"held-out Dice: {dice}", f"held-out Dice: {near}")
    aligned = align_outputs([{"output_type": "stream", "stdout": close}], [stored], tolerance)
    assert aligned[0]["stdout"] == text


# --------------------------------------------------------------------------- nbval end to end
def _notebook(cells: list[tuple[str, str, dict | None]]) -> nbformat.NotebookNode:
    """A notebook of code cells (source, stored stdout, tolerance metadata)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for count, (source, stored, tolerance) in enumerate(cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
        if tolerance is not None:
            cell.metadata[METADATA_KEY] = tolerance
        nb.cells.append(cell)
    return nb


def _nbval(tmp_path: Path, nb: nbformat.NotebookNode) -> subprocess.CompletedProcess:
    path = tmp_path / "check.ipynb"
    nbformat.write(nb, path)
    env = {"PYTHONPATH": str(ROOT / "scripts"), "PATH": str(Path(sys.executable).parent)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider",
         "-p", "nbval_tolerance", "-q", "-rA", str(path)],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


TOL = {"rel": 0.01, "reason": "a Dice score after training"}


def test_nbval_tolerant_and_exact_cells(tmp_path: Path) -> None:
    """One kernel, six cells: what passes and what fails, as nbval reports it."""
    nb = _notebook(
        [
            # 1. tolerant, within 1 %: passes
            ('print(f"held-out Dice: {0.9791:.3f}")', "held-out Dice: 0.974\n", TOL),
            # 2. tolerant, the stored Dice was 0.974, the cell now prints 0.5: fails
            ('print(f"held-out Dice: {0.5:.3f}")', "held-out Dice: 0.974\n", TOL),
            # 3. tolerant, an integer count off by one: fails
            ('print("correct: 488 of 500, Dice 0.974")', "correct: 487 of 500, Dice 0.974\n", TOL),
            # 4. exact, an integer count off by one: fails
            ('print("parameters: 1,235")', "parameters: 1,234\n", None),
            # 5. exact, a float off in the last digit: fails
            ('print("Dice 0.975")', "Dice 0.974\n", None),
            # 6. exact and identical: passes
            ('print("parameters: 1,234")', "parameters: 1,234\n", None),
        ]
    )
    result = _nbval(tmp_path, nb)
    summary = [line for line in result.stdout.splitlines() if line.startswith(("PASSED", "FAILED"))]
    outcome = {line.split("::Cell ")[1].split()[0]: line.split()[0] for line in summary}
    assert outcome == {
        "0": "PASSED",
        "1": "FAILED",
        "2": "FAILED",
        "3": "FAILED",
        "4": "FAILED",
        "5": "PASSED",
    }, result.stdout[-3000:]
    # the failure shows the number that is out of tolerance, not an opaque message
    assert "0.500" in result.stdout and "0.974" in result.stdout


def test_nbval_reports_bad_metadata(tmp_path: Path) -> None:
    nb = _notebook([('print("Dice 0.974")', "Dice 0.974\n", {"rel": 0.01})])
    result = _nbval(tmp_path, nb)
    assert result.returncode != 0
    assert "needs a 'reason'" in result.stdout


# --------------------------------------------------------------------------- sanitizer
def _sanitize(text: str) -> str:
    import re

    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text())
    assert patterns, "tests/nbval_sanitize.cfg has no rule nbval can read"
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


def test_python_versions_write_the_main_module_alike_after_sanitizing() -> None:
    # saving_loading: unpickling a whole model in a fresh process names __main__
    py311 = "AttributeError: Can't get attribute 'DigitNet' on <module '__main__' (built-in)>"
    py312 = (
        "AttributeError: Can't get attribute 'DigitNet' on "
        "<module '__main__' (<class '_frozen_importlib.BuiltinImporter'>)>"
    )
    assert _sanitize(py312) == _sanitize(py311) == py311
    other = "<module 'torch' (<class '_frozen_importlib.BuiltinImporter'>)>"
    assert _sanitize(other) == other  # only __main__, the line the lesson prints


def test_python_versions_word_the_super_error_alike_after_sanitizing() -> None:
    py311 = "TypeError: super(type, obj): obj must be an instance or subtype of type"
    py313 = (
        "TypeError: super(type, obj): obj (instance of MyModel) is not an instance or "
        "subtype of type (Other)."
    )
    assert _sanitize(py313) == _sanitize(py311) == py311
    # narrow: another TypeError keeps its words
    other = "TypeError: linear(): argument 'input' must be Tensor, not int"
    assert _sanitize(other) == other


def test_padded_columns_and_progress_bars_are_compared_by_their_numbers() -> None:
    spec = Tolerance(abs=0.03, reason="test")
    # a column padded to its number's width: "+1.9" takes one space more than "+14.7"
    stored = "gain over scratch +14.7, +16.4; best +16.4 points"
    assert (
        align_numbers(stored, "gain over scratch +14.7, +16.41; best +16.4 points", spec) == stored
    )
    moved = align_numbers(stored, "gain over scratch  +1.9, +16.4; best +16.4 points", spec)
    assert moved == "gain over scratch +1.9, +16.4; best +16.4 points"  # only 1.9 differs
    # a tqdm bar: the elapsed time and the rate (s/it or it/s) are sanitized first
    bar = "epochs: 100%|██████████| 8/8 [{t}, train_loss={loss}, val_acc={acc}]\n"
    stored = bar.format(t="01:16<00:00,  9.52s/it", loss="0.0727", acc="0.9778")
    new = bar.format(t="00:03<00:00,  2.03it/s", loss="0.0644", acc="0.9800")
    out = [{"output_type": "stream", "stderr": stored}]
    aligned = align_outputs([{"output_type": "stream", "stderr": new}], out, spec, _sanitize)
    assert aligned[0]["stderr"] == _sanitize(stored)
    far = bar.format(t="00:03<00:00,  2.03it/s", loss="0.0644", acc="0.9100")
    aligned = align_outputs([{"output_type": "stream", "stderr": far}], out, spec, _sanitize)
    assert "0.9100" in aligned[0]["stderr"]
