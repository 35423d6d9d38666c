"""Turn what an exercise produced into plain data (runs inside the box).

Only JSON types leave the box: ``None``, booleans, numbers, strings, lists and
string-keyed dicts; a tensor becomes ``{"tensor": {"dtype", "shape", "values"}}``, a
dtype ``{"dtype": name}``, anything else ``{"object": type name}``. Exact types are
tested (``type(x) is int``), so an object whose ``__eq__`` always says yes is never
turned into a value: it stays an ``object`` and cannot match the reference. Never
pickle: the grader reads nothing but JSON.
"""

from __future__ import annotations

import math
from typing import Any

MAX_ITEMS = 200_000


def to_data(value: Any, *, depth: int = 0) -> Any:
    """``value`` as JSON-compatible data (see the module docstring)."""
    if depth > 20:
        return {"object": "nesting too deep"}
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if kind in (list, tuple):
        return [to_data(item, depth=depth + 1) for item in value[:MAX_ITEMS]]
    if kind is dict:
        return {str(k): to_data(v, depth=depth + 1) for k, v in value.items()}
    try:
        import torch
    except ImportError:  # pragma: no cover - the box always has torch
        torch = None
    if torch is not None:
        if kind is torch.dtype:
            return {"dtype": str(value)}
        if kind is torch.Size:
            return [int(n) for n in value]
        if kind is torch.nn.Parameter:
            value, kind = value.data, torch.Tensor
        if kind is torch.Tensor:
            tensor = value.detach().cpu()
            if tensor.numel() > MAX_ITEMS:
                return {"object": f"tensor with {tensor.numel()} elements (too large)"}
            flat = tensor.reshape(-1)
            if tensor.is_complex():
                flat = torch.view_as_real(flat).reshape(-1)
            values = [_number(v) for v in flat.tolist()]
            return {
                "tensor": {
                    "dtype": str(tensor.dtype),
                    "shape": list(tensor.shape),
                    "values": values,
                }
            }
    return {"object": kind.__name__}


def _number(value: Any) -> Any:
    if type(value) is float and not math.isfinite(value):
        return {"float": repr(value)}
    return value


def raised(err: BaseException) -> dict[str, str]:
    """An exception as data: ``{"raised": type name, "message": text}``."""
    try:
        message = str(err)
    except Exception:  # a student's exception whose __str__ fails
        message = ""
    return {"raised": type(err).__name__, "message": message[:500]}
