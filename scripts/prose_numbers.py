"""Numbers in a chapter's prose must be numbers that its cells printed.

The course promises that a number in the text is a result the reader can see a cell
compute. This module checks that promise against a notebook's *stored* outputs, so
that re-executing a notebook whose results moved cannot leave its prose behind:
``make test`` fails until the sentence says what the cell now prints.

A number written in a markdown cell is **backed** when

* an output of the notebook (a stream, ``text/plain``, ``text/markdown`` or
  ``text/html``) shows it, up to the rounding the prose uses: "86.1" is backed by a
  printed ``86.13`` or ``86.1``, not by ``0.861`` or ``86.2`` (print percentages as
  percentages if the prose speaks in percent); signs and thousands separators are
  ignored ("1,797" is backed by ``1797``, "a loss of 104" by ``-104.0``); a round
  number after "about", "roughly", "around" or "nearly" states only its significant
  digits ("about 3,000" is backed by ``3,037``, not by ``3,600``);
* or a code cell's source writes it: a size or setting that the task itself fixes
  (``k = 5``, ``lr=0.1``, ``Linear(64, 10)``);
* or it is not a result and says so. These need no marking: integers from 0 to 10
  (counts written as digits), a section reference (``§6.3``), a line
  reference (``lines 118–142`` of a note), the number of a
  numbered heading (``## 14.``), a model's name (``ResNet-18``), an arXiv, issue or
  pull-request number (``#196941``), a version after the name of a package
  (``PyTorch 2.6``, ``Python 3.12``) or with two dots (``1.8.0``). Everything else (a year, a
  paper's figure, an arXiv number, a size quoted from elsewhere) is listed in the
  markdown cell's metadata with the reason::

      "metadata": {"prose_numbers": {"2015": "the year the U-Net paper appeared"}}

  A listed number that the cell no longer contains is reported too, so the list
  cannot outlive the sentence.

Text that is code, not prose, is skipped: fenced blocks, inline code and MyST roles
(`` {glue:text}`name` `` included), math, link targets and HTML tags.

Run ``python scripts/prose_numbers.py book/*.ipynb`` to list what is not backed;
``tests/test_prose_numbers.py`` runs the same check in ``make test``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import nbformat

METADATA_KEY = "prose_numbers"
SMALL_INTEGER = 10
# "about 3,000": the trailing zeros of a round number after one of these words are
# not significant.
APPROXIMATE = re.compile(r"(?:\babout|\broughly|\baround|\bnearly|~)\s*$", re.I)
TEXT_MIMES = ("text/plain", "text/markdown", "text/html")

# A number as people write it: optional sign, digits with optional thousands
# commas, optional decimals; not part of a word, an identifier or a longer number.
NUMBER = re.compile(r"(?<![\w.,])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\w|[.,]\d)")
_SKIPPED = [
    re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M),  # fenced blocks and directives' code
    re.compile(r"<!--.*?-->", re.S),  # HTML comments
    re.compile(r"\$\$.*?\$\$", re.S),  # display math
    re.compile(r"(?<![\\\w])\$[^$\n]+\$"),  # inline math
    re.compile(r"(\{[\w:-]+\})?`[^`\n]*`"),  # inline code and MyST roles
    re.compile(r"\]\([^)\s]*\)"),  # link targets
    re.compile(r"<[^>\n]+>"),  # HTML tags and autolinks
    re.compile(r"^:[\w-]+:.*$", re.M),  # directive options (:label: ..., :class: ...)
    re.compile(r"https?://\S+"),  # bare URLs
]
_NOT_RESULTS = [
    re.compile(r"§\s*\d+(?:\.\d+)*"),  # section references
    re.compile(r"\blines?\s+\d+(?:\s*[–-]\s*\d+)?"),  # line references: "lines 118–142"
    re.compile(r"^#+\s*\d+\.", re.M),  # a numbered heading ("## 14. ...")
    re.compile(r"\b[A-Za-z]+-\d+\b"),  # model names: ResNet-18, VGG-16
    re.compile(r"\barXiv:\s*\S+|#\d+\b"),  # paper, issue and pull-request numbers
    re.compile(
        r"\b(?:PyTorch|torch|torchvision|Python|NumPy|numpy|CUDA|ONNX|opset|version|v)"
        r"\s*\d+(?:\.\d+)+",
    ),
]


@dataclass(frozen=True)
class Unbacked:
    """One number of a markdown cell that nothing in the notebook backs."""

    notebook: str
    cell: int
    number: str
    context: str
    reason: str = "no output of the notebook shows it and no code cell sets it"

    def __str__(self) -> str:
        where = f"{self.notebook} cell {self.cell}: {self.number!r}"
        return f"{where} ({self.reason}) in: …{self.context}…"


def prose_text(markdown: str) -> str:
    """Return the prose of a markdown cell: code, math, links and tags blanked out."""
    for pattern in _SKIPPED:
        markdown = pattern.sub(lambda m: " " * len(m.group(0)), markdown)
    for pattern in _NOT_RESULTS:
        markdown = pattern.sub(lambda m: " " * len(m.group(0)), markdown)
    return markdown


def _value(token: str) -> tuple[Decimal, int]:
    """The absolute value of a written number and its count of decimals."""
    text = token.replace("−", "-").replace(",", "").lstrip("-")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return Decimal(text), decimals


def numbers_in(text: str) -> Iterator[re.Match[str]]:
    """Every written number of ``text`` (see ``NUMBER``)."""
    return NUMBER.finditer(text)


def _output_texts(cell: Any) -> Iterator[str]:
    for output in cell.get("outputs", []):
        if "text" in output:
            yield "".join(output["text"])
        for mime in TEXT_MIMES:
            value = output.get("data", {}).get(mime)
            if value is not None:
                yield "".join(value)


def _values(texts: Iterable[str]) -> set[Decimal]:
    found: set[Decimal] = set()
    for text in texts:
        # Scientific notation in outputs (1.2e-05) counts by its value.
        for match in re.finditer(r"\d+(?:\.\d+)?[eE][-+]?\d+", text):
            found.add(abs(Decimal(match.group(0))))
        for match in numbers_in(text):
            found.add(_value(match.group(0))[0])
    return found


def _backed(
    value: Decimal, decimals: int, printed: set[Decimal], *, approximate: bool = False
) -> bool:
    if approximate and decimals == 0 and value:
        digits = str(int(value))
        decimals = -(len(digits) - len(digits.rstrip("0")))  # 3000 -> -3: thousands
    half = Decimal(5).scaleb(-decimals - 1)
    return any(abs(candidate - value) <= half for candidate in printed)


def check_notebook(path: Path | str, name: str | None = None) -> list[Unbacked]:
    """Return every number in ``path``'s markdown that its outputs and code do not back."""
    path = Path(path)
    name = name or path.name
    notebook = nbformat.read(path, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    printed = _values(text for cell in code_cells for text in _output_texts(cell))
    written = {_value(m.group(0))[0] for cell in code_cells for m in numbers_in(cell.source)}
    problems: list[Unbacked] = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        marked = cell.get("metadata", {}).get(METADATA_KEY, {})
        if not isinstance(marked, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in marked.items()
        ):
            problems.append(
                Unbacked(
                    name,
                    index,
                    str(marked),
                    "",
                    f"metadata.{METADATA_KEY} must map "
                    "each number, as written, to the reason it is not a result",
                )
            )
            marked = {}
        text = prose_text(cell.source)
        seen: set[str] = set()
        for match in numbers_in(text):
            token = match.group(0)
            seen.add(token)
            value, decimals = _value(token)
            if token in marked or token.lstrip("-−") in marked:
                continue
            if decimals == 0 and value <= SMALL_INTEGER:
                continue
            start, end = match.span()
            approximate = bool(APPROXIMATE.search(text[max(0, start - 12) : start]))
            if value in written or _backed(value, decimals, printed, approximate=approximate):
                continue
            context = " ".join(cell.source[max(0, start - 40) : end + 40].split())
            problems.append(Unbacked(name, index, token, context))
        for token in marked:
            if token not in seen and ("-" + token) not in seen:
                problems.append(
                    Unbacked(
                        name,
                        index,
                        token,
                        "",
                        f"listed in metadata.{METADATA_KEY} "
                        "but the cell's prose no longer contains it: remove it",
                    )
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    """List the unbacked numbers of the given notebooks; exit 1 if there are any."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    problems = [p for nb in args.notebooks for p in check_notebook(nb)]
    for problem in problems:
        print(problem)
    print(f"{len(problems)} number(s) in prose not backed by a cell", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
