"""The grader's benchmark (``make grade-benchmark``): throughput with 2 workers against 1,
and the grader's overhead against plainly executing the same notebooks.

A batch of 20 submissions of "Defining models" (10 correct, 5 with one wrong answer, 5
blank) is graded with ``--workers 1`` and ``--workers 2`` (the reference run is done
once beforehand and shared, and reported on its own), then the same 20 notebooks are
executed one after another in a fresh Jupyter kernel each (nbclient, one torch thread
as in the box). The figures go to ``_build/benchmark/grading.json`` and to the
"Grader" section of ``BENCHMARKS.md``, with the load average, which says whether the
machine was busy.

Targets (issue 21): 2 workers >= 1.6 x as fast as 1; grader <= 1.3 x plain execution.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "tests")]

NB = "defining_models"
WRONG_COUNT = (
    "def count_layers(model, layer_type):\n"
    "    return sum(isinstance(m, layer_type) for m in model.children())\n"
)


from benchmark_report import GRADER_END as SECTION_END  # noqa: E402
from benchmark_report import GRADER_START as SECTION_START  # noqa: E402


def build_batch(folder: Path) -> list[Path]:
    from autograde.builders import solutions, submission, write

    right = solutions(NB)
    paths = []
    for n in range(1, 21):
        if n <= 10:
            answers = right
        elif n <= 15:
            answers = {**right, f"{NB.replace('_', '-')}-ex-5": WRONG_COUNT}
        else:
            answers = None
        paths.append(write(submission(NB, answers), folder / f"s{n:02d}" / f"{NB}.ipynb"))
    return paths


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _grade(subs: Path, out: Path, workers: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds (of the grader and its boxes) of one batch."""
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "grade.py"),
            "grade",
            str(subs),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--no-progress",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start, _children_cpu() - cpu


def _plain(paths: list[Path]) -> float:
    import nbformat
    from nbclient import NotebookClient

    os.environ.update(OMP_NUM_THREADS="1", TUTORIAL_STRICT="0", MPLBACKEND="Agg")
    start = time.perf_counter()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    return time.perf_counter() - start


def render_section(report: dict) -> str:
    busy = report["load_before"] > report["cores"] or report["load_after"] > report["cores"]
    lines = [
        SECTION_START,
        "## Grader",
        "",
        f"`make grade-benchmark`, {report['date']}: 20 submissions of `{NB}` (10 correct, 5",
        "with a wrong answer, 5 blank), each notebook in its bubblewrap box.",
        "",
        "| measurement | seconds |",
        "|---|---:|",
        f"| reference run (once per chapter, cached) | {report['reference_s']:.1f} |",
        f"| grade, 1 worker | {report['one_worker_s']:.1f} |",
        f"| grade, 2 workers | {report['two_workers_s']:.1f} |",
        f"| plain execution, one kernel per notebook, one after another | "
        f"{report['plain_s']:.1f} |",
        "",
        f"- 2 workers vs 1: **x{report['speedup']:.2f}** (target at least x1.6)",
        f"- grader (1 worker) vs plain execution: **x{report['overhead']:.2f}** (target at "
        "most x1.3)",
        f"- machine: {report['cores']} cores; load average {report['load_before']:.1f} before, "
        f"{report['load_after']:.1f} after"
        + (
            " — **the machine was busy with other jobs: the figures are not reliable**"
            if busy
            else " (quiet)"
        ),
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def replace_section(text: str, section: str) -> str:
    """``text`` (BENCHMARKS.md) with its grader section replaced, or appended."""
    start, end = text.find(SECTION_START), text.find(SECTION_END)
    if start >= 0 and end > start:
        return text[:start] + section + text[end + len(SECTION_END) + 1 :]
    return text.rstrip("\n") + "\n\n" + section


def main() -> int:
    work = ROOT / "_build" / "grade-benchmark"
    shutil.rmtree(work, ignore_errors=True)
    subs = work / "submissions"
    paths = build_batch(subs)
    load_before = os.getloadavg()[0]
    from grading.batch import reference_cache
    from grading.course import Course
    from grading.grade_one import Options, ReferenceStore

    start = time.perf_counter()
    cache = work / "reference"
    ReferenceStore(cache, Options(hide=[work])).get(Course().chapters[NB])
    reference_s = time.perf_counter() - start
    times, cpu = {}, {}
    for workers in (1, 2):
        out = work / f"out-{workers}"
        shutil.copytree(cache, reference_cache(out))
        times[workers], cpu[workers] = _grade(subs, out, workers)
        print(
            f"[grade-benchmark] {workers} worker(s): {times[workers]:.1f} s "
            f"({cpu[workers]:.1f} CPU s)",
            flush=True,
        )
    plain = _plain(paths)
    print(f"[grade-benchmark] plain execution: {plain:.1f} s", flush=True)
    report = {
        "date": dt.date.today().isoformat(),
        "cores": os.cpu_count(),
        "reference_s": reference_s,
        "one_worker_s": times[1],
        "two_workers_s": times[2],
        "plain_s": plain,
        "speedup": times[1] / times[2],
        "overhead": times[1] / plain,
        "one_worker_cpu_s": cpu[1],
        "two_workers_cpu_s": cpu[2],
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    out_dir = ROOT / "_build" / "benchmark"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grading.json").write_text(json.dumps(report, indent=2) + "\n")
    bench = ROOT / "BENCHMARKS.md"
    bench.write_text(
        replace_section(bench.read_text(encoding="utf-8"), render_section(report)), encoding="utf-8"
    )
    print(render_section(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
