"""The package reference page (``make api``): every public name of ``tutorial_lib``,
what it does in one sentence, and the chapter that teaches it, as a link.

The page is generated from the docstrings, like d2l's "Defined in" notes read the
other way round: from a function to its chapter. ``tests/test_api_page.py`` fails
when ``book/api.md`` is not what this module renders, so a renamed function, a new
one or a moved chapter cannot leave the page behind.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
from pathlib import Path
from types import ModuleType

from taught_in import Page, pages, references

from toc import ROOT

API_PAGE = ROOT / "book" / "api.md"
PACKAGE = "tutorial_lib"
HEADER = """\
# Package reference

Every public name of the course package `tutorial_lib`, module by module: what it
does, in the first sentence of its docstring, and the chapter that teaches it.
`import tutorial_lib as tl` makes each of them available as `tl.<name>`; the
functions' full documentation is their docstring (`help(tl.fit)`). The exercise
checks, `tutorial_lib.exercises.<chapter>`, are described in the
{doc}`instructor guide <instructors>`.

This page is generated from the docstrings by `make api`; a test fails when it is
out of date.
"""


def _markdown(text: str) -> str:
    """reStructuredText inline markup of the docstrings as MyST markdown: roles such
    as ``:func:`fit``` and double backquotes become plain inline code."""
    text = re.sub(r":(?:func|class|mod|data|meth|attr|exc):`~?([^`]+)`", r"`\1`", text)
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _first_sentence(text: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line, as markdown."""
    paragraph = _markdown(" ".join(text.strip().split("\n\n")[0].split()))
    match = re.match(r"(.+?[.!?])(?:\s|$)", paragraph)
    return (match.group(1) if match else paragraph).replace("|", "\\|")


def _attribute_docs(module: ModuleType) -> dict[str, str]:
    """The string literal that follows a module-level assignment, by name (the
    attribute docstrings that Sphinx reads and Python does not keep)."""
    tree = ast.parse(inspect.getsource(module))
    docs: dict[str, str] = {}
    for node, following in zip(tree.body, tree.body[1:], strict=False):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        is_string = (
            isinstance(following, ast.Expr)
            and isinstance(getattr(following, "value", None), ast.Constant)
            and isinstance(following.value.value, str)
        )
        for target in targets:
            if isinstance(target, ast.Name) and is_string:
                docs[target.id] = following.value.value
    return docs


def _kind(value: object) -> str:
    if inspect.isclass(value):
        return "class"
    if inspect.isfunction(value):
        return "function"
    return "constant"


def _link(title: str, book: dict[str, Page], page_dir: Path) -> str:
    page = book.get(title)
    if page is None:
        raise ValueError(f"'Taught in: \"{title}\"' names no page of the table of contents")
    target = Path(os.path.relpath(page.path.with_suffix(""), page_dir)).as_posix()
    return f"{{doc}}`{title} <{target}>`"


def _chapters(doc: str, fallback: str, book: dict[str, Page], page_dir: Path) -> str:
    titles = [title for title, _ in references(doc)] or [t for t, _ in references(fallback)]
    unique = list(dict.fromkeys(t for t in titles if t))
    return ", ".join(_link(title, book, page_dir) for title in unique)


def module_rows(
    module: ModuleType, book: dict[str, Page], page_dir: Path, attribute_docs: dict[str, str]
) -> list[str]:
    """The table rows of one module: name, kind, first sentence, chapters.
    ``attribute_docs`` holds the constants' docstrings of the whole package (a
    constant may be defined in one module and exported by another)."""
    module_doc = inspect.getdoc(module) or ""
    rows = []
    for name in module.__all__:
        value = getattr(module, name)
        own = inspect.getdoc(value) if _kind(value) != "constant" else None
        doc = own or attribute_docs.get(name, "")
        if not doc:
            raise ValueError(
                f"{module.__name__}.{name} has no docstring: add one (for a constant, a "
                "string literal on the line after its assignment)"
            )
        shown = f"`{name}()`" if _kind(value) == "function" else f"`{name}`"
        chapters = _chapters(doc, module_doc, book, page_dir)
        rows.append(f"| {shown} | {_kind(value)} | {_first_sentence(doc)} | {chapters} |")
    return rows


def render_api_page(root: Path = ROOT) -> str:
    """The text of ``book/api.md`` for the package as it is now."""
    package = importlib.import_module(PACKAGE)
    book = pages(root)
    page_dir = root / "book"
    parts = [HEADER]
    attribute_docs: dict[str, str] = {}
    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        name = f"{PACKAGE}.{path.stem}" if path.stem != "__init__" else PACKAGE
        attribute_docs.update(_attribute_docs(importlib.import_module(name)))
    for module in sorted(package._MODULES, key=lambda m: m.__name__):
        short = module.__name__.removeprefix(PACKAGE + ".")
        parts.append(f"## `{short}`\n")
        parts.append(_first_sentence(inspect.getdoc(module) or "") + "\n")
        parts.append("| name | kind | what it does | taught in |\n|---|---|---|---|")
        parts.append("\n".join(module_rows(module, book, page_dir, attribute_docs)) + "\n")
    return "\n".join(parts)
