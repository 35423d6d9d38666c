"""The instructors' guide (``make guide``): the exercise table of
``book/instructors.md``, regenerated from the notebooks' exercise metadata."""

from __future__ import annotations

from pathlib import Path

from exercise_cells import guide_table, notebook_exercises, replace_guide_table
from toc import ROOT, toc_appendix, toc_notebooks

GUIDE = ROOT / "book" / "instructors.md"


def render_guide(root: Path = ROOT) -> str:
    """``book/instructors.md`` with its exercise table regenerated from the metadata:
    one row per exercise of every chapter of ``_toc.yml`` outside the appendix."""
    appendix = toc_appendix(root)
    chapters = [
        (path.stem, notebook_exercises(path))
        for path in toc_notebooks(root)
        if path.resolve() not in appendix
    ]
    guide = root / "book" / "instructors.md"
    return replace_guide_table(guide.read_text(encoding="utf-8"), guide_table(chapters))
