"""Executing a notebook from a clean kernel (scripts/execution.py)."""

import nbformat
import pytest

from execution import execute_notebook
from notebook_builders import code_cell, notebook


def test_execute_notebook_runs_in_its_folder_and_refuses_leaks(tmp_path):
    path = tmp_path / "nb.ipynb"
    nb = notebook([code_cell("import os\nprint(os.path.basename(os.getcwd()))")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    execute_notebook(path)
    stored = nbformat.read(path, as_version=4)
    assert stored.cells[0].outputs[0]["text"] == f"{tmp_path.name}\n"
    leaky = notebook([code_cell("print('/home/' + 'alice/data.pt')")])
    leaky.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(leaky, path)
    with pytest.raises(RuntimeError, match="machine paths"):
        execute_notebook(path)
    # Nothing was written: the stored notebook is still the unexecuted one.
    assert nbformat.read(path, as_version=4).cells[0].outputs == []
