"""Reading and tidying the cells and stored outputs of a notebook.

A cell's tags, the text of an output, the checks that stored outputs show no
machine path and no ANSI colour code, and the tidying the execute step applies
before it stores outputs (streams merged, carriage returns applied, progress bars'
elapsed times neutralised with nbval's own sanitizer rule, widget state dropped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from toc import ROOT

# Strings that must never appear in stored outputs: machine paths and user names.
LEAK_PATTERNS = (
    re.compile(r"/work/\w"),
    re.compile(r"/root/"),
    re.compile(r"/home/\w"),
    re.compile(r"/Users/\w"),
    re.compile(r"/tmp/ipykernel_\d+"),
    re.compile(r"\.venv/lib/"),
)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SANITIZE_CONFIG = ROOT / "tests" / "nbval_sanitize.cfg"
ELAPSED_SECTION = "tqdm: elapsed<remaining and rate"


def cell_tags(cell: dict) -> set[str]:
    """The tags of ``cell`` (``metadata.tags``), empty when it has none."""
    return set(cell.get("metadata", {}).get("tags", []))


def output_text(output: dict) -> str:
    """All text of one output (streams, text/plain, text/html, errors)."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", []))
    data = output.get("data", {})
    return "\n".join(
        value if isinstance(value, str) else "".join(value)
        for key, value in data.items()
        if key.startswith("text/")
    )


def _find(nb: dict, patterns: Iterable[re.Pattern[str]]) -> list[str]:
    """Describe every match of ``patterns`` in the stored outputs of ``nb``."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            text = output_text(output)
            for pattern in patterns:
                match = pattern.search(text)
                if match:
                    found.append(f"cell {index}: {match.group(0)!r} in {text[:80]!r}")
    return found


def find_leaks(nb: dict) -> list[str]:
    """Describe every stored output that shows a machine path or user name."""
    return _find(nb, LEAK_PATTERNS)


def find_ansi(nb: dict) -> list[str]:
    """Describe every stored output with ANSI colour codes (a terminal's colours, which
    the book shows as garbage and which differ between Python versions)."""
    return _find(nb, (ANSI_ESCAPE,))


def _collapse_stream(text: str) -> str:
    """What a terminal shows: a carriage return without newline overwrites the line."""
    lines = text.split("\n")
    return "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line else line for line in lines)


def elapsed_time_rule(config: Path = SANITIZE_CONFIG) -> tuple[re.Pattern[str], str]:
    """The sanitizer rule that replaces a progress bar's elapsed time and rate.

    nbval applies it to stored and fresh outputs before comparing them; the execute
    step applies it to the outputs it stores, so that a stored bar never shows a time
    measured on a busy machine (the status page gives the notebooks' real times)."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(config, encoding="utf-8")
    if ELAPSED_SECTION not in parser:
        raise RuntimeError(f"{config} has no [{ELAPSED_SECTION}] section: restore it")
    section = parser[ELAPSED_SECTION]
    return re.compile(section["regex"]), section["replace"]


def neutralise_elapsed(text: str, rule: tuple[re.Pattern[str], str] | None = None) -> str:
    """``text`` with every progress bar's elapsed time and rate replaced (see above)."""
    pattern, replacement = rule or elapsed_time_rule()
    return pattern.sub(replacement, text)


def tidy_outputs(nb: dict) -> dict:
    """Merge consecutive stream outputs, apply carriage returns (progress bars),
    neutralise progress bars' elapsed times and drop widget state, as a notebook
    front end shows them. Changes ``nb`` in place and returns it."""
    rule = elapsed_time_rule()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        merged: list[dict] = []
        for output in cell.get("outputs", []):
            if (
                output.get("output_type") == "stream"
                and merged
                and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == output.get("name")
            ):
                merged[-1]["text"] += output["text"]
            else:
                merged.append(output)
        for output in merged:
            if output.get("output_type") == "stream":
                output["text"] = neutralise_elapsed(_collapse_stream(output["text"]), rule)
        cell["outputs"] = merged
    nb.get("metadata", {}).pop("widgets", None)
    return nb
