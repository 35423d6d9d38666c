"""Small in-memory notebooks for the unit tests of the book tools in scripts/."""

from __future__ import annotations

from collections.abc import Iterable

import nbformat


def notebook(cells: list) -> nbformat.NotebookNode:
    """A version-4 notebook holding ``cells``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def code_cell(
    source: str, outputs: Iterable[dict] = (), tags: Iterable[str] = ()
) -> nbformat.NotebookNode:
    """A code cell that ran once, with ``outputs`` stored and ``tags`` set."""
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    cell.execution_count = 1
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell
