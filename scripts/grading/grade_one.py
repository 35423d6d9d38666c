"""Grading one (student, notebook): run it in a box, compare with the reference, decide.

:func:`grade_submission` returns the result as a JSON-ready dict (what ``grade-one``
writes and ``grade --merge`` reads): the submission's hash, the chapter's fingerprint,
a notebook-level status and one row per exercise with status, points, flags, message
and the student's own output (for the feedback page).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradebox.compare import difference
from gradebox.probes import probes_for

from grading.assemble import SubmissionError, assemble, parse_notebook
from grading.course import Chapter, Course
from grading.sandbox import Limits, run_box

RESULT_VERSION = 1
STATUSES = ("passed", "failed", "not-attempted", "error", "timeout")
FLAG_STDERR = "stderr-output"
FLAG_RESTARTED = "notebook-restarted"
NO_PROBE = (
    "not gradable automatically yet: this exercise has no probe in "
    "scripts/gradebox/probes (grade it by hand and record it with 'override')"
)
OUTPUT_CHARS = 4_000


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass
class Options:
    """How boxes are run."""

    limits: Limits = field(default_factory=Limits)
    hide: list[Path] = field(default_factory=list)
    unsafe: bool = False


class ReferenceStore:
    """The reference solution's probe data per chapter, computed once in a box and
    cached as JSON in ``cache`` (keyed by the chapter's fingerprint)."""

    def __init__(self, cache: Path, options: Options) -> None:
        self.cache = cache
        self.options = options
        self.memory: dict[str, dict[str, Any]] = {}

    def get(self, chapter: Chapter, *, slot: int = 0) -> dict[str, Any]:
        key = f"{chapter.name}-{chapter.fingerprint}"
        if key in self.memory:
            return self.memory[key]
        path = self.cache / f"{key}.json"
        if path.exists():
            self.memory[key] = json.loads(path.read_text())
            return self.memory[key]
        job = {"notebook": chapter.name, "cells": chapter.reference_cells(), "threads": 1}
        limits = self.options.limits
        ref_limits = Limits(
            exercise_s=limits.exercise_s * 3,
            notebook_s=limits.notebook_s * 3,
            memory_mb=limits.memory_mb,
            processes=limits.processes,
            file_mb=limits.file_mb,
        )
        run = run_box(
            job,
            submission=None,
            slot=slot,
            limits=ref_limits,
            hide=self.options.hide,
            unsafe=self.options.unsafe,
        )
        data = {e["label"]: e for e in run.events if e.get("event") == "result"}
        reference = {
            "labels": data,
            "complete": any(e.get("event") == "done" for e in run.events),
            "stderr": run.stderr[-4000:],
        }
        self.cache.mkdir(parents=True, exist_ok=True)
        if reference["complete"]:  # atomically: grade-one jobs may share the cache
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(reference))
            tmp.replace(path)
        self.memory[key] = reference
        return reference


def _row(
    label: str,
    status: str,
    points: float,
    max_points: float,
    flags: list[str],
    message: str,
    output: str = "",
) -> dict[str, Any]:
    return {
        "exercise": label,
        "status": status,
        "points": points,
        "max_points": max_points,
        "flags": sorted(set(flags)),
        "message": message,
        "output": output[-OUTPUT_CHARS:],
    }


def _failed_notebook(
    chapter: Chapter | None, message: str, status: str = "error"
) -> list[dict[str, Any]]:
    if chapter is None:
        return [_row("", status, 0, 0, [], message)]
    return [_row(label, status, 0, chapter.points[label], [], message) for label in chapter.labels]


def grade_submission(
    course: Course,
    student: str,
    notebook: str,
    raw: bytes,
    *,
    references: ReferenceStore,
    options: Options,
    slot: int = 0,
) -> dict[str, Any]:
    """Grade the submission ``raw`` of ``student`` for ``notebook`` (see the module doc)."""
    started = time.monotonic()
    result: dict[str, Any] = {
        "version": RESULT_VERSION,
        "student": student,
        "notebook": notebook,
        "sha256": sha256(raw),
        "fingerprint": "",
        "status": "graded",
        "message": "",
        "rows": [],
    }
    chapter = course.chapters.get(notebook)
    if chapter is None:
        result.update(
            status="error",
            message=(
                f"{notebook}.ipynb is not a notebook of the course with exercises; expected one "
                f"of {', '.join(sorted(course.chapters))}"
            ),
        )
        result["rows"] = _failed_notebook(None, result["message"])
        return result
    result["fingerprint"] = chapter.fingerprint
    try:
        assembled = assemble(parse_notebook(raw), chapter, course)
    except SubmissionError as err:
        result.update(status="error", message=str(err))
        result["rows"] = _failed_notebook(chapter, str(err))
        return result
    probes = probes_for(notebook)
    reference = references.get(chapter, slot=slot)
    if not reference["complete"]:
        message = "the reference solution did not run to the end in the box (a course bug)"
        result.update(status="error", message=message)
        result["rows"] = _failed_notebook(chapter, message)
        return result
    verdicts: dict[str, dict[str, Any]] = {}
    events: dict[str, dict[str, Any]] = {}
    skip = set(assembled.problems)
    limits = options.limits
    deadline = time.monotonic() + limits.notebook_s
    restarts = 0
    notebook_problem = ""
    while True:
        job = {
            "notebook": notebook,
            "cells": assembled.cells,
            "skip": sorted(skip),
            "stubs": {label: chapter.stub(label) for label in chapter.labels},
            "threads": 1,
        }
        run = run_box(
            job,
            submission=raw,
            slot=slot,
            limits=limits,
            hide=options.hide,
            unsafe=options.unsafe,
            deadline=deadline,
        )
        for event in run.events:
            if event.get("event") == "result" and event.get("label") not in events:
                events[event["label"]] = event
        done = any(e.get("event") == "done" for e in run.events)
        if done:
            break
        label = run.running
        if label is not None and label not in verdicts and label not in events:
            if run.killed and run.killed.startswith("exercise"):
                verdicts[label] = _row(
                    label,
                    "timeout",
                    0,
                    chapter.points[label],
                    [],
                    f"ran for more than {limits.exercise_s:g} s (the limit "
                    "per exercise) and was stopped",
                )
            elif run.killed == "notebook":
                verdicts[label] = _row(
                    label,
                    "timeout",
                    0,
                    chapter.points[label],
                    [],
                    f"the notebook ran past its limit of "
                    f"{limits.notebook_s:g} s during this exercise",
                )
            else:
                verdicts[label] = _row(
                    label, "error", 0, chapter.points[label], [], _crash_message(run)
                )
            skip.add(label)
        if run.killed == "notebook" or label is None or time.monotonic() >= deadline:
            notebook_problem = (
                f"the notebook ran past its limit of {limits.notebook_s:g} s"
                if run.killed == "notebook" or time.monotonic() >= deadline
                else _crash_message(run, where="outside the exercises")
            )
            break
        remaining = [
            lb
            for lb in chapter.labels
            if lb not in verdicts and lb not in events and lb not in skip
        ]
        if not remaining:
            break
        restarts += 1  # run again from the top with the offending answer replaced by its stub
    for label in chapter.labels:
        if label in verdicts:
            continue
        points = chapter.points[label]
        flags = list(assembled.flags.get(label, []))
        if restarts:
            flags.append(FLAG_RESTARTED)
        if label in assembled.problems:
            verdicts[label] = _row(label, "error", 0, points, flags, assembled.problems[label])
            continue
        event = events.get(label)
        if event is None:
            status = "timeout" if "limit" in notebook_problem else "error"
            verdicts[label] = _row(
                label,
                status,
                0,
                points,
                flags,
                notebook_problem or "the notebook stopped before this exercise",
            )
            continue
        verdicts[label] = _decide(
            label, points, flags, event, probes.get(label), reference["labels"].get(label)
        )
    result["rows"] = [verdicts[label] for label in chapter.labels]
    result["seconds"] = round(time.monotonic() - started, 2)
    if notebook_problem:
        result["message"] = notebook_problem
    return result


def _crash_message(run: Any, where: str = "") -> str:
    code = run.returncode
    how = "was killed by a signal" if code is not None and code < 0 else f"exited (code {code})"
    tail = [line for line in run.stderr.splitlines() if line.strip()][-1:]
    hint = ""
    if "MemoryError" in run.stderr or code in (-9, 137):
        hint = " (out of memory, or killed)"
    said = f": {tail[0][:300]}" if tail else ""
    return f"the Python process {how}{' ' + where if where else ''}{hint}{said}"


def _decide(
    label: str,
    points: float,
    flags: list[str],
    event: dict[str, Any],
    probe: Any,
    ref: dict[str, Any] | None,
) -> dict[str, Any]:
    output = ""
    if event.get("stdout"):
        output += str(event["stdout"])
    if event.get("stderr"):
        flags.append(FLAG_STDERR)
        output += ("\n" if output else "") + str(event["stderr"])
    check = str(event.get("check_message") or "")
    said = f" The notebook's check said: {check}" if check and not check.startswith("✅") else ""
    if event.get("no_probe") or probe is None:
        return _row(label, "error", 0, points, flags, NO_PROBE, output)
    if event.get("not_attempted"):
        return _row(
            label,
            "not-attempted",
            0,
            points,
            flags,
            "not attempted (the code still raises NotImplementedError)",
            output,
        )
    error = event.get("answer_error")
    if error and error.get("type") != "NotImplementedError":
        return _row(
            label,
            "error",
            0,
            points,
            flags,
            f"your answer cell raised {error.get('type')}: {error.get('message')}",
            output,
        )
    if "missing" in event:
        return _row(
            label,
            "failed",
            0,
            points,
            flags,
            f"the answer cell does not define {probe.name!r}",
            output,
        )
    if ref is None or "data" not in ref:
        return _row(
            label,
            "error",
            0,
            points,
            flags,
            "the reference solution gave no data for this exercise (a course bug)",
            output,
        )
    got, expected = event.get("data"), ref["data"]
    if probe.judge is not None:
        problem = probe.judge(got, expected)
    else:
        problem = difference(got, expected, rtol=probe.rtol, atol=probe.atol)
    if problem is None:
        return _row(label, "passed", points, points, flags, f"passed: {probe.passed}.", output)
    return _row(label, "failed", 0, points, flags, f"{problem}.{said}", output)
