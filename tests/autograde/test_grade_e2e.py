"""End to end: ``scripts/grade.py`` on real submissions built from the student edition
of "Defining models" (the cheapest chapter to run), asserting exact statuses and points.

Cost: about 100-150 s on the 2-core reference machine (17 submissions, 14 of them run in
a box, two boxes at a time, plus one reference run; see ``make unit``). Most
adversarial submissions leave the design exercise (ex-6, which trains a network)
untouched, so that their box runs take a few seconds.
Needs bubblewrap (``make setup`` installs it); skipped, saying so, without it.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from autograde.builders import ROOT, solutions, source_notebook, submission, write

sys.path.insert(0, str(ROOT / "scripts"))
from grading.sandbox import sandbox_problem  # noqa: E402

NB = "defining_models"
EX = [f"defining-models-ex-{n}" for n in range(1, 7)]
POINTS = dict(zip(EX, [1, 1, 1, 1, 1, 2], strict=True))
STUB_6 = True  # adversarial submissions leave ex-6 as the stub (no training: cheap)

pytestmark = pytest.mark.skipif(
    sandbox_problem() is not None, reason=f"no sandbox: {sandbox_problem()}"
)

WRONG_COUNT = """
def count_layers(model, layer_type):
    return sum(isinstance(m, layer_type) for m in model.children())
"""

PATCHED = """
import math
import torch
import tutorial_lib.exercises.core as core
import tutorial_lib.exercises.reporting as reporting
import tutorial_lib.exercises.defining_models as dm
import tutorial_lib.exercises.defining_models.count_layers as cl

math.isclose = lambda *a, **k: True
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
core.compare = cl.compare = lambda *a, **k: None
reporting.CheckFailed = type("CheckFailed", (Exception,), {})
dm.check_count_layers = lambda *a, **k: print("✅ count_layers: all 8 hidden cases counted right")


def count_layers(model, layer_type):
    return 0
"""

FORGED_EQ = """
class Anything(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


def count_layers(model, layer_type):
    return Anything(0)
"""

WRONG_POOLER = """
class Pooler(nn.Module):
    def __init__(self):
        super().__init__()
        self.pools = nn.ModuleDict({"max": nn.AvgPool2d(2), "avg": nn.AvgPool2d(2)})

    def forward(self, x, kind):
        return self.pools[kind](x)
"""

FORK_BOMB = """
import os
while True:
    os.fork()
"""


def snoop(root: Path, subs: Path, out: Path) -> str:
    targets = [
        root / "book" / f"{NB}.ipynb",
        root / "scripts" / "grading" / "grade_one.py",
        subs / "alice" / f"{NB}.ipynb",
        out / "gradebook.sqlite",
        out / "grades.csv",
    ]
    writes = [
        out / "grades.csv",
        out / "gradebook.sqlite",
        out / "pwned.txt",
        subs / "pwned.txt",
        root / "pwned.txt",
        Path("/tmp/pwned-by-kate.txt"),
        Path.home() / "pwned-by-kate.txt",
    ]
    return (
        f"""
import pathlib
for path in {[str(p) for p in targets]!r}:
    try:
        print("READ", path, repr(pathlib.Path(path).read_bytes()[:40]))
    except Exception as err:
        print("NOREAD", path, type(err).__name__)
for path in {[str(p) for p in writes]!r}:
    try:
        with open(path, "a") as handle:
            handle.write("KATE" + "-WAS-HERE")
        print("WROTE", path)
    except Exception as err:
        print("NOWRITE", path, type(err).__name__)
""",
        writes,
    )


def _grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "grade.py"), *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


def _rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(out / "grades.csv", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [
            "student",
            "notebook",
            "exercise",
            "status",
            "points",
            "max_points",
            "flags",
            "message",
        ]
        return {(r["student"], r["exercise"]): r for r in reader}


def _leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("course-grader-*")}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    subs, out = base / "submissions", base / "out"
    right = solutions(NB)
    cheap = {**right, EX[5]: None} if STUB_6 else dict(right)
    cheap = {k: v for k, v in cheap.items() if v is not None}

    def put(student: str, answers: dict[str, str] | None = None, **kw) -> None:
        write(submission(NB, answers, **kw), subs / student / f"{NB}.ipynb")

    put("alice", right)  # correct
    put("bob")  # blank
    put("carol", {**cheap, EX[4]: WRONG_COUNT})  # one wrong answer
    put("dave", {**cheap, EX[4]: PATCHED})  # patched checks, wrong
    put("erin", {**cheap, EX[4]: FORGED_EQ})  # forged __eq__
    put(
        "frank",
        {**cheap, EX[3]: WRONG_POOLER},  # edited check, wrong
        checks={EX[3]: 'print("✅ Pooler: ModuleDict with max and avg")'},
    )
    put("grace", {**cheap, EX[2]: "while True:\n    pass\n"})  # infinite loop
    put("heidi", {**cheap, EX[0]: "import os\nos._exit(3)\n"})  # os._exit
    put("ivan", {**cheap, EX[1]: "hog = bytearray(64 * 2**30)\n"})  # memory bomb
    put("judy", {**cheap, EX[4]: FORK_BOMB})  # fork bomb
    code, kate_writes = snoop(ROOT, subs, out)
    put("kate", {**cheap, EX[0]: code + "\n" + cheap[EX[0]]})  # snoops, then correct
    noisy = cheap[EX[4]].replace(
        "    return",
        "    import sys, warnings\n    warnings.warn('careful')\n"
        "    print('noise', file=sys.stderr)\n    return",
    )
    put("leo", {**cheap, EX[4]: noisy})  # correct, warns on stderr
    write('{"cells": [', subs / "mia" / f"{NB}.ipynb")  # malformed JSON
    unet = submission("unet")  # wrong chapter
    write(unet, subs / "oscar" / f"{NB}.ipynb")
    dup = submission(NB, cheap)
    at = next(
        i
        for i, c in enumerate(dup["cells"])
        if c["metadata"].get("exercise", {}).get("role") == "answer"
    )
    dup["cells"].insert(at, json.loads(json.dumps(dup["cells"][at])))
    write(dup, subs / "peter" / f"{NB}.ipynb")  # duplicated answer cell
    before = _leftovers()
    done = _grade(
        "grade",
        str(subs),
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-progress",
        "--exercise-timeout",
        "20",
        "--notebook-timeout",
        "150",
        "--memory-mb",
        "4096",
        "--max-processes",
        "64",
    )
    return {
        "subs": subs,
        "out": out,
        "done": done,
        "writes": kate_writes,
        "before": before,
        "base": base,
    }


def _expect(rows, student, statuses):
    got = {ex: rows[(student, ex)]["status"] for ex in EX}
    assert got == dict(zip(EX, statuses, strict=True)), (
        student,
        got,
        {ex: rows[(student, ex)]["message"] for ex in EX},
    )
    return sum(float(rows[(student, ex)]["points"]) for ex in EX)


P, F, N, E, T = "passed", "failed", "not-attempted", "error", "timeout"
CHEAP = [P, P, P, P, P, N]


def test_exact_statuses_and_points(batch):
    assert batch["done"].returncode == 0, batch["done"].stderr[-3000:]
    rows = _rows(batch["out"])
    assert _expect(rows, "alice", [P] * 6) == 7
    assert _expect(rows, "bob", [N] * 6) == 0
    assert _expect(rows, "carol", [P, P, P, P, F, N]) == 4
    assert _expect(rows, "dave", [P, P, P, P, F, N]) == 4
    assert _expect(rows, "erin", [P, P, P, P, F, N]) == 4
    assert _expect(rows, "frank", [P, P, P, F, P, N]) == 4
    assert _expect(rows, "grace", [P, P, T, P, P, N]) == 4
    assert _expect(rows, "heidi", [E, P, P, P, P, N]) == 4
    assert _expect(rows, "ivan", [P, E, P, P, P, N]) == 4
    assert _expect(rows, "judy", [P, P, P, P, E, N]) == 4
    assert _expect(rows, "kate", CHEAP) == 5
    assert _expect(rows, "leo", CHEAP) == 5
    assert _expect(rows, "mia", [E] * 6) == 0
    assert _expect(rows, "oscar", [E] * 6) == 0
    assert _expect(rows, "peter", [E, P, P, P, P, N]) == 4
    assert "malformed JSON" in rows[("mia", EX[0])]["message"]
    assert "wrong chapter" in rows[("oscar", EX[0])]["message"]
    assert "duplicated-answer-cell" in rows[("peter", EX[0])]["flags"]
    assert "edited-check-cell" in rows[("frank", EX[3])]["flags"]
    assert "stderr-output" in rows[("leo", EX[4])]["flags"]
    assert "MemoryError" in rows[("ivan", EX[1])]["message"]
    assert "20 s" in rows[("grace", EX[2])]["message"]
    assert "children()" not in rows[("carol", EX[4])]["message"] or True
    with open(batch["out"] / "summary.csv", encoding="utf-8") as handle:
        summary = {r["student"]: r for r in csv.DictReader(handle)}
    assert summary["alice"]["total"] == "7" and summary["alice"][NB] == "7"
    assert summary["kate"]["total"] == "5" and summary["bob"]["max_total"] == "7"


def test_the_box_kept_everything_in(batch):
    for path in batch["writes"]:
        assert not Path(path).exists() or "KATE-WAS-HERE" not in Path(path).read_text(
            errors="replace"
        ), path
    db = sqlite3.connect(batch["out"] / "gradebook.sqlite")
    output = db.execute(
        "SELECT output FROM results WHERE student = 'kate' AND exercise = ?", (EX[0],)
    ).fetchone()[0]
    db.close()
    lines = output.splitlines()
    assert not [line for line in lines if line.startswith("READ ")], output
    assert sum(line.startswith("NOREAD ") for line in lines) == 5, output
    # the one write that works goes to the box's private /tmp, gone with the box
    assert [line for line in lines if line.startswith("WROTE ")] == [
        "WROTE /tmp/pwned-by-kate.txt"
    ], output
    assert sum(line.startswith("NOWRITE ") for line in lines) == 6, output
    assert _leftovers() <= batch["before"]
    assert not list(batch["subs"].rglob("pwned*")) and not list(batch["out"].rglob("pwned*"))


def test_gradebook_valid_feedback_escaped_and_summary(batch):
    out = batch["out"]
    db = sqlite3.connect(out / "gradebook.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 15
    assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 15 * 6
    db.close()
    page = (out / "feedback" / "frank" / f"{NB}.html").read_text()
    assert "edited-check-cell" in page and "<script" not in page
    solution = solutions(NB)[EX[4]].strip().splitlines()[-1].strip()
    for student in ("alice", "carol"):
        text = (out / "feedback" / student / f"{NB}.html").read_text()
        assert solution not in text
    assert "Graded 15 notebook(s)" in batch["done"].stdout


def test_regrade_skips_unchanged_and_keeps_overrides(batch):
    out, subs = batch["out"], batch["subs"]
    done = _grade(
        "override",
        "--out",
        str(out),
        "--student",
        "carol",
        "--notebook",
        NB,
        "--exercise",
        EX[4],
        "--points",
        "0.5",
        "--reason",
        "partly right, by hand",
    )
    assert done.returncode == 0, done.stderr
    done = _grade("grade", str(subs), "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "skipped 15 unchanged" in done.stdout
    row = _rows(out)[("carol", EX[4])]
    assert row["points"] == "0.5" and "override" in row["flags"].split(";")
    assert "partly right, by hand" in row["message"]


def test_zip_entries_outside_the_folder_are_rejected(batch):
    base = batch["base"]
    archive = base / "handin.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("nina/defining_models.ipynb", '{"cells": [')
        zf.writestr("../escaped.ipynb", "{}")
        zf.writestr("nina/../../escaped2.ipynb", "{}")
        zf.writestr("/abs/escaped3.ipynb", "{}")
        link = zipfile.ZipInfo("nina/link.ipynb")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    out = base / "zip-out"
    done = _grade("grade", str(archive), "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    with open(out / "rejected.csv", encoding="utf-8") as handle:
        rejected = {r["where"]: r["message"] for r in csv.DictReader(handle)}
    assert len(rejected) == 4, rejected
    assert "outside" in rejected["handin.zip:../escaped.ipynb"]
    assert "link" in rejected["handin.zip:nina/link.ipynb"]
    assert _rows(out)[("nina", EX[0])]["status"] == "error"
    for name in ("escaped.ipynb", "escaped2.ipynb", "escaped3.ipynb"):
        assert not any(p.exists() for p in (base / name, base.parent / name, Path("/abs") / name))
    assert not (out / "nina").exists()


def test_grade_one_and_merge(batch, tmp_path):
    subs = batch["subs"]
    results = tmp_path / "results"
    for student in ("bob", "mia"):
        done = _grade(
            "grade-one",
            str(subs / student / f"{NB}.ipynb"),
            "--student",
            student,
            "--result",
            str(results / f"{student}.json"),
            "--cache",
            str(batch["out"] / ".cache" / "reference"),
            "--memory-mb",
            "4096",
        )
        assert done.returncode == 0, done.stderr
    out = tmp_path / "merged"
    done = _grade("grade", "--merge", str(results), "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = _rows(out)
    assert [rows[("bob", ex)]["status"] for ex in EX] == [N] * 6
    assert [rows[("mia", ex)]["status"] for ex in EX] == [E] * 6
    assert os.path.exists(out / "feedback" / "bob" / f"{NB}.html")


def test_refuses_without_a_sandbox(tmp_path):
    env = dict(os.environ, PATH="/nonexistent")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "grade.py"),
            "grade",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0 and "refusing" in done.stderr and "--unsafe" in done.stderr


def test_source_notebook_is_readable():
    assert source_notebook(NB)["cells"]
