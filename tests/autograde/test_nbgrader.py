"""``make nbgrader-source``, then a real nbgrader ``generate_assignment`` -> ``autograde``
on a correct and a blank submission of "Defining models".

nbgrader is an optional extra (``pip install -e .[grading]``): the test installs the
pinned version into ``_build/nbgrader-pkgs`` (``pip --target``, about 25 s the first
time, nothing after) and skips, saying so, when it cannot. Cost: about 40-60 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograde.builders import ROOT, solutions

PKGS = ROOT / "_build" / "nbgrader-pkgs"
NB = "defining_models"


def _nbgrader_env() -> dict[str, str]:
    if not (PKGS / "nbgrader").is_dir():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "--target",
                str(PKGS),
                "nbgrader>=0.9.6,<0.10",
                "-c",
                str(ROOT / "constraints.txt"),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            pytest.skip(f"could not install nbgrader: {done.stderr.strip()[-500:]}")
    return dict(
        os.environ,
        PYTHONPATH=str(PKGS),
        PATH=f"{PKGS / 'bin'}:{os.environ['PATH']}",
        TUTORIAL_STRICT="0",
        OMP_NUM_THREADS="1",
        MPLBACKEND="Agg",
    )


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def test_nbgrader_source_metadata(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from grading.nbgrader_source import write_nbgrader_source

    [path] = [p for p in write_nbgrader_source(tmp_path) if p.stem == NB]
    nb = json.loads(path.read_text())
    metas = [c["metadata"]["nbgrader"] for c in nb["cells"]]
    assert all(m["schema_version"] == 3 for m in metas)
    answers = [c for c in nb["cells"] if c["metadata"]["nbgrader"]["solution"]]
    checks = [m for m in metas if m["grade"]]
    assert len(answers) == 6 and all("### BEGIN SOLUTION" in c["source"] for c in answers)
    assert [m["points"] for m in checks] == [1, 1, 1, 1, 1, 2]
    assert all(m["locked"] for m in metas if not m["solution"])
    assert len({m["grade_id"] for m in metas}) == len(metas)
    assert not any("solution" in c["metadata"].get("tags", []) for c in nb["cells"])


def test_generate_assignment_then_autograde(tmp_path):
    env = _nbgrader_env()
    course = tmp_path / "course"
    _run(
        [
            sys.executable,
            str(ROOT / "scripts" / "grade.py"),
            "nbgrader-source",
            "--out",
            str(course),
        ],
        ROOT,
        env,
    )
    nbgrader = [sys.executable, "-c", "from nbgrader.apps.nbgraderapp import main; main()"]
    _run([*nbgrader, "generate_assignment", NB, "--force"], course, env)
    released = json.loads((course / "release" / NB / f"{NB}.ipynb").read_text())
    answers = solutions(NB)
    for student, correct in (("alice", True), ("bob", False)):
        nb = json.loads(json.dumps(released))
        for cell in nb["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if correct and meta.get("solution"):
                cell["source"] = answers[meta["grade_id"].removesuffix("-answer")]
        target = course / "submitted" / student / NB / f"{NB}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(nb))
    _run([*nbgrader, "autograde", NB, "--create", "--force"], course, env)
    script = (
        "from nbgrader.api import Gradebook\n"
        "with Gradebook('sqlite:///gradebook.db') as gb:\n"
        f"    for s in ('alice', 'bob'):\n"
        f"        print(s, gb.find_submission('{NB}', s).score)\n"
    )
    out = _run([sys.executable, "-c", script], course, env)
    scores = dict(line.split() for line in out.strip().splitlines()[-2:])
    assert float(scores["alice"]) == 7.0, out
    assert float(scores["bob"]) == 0.0, out
