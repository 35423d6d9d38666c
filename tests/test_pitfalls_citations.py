"""The pitfalls appendix cites the source notes exactly (issue 16, item 3).

Every pitfall's heading cell carries ``metadata.pitfall``: a list of citations
``{"note": file name, "lines": [first, last], "api": text}``. The test checks that
each cited file exists in ``../shared/source-notes``, that the line range exists in
it, that the API the pitfall names occurs within those lines, and that the cell's
prose names the same file and range, so the page and the metadata cannot drift apart.
The notes live beside the project (``shared/``); without them the test fails rather
than skips, since it would otherwise prove nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT.parent / "shared" / "source-notes"
APPENDIX = ROOT / "book" / "pitfalls.ipynb"
HEADING = re.compile(r"^## (\d+)\. ")
CITED_IN_PROSE = re.compile(r"note \d{3} \(`([^`]+)`\), lines? (\d+)(?:–(\d+))?")


def _pitfalls() -> list[tuple[int, nbformat.NotebookNode]]:
    notebook = nbformat.read(APPENDIX, as_version=4)
    found = []
    for cell in notebook.cells:
        match = HEADING.match(cell.source) if cell.cell_type == "markdown" else None
        if match:
            found.append((int(match.group(1)), cell))
    return found


PITFALLS = _pitfalls()


def citation_problems(cell: nbformat.NotebookNode, notes: Path) -> list[str]:
    """What is wrong with the citations of one pitfall cell (empty when nothing is)."""
    citations = cell.metadata.get("pitfall")
    if not isinstance(citations, list) or not citations:
        return ["metadata.pitfall must be a non-empty list of {note, lines, api}"]
    problems = []
    for citation in citations:
        note, lines, api = citation.get("note"), citation.get("lines"), citation.get("api")
        if not (isinstance(note, str) and isinstance(api, str) and api.strip()):
            problems.append(f"{citation}: needs a note file name and the api it names")
            continue
        if not (
            isinstance(lines, list) and len(lines) == 2 and all(isinstance(n, int) for n in lines)
        ):
            problems.append(f"{citation}: lines must be [first, last]")
            continue
        path = notes / note
        if not path.is_file():
            problems.append(f"{note}: no such note in {notes}")
            continue
        text = path.read_text(encoding="utf-8").splitlines()
        first, last = lines
        if not 1 <= first <= last <= len(text):
            problems.append(f"{note} lines {first}-{last}: the note has {len(text)} lines")
            continue
        if api not in "\n".join(text[first - 1 : last]):
            problems.append(f"{note} lines {first}-{last} do not contain {api!r}")
    cited = {
        (m.group(1), int(m.group(2)), int(m.group(3) or m.group(2)))
        for m in CITED_IN_PROSE.finditer(cell.source)
    }
    meta = {(c.get("note"), *c.get("lines", [0, 0])) for c in citations if isinstance(c, dict)}
    if cited != meta:
        problems.append(f"the prose cites {sorted(cited)}, the metadata {sorted(meta)}")
    return problems


def test_the_notes_are_there():
    assert NOTES.is_dir(), f"the source notes are expected in {NOTES} (shared/ beside the project)"
    assert len(PITFALLS) >= 18


@pytest.mark.parametrize(("number", "cell"), PITFALLS, ids=[f"pitfall-{n}" for n, _ in PITFALLS])
def test_every_pitfall_cites_lines_that_contain_its_api(number, cell):
    assert NOTES.is_dir(), f"the source notes are expected in {NOTES}"
    assert citation_problems(cell, NOTES) == []


def _cell(source: str, citations) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["pitfall"] = citations
    return cell


def test_a_wrong_citation_is_caught(tmp_path):
    (tmp_path / "003_x.txt").write_text("a\nb\ndef adjust(optimizer):\nd\n", encoding="utf-8")
    good = {"note": "003_x.txt", "lines": [2, 3], "api": "def adjust("}
    prose = "*Source: note 003 (`003_x.txt`), lines 2–3.*"
    assert citation_problems(_cell(prose, [good]), tmp_path) == []
    wrong_range = dict(good, lines=[1, 2])  # the api is on line 3
    assert (
        "do not contain"
        in citation_problems(_cell(prose.replace("2–3", "1–2"), [wrong_range]), tmp_path)[0]
    )
    past_end = dict(good, lines=[3, 9])
    assert (
        "has 4 lines"
        in citation_problems(_cell(prose.replace("2–3", "3–9"), [past_end]), tmp_path)[0]
    )
    missing = dict(good, note="009_y.txt")
    assert "no such note" in citation_problems(_cell(prose, [missing]), tmp_path)[0]
    drifted = citation_problems(_cell(prose.replace("2–3", "2–4"), [good]), tmp_path)
    assert drifted and "the prose cites" in drifted[0]
    assert "non-empty list" in citation_problems(_cell(prose, []), tmp_path)[0]
