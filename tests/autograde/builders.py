"""Submissions for the grader's tests, built from the real student edition."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from exercise_cells import read_exercises
from student_edition import student_notebook

ROOT = Path(__file__).resolve().parents[2]


def source_notebook(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "book" / f"{name}.ipynb").read_text(encoding="utf-8"))


def _text(cell: dict[str, Any]) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def solutions(name: str) -> dict[str, str]:
    """The reference solution of every exercise of ``book/<name>.ipynb`` (code cells)."""
    nb = source_notebook(name)
    out = {}
    for ex in read_exercises(nb):
        code = [
            _text(nb["cells"][i]) for i in ex.solutions if nb["cells"][i]["cell_type"] == "code"
        ]
        out[ex.label] = "\n\n".join(code)
    return out


def submission(
    name: str, answers: dict[str, str] | None = None, checks: dict[str, str] | None = None
) -> dict[str, Any]:
    """The student edition of ``name`` with ``answers`` (label -> source) in its answer
    cells and ``checks`` (label -> source) in its check cells."""
    nb = copy.deepcopy(student_notebook(source_notebook(name)))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("exercise") or {}
        label, role = meta.get("label"), meta.get("role")
        if role == "answer" and answers and label in answers:
            cell["source"] = answers[label]
        if role == "check" and checks and label in checks:
            cell["source"] = checks[label]
    return nb


def write(nb: dict[str, Any] | bytes | str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, dict):
        path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    elif isinstance(nb, bytes):
        path.write_bytes(nb)
    else:
        path.write_text(nb, encoding="utf-8")
    return path
