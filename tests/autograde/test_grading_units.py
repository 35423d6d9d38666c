"""The grader's parts that need no box: data, comparison, zip safety, assembly."""

from __future__ import annotations

import json
import sys
import zipfile

import pytest
import torch

from autograde.builders import ROOT, solutions, submission

sys.path.insert(0, str(ROOT / "scripts"))
from gradebox.compare import difference  # noqa: E402
from gradebox.serialize import to_data  # noqa: E402
from grading.assemble import SubmissionError, assemble, parse_notebook  # noqa: E402
from grading.course import Course  # noqa: E402
from grading.gradebook import Gradebook  # noqa: E402
from grading.submissions import from_zip  # noqa: E402

NB = "defining_models"


class Yes:
    def __eq__(self, other):
        return True


class YesInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def test_forged_equality_never_becomes_a_value():
    assert to_data(Yes()) == {"object": "Yes"}
    assert to_data(YesInt(3)) == {"object": "YesInt"}
    assert difference(to_data(YesInt(3)), 3) is not None
    assert difference(to_data([Yes()]), [1]) is not None


def test_tensors_are_data_and_compared_with_tolerance():
    t = torch.tensor([[1.0, 2.0]])
    data = to_data(t)
    assert data == {"tensor": {"dtype": "torch.float32", "shape": [1, 2], "values": [1.0, 2.0]}}
    assert difference(to_data(t + 1e-7), data) is None
    assert "values differ" in difference(to_data(t + 1), data)
    assert "dtype" in difference(to_data(t.double()), data)
    assert "shape" in difference(to_data(t.T), data)
    assert (
        difference(to_data(torch.tensor([float("nan")])), to_data(torch.tensor([float("nan")])))
        is None
    )
    assert json.loads(json.dumps(data)) == data


def test_differences_name_the_place():
    assert difference({"a": [1, 2]}, {"a": [1, 3]}) == "a[1]: expected 3, got 2"
    assert "raise KeyError" in difference(5, {"raised": "KeyError", "message": ""})
    assert difference({"raised": "KeyError", "message": "x"}, {"raised": "KeyError"}) is None
    assert "your code raised" in difference({"raised": "TypeError", "message": "no"}, [1])
    assert difference(True, 1) is not None and difference(1, True) is not None


def test_zip_rejects_escapes_links_and_big_files(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("s1/defining_models.ipynb", "{}")
        zf.writestr("../x.ipynb", "{}")
        zf.writestr("s1/../../y.ipynb", "{}")
        zf.writestr("C:/z.ipynb", "{}")
        zf.writestr("s2/big.ipynb", "x" * 2000)
        link = zipfile.ZipInfo("s3/l.ipynb")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    found, rejected = from_zip(archive, max_bytes=1000)
    assert [(s.student, s.notebook) for s in found] == [("s1", "defining_models")]
    assert len(rejected) == 5
    assert not (tmp_path.parent / "x.ipynb").exists()


def test_only_answer_cells_come_from_the_student():
    course = Course()
    chapter = course.chapters[NB]
    nb = submission(
        NB,
        {"defining-models-ex-5": "def count_layers(m, t):\n    return 1\n"},
        checks={"defining-models-ex-5": "print('✅')"},
    )
    nb["cells"].insert(
        3,
        {
            "cell_type": "code",
            "metadata": {},
            "source": "import os",
            "outputs": [],
            "execution_count": None,
        },
    )
    assembled = assemble(nb, chapter, course)
    sources = [c["source"] for c in assembled.cells]
    assert "import os" not in sources and "print('✅')" not in sources
    assert chapter.check_source("defining-models-ex-5") in sources
    assert "edited-check-cell" in assembled.flags["defining-models-ex-5"]
    del nb["cells"][
        [
            i
            for i, c in enumerate(nb["cells"])
            if c["metadata"].get("exercise") == {"label": "defining-models-ex-1", "role": "answer"}
        ][0]
    ]
    assert "deleted-answer-cell" in assemble(nb, chapter, course).flags["defining-models-ex-1"]


def test_unparseable_and_wrong_chapter():
    course = Course()
    with pytest.raises(SubmissionError, match="malformed JSON"):
        parse_notebook(b'{"cells": [')
    with pytest.raises(SubmissionError, match="wrong chapter"):
        assemble(submission("unet"), course.chapters[NB], course)
    assert solutions(NB)  # the builders read the real notebook


def test_gradebook_overrides_survive_regrading(tmp_path):
    gb = Gradebook(tmp_path / "g.sqlite")
    result = {
        "student": "s",
        "notebook": NB,
        "sha256": "h",
        "fingerprint": "f",
        "status": "graded",
        "message": "",
        "rows": [
            {
                "exercise": "e1",
                "status": "failed",
                "points": 0,
                "max_points": 2,
                "flags": [],
                "message": "wrong",
                "output": "",
            }
        ],
    }
    gb.store(result)
    gb.set_override("s", NB, "e1", 1.5, "read by hand")
    gb.store(result)
    [row] = gb.rows()
    assert row["points"] == 1.5 and "override" in row["flags"]
    assert gb.is_current("s", NB, "h", "f") and not gb.is_current("s", NB, "h2", "f")
    assert gb.integrity() == "ok"
