"""The box student code runs in: bubblewrap, a private user id, limits, a watchdog.

:func:`box_command` builds the command line: ``bwrap`` with a read-only view of the
system, a fresh ``/tmp``, no network, its own PID namespace (killing ``bwrap`` kills
everything in it), the course folder, ``/root``, ``/home``, ``/work``, the submissions
and ``OUT`` hidden behind empty tmpfs mounts, and only the Python installation, the
virtual environment, ``tutorial_lib`` and ``scripts/gradebox`` mounted back read-only;
then ``setpriv`` drops to an unprivileged user id of its own (root is exempt from the
process limit) with no capabilities, and ``prlimit`` sets the address-space, process,
file-size and core limits. :func:`run_box` runs a job under it, reads the box's
progress as it comes, and kills the process group when an exercise or the notebook
runs past its wall-clock limit.

Without a working ``bwrap`` :func:`sandbox_problem` says why; the grader then refuses
to run unless told ``--unsafe`` (limits and a temporary folder only: no isolation).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GRADEBOX = ROOT / "scripts" / "gradebox"
BOX_UID_BASE = 61_000


@dataclass(frozen=True)
class Limits:
    """Per-box limits: wall clock per exercise and per notebook, memory, processes."""

    exercise_s: float = 60.0
    notebook_s: float = 300.0
    memory_mb: int = 8_192
    processes: int = 128
    file_mb: int = 64


@dataclass
class BoxRun:
    """What came back from one box: its events, how it ended, its stderr."""

    events: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    killed: str | None = None  # "exercise <label>" or "notebook" when the watchdog killed it
    running: str | None = None  # the exercise that had started without a result
    stderr: str = ""
    seconds: float = 0.0


def _bwrap() -> str | None:
    return shutil.which("bwrap")


def sandbox_problem() -> str | None:
    """Why no sandbox can be had here (``None`` when ``bwrap`` works)."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (bubblewrap); this is {sys.platform}"
    bwrap = _bwrap()
    if bwrap is None:
        return (
            "bubblewrap is not installed (no 'bwrap' on PATH): run 'make setup' as root, "
            "or 'apt-get install bubblewrap'"
        )
    probe = [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--unshare-net",
        "--unshare-pid",
        "--die-with-parent",
        "true",
    ]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap does not run here: {err}"
    if done.returncode != 0:
        return f"bwrap does not work here: {done.stderr.strip() or done.returncode}"
    if os.geteuid() != 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is missing"
    return None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def box_command(
    io_dir: Path, work_dir: Path, *, slot: int, limits: Limits, hide: list[Path]
) -> list[str]:
    """The command that runs the box runner on ``io_dir/job.json`` in the sandbox."""
    python = Path(sys.executable)
    venv = Path(sys.prefix)
    base = Path(sys.base_prefix).resolve()
    tutorial_lib = ROOT / "tutorial_lib"
    cmd = [
        _bwrap() or "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--perms",
        "0755",
        "--dir",
        "/tmp/grader",
    ]
    hidden: list[Path] = []
    for path in sorted(
        {Path(p).resolve() for p in [Path("/root"), Path("/home"), Path("/work"), ROOT, *hide]},
        key=str,
    ):
        if not _exists(path) or not path.is_dir() or str(path) in ("/", "/tmp"):
            continue
        if str(path).startswith("/tmp/") or any(path.is_relative_to(h) for h in hidden):
            continue
        cmd += ["--perms", "0755", "--tmpfs", str(path)]
        hidden.append(path)
    made: set[Path] = set()
    for path in (base, venv, tutorial_lib):
        top = next((h for h in hidden if path.is_relative_to(h)), None)
        if top is None and not str(path).startswith("/tmp/"):
            continue
        for parent in reversed(path.parents):  # created 0700 otherwise: unreadable to the box
            if (
                top is not None
                and parent.is_relative_to(top)
                and parent != top
                and parent not in made
            ):
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += [
        "--ro-bind",
        str(GRADEBOX),
        "/tmp/grader/gradebox",
        "--bind",
        str(io_dir),
        "/tmp/io",
        "--bind",
        str(work_dir),
        "/tmp/box",
        "--chdir",
        "/tmp/box",
        "--clearenv",
    ]
    for key, value in box_environment().items():
        cmd += ["--setenv", key, value]
    if os.geteuid() == 0:
        uid = str(BOX_UID_BASE + slot)
        cmd += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
    cmd += _prlimit(limits)
    cmd += [str(python), "-I", "/tmp/grader/gradebox/box_runner.py", "/tmp/io/job.json"]
    return cmd


def _prlimit(limits: Limits) -> list[str]:
    return [
        "prlimit",
        f"--as={limits.memory_mb * 2**20}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_mb * 2**20}",
        "--core=0",
        "--",
    ]


def box_environment() -> dict[str, str]:
    """The environment inside the box: one torch thread, strict checks, no GPU."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "TUTORIAL_STRICT": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/mpl",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TUTORIAL_DEVICE": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
        "TUTORIAL_CACHE_DIR": "/tmp/tutorial-cache",
        "PYTHON_COLORS": "0",
        "TQDM_DISABLE": "1",
    }


def _unsafe_command(io_dir: Path, limits: Limits) -> list[str]:
    return [
        *_prlimit(limits),
        sys.executable,
        "-I",
        str(GRADEBOX / "box_runner.py"),
        str(io_dir / "job.json"),
    ]


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_box(
    job: dict[str, Any],
    *,
    submission: bytes | None,
    slot: int,
    limits: Limits,
    hide: list[Path],
    unsafe: bool = False,
    deadline: float | None = None,
) -> BoxRun:
    """Run ``job`` (see :mod:`gradebox.box_runner`) in a fresh box; ``submission`` is
    copied into its work folder. ``deadline`` (a ``time.monotonic()`` value) caps the
    notebook's wall clock across restarts."""
    scratch = Path(tempfile.mkdtemp(prefix="course-grader-"))
    io_dir, work_dir = scratch / "io", scratch / "box"
    io_dir.mkdir()
    work_dir.mkdir()
    (io_dir / "job.json").write_text(json.dumps(job))
    if submission is not None:
        (work_dir / "submission.ipynb").write_bytes(submission)
    if not unsafe and os.geteuid() == 0:
        uid = BOX_UID_BASE + slot
        for path in (io_dir, work_dir, *work_dir.iterdir(), *io_dir.iterdir()):
            os.chown(path, uid, uid)
    if unsafe:
        cmd, cwd, env = (
            _unsafe_command(io_dir, limits),
            work_dir,
            {**box_environment(), "HOME": str(work_dir)},
        )
    else:
        cmd, cwd, env = (
            box_command(io_dir, work_dir, slot=slot, limits=limits, hide=hide),
            None,
            {"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
    run = BoxRun()
    results = io_dir / "results.jsonl"
    stderr_path = scratch / "stderr.txt"
    start = time.monotonic()
    end = start + limits.notebook_s
    if deadline is not None:
        end = min(end, deadline)
    try:
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
            offset, buffer, started = 0, b"", None
            while True:
                finished = proc.poll() is not None
                if results.exists():
                    with open(results, "rb") as handle:
                        handle.seek(offset)
                        chunk = handle.read(16 * 2**20)
                    offset += len(chunk)
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        event = _parse(line)
                        if event is None:
                            continue
                        run.events.append(event)
                        if event.get("event") == "start":
                            started = (event.get("label"), time.monotonic())
                        elif (
                            event.get("event") == "result"
                            and started
                            and event.get("label") == started[0]
                        ):
                            started = None
                if finished:
                    break
                now = time.monotonic()
                if started and now - started[1] > limits.exercise_s:
                    run.killed = f"exercise {started[0]}"
                    _kill(proc)
                    break
                if now > end:
                    run.killed = "notebook"
                    _kill(proc)
                    break
                time.sleep(0.05)
            _kill(proc)  # whatever is left of its process group
            run.returncode = proc.returncode
            run.running = started[0] if started else None
    finally:
        run.seconds = time.monotonic() - start
        try:
            run.stderr = stderr_path.read_bytes()[-20_000:].decode("utf-8", "replace")
        except OSError:
            pass
        shutil.rmtree(scratch, ignore_errors=True)
    return run


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None
