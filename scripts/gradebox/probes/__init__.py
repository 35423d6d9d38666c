"""Probes: per exercise, what to call and which data decides correctness.

A :class:`Probe` names the object an exercise's answer cell defines (``name``), a
function ``run(obj)`` that the box calls on it (fixed inputs, the cases the course's
checks use) and whose return value is serialised as data, and optionally a ``judge``
that the *grader* applies to that data (default: equal to the reference solution's
data within ``rtol``/``atol``). ``run`` runs in the student's process and may be
fooled only into producing other data; the verdict is the grader's.

Chapters with probes: see :data:`CHAPTERS`. An exercise without a probe is graded
``error`` with the message "not gradable automatically yet".
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHAPTERS = ("defining_models",)
"""Notebooks (file stems) whose exercises have probes, one module each in this package."""


@dataclass(frozen=True)
class Probe:
    """How one exercise is graded (see the module docstring)."""

    label: str
    name: str
    run: Callable[[Any], Any]
    passed: str
    rtol: float = 1e-5
    atol: float = 1e-6
    judge: Callable[[Any, Any], str | None] | None = None
    run_check: bool = True
    """Whether the box also runs the course's check cell (for its message); ``False``
    for an exercise whose probe repeats the check's expensive part (training)."""


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or the error it raised as data (``NotImplementedError``
    propagates: it means "not attempted")."""
    from gradebox.serialize import raised

    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as err:
        return raised(err)


def probes_for(notebook: str) -> dict[str, Probe]:
    """The probes of ``notebook`` by exercise label ({} for a chapter without probes)."""
    if notebook not in CHAPTERS:
        return {}
    module = importlib.import_module(f"gradebox.probes.{notebook}")
    return {probe.label: probe for probe in module.PROBES}
