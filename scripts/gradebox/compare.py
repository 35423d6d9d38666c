"""The grader's comparison of a probe's data with the reference's (grader process).

Pure Python on JSON data: nothing the student's process did (patching ``math``,
``torch.allclose``, the checks, ``__eq__``) reaches this code.
"""

from __future__ import annotations

import math
from typing import Any


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict) and set(value) == {"float"}:
        return float(value["float"])
    return None


def _describe(value: Any) -> str:
    if isinstance(value, dict) and "tensor" in value:
        t = value["tensor"]
        return f"a {t['dtype']} tensor of shape {tuple(t['shape'])}"
    if isinstance(value, dict) and "raised" in value:
        return f"{value['raised']}: {value.get('message', '')}"
    if isinstance(value, dict) and "object" in value:
        return f"an object of type {value['object']}"
    if isinstance(value, dict) and "dtype" in value:
        return value["dtype"]
    text = repr(value)
    return text if len(text) < 120 else text[:117] + "..."


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * abs(b)


def difference(
    got: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6, where: str = ""
) -> str | None:
    """How ``got`` differs from ``expected`` (``None`` if it matches), naming the place."""
    at = f"{where}: " if where else ""
    if isinstance(expected, dict) and "tensor" in expected:
        if not (isinstance(got, dict) and "tensor" in got):
            return f"{at}expected {_describe(expected)}, got {_describe(got)}"
        g, e = got["tensor"], expected["tensor"]
        if g["shape"] != e["shape"]:
            return f"{at}expected shape {tuple(e['shape'])}, got {tuple(g['shape'])}"
        if g["dtype"] != e["dtype"]:
            return f"{at}expected dtype {e['dtype']}, got {g['dtype']}"
        worst, wrong = 0.0, 0
        for a, b in zip(g["values"], e["values"], strict=True):
            fa, fb = _float(a), _float(b)
            if fa is None or fb is None:
                wrong += a != b
                continue
            if not _close(fa, fb, rtol, atol):
                wrong += 1
                if math.isfinite(fa) and math.isfinite(fb):
                    worst = max(worst, abs(fa - fb))
        if wrong:
            return (
                f"{at}values differ in {wrong} of {len(e['values'])} places (largest "
                f"absolute difference {worst:.3g}, tolerance {atol:g} + {rtol:g} x |expected|)"
            )
        return None
    if isinstance(expected, dict) and set(expected) <= {"raised", "message"}:
        if isinstance(got, dict) and got.get("raised") == expected["raised"]:
            return None
        return f"{at}expected it to raise {expected['raised']}, got {_describe(got)}"
    if isinstance(got, dict) and "raised" in got and set(got) <= {"raised", "message"}:
        return f"{at}your code raised {got['raised']}: {got.get('message', '')}"
    exp_f = _float(expected)
    if exp_f is not None and not isinstance(expected, bool):
        got_f = _float(got)
        if got_f is None or isinstance(got, bool):
            return f"{at}expected a number ({expected!r}), got {_describe(got)}"
        if isinstance(expected, int) and not isinstance(expected, bool) and isinstance(got, int):
            return None if got == expected else f"{at}expected {expected}, got {got}"
        return (
            None if _close(got_f, exp_f, rtol, atol) else f"{at}expected {expected!r}, got {got!r}"
        )
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{at}expected {_describe(expected)}, got {_describe(got)}"
        if set(got) != set(expected):
            missing = sorted(set(expected) - set(got))
            extra = sorted(set(got) - set(expected))
            return f"{at}expected the entries {sorted(expected)}, missing {missing}, extra {extra}"
        for key in expected:
            problem = difference(
                got[key],
                expected[key],
                rtol=rtol,
                atol=atol,
                where=f"{where} > {key}" if where else key,
            )
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(got, list):
            return f"{at}expected a list of {len(expected)} items, got {_describe(got)}"
        if len(got) != len(expected):
            return f"{at}expected {len(expected)} items, got {len(got)}: {_describe(got)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = difference(g, e, rtol=rtol, atol=atol, where=f"{where}[{i}]")
            if problem:
                return problem
        return None
    if type(got) is type(expected) and got == expected:
        return None
    return f"{at}expected {_describe(expected)}, got {_describe(got)}"
