"""Every ``Taught in:`` back-reference of tutorial_lib names a chapter that exists.

Docstrings say which chapter teaches a function (``Taught in: "Fine-tuning"``) and,
in parentheses, which section or exercise (``"Modifying models" (section "An extra
input")``). A renamed chapter or section breaks the reference; this test finds it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from toc import toc_files

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tutorial_lib"
GUIDE = "the instructor guide"
TAUGHT = re.compile(r"Taught in:(.*?)(?:\n\s*\n|\"\"\"|$)", re.S)
# A chapter title in quotes, or the instructor guide, then optional (...) details.
REFERENCE = re.compile(
    r'(?:"(?P<title>[^"]+)"|(?P<guide>' + GUIDE + r"))\s*(?:\((?P<detail>[^)]*)\))?"
)


def chapters(root: Path = ROOT) -> dict[str, str]:
    """Every page of the table of contents: its ``# title`` -> its markdown text."""
    pages = {}
    for path in toc_files(root):
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        else:
            text = path.read_text(encoding="utf-8")
        match = re.search(r"^# (.+)$", text, re.M)
        assert match, f"{path} has no '# Title' line"
        pages[match.group(1).strip()] = text
    return pages


def references(text: str) -> list[tuple[str, list[str]]]:
    """``(chapter title or GUIDE, [quoted section names])`` of every Taught-in line."""
    found = []
    for block in TAUGHT.finditer(text):
        body = " ".join(block.group(1).split())
        refs = [
            (m.group("title") or GUIDE, re.findall(r'"([^"]+)"', m.group("detail") or ""))
            for m in REFERENCE.finditer(body)
        ]
        if not refs:
            refs = [("", [body])]  # a Taught-in line that names nothing
        found.extend(refs)
    return found


def problems(text: str, pages: dict[str, str], guide_title: str = "For instructors") -> list[str]:
    """What is wrong with the Taught-in lines of ``text`` (empty when all resolve)."""
    wrong = []
    for title, sections in references(text):
        page = guide_title if title == GUIDE else title
        if page not in pages:
            wrong.append(f"no chapter is titled {title!r} (chapters: {sorted(pages)})")
            continue
        for section in sections:
            if section not in pages[page]:
                wrong.append(f"chapter {page!r} has no section or exercise {section!r}")
    return wrong


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_back_references_resolve(module):
    text = module.read_text(encoding="utf-8")
    assert problems(text, chapters()) == []


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_where_it_is_taught(module):
    docstring = module.read_text(encoding="utf-8").split('"""')[1]
    assert "Taught in:" in docstring, (
        f"{module.name}: add 'Taught in: \"<chapter>\"' to its docstring"
    )


def test_a_wrong_chapter_or_section_is_reported():
    pages = {"Fine-tuning": "## Gradual unfreezing", "For instructors": "## Grading"}
    assert problems('Taught in: "Fine-tuning" (section "Gradual unfreezing").', pages) == []
    assert problems('Taught in: the instructor guide ("Grading").', pages) == []
    [wrong] = problems('Taught in: "Fine tuning".', pages)
    assert "no chapter is titled 'Fine tuning'" in wrong
    [wrong] = problems('Taught in: "Fine-tuning" (section "Warm restarts").', pages)
    assert "no section or exercise 'Warm restarts'" in wrong
    [wrong] = problems("Taught in: somewhere.", pages)
    assert "no chapter is titled ''" in wrong
