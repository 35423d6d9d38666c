"""Run a chapter's exercise checks the way a grader does, against many answers.

One Jupyter kernel per notebook, in strict mode (``TUTORIAL_STRICT=1``): it runs the
notebook top to bottom with the reference solutions in place of the answer cells
(every check must pass), then, for each answer under test, runs that answer's source
in place of the answer cell followed by the exercise's real check cell, and records
what the check said. The kernel's global names are restored after every answer, so a
wrong answer cannot leak into the next one.

A chapter's test module (``tests/exercises/test_<notebook>.py``) declares::

    NOTEBOOK = "unet"
    ANSWERS = {
        "unet-ex-3": Answers(
            right={"loop over dims": "def pad_like(x, skip): ..."},
            wrong={"pads on one side only": ("def pad_like(x, skip): ...", "differ")},
        ),
    }

and the shared test in ``conftest.py`` turns every exercise of the notebook into the
cases (a) reference passes, (b) each right answer passes, (c) each wrong answer is
rejected with a message containing the given fragment, (d) the untouched stub is
reported as not attempted. An exercise without answers, or with fewer than one right
and three wrong ones, is itself a failing case.
"""

from __future__ import annotations

import os
import queue
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

# exercise_cells is in scripts/, which pytest puts on the import path (pythonpath in
# pyproject.toml). The kernels started below run notebook code only and import
# nothing from scripts/, so their environment needs no PYTHONPATH.
from exercise_cells import Exercise, notebook_exercises

ROOT = Path(__file__).resolve().parents[2]

MIN_RIGHT = 1
MIN_WRONG = 3
TIMEOUT_S = 600


@dataclass
class Answers:
    """Answers to one exercise: ``right`` ones (name -> source) that its check must
    accept, ``wrong`` ones (name -> (source, fragment)) that it must reject with a
    message containing ``fragment`` (case-insensitive)."""

    right: dict[str, str] = field(default_factory=dict)
    wrong: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Verdict:
    """What a check cell said about an answer."""

    status: str  # "pass", "fail", "todo", "answer-error", "check-error", "silent"
    message: str = ""
    output: str = ""

    def __str__(self) -> str:
        text = f"{self.status}: {self.message}".strip()
        return f"{text}\n--- output ---\n{self.output}" if self.output else text


@dataclass
class _Reply:
    ok: bool
    ename: str = ""
    evalue: str = ""
    stdout: str = ""


class Grader:
    """A kernel running one notebook's exercises (see the module docstring)."""

    def __init__(self, notebook: Path, *, strict: bool = True) -> None:
        import nbformat
        from jupyter_client.manager import start_new_kernel

        self.path = notebook
        self.nb = nbformat.read(notebook, as_version=4)
        self.exercises: dict[str, Exercise] = {e.label: e for e in notebook_exercises(notebook)}
        env = dict(os.environ, TUTORIAL_STRICT="1" if strict else "0", PYTHON_COLORS="0")
        env.setdefault("MPLBACKEND", "Agg")
        self.km, self.kc = start_new_kernel(
            kernel_name="python3", cwd=str(notebook.parent), env=env
        )
        self.reference: dict[str, Verdict] = {}

    # ------------------------------------------------------------------ kernel
    def run(self, code: str) -> _Reply:
        """Execute ``code`` in the kernel; collect stdout and the error, if any."""
        chunks: list[str] = []

        def hook(msg: dict) -> None:
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                chunks.append(content["text"])
            elif kind == "error":
                chunks.append(f"{content['ename']}: {content['evalue']}\n")

        try:
            reply = self.kc.execute_interactive(
                code, timeout=TIMEOUT_S, output_hook=hook, store_history=False, allow_stdin=False
            )
        except (TimeoutError, queue.Empty) as err:
            raise RuntimeError(f"{self.path.name}: a cell ran for more than {TIMEOUT_S} s") from err
        content = reply["content"]
        ok = content["status"] == "ok"
        return _Reply(ok, content.get("ename", ""), content.get("evalue", ""), "".join(chunks))

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    # ------------------------------------------------------------------ notebook
    def prepare(self) -> None:
        """Run the notebook with the reference solutions (answers skipped) and record
        each check's verdict on them; stop after the last exercise."""
        roles = {}
        for ex in self.exercises.values():
            roles.update({i: "task" for i in [ex.task]})
            roles[ex.answer] = "answer"
            roles.update({i: "solution" for i in ex.solutions})
            roles[ex.check] = ex.label
        last = max((ex.check for ex in self.exercises.values()), default=-1)
        for index, cell in enumerate(self.nb.cells[: last + 1]):
            if cell.cell_type != "code" or roles.get(index) == "answer":
                continue
            source = cell.source
            if index == 0 and "google.colab" in source:
                continue  # the Colab install cell
            if roles.get(index) in self.exercises:
                self.reference[roles[index]] = self._check(roles[index])
                continue
            reply = self.run(source)
            if not reply.ok:
                raise RuntimeError(
                    f"{self.path.name}: cell {index} raised {reply.ename}: {reply.evalue}\n"
                    f"{reply.stdout}"
                )

    def _check(self, label: str) -> Verdict:
        reply = self.run(self.nb.cells[self.exercises[label].check].source)
        if reply.ok:
            if "✅" in reply.stdout:
                return Verdict("pass", reply.stdout.strip().splitlines()[-1], reply.stdout)
            return Verdict("silent", "the check printed no verdict", reply.stdout)
        if reply.ename == "NotAttempted":
            return Verdict("todo", reply.evalue, reply.stdout)
        if reply.ename == "CheckFailed":
            return Verdict("fail", reply.evalue, reply.stdout)
        return Verdict("check-error", f"{reply.ename}: {reply.evalue}", reply.stdout)

    def attempt(self, label: str, source: str) -> Verdict:
        """Run ``source`` in place of the answer cell of ``label``, then its check;
        restore the kernel's global names afterwards."""
        if label not in self.exercises:
            raise KeyError(f"{self.path.name} has no exercise {label!r}")
        self.run("__grader_saved__ = dict(globals())")  # the copy does not hold itself
        try:
            reply = self.run(dedent(source))
            if not reply.ok:
                return Verdict("answer-error", f"{reply.ename}: {reply.evalue}", reply.stdout)
            return self._check(label)
        finally:
            restore = self.run(
                "(lambda saved: (globals().clear(), globals().update(saved)))(__grader_saved__)"
            )
            if not restore.ok:
                raise RuntimeError(f"could not restore the kernel: {restore.evalue}")

    def stub(self, label: str) -> str:
        """The source of the answer cell as the student receives it."""
        return self.nb.cells[self.exercises[label].answer].source


@dataclass(frozen=True)
class Case:
    """One pytest case: ``kind`` is reference/right/wrong/stub/coverage."""

    label: str
    kind: str
    name: str = ""
    source: str = ""
    fragment: str = ""

    def __str__(self) -> str:
        return f"{self.label}-{self.kind}" + (f"-{self.name}" if self.name else "")


def cases(notebook: str, answers: dict[str, Answers]) -> list[Case]:
    """Every case for ``book/<notebook>.ipynb`` given its ``answers``."""
    found = [ex.label for ex in notebook_exercises(ROOT / "book" / f"{notebook}.ipynb")]
    out: list[Case] = []
    for label in found:
        given = answers.get(label)
        out.append(Case(label, "reference"))
        out.append(Case(label, "stub"))
        if given is None:
            out.append(Case(label, "coverage", "no answers declared"))
            continue
        if len(given.right) < MIN_RIGHT or len(given.wrong) < MIN_WRONG:
            out.append(
                Case(label, "coverage", f"{len(given.right)} right, {len(given.wrong)} wrong")
            )
        out += [Case(label, "right", name, src) for name, src in given.right.items()]
        out += [Case(label, "wrong", name, src, frag) for name, (src, frag) in given.wrong.items()]
    for label in sorted(set(answers) - set(found)):
        out.append(Case(label, "coverage", "answers for an exercise the notebook lacks"))
    return out


def verify(grader: Grader, case: Case) -> None:
    """Assert what ``case`` requires of the chapter's check."""
    if case.kind == "coverage":
        raise AssertionError(
            f"{case.label}: {case.name}; every exercise needs at least {MIN_RIGHT} right and "
            f"{MIN_WRONG} wrong answers in ANSWERS"
        )
    if case.kind == "reference":
        verdict = grader.reference.get(case.label)
        assert verdict is not None and verdict.status == "pass", (
            f"the reference solution of {case.label} does not pass its check: {verdict}"
        )
        return
    if case.kind == "stub":
        verdict = grader.attempt(case.label, grader.stub(case.label))
        assert verdict.status == "todo", f"the untouched stub was not 'not attempted': {verdict}"
        return
    verdict = grader.attempt(case.label, case.source)
    if case.kind == "right":
        assert verdict.status == "pass", f"a right answer was rejected: {verdict}"
        return
    assert verdict.status == "fail", f"a wrong answer was not rejected: {verdict}"
    assert case.fragment.lower() in verdict.message.lower(), (
        f"rejected, but the message does not say {case.fragment!r}: {verdict.message}"
    )
