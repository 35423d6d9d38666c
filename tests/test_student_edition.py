"""The student edition (scripts/student_edition.py)."""

import nbformat

from notebook_builders import code_cell, notebook
from student_edition import student_notebook, write_student_edition


def test_student_notebook_removes_solutions_and_outputs():
    nb = notebook(
        [
            nbformat.v4.new_markdown_cell("task"),
            code_cell(
                "def f():\n    raise NotImplementedError",
                [{"output_type": "stream", "name": "stdout", "text": "x"}],
            ),
            code_cell("def f():\n    return 42", tags=["solution"]),
            code_cell("check(f)"),
        ]
    )
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("```{solution-start} ex\n```"))
    nb.cells[2].metadata["tags"] = ["solution"]
    roles = ["task", "answer", "solution", "solution", "check"]
    for cell, role in zip(nb.cells, roles, strict=True):
        cell.metadata["exercise"] = {"label": "ch-ex-1", "role": role}
    student = student_notebook(nb)
    sources = [c.source for c in student.cells]
    assert sources == ["task", "def f():\n    raise NotImplementedError", "check(f)"]
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in student.cells
        if c.cell_type == "code"
    )
    assert len(nb.cells) == 5 and nb.cells[1].outputs  # the original is untouched


def test_write_student_edition(tmp_path):
    source = tmp_path / "src" / "ch.ipynb"
    source.parent.mkdir()
    nb = notebook([code_cell("1", tags=["solution"]), code_cell("2")])
    nb.cells[0].metadata["exercise"] = {"label": "ch-ex-1", "role": "solution"}
    nbformat.write(nb, source)
    written = write_student_edition([source], tmp_path / "out")
    assert written == [tmp_path / "out" / "ch.ipynb"]
    assert [c.source for c in nbformat.read(written[0], as_version=4).cells] == ["2"]
