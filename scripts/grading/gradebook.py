"""The SQLite gradebook: students, submissions (with a content hash), results, overrides.

Only the grader process writes it, one transaction per submission, so an interrupted
batch leaves it valid. A submission whose hash and chapter fingerprint are unchanged
is not graded again; manual overrides (:meth:`Gradebook.set_override`) survive
re-grading and are applied when the grades are read (:meth:`Gradebook.rows`).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS students (
    id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS submissions (
    student TEXT NOT NULL REFERENCES students(id),
    notebook TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    graded_at TEXT NOT NULL,
    seconds REAL,
    PRIMARY KEY (student, notebook)
);
CREATE TABLE IF NOT EXISTS results (
    student TEXT NOT NULL,
    notebook TEXT NOT NULL,
    exercise TEXT NOT NULL,
    position INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('passed', 'failed', 'not-attempted', 'error', 'timeout')),
    points REAL NOT NULL,
    max_points REAL NOT NULL,
    flags TEXT NOT NULL,
    message TEXT NOT NULL,
    output TEXT NOT NULL,
    PRIMARY KEY (student, notebook, exercise),
    FOREIGN KEY (student, notebook) REFERENCES submissions(student, notebook)
);
CREATE TABLE IF NOT EXISTS overrides (
    student TEXT NOT NULL,
    notebook TEXT NOT NULL,
    exercise TEXT NOT NULL,
    points REAL NOT NULL,
    reason TEXT NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (student, notebook, exercise)
);
"""

FLAG_OVERRIDE = "override"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Gradebook:
    """The gradebook at ``path`` (created with its schema when missing)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def is_current(self, student: str, notebook: str, sha256: str, fingerprint: str) -> bool:
        """Whether this exact submission was graded against this version of the chapter."""
        row = self.db.execute(
            "SELECT sha256, fingerprint FROM submissions WHERE student = ? AND notebook = ?",
            (student, notebook),
        ).fetchone()
        return row is not None and row[0] == sha256 and row[1] == fingerprint and bool(fingerprint)

    def store(self, result: dict[str, Any]) -> None:
        """Replace the results of ``result``'s (student, notebook), in one transaction."""
        key = (result["student"], result["notebook"])
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO students (id) VALUES (?)", (key[0],))
            self.db.execute("DELETE FROM results WHERE student = ? AND notebook = ?", key)
            self.db.execute(
                "INSERT OR REPLACE INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    result["sha256"],
                    result.get("fingerprint", ""),
                    result["status"],
                    result.get("message", ""),
                    _now(),
                    result.get("seconds"),
                ),
            )
            self.db.executemany(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *key,
                        row["exercise"],
                        position,
                        row["status"],
                        float(row["points"]),
                        float(row["max_points"]),
                        ";".join(row["flags"]),
                        row["message"],
                        row.get("output", ""),
                    )
                    for position, row in enumerate(result["rows"])
                ],
            )

    def set_override(
        self, student: str, notebook: str, exercise: str, points: float, reason: str
    ) -> None:
        if not reason.strip():
            raise ValueError("an override needs a reason (--reason)")
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO overrides VALUES (?, ?, ?, ?, ?, ?)",
                (student, notebook, exercise, float(points), reason, _now()),
            )

    def clear_override(self, student: str, notebook: str, exercise: str) -> bool:
        with self.db:
            done = self.db.execute(
                "DELETE FROM overrides WHERE student = ? AND notebook = ? AND exercise = ?",
                (student, notebook, exercise),
            )
        return done.rowcount > 0

    def has_result(self, student: str, notebook: str, exercise: str) -> bool:
        return (
            self.db.execute(
                "SELECT 1 FROM results WHERE student = ? AND notebook = ? AND exercise = ?",
                (student, notebook, exercise),
            ).fetchone()
            is not None
        )

    def rows(self) -> list[dict[str, Any]]:
        """Every result with overrides applied, ordered by student, notebook, exercise."""
        query = """
            SELECT r.student, r.notebook, r.exercise, r.status, r.points, r.max_points,
                   r.flags, r.message, r.output, o.points, o.reason
            FROM results r LEFT JOIN overrides o
              ON o.student = r.student AND o.notebook = r.notebook AND o.exercise = r.exercise
            ORDER BY r.student, r.notebook, r.position"""
        out = []
        for (
            student,
            notebook,
            exercise,
            status,
            points,
            max_points,
            flags,
            message,
            output,
            o_points,
            o_reason,
        ) in self.db.execute(query):
            flag_list = [f for f in flags.split(";") if f]
            if o_points is not None:
                points = o_points
                flag_list.append(FLAG_OVERRIDE)
                message = f"points set by hand to {o_points:g}: {o_reason} (grader: {message})"
            out.append(
                {
                    "student": student,
                    "notebook": notebook,
                    "exercise": exercise,
                    "status": status,
                    "points": points,
                    "max_points": max_points,
                    "flags": flag_list,
                    "message": message,
                    "output": output,
                }
            )
        return out

    def submissions(self) -> list[dict[str, Any]]:
        cols = (
            "student",
            "notebook",
            "sha256",
            "fingerprint",
            "status",
            "message",
            "graded_at",
            "seconds",
        )
        return [
            dict(zip(cols, row, strict=True))
            for row in self.db.execute(
                f"SELECT {', '.join(cols)} FROM submissions ORDER BY student, notebook"
            )
        ]

    def integrity(self) -> str:
        """``"ok"`` when SQLite finds the file and its foreign keys consistent."""
        check = self.db.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            return check
        broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
        return "ok" if not broken else f"foreign keys broken: {json.dumps(broken)[:200]}"
