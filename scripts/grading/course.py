"""The course as the grader sees it: per chapter, its exercises and cells, from ``book/``.

Read from the current source every time, so the cells that are run around a
student's answers are the course's own, never the submission's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from exercise_cells import Exercise, read_exercises, role
from student_edition import student_notebook

ROOT = Path(__file__).resolve().parents[2]


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


@dataclass
class Chapter:
    """One notebook of the book: its source (with solutions) and exercises."""

    name: str
    path: Path

    @cached_property
    def source(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))

    @cached_property
    def exercises(self) -> list[Exercise]:
        return read_exercises(self.source, where=self.path.name)

    @cached_property
    def student(self) -> dict[str, Any]:
        """The student edition of this chapter (solution cells removed)."""
        return student_notebook(self.source)

    @cached_property
    def labels(self) -> list[str]:
        return [ex.label for ex in self.exercises]

    @cached_property
    def points(self) -> dict[str, float]:
        return {ex.label: float(ex.points) for ex in self.exercises}

    def stub(self, label: str) -> str:
        """The answer cell of ``label`` as the student receives it."""
        ex = next(e for e in self.exercises if e.label == label)
        return _source(self.source["cells"][ex.answer])

    def check_source(self, label: str) -> str:
        ex = next(e for e in self.exercises if e.label == label)
        return _source(self.source["cells"][ex.check])

    def reference_cells(self) -> list[dict[str, Any]]:
        """The code cells of the source with the solutions in place of the answers."""
        cells = []
        for index, cell in enumerate(self.source["cells"]):
            if cell.get("cell_type") != "code":
                continue
            meta = cell.get("metadata", {}).get("exercise") or {}
            kind = role(cell)
            if kind == "answer":
                continue
            cells.append(
                {
                    "index": index,
                    "source": _source(cell),
                    "role": "answer" if kind == "solution" else kind,
                    "label": meta.get("label"),
                }
            )
        return cells

    @cached_property
    def fingerprint(self) -> str:
        """A hash of what decides this chapter's grades: its source, the box's code and
        ``tutorial_lib``; a change re-grades every submission of the chapter."""
        digest = hashlib.sha256(self.path.read_bytes())
        for folder in (ROOT / "scripts" / "gradebox", ROOT / "tutorial_lib"):
            for file in sorted(folder.rglob("*.py")):
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
        return digest.hexdigest()[:16]


class Course:
    """Every chapter with exercises, by notebook file stem."""

    def __init__(self, book: Path = ROOT / "book") -> None:
        self.chapters: dict[str, Chapter] = {}
        for path in sorted(book.glob("*.ipynb")):
            chapter = Chapter(path.stem, path)
            if chapter.exercises:
                self.chapters[path.stem] = chapter

    def chapter_of_label(self, label: str) -> str | None:
        for name, chapter in self.chapters.items():
            if label in chapter.labels:
                return name
        return None
