"""A batch: the submissions of a folder or zip, graded in parallel into ``OUT``.

Each (student, notebook) is one job on a thread of its own (the work happens in its
box, a process); results are stored by the main thread only. A submission whose hash
and chapter are unchanged since the last run is skipped. A grader bug in one job
becomes an ``error`` for that submission, never the end of the batch.
"""

from __future__ import annotations

import os
import queue
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grading.course import Course
from grading.grade_one import Options, ReferenceStore, _failed_notebook, grade_submission, sha256
from grading.gradebook import Gradebook
from grading.outputs import write_all
from grading.submissions import Rejected, Submission


@dataclass
class BatchReport:
    """What a batch did (printed as the one-screen summary)."""

    graded: int = 0
    skipped: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    flags: Counter = field(default_factory=Counter)


def default_workers() -> int:
    return max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )


def reference_cache(out: Path) -> Path:
    return out / ".cache" / "reference"


def grade_batch(
    course: Course,
    submissions: list[Submission],
    rejected: list[Rejected],
    out: Path,
    *,
    workers: int,
    options: Options,
    progress: bool = True,
    force: bool = False,
) -> BatchReport:
    """Grade ``submissions`` into ``out`` (see the module docstring)."""
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    gradebook = Gradebook(out / "gradebook.sqlite")
    report = BatchReport(rejected=list(rejected))
    references = ReferenceStore(reference_cache(out), options)
    todo = []
    for sub in submissions:
        chapter = course.chapters.get(sub.notebook)
        fingerprint = chapter.fingerprint if chapter else ""
        if not force and gradebook.is_current(
            sub.student, sub.notebook, sha256(sub.raw), fingerprint
        ):
            report.skipped += 1
        else:
            todo.append(sub)
    for name in sorted({s.notebook for s in todo if s.notebook in course.chapters}):
        if progress:
            print(f"reference run of {name} (cached after the first time) ...", flush=True)
        references.get(course.chapters[name], slot=workers)
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(workers):
        slots.put(slot)

    def job(sub: Submission) -> dict[str, Any]:
        slot = slots.get()
        try:
            return grade_submission(
                course,
                sub.student,
                sub.notebook,
                sub.raw,
                references=references,
                options=options,
                slot=slot,
            )
        except Exception as err:  # a grader bug costs this submission, not the batch
            message = f"internal grader error: {type(err).__name__}: {err}"
            traceback.print_exc()
            chapter = course.chapters.get(sub.notebook)
            return {
                "student": sub.student,
                "notebook": sub.notebook,
                "sha256": "",
                "fingerprint": "",
                "status": "error",
                "message": message,
                "rows": _failed_notebook(chapter, message),
            }
        finally:
            slots.put(slot)

    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="notebook", desc="grading")
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(job, sub) for sub in todo]
            for future in as_completed(futures):
                result = future.result()
                gradebook.store(result)
                report.graded += 1
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    write_all(gradebook, out, report.rejected)
    for row in gradebook.rows():
        report.statuses[row["status"]] += 1
        report.flags.update(row["flags"])
    gradebook.close()
    report.seconds = time.monotonic() - started
    return report


def summary_text(report: BatchReport, out: Path) -> str:
    """The one-screen summary printed at the end of a batch."""
    import csv

    lines = [
        f"Graded {report.graded} notebook(s), skipped {report.skipped} unchanged, "
        f"rejected {len(report.rejected)} input(s), in {report.seconds:.1f} s."
    ]
    if report.statuses:
        lines.append(
            "Exercises: " + ", ".join(f"{n} {s}" for s, n in sorted(report.statuses.items()))
        )
    if report.flags:
        lines.append("Flags: " + ", ".join(f"{n} {f}" for f, n in sorted(report.flags.items())))
    for item in report.rejected[:10]:
        lines.append(f"  rejected {item.where}: {item.message}")
    if len(report.rejected) > 10:
        lines.append(f"  ... and {len(report.rejected) - 10} more (rejected.csv)")
    summary = out / "summary.csv"
    if summary.exists():
        with open(summary, encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if rows:
            totals = sorted(float(r["total"]) for r in rows)
            lines.append(
                f"Students: {len(rows)}; total points min {totals[0]:g}, median "
                f"{totals[len(totals) // 2]:g}, max {totals[-1]:g} of "
                f"{rows[0]['max_total']}."
            )
    lines.append(
        f"Wrote {out / 'grades.csv'}, {summary}, {out / 'gradebook.sqlite'}, "
        f"{out / 'feedback'}/<student>/<notebook>.html"
    )
    return "\n".join(lines)
