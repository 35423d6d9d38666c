"""Static checks of every notebook in _toc.yml (nbval re-executes them separately).

They enforce the conventions of CONTRIBUTING.md: the Colab cell, executed from a
clean kernel, no machine paths, device-agnostic code, known tags only, and the
exercise structure (task, stub, hidden solution, self-check) that the book and the
student edition rely on.
"""

import copy
import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest

import exercise_cells
from guide import render_guide
from notebook_cells import cell_tags, elapsed_time_rule, find_ansi, find_leaks, output_text
from student_edition import student_notebook
from toc import colab_cell, toc_appendix, toc_notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = toc_notebooks(ROOT)
ALLOWED_TAGS = {
    "solution",
    "nbval-ignore-output",
    "hide-input",
    "hide-output",
    "remove-input",
    "remove-output",
}
EXERCISE = re.compile(r"```\{exercise\}.*?\n:label: (\S+)", re.DOTALL)
EXERCISE_TITLE = re.compile(r"```\{exercise\}(.*)")
SOLUTION_START = re.compile(r"```\{solution-start\} (\S+)")


def _ids(paths):
    return [p.stem for p in paths]


@pytest.fixture(scope="module", params=NOTEBOOKS, ids=_ids(NOTEBOOKS))
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_every_notebook_in_book_is_in_the_toc():
    on_disk = {
        p.resolve() for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    }
    assert on_disk == {p.resolve() for p in NOTEBOOKS}, "add the notebook to _toc.yml or delete it"


def test_first_code_cell_is_the_colab_cell(notebook):
    _, nb = notebook
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source == colab_cell(ROOT)


def test_executed_in_order_from_a_clean_kernel_without_errors(notebook):
    _, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, "a stored output is an error; show errors with tutorial_lib.show_error"


def test_no_machine_paths_in_outputs(notebook):
    _, nb = notebook
    assert find_leaks(nb) == []


def test_no_ansi_colour_codes_in_outputs(notebook):
    _, nb = notebook
    assert find_ansi(nb) == []


def test_find_ansi_sees_colour_codes():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [
                    {
                        "output_type": "stream",
                        "name": "stdout",
                        "text": "\x1b[31mTypeError\x1b[0m: bad",
                    }
                ],
            }
        ]
    }
    assert len(find_ansi(nb)) == 1
    nb["cells"][0]["outputs"][0]["text"] = "TypeError: bad"
    assert find_ansi(nb) == []


def _calls_cuda(source: str) -> bool:
    """True when the code (not a comment or a string) calls ``.cuda(``."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.STRING)
    ]
    return any(
        a.string == "." and b.string == "cuda" and c.string == "("
        for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False)
    )


def test_calls_cuda_sees_code_only():
    assert _calls_cuda("model.cuda()")
    assert not _calls_cuda("model.to(device)  # not .cuda()")
    assert not _calls_cuda("print('x.cuda()')")


def test_device_agnostic_code(notebook):
    path, nb = notebook
    if path in toc_appendix(ROOT):
        pytest.skip("the pitfalls appendix shows .cuda() failing on purpose")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not _calls_cuda(cell.source), f"use .to(device) instead: {cell.source[:80]!r}"


def test_known_tags_only(notebook):
    _, nb = notebook
    for cell in nb.cells:
        assert cell_tags(cell) <= ALLOWED_TAGS, cell.source[:80]


def test_python3_kernel(notebook):
    _, nb = notebook
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_exercise_structure(notebook):
    """Every exercise is task, answer stub, hidden solution, check, consecutively, with
    the metadata the student edition, the guide and the exercise tests read."""
    path, nb = notebook
    if path in toc_appendix(ROOT):
        pytest.skip("appendix pages have no exercises")
    cells = nb.cells
    exercises = exercise_cells.read_exercises(nb, where=path.name)  # raises on any problem
    labels = [m for c in cells if c.cell_type == "markdown" for m in EXERCISE.findall(c.source)]
    assert [ex.label for ex in exercises] == labels, (
        "every ```{exercise} directive needs a task cell with exercise metadata, in order"
    )
    assert 3 <= len(labels) <= 6, f"{path.name}: {len(labels)} exercises, expected 3 to 6"
    assert len(set(labels)) == len(labels), "exercise labels must be unique"
    for ex in exercises:
        # sphinx-exercise 1.2.1 cannot resolve solution titles from such exercise titles
        # on a clean build ("undefined label").
        assert not set(ex.title) & {"`", "$"}, f"exercise title {ex.title!r}: use plain text"
        hidden = [cells[i] for i in ex.solutions]
        start = SOLUTION_START.search(hidden[0].source)
        assert start and start.group(1) == ex.label, f"{ex.label}: first solution cell"
        assert "```{solution-end}" in hidden[-1].source, f"{ex.label}: last solution cell"
        assert all("solution" in cell_tags(c) for c in hidden), (
            f"{ex.label}: every cell from solution-start to solution-end needs the 'solution' tag"
        )
        assert "NotImplementedError" in cells[ex.answer].source, f"{ex.label}: the stub"
        check = cells[ex.check]
        printed = "".join(o.get("text", "") for o in check.outputs if o.output_type == "stream")
        assert "✅" in printed, f"{ex.label}: the self-check after the solution did not pass"
    # No solution-tagged cell outside an exercise (it would vanish from the student
    # edition without the book hiding it), and tags agree with the metadata.
    for i, cell in enumerate(cells):
        tagged = "solution" in cell_tags(cell)
        assert tagged == (exercise_cells.role(cell) == "solution"), (
            f"cell {i}: the 'solution' tag and the exercise role must agree"
        )


def test_every_chapter_asks_for_a_design_or_an_experiment(notebook):
    path, nb = notebook
    if path in toc_appendix(ROOT):
        pytest.skip("appendix pages have no exercises")
    kinds = {ex.kind for ex in exercise_cells.read_exercises(nb, where=path.name)}
    assert kinds & {"design", "experiment"}, (
        f"{path.name}: at least one exercise must ask for a design decision or a measured "
        "experiment (metadata kind 'design' or 'experiment') and check its outcome"
    )


def test_every_exercise_has_its_answer_tests(notebook):
    path, nb = notebook
    if path in toc_appendix(ROOT):
        pytest.skip("appendix pages have no exercises")
    tests = ROOT / "tests" / "exercises" / f"test_{path.stem}.py"
    assert tests.exists(), f"{path.name}: no {tests.relative_to(ROOT)} with right and wrong answers"
    text = tests.read_text(encoding="utf-8")
    for ex in exercise_cells.read_exercises(nb, where=path.name):
        assert f'"{ex.label}"' in text, f"{ex.label}: no answers in {tests.name}"


def test_exercise_metadata_is_rejected_when_incomplete():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    task = next(i for i, c in enumerate(nb.cells) if exercise_cells.role(c) == "task")
    broken = copy.deepcopy(nb)
    del broken.cells[task + 1].metadata["exercise"]  # the answer cell loses its metadata
    with pytest.raises(exercise_cells.ExerciseMetadataError, match="no answer cell"):
        exercise_cells.read_exercises(broken)
    broken = copy.deepcopy(nb)
    broken.cells[task].metadata["exercise"]["difficulty"] = "tricky"
    with pytest.raises(exercise_cells.ExerciseMetadataError, match="difficulty"):
        exercise_cells.read_exercises(broken)
    broken = copy.deepcopy(nb)
    broken.cells[task].metadata["exercise"]["minutes"] = 0
    with pytest.raises(exercise_cells.ExerciseMetadataError, match="minutes"):
        exercise_cells.read_exercises(broken)
    broken = copy.deepcopy(nb)
    broken.cells[task + 1].metadata["exercise"]["role"] = "stub"
    with pytest.raises(exercise_cells.ExerciseMetadataError, match="role 'stub'"):
        exercise_cells.read_exercises(broken)
    broken = copy.deepcopy(nb)
    broken.cells.insert(task + 2, nbformat.v4.new_code_cell("x = 1"))
    with pytest.raises(exercise_cells.ExerciseMetadataError, match="consecutive"):
        exercise_cells.read_exercises(broken)
    broken = copy.deepcopy(nb)
    broken.cells[task].metadata["exercise"]["role"] = "check"
    with pytest.raises(exercise_cells.ExerciseMetadataError):
        exercise_cells.read_exercises(broken)


def test_student_edition_refuses_a_solution_without_its_tag():
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    broken = copy.deepcopy(nb)
    for cell in broken.cells:
        if exercise_cells.role(cell) == "solution":
            cell.metadata["tags"] = []
            break
    with pytest.raises(ValueError, match="disagree"):
        student_notebook(broken)


def test_student_edition_keeps_the_exercise_metadata(notebook):
    path, nb = notebook
    student = student_notebook(nb)
    kept = [c.metadata["exercise"] for c in student.cells if "exercise" in c.metadata]
    original = [
        c.metadata["exercise"]
        for c in nb.cells
        if "exercise" in c.metadata and c.metadata["exercise"]["role"] != "solution"
    ]
    assert kept == original


def test_student_edition_has_no_solution_code(notebook):
    _, nb = notebook
    student = student_notebook(nb)
    text = "\n".join(c.source for c in student.cells)
    assert "solution-start" not in text and "solution-end" not in text
    for cell in nb.cells:
        if "solution" in cell_tags(cell) and cell.cell_type == "code":
            assert cell.source not in text
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_instructor_guide_lists_every_exercise():
    guide = (ROOT / "book" / "instructors.md").read_text(encoding="utf-8")
    assert guide == render_guide(ROOT), (
        "the exercise table of book/instructors.md is out of date: run `make guide`"
    )
    listed = set(re.findall(r"\{ref\}`([\w-]+-ex-\d+)`", guide))
    in_book = {
        label
        for path in NOTEBOOKS
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "markdown"
        for label in EXERCISE.findall(cell.source)
    }
    assert listed == in_book, {
        "missing": sorted(in_book - listed),
        "stale": sorted(listed - in_book),
    }


def test_status_page_covers_every_notebook_within_budget():
    status = (ROOT / "book" / "status.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"\| `([\w.]+\.ipynb)` \| ([\d.]+) \|", status))
    assert set(rows) == {p.name for p in NOTEBOOKS}, "re-run `make benchmark`"
    slow = {name: seconds for name, seconds in rows.items() if float(seconds) > 60}
    assert not slow, f"notebooks over the 60 s budget: {slow}"


def test_stored_progress_bars_show_no_elapsed_time(notebook):
    """A bar stored from a busy machine would contradict the status page's times."""
    path, nb = notebook
    pattern, _ = elapsed_time_rule()
    found = [
        f"cell {index}: {match.group(0)!r}"
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
        for match in pattern.finditer(output.text)
    ]
    assert not found, f"re-execute {path.name} with `make execute` (it neutralises them): {found}"


WALL_TIME = re.compile(r"(\d+(?:\.\d+)?) s wall")


def test_stored_wall_times_fit_in_the_status_page_time(notebook):
    """A cell that says it took 17 s cannot sit in a notebook the status page times at 8 s."""
    path, nb = notebook
    status = (ROOT / "book" / "status.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"\| `([\w.]+\.ipynb)` \| ([\d.]+) \|", status))
    budget = float(rows[path.name])
    times = [
        float(seconds)
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        for seconds in WALL_TIME.findall(output_text(output))
    ]
    assert sum(times) <= budget, (
        f"{path.name}: stored cells report {sum(times):.1f} s of wall time, the status page "
        f"{budget} s for the whole notebook: store outputs from a quiet run "
        "(`make execute`) and re-run `make benchmark` on the same machine"
    )
