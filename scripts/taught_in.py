"""The ``Taught in:`` back-references of tutorial_lib's docstrings, resolved against
the book's table of contents.

Docstrings say which chapter teaches a function (``Taught in: "Fine-tuning"``) and,
in parentheses, which section or exercise (``"Modifying models" (section "An extra
input")``); "the instructor guide" names the page "For instructors". The test of
the references (``tests/test_taught_in.py``) and the package reference page
(``api_page.py``) both read them here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from toc import ROOT, toc_files

GUIDE = "the instructor guide"
GUIDE_TITLE = "For instructors"
TAUGHT = re.compile(r"Taught in:(.*?)(?:\n\s*\n|\"\"\"|$)", re.S)
# A chapter title in quotes, or the instructor guide, then optional (...) details.
REFERENCE = re.compile(
    r'(?:"(?P<title>[^"]+)"|(?P<guide>' + GUIDE + r"))\s*(?:\((?P<detail>[^)]*)\))?"
)


@dataclass(frozen=True)
class Page:
    """A page of the table of contents: its file and the text of its markdown."""

    path: Path
    text: str


def pages(root: Path = ROOT) -> dict[str, Page]:
    """Every page of the table of contents by its ``# title``."""
    import nbformat

    found = {}
    for path in toc_files(root):
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        else:
            text = path.read_text(encoding="utf-8")
        match = re.search(r"^# (.+)$", text, re.M)
        if not match:
            raise ValueError(f"{path} has no '# Title' line")
        found[match.group(1).strip()] = Page(path, text)
    return found


def references(text: str) -> list[tuple[str, list[str]]]:
    """``(page title, [quoted section names])`` of every Taught-in line of ``text``;
    "the instructor guide" becomes its page title. A Taught-in line that names no
    page gives ``("", [its text])``."""
    found = []
    for block in TAUGHT.finditer(text):
        body = " ".join(block.group(1).split())
        refs = [
            (
                GUIDE_TITLE if m.group("guide") else m.group("title"),
                re.findall(r'"([^"]+)"', m.group("detail") or ""),
            )
            for m in REFERENCE.finditer(body)
        ]
        found.extend(refs or [("", [body])])
    return found


def problems(text: str, book: dict[str, Page]) -> list[str]:
    """What is wrong with the Taught-in lines of ``text`` (empty when all resolve)."""
    wrong = []
    for title, sections in references(text):
        if title not in book:
            wrong.append(f"no chapter is titled {title!r} (chapters: {sorted(book)})")
            continue
        for section in sections:
            if section not in book[title].text:
                wrong.append(f"chapter {title!r} has no section or exercise {section!r}")
    return wrong
