"""The course's autograder: ``python scripts/grade.py --help`` (``make grade``).

Subcommands:

- ``grade SUBMISSIONS --out OUT``: grade ``SUBMISSIONS/<student>/<notebook>.ipynb`` (or a
  ``.zip`` of that) into ``OUT`` (grades.csv, summary.csv, gradebook.sqlite, feedback/);
- ``grade --merge RESULT.json ... --out OUT``: import results written by ``grade-one``;
- ``grade-one NOTEBOOK --student ID --result FILE``: grade one notebook, write a JSON result
  (for a Slurm array, GNU parallel, Kubernetes Jobs);
- ``override --out OUT --student ID --notebook NB --exercise LABEL --points P --reason TEXT``
  (or ``--clear``): set points by hand; kept when re-grading;
- ``nbgrader-source --out DIR``: the course as an nbgrader course folder.

Student code runs in a bubblewrap box; without one the command refuses unless told
``--unsafe``. Taught in: the instructor guide ("Grading").
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading.sandbox import Limits, sandbox_problem  # noqa: E402


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        exercise_s=args.exercise_timeout,
        notebook_s=args.notebook_timeout,
        memory_mb=args.memory_mb,
        processes=args.max_processes,
    )


def _box_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="run student code WITHOUT the sandbox when bwrap is unavailable "
        "(limits only: the code can read and write your files)",
    )
    parser.add_argument(
        "--exercise-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="wall-clock limit per exercise, seconds (default 60)",
    )
    parser.add_argument(
        "--notebook-timeout",
        type=float,
        default=300.0,
        metavar="S",
        help="wall-clock limit per notebook, restarts included (default 300)",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=8192,
        metavar="MB",
        help="address-space limit of each process in the box (default 8192)",
    )
    parser.add_argument(
        "--max-processes",
        type=int,
        default=128,
        metavar="N",
        help="processes and threads the box may hold (default 128)",
    )


def _options(args: argparse.Namespace, hide: list[Path]):
    from grading.grade_one import Options

    problem = sandbox_problem()
    if problem and not args.unsafe:
        sys.exit(
            f"grade: refusing to run student code without a sandbox: {problem}.\n"
            "Install bubblewrap (make setup), or pass --unsafe to run it unboxed "
            "(only for code you trust)."
        )
    if problem:
        print(
            f"grade: WARNING: no sandbox ({problem}); running unboxed (--unsafe)", file=sys.stderr
        )
    return Options(limits=_limits(args), hide=hide, unsafe=bool(problem))


def cmd_grade(args: argparse.Namespace) -> int:
    from grading.batch import default_workers, grade_batch, summary_text
    from grading.course import Course
    from grading.gradebook import Gradebook
    from grading.outputs import write_all
    from grading.submissions import discover

    out = Path(args.out).resolve()
    if args.merge is not None:
        gradebook = Gradebook(out / "gradebook.sqlite")
        files: list[Path] = []
        for given in args.merge:
            path = Path(given)
            files += sorted(path.glob("*.json")) if path.is_dir() else [path]
        imported = 0
        for path in files:
            result = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(result, dict) or not {"student", "notebook", "rows", "sha256"} <= set(
                result
            ):
                print(f"merge: {path} is not a grade-one result; skipped", file=sys.stderr)
                continue
            try:
                gradebook.store(result)
            except (KeyError, TypeError, ValueError, sqlite3.Error) as err:
                print(f"merge: {path} is not a valid result ({err}); skipped", file=sys.stderr)
                continue
            imported += 1
        write_all(gradebook, out)
        gradebook.close()
        print(
            f"Merged {imported} result(s) into {out / 'gradebook.sqlite'}; rewrote "
            f"grades.csv, summary.csv and feedback/."
        )
        return 0
    if not args.submissions:
        sys.exit("grade: give SUBMISSIONS (a folder or a .zip), or --merge RESULTS")
    source = Path(args.submissions).resolve()
    options = _options(args, hide=[source if source.is_dir() else source.parent, out])
    course = Course()
    submissions, rejected = discover(source)
    workers = args.workers or default_workers()
    report = grade_batch(
        course,
        submissions,
        rejected,
        out,
        workers=workers,
        options=options,
        progress=not args.no_progress,
        force=args.force,
    )
    print(summary_text(report, out))
    return 0


def cmd_grade_one(args: argparse.Namespace) -> int:
    import os

    from grading.course import Course
    from grading.grade_one import ReferenceStore, grade_submission

    path = Path(args.notebook).resolve()
    notebook = args.name or path.stem
    result_path = Path(args.result).resolve()
    cache = Path(args.cache).expanduser().resolve()
    # the submission's folder and the one above it (the other students' folders)
    options = _options(args, hide=[path.parent, path.parent.parent, result_path.parent, cache])
    course = Course()
    references = ReferenceStore(cache, options)
    slot = args.slot if args.slot is not None else os.getpid() % 1000
    result = grade_submission(
        course,
        args.student,
        notebook,
        path.read_bytes(),
        references=references,
        options=options,
        slot=slot,
    )
    result_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
    tmp.replace(result_path)
    points = sum(r["points"] for r in result["rows"])
    most = sum(r["max_points"] for r in result["rows"])
    print(f"{args.student} {notebook}: {points:g} / {most:g} -> {result_path}")
    return 0


def cmd_override(args: argparse.Namespace) -> int:
    from grading.gradebook import Gradebook
    from grading.outputs import write_all

    out = Path(args.out).resolve()
    if not (out / "gradebook.sqlite").exists():
        sys.exit(f"override: no gradebook in {out}")
    gradebook = Gradebook(out / "gradebook.sqlite")
    key = (args.student, args.notebook, args.exercise)
    if not gradebook.has_result(*key):
        sys.exit(f"override: no result for {' / '.join(key)} in the gradebook")
    if args.clear:
        done = gradebook.clear_override(*key)
        print("override removed" if done else "there was no override")
    else:
        if args.points is None or not args.reason:
            sys.exit("override: give --points and --reason (or --clear)")
        gradebook.set_override(*key, args.points, args.reason)
        print(f"override set: {' / '.join(key)} = {args.points:g} points")
    write_all(gradebook, out)
    gradebook.close()
    return 0


def cmd_nbgrader_source(args: argparse.Namespace) -> int:
    from grading.nbgrader_source import write_nbgrader_source

    written = write_nbgrader_source(Path(args.out).resolve())
    print(f"Wrote {len(written)} nbgrader source notebook(s) under {Path(args.out) / 'source'}")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="grade.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See book/instructors.md, section 'Grading'.",
    )
    sub = main.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade a folder or .zip of submissions into OUT")
    grade.add_argument(
        "submissions", nargs="?", help="folder <student-id>/<notebook>.ipynb, or a .zip of it"
    )
    grade.add_argument("--out", required=True, help="output folder (gradebook, CSVs, feedback)")
    grade.add_argument(
        "--workers",
        type=int,
        default=0,
        help="notebooks graded in parallel (default: the number of cores)",
    )
    grade.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULT",
        help="import grade-one JSON results (files or folders) instead",
    )
    grade.add_argument("--force", action="store_true", help="re-grade unchanged submissions too")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    _box_options(grade)
    grade.set_defaults(run=cmd_grade)
    one = sub.add_parser("grade-one", help="grade one notebook into a JSON result")
    one.add_argument("notebook", help="the submitted .ipynb")
    one.add_argument("--student", required=True, help="the student id")
    one.add_argument("--result", required=True, help="where to write the JSON result")
    one.add_argument("--name", help="the chapter (default: the file's name without .ipynb)")
    one.add_argument(
        "--cache",
        default="~/.cache/course-grader/reference",
        help="where reference runs are cached (default ~/.cache/course-grader)",
    )
    one.add_argument("--slot", type=int, help="box user slot (default: from the process id)")
    _box_options(one)
    one.set_defaults(run=cmd_grade_one)
    over = sub.add_parser("override", help="set (or --clear) an exercise's points by hand")
    over.add_argument("--out", required=True, help="the output folder holding gradebook.sqlite")
    over.add_argument("--student", required=True)
    over.add_argument("--notebook", required=True, help="e.g. defining_models")
    over.add_argument("--exercise", required=True, help="e.g. defining-models-ex-6")
    over.add_argument("--points", type=float)
    over.add_argument("--reason", help="why (shown in grades.csv and the feedback)")
    over.add_argument("--clear", action="store_true", help="remove the override")
    over.set_defaults(run=cmd_override)
    nbg = sub.add_parser("nbgrader-source", help="write the course as an nbgrader course folder")
    nbg.add_argument("--out", required=True, help="the nbgrader course folder to write")
    nbg.set_defaults(run=cmd_nbgrader_source)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
