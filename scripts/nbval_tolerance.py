"""Numeric tolerance for nbval, cell by cell (a pytest plugin, loaded by ``conftest.py``).

nbval compares a re-executed cell's outputs with the stored ones exactly. That is right
for shapes, counts, dtypes and messages, and wrong for numbers that come out of float
reductions (a training loss, a Dice score): their last digits depend on the CPU's
kernels (AVX-512, AVX2, none) and on the number of threads. Such a cell states its
tolerance, and why, in its metadata::

    "metadata": {
      "nbval-tolerance": {
        "rel": 0.02,            # |new - stored| <= rel * |stored|   (default 0)
        "abs": 0.005,           # ... or <= abs                       (default 0)
        "integers": false,      # integers too? (default false: they stay exact)
        "reason": "loss after 3 epochs of training; float sums depend on the CPU"
      }
    }

A number is accepted when it differs from the stored one by at most
``max(abs, rel * |stored|, one unit in the stored number's last printed digit)``: a
value that lies on a rounding boundary may print either way. Everything else in the
output (the words, the layout, how many numbers there are, and integers unless
``integers`` is true) is still compared exactly, so a wrong number, a missing line or a
changed count still fails. The comparison rewrites each accepted number of the new
output to the stored spelling and then lets nbval compare as usual, so a failure shows
nbval's usual diff, with only the numbers that are out of tolerance left different.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

METADATA_KEY = "nbval-tolerance"
_ALLOWED_KEYS = {"rel", "abs", "integers", "reason"}

# A number that is not part of a name: "layer4" and "conv1.weight" have none; "0.974",
# "-1.5e-03", "86.1%" and "12" are numbers.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])")


@dataclass(frozen=True)
class Tolerance:
    """How far a re-computed number may be from the stored one."""

    rel: float = 0.0
    abs: float = 0.0
    integers: bool = False
    reason: str = ""

    @classmethod
    def from_metadata(cls, spec: Any, where: str = "cell") -> Tolerance:
        """Validate the ``nbval-tolerance`` metadata of one cell."""
        if not isinstance(spec, dict):
            raise ValueError(
                f"{where}: metadata {METADATA_KEY!r} must be a mapping such as "
                '{"rel": 0.01, "reason": "..."}, got ' + repr(spec)
            )
        unknown = set(spec) - _ALLOWED_KEYS
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {sorted(unknown)} in {METADATA_KEY!r}; "
                f"allowed: {sorted(_ALLOWED_KEYS)}"
            )
        rel, abs_ = spec.get("rel", 0.0), spec.get("abs", 0.0)
        for name, value in (("rel", rel), ("abs", abs_)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(
                    f"{where}: {METADATA_KEY}.{name} must be a number >= 0, got {value!r}"
                )
        if rel == 0 and abs_ == 0:
            raise ValueError(
                f"{where}: {METADATA_KEY} needs 'rel' or 'abs' > 0 "
                "(remove the metadata for an exact comparison)"
            )
        reason = spec.get("reason", "")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(
                f"{where}: {METADATA_KEY} needs a 'reason': say why this cell's numbers "
                "depend on the machine"
            )
        integers = spec.get("integers", False)
        if not isinstance(integers, bool):
            raise ValueError(f"{where}: {METADATA_KEY}.integers must be true or false")
        return cls(rel=float(rel), abs=float(abs_), integers=integers, reason=reason)

    def accepts(self, stored: str, new: str) -> bool:
        """Whether the number spelled ``new`` may stand for the stored ``stored``."""
        if stored == new:
            return True
        stored_is_int = _is_integer(stored)
        if (stored_is_int or _is_integer(new)) and not self.integers:
            return False
        a, b = float(stored), float(new)
        if not (math.isfinite(a) and math.isfinite(b)):
            return False
        allowed = max(self.abs, self.rel * abs(a), _last_digit_unit(stored))
        return abs(a - b) <= allowed * (1 + 1e-12)


def _is_integer(token: str) -> bool:
    return not any(c in token for c in ".eE")


def _last_digit_unit(token: str) -> float:
    """One unit in the last printed digit: 0.001 for "0.974", 1e-5 for "1.50e-03"."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return 10.0 ** (int(exponent or 0) - decimals)


_BLANKS = re.compile(r"[ \t]+")


def _words(text: str) -> list[str]:
    """The text between the numbers, with runs of spaces collapsed: a column that is
    padded to the width of its number (``f"{x:5.1f}"``) keeps its words."""
    return [_BLANKS.sub(" ", word) for word in NUMBER.split(text)]


def align_numbers(stored: str, new: str, tolerance: Tolerance) -> str:
    """``new`` with every number that ``tolerance`` accepts spelled as in ``stored``.

    The texts are split into numbers and the words between them. Unless the words are
    the same (up to the width of runs of spaces) and the count of numbers is the same,
    ``new`` is returned unchanged, and the exact comparison that follows fails, as it
    should. Otherwise the result is ``stored`` with only the numbers that are out of
    tolerance replaced by the new ones: equal to ``stored`` when every number is
    accepted, and a diff that shows just the offending numbers when not.
    """
    if _words(stored) != _words(new):
        return new
    stored_numbers, new_numbers = NUMBER.findall(stored), NUMBER.findall(new)
    stored_words = NUMBER.split(stored)
    pieces = [stored_words[0]]
    for s, n, word in zip(stored_numbers, new_numbers, stored_words[1:], strict=True):
        pieces.append(s if tolerance.accepts(s, n) else n)
        pieces.append(word)
    return "".join(pieces)


def _text_fields(output: dict) -> list[tuple[dict, str]]:
    """(container, key) of every text value of one output, as nbval compares it."""
    fields = []
    for key, value in output.items():
        if key == "data" and isinstance(value, dict):
            fields += [
                (value, k) for k, v in value.items() if k.startswith("text/") and isinstance(v, str)
            ]
        elif key not in ("output_type", "metadata", "execution_count") and isinstance(value, str):
            fields.append((output, key))
    return fields


def _kind(output: dict) -> tuple:
    return (output.get("output_type"), tuple(sorted(k for k in output if k != "output_type")))


def align_outputs(
    test: list, ref: list, tolerance: Tolerance, sanitize: Callable[[str], str] | None = None
) -> list:
    """A copy of the new outputs ``test`` with accepted numbers spelled as in ``ref``.

    Outputs are paired in order among those of the same kind (a stream of the same
    name, a result with the same MIME types). ``sanitize`` (nbval's sanitizer rules)
    is applied to both texts first, so that a progress bar's elapsed time or rate does
    not hide the numbers after it.
    """
    clean = sanitize or (lambda text: text)
    test = copy.deepcopy(test)
    pending: dict[tuple, list] = {}
    for output in ref:
        pending.setdefault(_kind(output), []).append(output)
    for output in test:
        queue = pending.get(_kind(output))
        if not queue:
            continue
        stored = queue.pop(0)
        for container, key in _text_fields(output):
            stored_container = stored.get("data", {}) if container is not output else stored
            stored_text = stored_container.get(key)
            if isinstance(stored_text, str):
                container[key] = align_numbers(clean(stored_text), clean(container[key]), tolerance)
    return test


def cell_tolerance(cell: dict, where: str = "cell") -> Tolerance | None:
    """The tolerance a cell states in its metadata, or None (exact comparison)."""
    spec = cell.get("metadata", {}).get(METADATA_KEY)
    return None if spec is None else Tolerance.from_metadata(spec, where)


def _install() -> None:
    from nbval.plugin import IPyNbCell

    if getattr(IPyNbCell.compare_outputs, "_tolerant", False):
        return
    exact = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):  # noqa: ANN001
        tolerance = cell_tolerance(self.cell, f"{self.fspath.basename} cell {self.cell_num}")
        if tolerance is not None:
            test = align_outputs(test, ref, tolerance, self.sanitize)
        return exact(self, test, ref, skip_compare)

    compare_outputs._tolerant = True  # type: ignore[attr-defined]
    IPyNbCell.compare_outputs = compare_outputs


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("nbval"):
        _install()
