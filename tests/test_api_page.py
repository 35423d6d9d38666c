"""The package reference page (book/api.md, scripts/api_page.py) is up to date and
links every public name of tutorial_lib to a chapter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from api_page import API_PAGE, _first_sentence, _markdown, render_api_page

import tutorial_lib as tl

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def page() -> str:
    return render_api_page(ROOT)


def test_the_page_is_up_to_date(page):
    assert API_PAGE.read_text(encoding="utf-8") == page, (
        "book/api.md is out of date: run `make api` and commit it"
    )


def test_every_public_name_is_listed_with_a_chapter(page):
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(\w+)(?:\(\))?` \|.*\| (.*) \|$", page, re.M)
    }
    exercise_names = {"Case", "CheckFailed", "check_function", "check_module", "compare"}
    missing = sorted(set(tl.__all__) - exercise_names - set(rows))
    assert missing == []
    assert all("{doc}`" in chapters for chapters in rows.values())


def test_markup_becomes_markdown():
    assert _markdown("see :func:`fit` and ``x = 1``") == "see `fit` and `x = 1`"
    assert _first_sentence("Train it. Then more.\n\nDetails.") == "Train it."
    assert _first_sentence("A | B.") == "A \\| B."
