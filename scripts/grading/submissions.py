"""Finding submissions: ``<dir>/<student-id>/<notebook>.ipynb``, or a ``.zip`` of that.

A zip is checked entry by entry before anything is written: entries that would land
outside the folder (absolute paths, ``..``), links, other special files, oversized
files and zip bombs are rejected with a message; the accepted ones are read into
memory (nothing is extracted to disk). In a folder, links are rejected too.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
NOTEBOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\.ipynb$")
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_ZIP_TOTAL_BYTES = 2 * 2**30


@dataclass(frozen=True)
class Submission:
    """One student's notebook, as bytes."""

    student: str
    notebook: str  # the file stem, e.g. "defining_models"
    raw: bytes


@dataclass(frozen=True)
class Rejected:
    """Something in the input that is not graded, and why."""

    where: str
    message: str


def _accept(parts: tuple[str, ...], where: str) -> Rejected | None:
    if len(parts) != 2:
        return Rejected(where, "not of the form <student-id>/<notebook>.ipynb")
    student, name = parts
    if not STUDENT_ID.match(student):
        return Rejected(
            where,
            f"student id {student!r} has characters other than letters, digits, '.', '_', '-', '@'",
        )
    if not NOTEBOOK_NAME.match(name):
        return Rejected(where, f"{name!r} is not a notebook file name")
    return None


def from_folder(
    root: Path, *, max_bytes: int = MAX_NOTEBOOK_BYTES
) -> tuple[list[Submission], list[Rejected]]:
    """The submissions in the folder ``root``."""
    found: list[Submission] = []
    rejected: list[Rejected] = []
    for student_dir in sorted(root.iterdir()):
        where = str(student_dir.relative_to(root))
        if student_dir.is_symlink():
            rejected.append(Rejected(where, "a link: rejected (links are never followed)"))
            continue
        if not student_dir.is_dir():
            if student_dir.suffix == ".ipynb":
                rejected.append(Rejected(where, "not in a student's folder"))
            continue
        for path in sorted(student_dir.iterdir()):
            where = str(path.relative_to(root))
            if path.is_symlink():
                rejected.append(Rejected(where, "a link: rejected (links are never followed)"))
                continue
            if path.suffix != ".ipynb" or not path.is_file():
                continue
            problem = _accept((student_dir.name, path.name), where)
            if problem:
                rejected.append(problem)
                continue
            if path.stat().st_size > max_bytes:
                rejected.append(Rejected(where, f"larger than {max_bytes // 2**20} MiB"))
                continue
            found.append(Submission(student_dir.name, path.stem, path.read_bytes()))
    return found, rejected


def from_zip(
    path: Path, *, max_bytes: int = MAX_NOTEBOOK_BYTES, max_total: int = MAX_ZIP_TOTAL_BYTES
) -> tuple[list[Submission], list[Rejected]]:
    """The submissions in the zip file ``path`` (read in memory; see the module doc).

    A single top-level folder holding the student folders is allowed and dropped."""
    found: list[Submission] = []
    rejected: list[Rejected] = []
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        return [], [Rejected(path.name, f"not a readable zip file: {err}")]
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        names = [i.filename for i in infos]
        tops = {n.split("/", 1)[0] for n in names}
        strip = len(tops) == 1 and all(n.count("/") == 2 for n in names)
        total = 0
        for info in infos:
            name = info.filename
            where = f"{path.name}:{name}"
            mode = info.external_attr >> 16
            if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
                rejected.append(Rejected(where, "an absolute or Windows path: rejected"))
                continue
            parts = PurePosixPath(name).parts
            if ".." in parts or any(p in ("", ".") for p in parts):
                rejected.append(Rejected(where, "would be written outside the folder: rejected"))
                continue
            if stat.S_ISLNK(mode) or stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                rejected.append(Rejected(where, "a link or special file: rejected"))
                continue
            if strip:
                parts = parts[1:]
            problem = _accept(tuple(parts), where)
            if problem:
                rejected.append(problem)
                continue
            if info.file_size > max_bytes:
                rejected.append(Rejected(where, f"larger than {max_bytes // 2**20} MiB"))
                continue
            total += info.file_size
            if total > max_total:
                rejected.append(Rejected(where, "the zip holds too much data: rest rejected"))
                break
            with archive.open(info) as handle:
                raw = handle.read(max_bytes + 1)
            if len(raw) > max_bytes:  # the header lied about the size
                rejected.append(Rejected(where, f"larger than {max_bytes // 2**20} MiB"))
                continue
            found.append(Submission(parts[0], PurePosixPath(parts[1]).stem, raw))
    return found, rejected


def discover(source: Path) -> tuple[list[Submission], list[Rejected]]:
    """Submissions from a folder or a zip; a (student, notebook) given twice is rejected."""
    if source.is_file() and source.suffix == ".zip":
        found, rejected = from_zip(source)
    elif source.is_dir():
        found, rejected = from_folder(source)
    else:
        return [], [Rejected(str(source), "neither a folder nor a .zip file")]
    seen: dict[tuple[str, str], Submission] = {}
    for sub in found:
        key = (sub.student, sub.notebook)
        if key in seen:
            rejected.append(
                Rejected(
                    f"{sub.student}/{sub.notebook}.ipynb",
                    "given twice: the second copy is rejected",
                )
            )
            continue
        seen[key] = sub
    return list(seen.values()), rejected
