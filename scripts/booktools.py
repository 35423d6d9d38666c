"""Tools for the book itself (not for learners): list the notebooks of the table
of contents, execute them from a clean kernel, make the student edition, time
them, and regenerate the instructors' guide.

    python scripts/booktools.py list                  # notebooks in _toc.yml
    python scripts/booktools.py execute [NB ...]      # re-execute and store outputs
    python scripts/booktools.py student [--out DIR]   # student edition
    python scripts/booktools.py benchmark             # timings -> report + BENCHMARKS.md
    python scripts/booktools.py guide                 # exercise table of the guide
    python scripts/booktools.py api                   # the package reference page
    python scripts/booktools.py sources               # train or load the source models

The Makefile calls these. This file is the command line only; the work is done by
toc.py, execution.py, student_edition.py, benchmark_report.py, guide.py and
api_page.py (which
Python finds next to this script, since it runs as ``scripts/booktools.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from api_page import API_PAGE, render_api_page

from benchmark_report import benchmark
from execution import execute_notebook
from guide import GUIDE, render_guide
from student_edition import write_student_edition
from toc import ROOT, toc_notebooks


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print the notebooks of _toc.yml")
    ex = sub.add_parser("execute", help="execute notebooks and store their outputs")
    ex.add_argument("notebooks", nargs="*", type=Path)
    st = sub.add_parser("student", help="write the student edition")
    st.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    sub.add_parser("guide", help="regenerate the exercise table of book/instructors.md")
    sub.add_parser("api", help="regenerate the package reference page book/api.md")
    sub.add_parser(
        "sources",
        help="train (cold cache) or load the fine-tuning chapter's source models, with timings",
    )
    bench = sub.add_parser("benchmark", help="time every notebook")
    bench.add_argument("--out", type=Path, default=ROOT / "_build" / "benchmark")
    bench.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    return parser


def report_source_models() -> None:
    """Load every source model of the fine-tuning chapter, training it on a cold cache,
    and say which happened and how long it took (`make test` prints it on a fresh
    machine, so the cold pretraining time is on record)."""
    from tutorial_lib.pretrained import SOURCES, PretrainConfig
    from tutorial_lib.source_cache import cache_paths, load_source_model

    for name in SOURCES:
        config = PretrainConfig(source=name)
        result = load_source_model(config, verbose=False)
        why = f" ({result.reason})" if result.reason else ""
        print(
            f"[sources] {name}: {result.status} in {result.seconds:.1f} s{why}; held-out "
            f"source accuracy {result.source_accuracy:.1%}; {cache_paths(config)[0]}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    """Run one command (see the module docstring); return the exit status."""
    args = _parser().parse_args(argv)
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
    elif args.command == "api":
        API_PAGE.write_text(render_api_page(), encoding="utf-8")
        print(f"[api] {API_PAGE.relative_to(ROOT)}: regenerated from the docstrings")
    elif args.command == "sources":
        report_source_models()
    elif args.command == "benchmark":
        benchmark(toc_notebooks(), args.out, args.markdown)
        print(f"[benchmark] report: {args.out / 'report.json'}; table: {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
