"""The notebook that is run for a submission: the course's cells, the student's answers.

Only the answer cells (exercise role ``answer``) are taken from the submission;
every other cell comes from the chapter's current student edition. What the student
changed elsewhere is only noticed, as flags: an edited or deleted check cell, a
deleted or duplicated answer cell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grading.course import Chapter, Course, _source

FLAG_EDITED_CHECK = "edited-check-cell"
FLAG_DELETED_CHECK = "deleted-check-cell"
FLAG_DELETED_ANSWER = "deleted-answer-cell"
FLAG_DUPLICATED_ANSWER = "duplicated-answer-cell"


class SubmissionError(ValueError):
    """The submission cannot be graded at all (malformed, wrong chapter, ...)."""


@dataclass
class Assembled:
    """The cells to run, and what was noticed per exercise."""

    cells: list[dict[str, Any]]
    flags: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # label -> why it is not graded
    answers: dict[str, str] = field(default_factory=dict)


def parse_notebook(raw: bytes) -> dict[str, Any]:
    """The submission's JSON, or :class:`SubmissionError` saying what is wrong."""
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise SubmissionError(f"not a notebook: the file is not UTF-8 text ({err})") from err
    except ValueError as err:
        raise SubmissionError(f"not a notebook: malformed JSON ({err})") from err
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SubmissionError("not a notebook: no list of cells")
    if not all(isinstance(c, dict) for c in nb["cells"]):
        raise SubmissionError("not a notebook: a cell is not a JSON object")
    return nb


def _exercise_meta(cell: dict[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata")
    meta = meta.get("exercise") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def assemble(nb: dict[str, Any], chapter: Chapter, course: Course) -> Assembled:
    """The cells to run for the submission ``nb`` of ``chapter``."""
    answers: dict[str, list[str]] = {}
    checks: dict[str, list[str]] = {}
    foreign: set[str] = set()
    for cell in nb["cells"]:
        meta = _exercise_meta(cell)
        label, kind = meta.get("label"), meta.get("role")
        if not isinstance(label, str):
            continue
        if label not in chapter.labels:
            foreign.add(label)
            continue
        if kind == "answer" and cell.get("cell_type") == "code":
            answers.setdefault(label, []).append(_source(cell))
        elif kind == "check":
            checks.setdefault(label, []).append(_source(cell))
    if not answers:
        others = sorted({course.chapter_of_label(label) or "?" for label in foreign})
        if foreign:
            raise SubmissionError(
                f"wrong chapter: this file is named {chapter.name}.ipynb but its exercises "
                f"belong to {', '.join(others)}"
            )
        raise SubmissionError(
            "no answer cells found: the cells' exercise metadata is missing (was the "
            "notebook rebuilt or copied cell by cell?); hand in the student edition you edited"
        )
    result = Assembled(cells=[])
    for label in chapter.labels:
        flags = result.flags.setdefault(label, [])
        found = answers.get(label, [])
        if not found:
            flags.append(FLAG_DELETED_ANSWER)
        elif len(found) > 1:
            flags.append(FLAG_DUPLICATED_ANSWER)
            result.problems[label] = (
                f"{len(found)} answer cells for this exercise: keep exactly one (the grader "
                "does not guess which one you meant)"
            )
        else:
            result.answers[label] = found[0]
        given_checks = checks.get(label, [])
        if not given_checks:
            flags.append(FLAG_DELETED_CHECK)
        elif any(src.strip() != chapter.check_source(label).strip() for src in given_checks):
            flags.append(FLAG_EDITED_CHECK)
    for index, cell in enumerate(chapter.student["cells"]):
        if cell.get("cell_type") != "code":
            continue
        meta = _exercise_meta(cell)
        label, kind = meta.get("label"), meta.get("role")
        source = _source(cell)
        if kind == "answer":
            source = result.answers.get(label, chapter.stub(label))
        result.cells.append({"index": index, "source": source, "role": kind, "label": label})
    return result
