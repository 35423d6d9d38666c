"""Every ``Taught in:`` back-reference of tutorial_lib names a chapter that exists.

Docstrings say which chapter teaches a function (``Taught in: "Fine-tuning"``) and,
in parentheses, which section or exercise (``"Modifying models" (section "An extra
input")``). A renamed chapter or section breaks the reference; this test finds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from taught_in import Page, pages, problems

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tutorial_lib"


MODULES = sorted(PACKAGE.rglob("*.py"))
BOOK = pages(ROOT)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_back_references_resolve(module):
    text = module.read_text(encoding="utf-8")
    assert problems(text, BOOK) == []


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_module_says_where_it_is_taught(module):
    docstring = module.read_text(encoding="utf-8").split('"""')[1]
    assert "Taught in:" in docstring, (
        f"{module.name}: add 'Taught in: \"<chapter>\"' to its docstring"
    )


def test_a_wrong_chapter_or_section_is_reported():
    book = {
        "Fine-tuning": Page(Path("ft.ipynb"), "## Gradual unfreezing"),
        "For instructors": Page(Path("instructors.md"), "## Grading"),
    }
    assert problems('Taught in: "Fine-tuning" (section "Gradual unfreezing").', book) == []
    assert problems('Taught in: the instructor guide ("Grading").', book) == []
    [wrong] = problems('Taught in: "Fine tuning".', book)
    assert "no chapter is titled 'Fine tuning'" in wrong
    [wrong] = problems('Taught in: "Fine-tuning" (section "Warm restarts").', book)
    assert "no section or exercise 'Warm restarts'" in wrong
    [wrong] = problems("Taught in: somewhere.", book)
    assert "no chapter is titled ''" in wrong
