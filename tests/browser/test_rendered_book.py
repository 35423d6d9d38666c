"""The rendered book, tested as a reader uses it: every page of _toc.yml in headless
Chromium, served from 127.0.0.1.

Run by `make browser` (part of `make test`) after the strict build.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from functools import cache
from pathlib import Path

import pytest

from conftest import HTML, ROOT, SCREENSHOTS
from toc import repository_url, toc_files, toc_notebooks

PAGES = [p.relative_to(ROOT).with_suffix(".html").as_posix() for p in toc_files(ROOT)]
NOTEBOOK_PAGES = [p.relative_to(ROOT).with_suffix(".html").as_posix() for p in toc_notebooks(ROOT)]


@cache
def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, ""


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly(open_page, site, path):
    page, log = open_page(path)
    assert page.title(), f"{path} has no title"
    assert not log.problems, f"{path}:\n  " + "\n  ".join(log.problems)

    broken_images = page.eval_on_selector_all(
        "img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert broken_images == [], f"{path}: broken images {broken_images}"

    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    broken = []
    for href in sorted(set(hrefs)):
        if not href.startswith(site):
            continue
        target, _, fragment = href.partition("#")
        status, body = _fetch(target)
        if status != 200:
            broken.append(f"{href} (HTTP {status})")
        elif fragment and target.endswith(".html"):
            anchor = urllib.parse.unquote(fragment)
            if f'id="{anchor}"' not in body:
                broken.append(f"{href} (no element with id {anchor!r})")
    assert broken == [], f"{path}: broken internal links:\n  " + "\n  ".join(broken)


@pytest.mark.parametrize("path", NOTEBOOK_PAGES)
def test_notebook_page_buttons(open_page, site, path):
    page, _ = open_page(path)
    notebook = Path(path).with_suffix(".ipynb").as_posix()
    download = page.locator(f'a[href$="_sources/{notebook}"]')
    assert download.count() >= 1, f"{path}: no download button for the .ipynb"
    status, body = _fetch(
        urllib.parse.urljoin(f"{site}/{path}", download.first.get_attribute("href"))
    )
    assert status == 200 and '"cells"' in body, "the downloaded file is not the notebook"

    repo = repository_url(ROOT).removeprefix("https://github.com/")
    colab = page.locator('a[href*="colab.research.google.com"]').first.get_attribute("href")
    binder = page.locator('a[href*="mybinder.org"]').first.get_attribute("href")
    assert colab.endswith(f"/github/{repo}/blob/main/{notebook}")
    assert f"/v2/gh/{repo}/main" in binder and notebook in binder


def test_solution_dropdown_opens_when_clicked(open_page):
    page, _ = open_page(NOTEBOOK_PAGES[0])
    solution = page.locator("div.solution.dropdown").first
    assert solution.count() == 1, "no solution dropdown on the first chapter"
    body = solution.locator("section, div.cell, div.highlight").first
    assert "toggle-hidden" in (solution.get_attribute("class") or ""), (
        "solution shown before a click"
    )
    assert not body.is_visible()
    solution.locator(".admonition-title, button.toggle-button").first.click()
    page.wait_for_timeout(300)
    assert "toggle-hidden" not in (solution.get_attribute("class") or "")
    assert body.is_visible(), "solution still hidden after the click"


def test_search_finds_a_chapter_term(open_page):
    page, log = open_page("search.html?q=ModuleList")
    page.wait_for_selector("#search-results ul.search li", timeout=15000)
    results = page.eval_on_selector_all(
        "#search-results ul.search li a", "as => as.map(a => a.href)"
    )
    assert any("defining_models.html" in url for url in results), results
    assert not log.problems, log.problems


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_for_review(open_page, scheme):
    """Not a check of looks: saves two pages in each mode for a human reviewer."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for path in (PAGES[0], NOTEBOOK_PAGES[0]):
        page, _ = open_page(path, color_scheme=scheme)
        page.evaluate(
            "mode => { document.documentElement.dataset.theme = mode;"
            " document.documentElement.dataset.mode = mode; localStorage.setItem('theme', mode); }",
            scheme,
        )
        page.wait_for_timeout(200)
        assert page.evaluate("() => document.documentElement.dataset.theme") == scheme
        name = re.sub(r"[^a-z0-9]+", "-", Path(path).stem.lower())
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{scheme}.png"))
    assert len(list(SCREENSHOTS.glob(f"*-{scheme}.png"))) >= 2


def test_the_build_is_the_one_under_test():
    assert (HTML / "index.html").is_file()
