"""Tools for the book itself (not for learners): list the notebooks of the table
of contents, execute them from a clean kernel, make the student edition, and time
them.

    python scripts/booktools.py list                  # notebooks in _toc.yml
    python scripts/booktools.py execute [NB ...]      # re-execute and store outputs
    python scripts/booktools.py student [--out DIR]   # student edition
    python scripts/booktools.py benchmark             # timings -> report + BENCHMARKS.md

The Makefile calls these; tests/test_booktools.py tests them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION_TAG = "solution"
STATUS_PAGE = ROOT / "book" / "status.md"
REPOSITORY_URL_PLACEHOLDER = "{repository_url}"
# The first code cell of every notebook: installs the course package on Colab and
# does nothing anywhere else. The URL is _config.yml's repository.url.
COLAB_CELL_TEMPLATE = """\
# On Google Colab, install the course package; anywhere else this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q",
         "tutorial_lib @ git+{repository_url}"],
        check=True,
    )"""
IGNORE_OUTPUT_TAG = "nbval-ignore-output"
# Strings that must never appear in stored outputs: machine paths and user names.
LEAK_PATTERNS = (
    re.compile(r"/work/\w"),
    re.compile(r"/root/"),
    re.compile(r"/home/\w"),
    re.compile(r"/Users/\w"),
    re.compile(r"/tmp/ipykernel_\d+"),
    re.compile(r"\.venv/lib/"),
)


# --------------------------------------------------------------------------- toc
def _toc_entries(node: object) -> Iterator[str]:
    """Yield every ``file:`` of a jb-book table of contents, in reading order."""
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node and isinstance(node[key], str):
                yield node[key]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                yield from _toc_entries(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_entries(child)


def toc_files(root: Path = ROOT) -> list[Path]:
    """Every page of ``_toc.yml`` resolved to an existing file (``.ipynb`` or ``.md``)."""
    import yaml

    toc_path = root / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    pages = []
    for entry in _toc_entries(toc):
        if Path(entry).suffix:
            candidates = [root / entry]
        else:
            candidates = [root / f"{entry}.ipynb", root / f"{entry}.md"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise FileNotFoundError(f"_toc.yml lists {entry!r} but no .ipynb or .md file exists")
        pages.append(found[0])
    return pages


def toc_appendix(root: Path = ROOT) -> set[Path]:
    """Pages listed under the part captioned "Appendix" (no exercises required there)."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    appendix = [p for p in toc.get("parts", []) if p.get("caption") == "Appendix"]
    names = set(_toc_entries(appendix))
    return {
        path
        for path in toc_files(root)
        if str(path.relative_to(root).with_suffix("")) in names
        or str(path.relative_to(root)) in names
    }


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of ``_toc.yml``, in reading order."""
    return [p for p in toc_files(root) if p.suffix == ".ipynb"]


def repository_url(root: Path = ROOT) -> str:
    """The one repository setting of the book (``repository.url`` in ``_config.yml``)."""
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return str(config["repository"]["url"]).rstrip("/")


def colab_cell(root: Path = ROOT) -> str:
    """The source of the first code cell every notebook must have."""
    return COLAB_CELL_TEMPLATE.format(repository_url=repository_url(root))


# --------------------------------------------------------------------------- cells
def cell_tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def output_text(output: dict) -> str:
    """All text of one output (streams, text/plain, text/html, errors)."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", []))
    data = output.get("data", {})
    return "\n".join(
        value if isinstance(value, str) else "".join(value)
        for key, value in data.items()
        if key.startswith("text/")
    )


def find_leaks(nb: dict) -> list[str]:
    """Describe every stored output that shows a machine path or user name."""
    leaks = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            text = output_text(output)
            for pattern in LEAK_PATTERNS:
                match = pattern.search(text)
                if match:
                    leaks.append(f"cell {index}: {match.group(0)!r} in {text[:80]!r}")
    return leaks


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def find_ansi(nb: dict) -> list[str]:
    """Describe every stored output with ANSI colour codes (a terminal's colours, which
    the book shows as garbage and which differ between Python versions)."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            text = output_text(output)
            match = ANSI_ESCAPE.search(text)
            if match:
                found.append(f"cell {index}: {match.group(0)!r} in {text[:80]!r}")
    return found


def _collapse_stream(text: str) -> str:
    """What a terminal shows: a carriage return without newline overwrites the line."""
    lines = text.split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line else line for line in lines)


SANITIZE_CONFIG = ROOT / "tests" / "nbval_sanitize.cfg"
ELAPSED_SECTION = "tqdm: elapsed<remaining and rate"


def elapsed_time_rule(config: Path = SANITIZE_CONFIG) -> tuple[re.Pattern[str], str]:
    """The sanitizer rule that replaces a progress bar's elapsed time and rate.

    nbval applies it to stored and fresh outputs before comparing them; the execute
    step applies it to the outputs it stores, so that a stored bar never shows a time
    measured on a busy machine (the status page gives the notebooks' real times)."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(config, encoding="utf-8")
    if ELAPSED_SECTION not in parser:
        raise RuntimeError(f"{config} has no [{ELAPSED_SECTION}] section: restore it")
    section = parser[ELAPSED_SECTION]
    return re.compile(section["regex"]), section["replace"]


def neutralise_elapsed(text: str, rule: tuple[re.Pattern[str], str] | None = None) -> str:
    """``text`` with every progress bar's elapsed time and rate replaced (see above)."""
    pattern, replacement = rule or elapsed_time_rule()
    return pattern.sub(replacement, text)


def tidy_outputs(nb: dict) -> dict:
    """Merge consecutive stream outputs, apply carriage returns (progress bars),
    neutralise progress bars' elapsed times and drop widget state, as a notebook
    front end shows them."""
    rule = elapsed_time_rule()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        merged: list[dict] = []
        for output in cell.get("outputs", []):
            if (
                output.get("output_type") == "stream"
                and merged
                and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == output.get("name")
            ):
                merged[-1]["text"] += output["text"]
            else:
                merged.append(output)
        for output in merged:
            if output.get("output_type") == "stream":
                output["text"] = neutralise_elapsed(_collapse_stream(output["text"]), rule)
        cell["outputs"] = merged
    nb.get("metadata", {}).pop("widgets", None)
    return nb


# --------------------------------------------------------------------------- execute
def execute_notebook(path: Path, *, timeout: int = 600, write: bool = True) -> float:
    """Run ``path`` top to bottom in a fresh kernel (its folder as working
    directory); store the tidied outputs when ``write``. Returns the seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    tidy_outputs(nb)
    leaks = find_leaks(nb)
    if leaks:
        raise RuntimeError(f"{path}: outputs show machine paths:\n  " + "\n  ".join(leaks))
    colours = find_ansi(nb)
    if colours:
        raise RuntimeError(
            f"{path}: outputs contain ANSI colour codes (run child processes with "
            "PYTHON_COLORS=0 and NO_COLOR=1):\n  " + "\n  ".join(colours)
        )
    if write:
        nbformat.write(nb, path)
    return seconds


# --------------------------------------------------------------------------- student
def student_notebook(nb: dict) -> dict:
    """A copy of ``nb`` without solution cells (exercise role ``solution``; the
    ``solution`` tag, which hides them in the book, must agree) and without outputs.
    Exercise metadata (points, minutes, difficulty, roles) is kept for graders."""
    import copy

    from exercise_cells import role

    student = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(student["cells"]):
        is_solution = role(cell) == "solution"
        if is_solution != (SOLUTION_TAG in cell_tags(cell)):
            raise ValueError(
                f"cell {index}: the 'solution' tag and the exercise role disagree; tag every "
                "cell whose metadata says role 'solution', and only those"
            )
        if is_solution:
            continue
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    student["cells"] = cells
    student.get("metadata", {}).pop("widgets", None)
    return student


def write_student_edition(notebooks: Iterable[Path], out_dir: Path) -> list[Path]:
    """Write the student edition of ``notebooks`` into ``out_dir``; return the paths."""
    import nbformat

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        target = out_dir / path.name
        nbformat.write(nbformat.from_dict(student_notebook(nb)), target)
        written.append(target)
    return written


# --------------------------------------------------------------------------- benchmark
def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> dict:
    import torch

    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "cuda": torch.cuda.is_available(),
    }


def benchmark_notebooks(notebooks: Iterable[Path]) -> list[dict]:
    rows = []
    for path in notebooks:
        seconds = execute_notebook(path, write=False)
        rows.append({"notebook": str(path.relative_to(ROOT)), "seconds": round(seconds, 1)})
        print(f"[benchmark] {path.relative_to(ROOT)}: {seconds:.1f} s", flush=True)
    return rows


def run_micro_benchmarks() -> list[dict]:
    """Micro-benchmarks registered in ``scripts/micro_benchmarks.py``."""
    import micro_benchmarks  # next to this script, so on the import path

    results = []
    for bench in micro_benchmarks.BENCHMARKS:
        result = bench()
        print(f"[benchmark] {result['name']}: {result['summary']}", flush=True)
        results.append(result)
    return results


def render_benchmark_markdown(report: dict, limit_s: float = 60.0) -> str:
    machine = report["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make benchmark` (do not edit by hand). Each notebook ran top to",
        "bottom in a fresh kernel; the budget is "
        f"{limit_s:.0f} s per notebook on the reference CPU.",
        "",
        f"- date: {report['date']}",
        f"- machine: {machine['cpu']}, {machine['cores']} cores, "
        f"torch {machine['torch']} ({machine['torch_threads']} threads), "
        f"Python {machine['python']}, CUDA: {'yes' if machine['cuda'] else 'no'}",
        "",
        "| notebook | seconds | within budget |",
        "|---|---:|:---:|",
    ]
    for row in report["notebooks"]:
        ok = "yes" if row["seconds"] <= limit_s else "**no**"
        lines.append(f"| `{row['notebook']}` | {row['seconds']:.1f} | {ok} |")
    total = sum(row["seconds"] for row in report["notebooks"])
    lines += ["", f"Whole book: {total:.1f} s."]
    if report.get("micro"):
        lines += ["", "## Micro-benchmarks", "", "| benchmark | result |", "|---|---|"]
        for result in report["micro"]:
            lines.append(f"| {result['name']} | {result['summary']} |")
    return "\n".join(lines) + "\n"


def render_status_page(report: dict, titles: dict[str, str], limit_s: float = 60.0) -> str:
    """The book's "Status" page: every notebook's measured time, from the report."""
    machine = report["machine"]
    lines = [
        "# Status: how long each notebook takes",
        "",
        "Generated from the benchmark report by `make benchmark`. Each notebook ran top to",
        "bottom in a fresh kernel, on the CPU, on the reference machine:",
        "",
        f"- measured on **{report['date']}**",
        f"- {machine['cpu']}, {machine['cores']} cores, no GPU"
        if not machine["cuda"]
        else f"- {machine['cpu']}, {machine['cores']} cores, with a CUDA GPU",
        f"- torch {machine['torch'].split('+')[0]} ({machine['torch_threads']} threads), "
        f"Python {machine['python']}",
        "",
        f"The course's budget is {limit_s:.0f} s per notebook on such a machine; a laptop of",
        "the last few years is usually faster.",
        "",
        "| chapter | notebook | seconds | within budget |",
        "|---|---|---:|:---:|",
    ]
    for row in report["notebooks"]:
        ok = "✅" if row["seconds"] <= limit_s else "❌"
        name = row["notebook"]
        title = titles.get(name, Path(name).stem)
        lines.append(f"| {title} | `{Path(name).name}` | {row['seconds']:.1f} | {ok} |")
    total = sum(row["seconds"] for row in report["notebooks"])
    lines += ["", f"The whole book runs in {total:.0f} s ({total / 60:.1f} min)."]
    return "\n".join(lines) + "\n"


def notebook_titles(notebooks: Iterable[Path]) -> dict[str, str]:
    """The first ``# Title`` of each notebook, keyed by its path relative to the root."""
    import nbformat

    titles = {}
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                match = re.search(r"^# (.+)$", cell.source, flags=re.MULTILINE)
                if match:
                    titles[str(path.relative_to(ROOT))] = match.group(1).strip()
                    break
    return titles


def benchmark(notebooks: list[Path], out_dir: Path, markdown: Path) -> dict:
    report = {
        "date": dt.date.today().isoformat(),
        "machine": machine_description(),
        "notebooks": benchmark_notebooks(notebooks),
        "micro": run_micro_benchmarks(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown.write_text(render_benchmark_markdown(report), encoding="utf-8")
    STATUS_PAGE.write_text(render_status_page(report, notebook_titles(notebooks)), encoding="utf-8")
    return report


# --------------------------------------------------------------------------- guide
GUIDE = ROOT / "book" / "instructors.md"


def render_guide(root: Path = ROOT) -> str:
    """``book/instructors.md`` with its exercise table regenerated from the metadata."""
    from exercise_cells import guide_table, notebook_exercises, replace_guide_table

    appendix = toc_appendix(root)
    chapters = [
        (path.stem, notebook_exercises(path))
        for path in toc_notebooks(root)
        if path.resolve() not in appendix
    ]
    guide = root / "book" / "instructors.md"
    return replace_guide_table(guide.read_text(encoding="utf-8"), guide_table(chapters))


# --------------------------------------------------------------------------- cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print the notebooks of _toc.yml")
    ex = sub.add_parser("execute", help="execute notebooks and store their outputs")
    ex.add_argument("notebooks", nargs="*", type=Path)
    st = sub.add_parser("student", help="write the student edition")
    st.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    sub.add_parser("guide", help="regenerate the exercise table of book/instructors.md")
    bench = sub.add_parser("benchmark", help="time every notebook")
    bench.add_argument("--out", type=Path, default=ROOT / "_build" / "benchmark")
    bench.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)

    if args.command == "list":
        for path in toc_notebooks():
            print(path.relative_to(ROOT))
    elif args.command == "execute":
        for path in args.notebooks or toc_notebooks():
            seconds = execute_notebook(path.resolve())
            print(f"[execute] {path}: {seconds:.1f} s", flush=True)
    elif args.command == "student":
        for path in write_student_edition(toc_notebooks(), args.out):
            print(f"[student] {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    elif args.command == "guide":
        GUIDE.write_text(render_guide(), encoding="utf-8")
        print(f"[guide] {GUIDE.relative_to(ROOT)}: exercise table regenerated")
    elif args.command == "benchmark":
        benchmark(toc_notebooks(), args.out, args.markdown)
        print(f"[benchmark] report: {args.out / 'report.json'}; table: {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
