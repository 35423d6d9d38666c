"""The course as an nbgrader course folder (``make nbgrader-source OUT=<dir>``).

For every chapter with exercises, ``<OUT>/source/<chapter>/<chapter>.ipynb`` carries
nbgrader cell metadata (schema 3):

- each answer cell becomes an autograded answer: the solution's code between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's ``generate_assignment``
  replaces it with a stub); the solution cells themselves are dropped;
- each check cell becomes a locked, graded test cell with the exercise's points; it
  turns on strict mode first, so an untouched stub fails instead of printing a note;
- every other cell is locked.

``<OUT>/nbgrader_config.py`` is a minimal configuration. What nbgrader's own
autograding does *not* protect against is listed in the instructor guide ("Grading").
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from grading.course import Chapter, Course, _source

STRICT_PREFIX = (
    'import os\n\nos.environ["TUTORIAL_STRICT"] = "1"  # graded: an untouched stub must not pass\n'
)
CONFIG = """c = get_config()  # noqa: F821 (nbgrader's configuration)
c.CourseDirectory.course_id = "pytorch-model-engineering"
c.CourseDirectory.root = "."
c.ExecutePreprocessor.timeout = 120
"""


def _meta(
    grade_id: str,
    *,
    grade: bool = False,
    solution: bool = False,
    locked: bool = False,
    points: float | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def nbgrader_notebook(chapter: Chapter) -> dict[str, Any]:
    """``chapter``'s source notebook with nbgrader metadata (see the module docstring)."""
    nb = copy.deepcopy(chapter.source)
    solutions: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("exercise") or {}
        if meta.get("role") == "solution" and cell.get("cell_type") == "code":
            solutions.setdefault(meta["label"], []).append(_source(cell))
    cells = []
    for index, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("exercise") or {}
        label, role = meta.get("label"), meta.get("role")
        if role == "solution":
            continue
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        if role == "answer":
            code = "\n\n".join(solutions[label])
            cell["source"] = f"### BEGIN SOLUTION\n{code}\n### END SOLUTION\n"
            cell["metadata"]["nbgrader"] = _meta(f"{label}-answer", solution=True)
        elif role == "check":
            cell["source"] = STRICT_PREFIX + _source(cell)
            cell["metadata"]["nbgrader"] = _meta(
                f"{label}-check", grade=True, locked=True, points=chapter.points[label]
            )
        else:
            cell["metadata"]["nbgrader"] = _meta(f"cell-{index}", locked=True)
        cells.append(cell)
    nb["cells"] = cells
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def write_nbgrader_source(out: Path, course: Course | None = None) -> list[Path]:
    """Write the nbgrader course folder into ``out``; return the notebooks written."""
    course = course or Course()
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(CONFIG, encoding="utf-8")
    written = []
    for name, chapter in course.chapters.items():
        target = out / "source" / name / f"{name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            json.dumps(nbgrader_notebook(chapter), indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        written.append(target)
    return written
