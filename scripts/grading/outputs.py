"""What a batch writes into ``OUT``: ``grades.csv``, ``summary.csv``, ``rejected.csv``
and the feedback pages, all from the gradebook (so ``override`` and ``--merge``
rewrite them the same way)."""

from __future__ import annotations

import csv
import html
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from grading.submissions import Rejected

GRADES_COLUMNS = [
    "student",
    "notebook",
    "exercise",
    "status",
    "points",
    "max_points",
    "flags",
    "message",
]
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


def _cell(text: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (student text reaches
    the messages)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _points(value: float) -> str:
    return f"{value:g}"


def write_grades(rows: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(GRADES_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row["student"],
                    row["notebook"],
                    row["exercise"],
                    row["status"],
                    _points(row["points"]),
                    _points(row["max_points"]),
                    ";".join(row["flags"]),
                    _cell(row["message"]),
                ]
            )


def write_summary(rows: list[dict[str, Any]], path: Path) -> None:
    """One row per student: total, maximum, then points per notebook."""
    notebooks = sorted({row["notebook"] for row in rows})
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    most: dict[str, float] = defaultdict(float)
    for row in rows:
        per[row["student"]][row["notebook"]] += row["points"]
        most[row["student"]] += row["max_points"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "total", "max_total", *notebooks])
        for student in sorted(per):
            writer.writerow(
                [
                    student,
                    _points(sum(per[student].values())),
                    _points(most[student]),
                    *[_points(per[student].get(nb, 0)) for nb in notebooks],
                ]
            )


def write_rejected(rejected: list[Rejected], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["where", "message"])
        for item in rejected:
            writer.writerow([item.where, item.message])


STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4rem;
vertical-align:top;text-align:left}.passed{background:#e8f5e9}.failed,.error,.timeout
{background:#ffebee}.not-attempted{background:#fff8e1}pre{white-space:pre-wrap;
max-height:20rem;overflow:auto;background:#f6f6f6;padding:.4rem}"""


def feedback_page(
    student: str, notebook: str, rows: list[dict[str, Any]], submission: dict[str, Any] | None
) -> str:
    """The feedback page of one (student, notebook): every text escaped."""
    e = html.escape
    total = sum(r["points"] for r in rows)
    most = sum(r["max_points"] for r in rows)
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(notebook)} "
        f"— {e(student)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{e(notebook)}</h1><p>Student: <b>{e(student)}</b>. Points: "
        f"<b>{_points(total)} / {_points(most)}</b>.</p>",
    ]
    if submission and submission.get("message"):
        parts.append(f"<p><b>Note:</b> {e(submission['message'])}</p>")
    parts.append(
        "<table><tr><th>exercise</th><th>status</th><th>points</th><th>what the "
        "grader found</th></tr>"
    )
    for row in rows:
        flags = f"<br><small>flags: {e(', '.join(row['flags']))}</small>" if row["flags"] else ""
        output = (
            f"<details><summary>your output</summary><pre>{e(row['output'])}</pre></details>"
            if row.get("output")
            else ""
        )
        parts.append(
            f"<tr class='{e(row['status'])}'><td>{e(row['exercise'] or '(notebook)')}</td>"
            f"<td>{e(row['status'])}</td><td>{_points(row['points'])} / "
            f"{_points(row['max_points'])}</td><td>{e(row['message'])}{flags}{output}</td></tr>"
        )
    parts.append("</table></body></html>\n")
    return "".join(parts)


def write_feedback(
    rows: list[dict[str, Any]], submissions: list[dict[str, Any]], folder: Path
) -> int:
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_key[(row["student"], row["notebook"])].append(row)
    subs = {(s["student"], s["notebook"]): s for s in submissions}
    written = 0
    for (student, notebook), group in sorted(by_key.items()):
        if not (SAFE_NAME.match(student) and SAFE_NAME.match(notebook)):
            continue  # names were checked when found; never build a path from anything else
        target = folder / student / f"{notebook}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            feedback_page(student, notebook, group, subs.get((student, notebook))), encoding="utf-8"
        )
        written += 1
    return written


def write_all(gradebook: Any, out: Path, rejected: list[Rejected] | None = None) -> None:
    """Every output file of ``out`` from the gradebook."""
    rows = gradebook.rows()
    write_grades(rows, out / "grades.csv")
    write_summary(rows, out / "summary.csv")
    write_feedback(rows, gradebook.submissions(), out / "feedback")
    if rejected is not None:
        write_rejected(rejected, out / "rejected.csv")
