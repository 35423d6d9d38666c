"""The student edition of the notebooks (``make student``): solutions removed,
outputs cleared, exercise metadata kept for graders."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from exercise_cells import role
from notebook_cells import cell_tags

SOLUTION_TAG = "solution"


def student_notebook(nb: dict) -> dict:
    """A copy of ``nb`` without solution cells (exercise role ``solution``; the
    ``solution`` tag, which hides them in the book, must agree) and without outputs.
    Exercise metadata (points, minutes, difficulty, roles) is kept for graders."""
    import copy

    student = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(student["cells"]):
        is_solution = role(cell) == "solution"
        if is_solution != (SOLUTION_TAG in cell_tags(cell)):
            raise ValueError(
                f"cell {index}: the 'solution' tag and the exercise role disagree; tag every "
                "cell whose metadata says role 'solution', and only those"
            )
        if is_solution:
            continue
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    student["cells"] = cells
    student.get("metadata", {}).pop("widgets", None)
    return student


def write_student_edition(notebooks: Iterable[Path], out_dir: Path) -> list[Path]:
    """Write the student edition of ``notebooks`` into ``out_dir``; return the paths."""
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        nbformat.write(nbformat.from_dict(student_notebook(nb)), target)
        written.append(target)
    return written
