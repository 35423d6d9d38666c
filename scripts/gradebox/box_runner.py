"""The program the grader's sandbox starts: ``python -I box_runner.py <io>/job.json``.

It runs the notebook's code cells in order in one namespace (the course's cells, the
student's answer cells) and, after each exercise's check cell, that exercise's probe
(:mod:`gradebox.probes`). Everything it learns is written to ``<io>/results.jsonl``,
one JSON object per line, flushed at once, so the grader sees how far a box got even
when student code kills it:

- ``{"event": "start", "label": ...}`` when an exercise's answer cell begins;
- ``{"event": "result", "label", "data" | "not_attempted" | "missing", "answer_error",
  "check_message", "stdout", "stderr"}`` after its probe;
- ``{"event": "cell-error", "index", "error"}`` for another cell that raised;
- ``{"event": "done"}`` at the end.

A cell that raises is recorded and the run goes on. The verdict is not decided here:
the grader compares ``data`` with the reference run's.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

CAPTURE_CHARS = 20_000
MAIN_PID = os.getpid()


class _Capped:
    """A text stream that keeps the first ``CAPTURE_CHARS`` characters written."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, text: Any) -> int:
        text = str(text)
        room = CAPTURE_CHARS - self.size
        if room > 0:
            self.parts.append(text[:room])
        self.size += min(len(text), max(room, 0))
        self.dropped += max(len(text) - max(room, 0), 0)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        tail = f"\n[... {self.dropped} more characters]" if self.dropped else ""
        return "".join(self.parts) + tail


def _error(err: BaseException) -> dict[str, str]:
    try:
        message = str(err)
    except Exception:
        message = ""
    return {"type": type(err).__name__, "message": message[:2000]}


def run_cell(source: str, namespace: dict, index: int) -> tuple[dict | None, str, str]:
    """Execute one cell; return (error or None, stdout, stderr)."""
    out, err = _Capped(), _Capped()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    error = None
    try:
        exec(compile(source, f"<cell {index}>", "exec"), namespace)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the run goes on
        error = _error(exc)  # recorded as data, not as the cell's stderr
    finally:
        sys.stdout, sys.stderr = saved
        if os.getpid() != MAIN_PID:  # a process the student's code forked: it ends here
            os._exit(0)
    return error, out.text(), err.text()


def run_probe(probe: Any, namespace: dict) -> tuple[dict[str, Any], str, str]:
    """Call ``probe.run`` on the object the answer defined; its outcome as data."""
    from gradebox.serialize import to_data

    if probe.name not in namespace:
        return {"missing": probe.name}, "", ""
    out, err = _Capped(), _Capped()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        result: dict[str, Any] = {"data": to_data(probe.run(namespace[probe.name]))}
    except NotImplementedError:
        result = {"not_attempted": True}
    except BaseException as exc:
        result = {"data": {"raised": type(exc).__name__, "message": _error(exc)["message"]}}
    finally:
        sys.stdout, sys.stderr = saved
        if os.getpid() != MAIN_PID:
            os._exit(0)
    return result, out.text(), err.text()


def main(job_path: str) -> int:
    job_file = Path(job_path)
    job = json.loads(job_file.read_text())
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    results = open(job_file.parent / "results.jsonl", "a", buffering=1, encoding="utf-8")

    def emit(**record: Any) -> None:
        results.write(json.dumps(record) + "\n")
        results.flush()

    import torch

    torch.set_num_threads(int(job.get("threads", 1)))
    from gradebox.probes import probes_for

    probes = probes_for(job["notebook"])
    skip = set(job.get("skip", []))
    stubs = job.get("stubs", {})
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    state: dict[str, dict[str, Any]] = {}
    emit(event="ready", time=time.time())
    for cell in job["cells"]:
        label, role, index = cell.get("label"), cell.get("role"), cell["index"]
        if role == "answer":
            if label not in state:
                emit(event="start", label=label)
                state[label] = {"answer_error": None, "stdout": "", "stderr": ""}
            source = (
                stubs.get(label, "raise NotImplementedError") if label in skip else cell["source"]
            )
            error, out, err = run_cell(source, namespace, index)
            entry = state[label]
            entry["answer_error"] = entry["answer_error"] or error
            entry["stdout"] += out
            entry["stderr"] += err
            continue
        probe = probes.get(label) if role == "check" else None
        if probe is not None and not probe.run_check and label not in skip:
            error, out, err = None, "", ""  # the probe does what the check does
        else:
            error, out, err = run_cell(cell["source"], namespace, index)
        if role != "check":
            if error is not None:
                emit(event="cell-error", index=index, error=error, stderr=err[-2000:])
            continue
        entry = state.setdefault(label, {"answer_error": None, "stdout": "", "stderr": ""})
        if error is not None:
            entry["check_message"] = f"{error['type']}: {error['message']}"
        else:
            lines = [line for line in out.splitlines() if line.strip()]
            entry["check_message"] = lines[-1] if lines else ""
        entry["stdout"] += out
        entry["stderr"] += err
        if probe is None:
            emit(event="result", label=label, no_probe=True, **entry)
            continue
        if label in skip:
            continue
        outcome, out, err = run_probe(probe, namespace)
        entry["stdout"] += out
        entry["stderr"] += err
        emit(event="result", label=label, **outcome, **entry)
    emit(event="done")
    results.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
