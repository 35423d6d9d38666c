"""Fixtures of the exercise tests: one strict-mode kernel per chapter notebook."""

from __future__ import annotations

import pytest

from harness import ROOT, Grader


@pytest.fixture(scope="module")
def grader(request: pytest.FixtureRequest):
    notebook = getattr(request.module, "NOTEBOOK", None)
    if notebook is None:
        raise RuntimeError(f"{request.module.__name__} must set NOTEBOOK = '<notebook stem>'")
    g = Grader(ROOT / "book" / f"{notebook}.ipynb")
    try:
        g.prepare()
        yield g
    finally:
        g.close()
