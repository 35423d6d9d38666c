"""The prose-number check (scripts/prose_numbers.py): unit cases and every chapter."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import prose_numbers as pn
import pytest

from toc import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]


def _notebook(
    tmp_path: Path, markdown: str, *, outputs=("accuracy 86.13 %\n",), source="k = 5", metadata=None
) -> Path:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(source)
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in outputs]
    md = nbformat.v4.new_markdown_cell(markdown)
    if metadata is not None:
        md.metadata[pn.METADATA_KEY] = metadata
    nb.cells = [code, md]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def _numbers(problems):
    return [p.number for p in problems]


@pytest.mark.parametrize(
    "prose",
    [
        "Accuracy is 86.1 %.",  # rounding the prose uses
        "Accuracy is 86 %.",
        "Accuracy is 86.13 %.",
        "With k = 5 labels per class and 3 seeds.",  # set by code; small integer
        "Note 003, lines 118–142, and line 297.",
        "See §6.3 of the notes and PyTorch 2.6, torch 1.8.0 or ResNet-18, arXiv:1505.04597.",
        "## 14. A heading",
        "Code is skipped: `x = 123.45`, {glue:text}`acc_77`, $e^{777}$ and [a](http://x/999).",
        "```python\nprint(4242)\n```",
    ],
)
def test_backed_numbers_pass(tmp_path, prose):
    assert pn.check_notebook(_notebook(tmp_path, prose)) == []


@pytest.mark.parametrize(
    ("prose", "unbacked"),
    [
        ("Accuracy is 86.2 %.", ["86.2"]),  # not the printed value
        ("Accuracy is 0.861.", ["0.861"]),  # another scale than the output
        ("Accuracy is 86.131 %.", ["86.131"]),  # more decimals than printed
        ("It took 1,797 steps and 11 seeds.", ["1,797", "11"]),
        ("A loss of −104.5 and 2015.", ["−104.5", "2015"]),
    ],
)
def test_unbacked_numbers_are_reported(tmp_path, prose, unbacked):
    problems = pn.check_notebook(_notebook(tmp_path, prose))
    assert _numbers(problems) == unbacked
    assert all(p.cell == 1 for p in problems)
    assert "no output" in str(problems[0])


def test_thousands_and_signs_match_the_output(tmp_path):
    path = _notebook(tmp_path, "1,797 images, a change of 104.", outputs=("n=1797 delta=-104.0\n",))
    assert pn.check_notebook(path) == []


@pytest.mark.parametrize(
    ("prose", "ok"),
    [
        ("The ratio rises to about 3,000.", True),  # printed 3,037: one significant digit
        ("The ratio rises to roughly 3,000.", True),
        ("The ratio rises to about 4,000.", False),
        ("The ratio rises to 3,000.", False),  # without "about" the zeros count
        ("The ratio rises to about 3,040.", True),  # 3,037 to three significant digits
        ("The ratio rises to about 3,030.", False),
    ],
)
def test_about_a_round_number_keeps_its_significant_digits(tmp_path, prose, ok):
    path = _notebook(tmp_path, prose, outputs=("ratio 3,037\n",))
    assert (pn.check_notebook(path) == []) is ok


def test_scientific_output_backs_a_decimal(tmp_path):
    path = _notebook(tmp_path, "The gradient is 0.00012.", outputs=("grad 1.2e-04\n",))
    assert pn.check_notebook(path) == []


def test_rich_outputs_count(tmp_path):
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("df")
    code.outputs = [nbformat.v4.new_output("execute_result", data={"text/html": "<td>0.9712</td>"})]
    nb.cells = [code, nbformat.v4.new_markdown_cell("Dice 0.97.")]
    path = tmp_path / "rich.ipynb"
    nbformat.write(nb, path)
    assert pn.check_notebook(path) == []


def test_marked_numbers_need_a_reason_and_must_still_be_there(tmp_path):
    ok = _notebook(tmp_path, "Lin et al. (2017).", metadata={"2017": "year of the paper"})
    assert pn.check_notebook(ok) == []
    stale = _notebook(tmp_path, "Lin et al.", metadata={"2017": "year of the paper"})
    [problem] = pn.check_notebook(stale)
    assert problem.number == "2017" and "no longer contains" in problem.reason
    bad = _notebook(tmp_path, "Lin et al. (2017).", metadata={"2017": ""})
    assert any("must map" in p.reason for p in pn.check_notebook(bad))


def test_command_line_exit_status(tmp_path, capsys):
    assert pn.main([str(_notebook(tmp_path, "Accuracy is 86.1 %."))]) == 0
    assert pn.main([str(_notebook(tmp_path, "Accuracy is 91.0 %."))]) == 1
    assert "91.0" in capsys.readouterr().out


CHAPTERS = toc_notebooks(ROOT)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_number_in_prose_is_printed_by_a_cell(path):
    problems = pn.check_notebook(path)
    assert not problems, (
        "numbers in prose that no cell printed (fix the sentence, print the number, or list "
        f"it in the cell's metadata.{pn.METADATA_KEY} with the reason):\n"
        + "\n".join(map(str, problems))
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_changing_a_result_in_prose_is_caught(tmp_path, path):
    """Every chapter: replace a backed decimal of its prose by one no cell printed."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = pn.prose_text(cell.source)
        match = next(
            (m for m in pn.numbers_in(text) if re.fullmatch(r"\d+\.\d+", m.group(0))), None
        )
        if match is None:
            continue
        start, end = match.span()
        cell.source = cell.source[:start] + "987.654321" + cell.source[end:]
        changed = tmp_path / path.name
        nbformat.write(nb, changed)
        assert "987.654321" in _numbers(pn.check_notebook(changed))
        return
    pytest.skip(f"{path.name} states no decimal result in its prose")
