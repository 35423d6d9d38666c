"""Executing a notebook from a clean kernel (``make execute``, ``make benchmark``).

The notebook runs top to bottom in a fresh kernel with its own folder as working
directory; its outputs are tidied and refused when they show a machine path or
ANSI colour codes, then stored.
"""

from __future__ import annotations

import time
from pathlib import Path

from notebook_cells import find_ansi, find_leaks, tidy_outputs


def execute_notebook(path: Path, *, timeout: int = 600, write: bool = True) -> float:
    """Run ``path`` top to bottom in a fresh kernel (its folder as working
    directory); store the tidied outputs when ``write``. Returns the seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    tidy_outputs(nb)
    leaks = find_leaks(nb)
    if leaks:
        raise RuntimeError(f"{path}: outputs show machine paths:\n  " + "\n  ".join(leaks))
    colours = find_ansi(nb)
    if colours:
        raise RuntimeError(
            f"{path}: outputs contain ANSI colour codes (run child processes with "
            "PYTHON_COLORS=0 and NO_COLOR=1):\n  " + "\n  ".join(colours)
        )
    if write:
        nbformat.write(nb, path)
    return seconds
