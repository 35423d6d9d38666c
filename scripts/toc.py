"""The book's table of contents (``_toc.yml``) and settings (``_config.yml``).

Which pages the book has and in what order, which of them are notebooks or in the
appendix, each notebook's title, and the Colab cell every notebook starts with.
The other book tools and the tests take the list of notebooks from here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The first code cell of every notebook: installs the course package on Colab and
# does nothing anywhere else. The URL is _config.yml's repository.url.
COLAB_CELL_TEMPLATE = """\
# On Google Colab, install the course package; anywhere else this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q",
         "tutorial_lib @ git+{repository_url}"],
        check=True,
    )"""


def _load_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _toc_entries(node: object) -> Iterator[str]:
    """Yield every ``file:`` of a jb-book table of contents, in reading order."""
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node and isinstance(node[key], str):
                yield node[key]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key, []) or []:
                yield from _toc_entries(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_entries(child)


def toc_files(root: Path = ROOT) -> list[Path]:
    """Every page of ``_toc.yml`` resolved to an existing file (``.ipynb`` or ``.md``)."""
    pages = []
    for entry in _toc_entries(_load_yaml(root / "_toc.yml")):
        if Path(entry).suffix:
            candidates = [root / entry]
        else:
            candidates = [root / f"{entry}.ipynb", root / f"{entry}.md"]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise FileNotFoundError(f"_toc.yml lists {entry!r} but no .ipynb or .md file exists")
        pages.append(found[0])
    return pages


def toc_appendix(root: Path = ROOT) -> set[Path]:
    """Pages listed under the part captioned "Appendix" (no exercises required there)."""
    toc = _load_yaml(root / "_toc.yml")
    appendix = [p for p in toc.get("parts", []) if p.get("caption") == "Appendix"]
    names = set(_toc_entries(appendix))
    return {
        path
        for path in toc_files(root)
        if str(path.relative_to(root).with_suffix("")) in names
        or str(path.relative_to(root)) in names
    }


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks of ``_toc.yml``, in reading order."""
    return [p for p in toc_files(root) if p.suffix == ".ipynb"]


def notebook_titles(notebooks: Iterable[Path]) -> dict[str, str]:
    """The first ``# Title`` of each notebook, keyed by its path relative to ``ROOT``."""
    import nbformat

    titles = {}
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                match = re.search(r"^# (.+)$", cell.source, flags=re.MULTILINE)
                if match:
                    titles[str(path.relative_to(ROOT))] = match.group(1).strip()
                    break
    return titles


def repository_url(root: Path = ROOT) -> str:
    """The one repository setting of the book (``repository.url`` in ``_config.yml``)."""
    config = _load_yaml(root / "_config.yml")
    return str(config["repository"]["url"]).rstrip("/")


def colab_cell(root: Path = ROOT) -> str:
    """The source of the first code cell every notebook must have."""
    return COLAB_CELL_TEMPLATE.format(repository_url=repository_url(root))
