"""pytest plugin for the notebook run (`make nbval`).

With ``--toc-notebooks``, the session fails unless nbval collected exactly the
notebooks listed in ``_toc.yml`` and every one of them had cells that ran and none
that were skipped: nothing is left out silently.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

# scripts/ is importable through pyproject.toml's [tool.pytest.ini_options] pythonpath,
# which pytest applies before it loads this file.
from toc import toc_notebooks

ROOT = Path(__file__).resolve().parent

# Per-cell numeric tolerance for nbval (scripts/nbval_tolerance.py).
pytest_plugins = ["nbval_tolerance"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--toc-notebooks",
        action="store_true",
        default=False,
        help="fail unless nbval ran every notebook of _toc.yml, and only those",
    )


def _show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--toc-notebooks"))


def _is_xdist_worker(config: pytest.Config) -> bool:
    # Under pytest-xdist every worker collects all notebooks but runs only some; the
    # controller receives every worker's reports and checks that all cells ran.
    return hasattr(config, "workerinput")


_outcomes: dict[Path, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not _enabled(config):
        return
    collected = {Path(str(item.fspath)).resolve() for item in items if item.fspath.ext == ".ipynb"}
    expected = {path.resolve() for path in toc_notebooks(ROOT)}
    if collected != expected:
        missing = sorted(_show(p) for p in expected - collected)
        extra = sorted(_show(p) for p in collected - expected)
        raise pytest.UsageError(
            f"nbval must run exactly the notebooks of _toc.yml; missing: {missing}, "
            f"not in _toc.yml: {extra}"
        )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = Path(report.fspath)
    if path.suffix == ".ipynb" and (report.when == "call" or report.outcome == "skipped"):
        _outcomes[path.resolve()][report.outcome] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _enabled(session.config) or _is_xdist_worker(session.config):
        return
    problems = []
    for path in toc_notebooks(ROOT):
        counts = _outcomes.get(path.resolve(), {})
        if counts.get("skipped"):
            problems.append(f"{path.relative_to(ROOT)}: {counts['skipped']} cell(s) skipped")
        if not counts.get("passed") and not counts.get("failed"):
            problems.append(f"{path.relative_to(ROOT)}: no cell ran")
    if problems:
        print("\nnbval did not run every notebook of _toc.yml fully:\n  " + "\n  ".join(problems))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
