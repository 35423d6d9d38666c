"""The table of contents and notebook titles (scripts/toc.py)."""

from pathlib import Path

import nbformat
import pytest

import toc
from notebook_builders import notebook
from toc import notebook_titles, toc_appendix, toc_files, toc_notebooks


def _toc(tmp_path: Path, text: str) -> Path:
    (tmp_path / "_toc.yml").write_text(text)
    return tmp_path


def test_toc_resolves_pages_in_reading_order(tmp_path):
    for name in ("intro.md", "a.ipynb", "b.md", "c.ipynb"):
        (tmp_path / name).write_text("{}")
    _toc(
        tmp_path,
        "format: jb-book\nroot: intro\nparts:\n  - caption: P\n    chapters:\n"
        "      - file: a\n        sections:\n          - file: b\n      - file: c.ipynb\n",
    )
    assert [p.name for p in toc_files(tmp_path)] == [
        "intro.md",
        "a.ipynb",
        "b.md",
        "c.ipynb",
    ]
    assert [p.name for p in toc_notebooks(tmp_path)] == ["a.ipynb", "c.ipynb"]


def test_toc_missing_file_is_an_error(tmp_path):
    _toc(tmp_path, "format: jb-book\nroot: nothere\n")
    with pytest.raises(FileNotFoundError, match="'nothere'"):
        toc_files(tmp_path)


def test_toc_appendix_lists_the_appendix_part_only(tmp_path):
    for name in ("intro.md", "a.ipynb", "p.ipynb", "g.md"):
        (tmp_path / name).write_text("{}")
    _toc(
        tmp_path,
        "format: jb-book\nroot: intro\nparts:\n  - caption: Chapters\n    chapters:\n"
        "      - file: a\n  - caption: Appendix\n    chapters:\n      - file: p\n"
        "      - file: g\n",
    )
    assert {p.name for p in toc_appendix(tmp_path)} == {"p.ipynb", "g.md"}


def test_notebook_titles_reads_the_first_heading(tmp_path, monkeypatch):
    monkeypatch.setattr(toc, "ROOT", tmp_path)
    path = tmp_path / "x.ipynb"
    nb = notebook([nbformat.v4.new_markdown_cell("intro\n\n# The title\n\n## section")])
    nbformat.write(nb, path)
    assert notebook_titles([path]) == {"x.ipynb": "The title"}
