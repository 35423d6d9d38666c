import json
from pathlib import Path

import nbformat
import pytest

import toc
from benchmark_report import render_benchmark_markdown, render_status_page
from execution import execute_notebook
from notebook_cells import _collapse_stream, elapsed_time_rule, find_leaks, tidy_outputs
from student_edition import student_notebook, write_student_edition
from toc import notebook_titles, toc_appendix, toc_files, toc_notebooks


def _toc(tmp_path: Path, text: str) -> Path:
    (tmp_path / "_toc.yml").write_text(text)
    return tmp_path


def test_toc_resolves_pages_in_reading_order(tmp_path):
    for name in ("intro.md", "a.ipynb", "b.md", "c.ipynb"):
        (tmp_path / name).write_text("{}")
    _toc(
        tmp_path,
        "format: jb-book\nroot: intro\nparts:\n  - caption: P\n    chapters:\n"
        "      - file: a\n        sections:\n          - file: b\n      - file: c.ipynb\n",
    )
    assert [p.name for p in toc_files(tmp_path)] == [
        "intro.md",
        "a.ipynb",
        "b.md",
        "c.ipynb",
    ]
    assert [p.name for p in toc_notebooks(tmp_path)] == ["a.ipynb", "c.ipynb"]


def test_toc_missing_file_is_an_error(tmp_path):
    _toc(tmp_path, "format: jb-book\nroot: nothere\n")
    with pytest.raises(FileNotFoundError, match="'nothere'"):
        toc_files(tmp_path)


def test_collapse_stream_applies_carriage_returns():
    text = "start\n 0%|  | 0/3\r 33%|# | 1/3\r100%|##| 3/3\ndone\n"
    assert _collapse_stream(text) == "start\n100%|##| 3/3\ndone\n"


def _nb(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    return nb


def _code(source, outputs=(), tags=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    cell.execution_count = 1
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def test_tidy_outputs_merges_streams_and_drops_widget_state():
    stream = lambda name, text: {"output_type": "stream", "name": name, "text": text}  # noqa: E731
    nb = _nb(
        [_code("x", [stream("stderr", "a\r"), stream("stderr", "b\n"), stream("stdout", "c")])]
    )
    nb.metadata["widgets"] = {"state": {}}
    tidy_outputs(nb)
    outputs = nb.cells[0].outputs
    assert [(o["name"], o["text"]) for o in outputs] == [("stderr", "b\n"), ("stdout", "c")]
    assert "widgets" not in nb.metadata


def test_find_leaks_sees_paths_in_every_kind_of_output():
    nb = _nb(
        [
            _code(
                "a",
                [{"output_type": "stream", "name": "stderr", "text": "/tmp/ipykernel_123/4.py:1"}],
            ),
            _code(
                "b",
                [
                    {
                        "output_type": "execute_result",
                        "execution_count": 1,
                        "metadata": {},
                        "data": {"text/plain": "'/home/alice/x'"},
                    }
                ],
            ),
            _code(
                "c",
                [
                    {
                        "output_type": "error",
                        "ename": "E",
                        "evalue": "",
                        "traceback": ["File /work/main/.venv/lib/x.py"],
                    }
                ],
            ),
            _code("d", [{"output_type": "stream", "name": "stdout", "text": "relative/path.pt"}]),
        ]
    )
    leaks = find_leaks(nb)
    assert [leak.split(":")[0] for leak in leaks] == ["cell 0", "cell 1", "cell 2", "cell 2"]


def test_student_notebook_removes_solutions_and_outputs():
    nb = _nb(
        [
            nbformat.v4.new_markdown_cell("task"),
            _code(
                "def f():\n    raise NotImplementedError",
                [{"output_type": "stream", "name": "stdout", "text": "x"}],
            ),
            _code("def f():\n    return 42", tags=["solution"]),
            _code("check(f)"),
        ]
    )
    nb.cells.insert(2, nbformat.v4.new_markdown_cell("```{solution-start} ex\n```"))
    nb.cells[2].metadata["tags"] = ["solution"]
    roles = ["task", "answer", "solution", "solution", "check"]
    for cell, role in zip(nb.cells, roles, strict=True):
        cell.metadata["exercise"] = {"label": "ch-ex-1", "role": role}
    student = student_notebook(nb)
    sources = [c.source for c in student.cells]
    assert sources == ["task", "def f():\n    raise NotImplementedError", "check(f)"]
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in student.cells
        if c.cell_type == "code"
    )
    assert len(nb.cells) == 5 and nb.cells[1].outputs  # the original is untouched


def test_write_student_edition(tmp_path):
    source = tmp_path / "src" / "ch.ipynb"
    source.parent.mkdir()
    nb = _nb([_code("1", tags=["solution"]), _code("2")])
    nb.cells[0].metadata["exercise"] = {"label": "ch-ex-1", "role": "solution"}
    nbformat.write(nb, source)
    written = write_student_edition([source], tmp_path / "out")
    assert written == [tmp_path / "out" / "ch.ipynb"]
    assert [c.source for c in nbformat.read(written[0], as_version=4).cells] == ["2"]


def test_benchmark_markdown_flags_slow_notebooks():
    report = {
        "date": "2026-01-01",
        "machine": {
            "cpu": "CPU",
            "cores": 2,
            "torch": "2.x",
            "torch_threads": 2,
            "python": "3.11",
            "cuda": False,
        },
        "notebooks": [
            {"notebook": "book/a.ipynb", "seconds": 12.0},
            {"notebook": "book/b.ipynb", "seconds": 75.5},
        ],
        "micro": [{"name": "m", "summary": "1 ms"}],
    }
    text = render_benchmark_markdown(report)
    assert "| `book/a.ipynb` | 12.0 | yes |" in text
    assert "| `book/b.ipynb` | 75.5 | **no** |" in text
    assert "Whole book: 87.5 s." in text and "| m | 1 ms |" in text
    json.dumps(report)  # the report is plain JSON


def test_execute_notebook_runs_in_its_folder_and_refuses_leaks(tmp_path):
    path = tmp_path / "nb.ipynb"
    nb = _nb([_code("import os\nprint(os.path.basename(os.getcwd()))")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    execute_notebook(path)
    stored = nbformat.read(path, as_version=4)
    assert stored.cells[0].outputs[0]["text"] == f"{tmp_path.name}\n"
    leaky = _nb([_code("print('/home/' + 'alice/data.pt')")])
    leaky.metadata["kernelspec"] = nb.metadata["kernelspec"]
    nbformat.write(leaky, path)
    with pytest.raises(RuntimeError, match="machine paths"):
        execute_notebook(path)
    # Nothing was written: the stored notebook is still the unexecuted one.
    assert nbformat.read(path, as_version=4).cells[0].outputs == []


def test_status_page_lists_every_notebook_with_its_time():
    report = {
        "date": "2026-11-22",
        "machine": {
            "cpu": "Some CPU",
            "cores": 2,
            "torch": "2.15.0+cpu",
            "torch_threads": 2,
            "python": "3.11.7",
            "cuda": False,
        },
        "notebooks": [
            {"notebook": "book/a.ipynb", "seconds": 12.04},
            {"notebook": "book/b.ipynb", "seconds": 61.0},
        ],
        "micro": [],
    }
    page = render_status_page(report, {"book/a.ipynb": "Chapter A"})
    assert page.startswith("# Status")
    assert "measured on **2026-11-22**" in page and "2 cores, no GPU" in page
    assert "| Chapter A | `a.ipynb` | 12.0 | ✅ |" in page
    assert "| b | `b.ipynb` | 61.0 | ❌ |" in page
    assert "torch 2.15.0 (2 threads)" in page


def test_notebook_titles_reads_the_first_heading(tmp_path, monkeypatch):
    monkeypatch.setattr(toc, "ROOT", tmp_path)
    path = tmp_path / "x.ipynb"
    nb = _nb([nbformat.v4.new_markdown_cell("intro\n\n# The title\n\n## section")])
    nbformat.write(nb, path)
    assert notebook_titles([path]) == {"x.ipynb": "The title"}


def test_toc_appendix_lists_the_appendix_part_only(tmp_path):
    for name in ("intro.md", "a.ipynb", "p.ipynb", "g.md"):
        (tmp_path / name).write_text("{}")
    _toc(
        tmp_path,
        "format: jb-book\nroot: intro\nparts:\n  - caption: Chapters\n    chapters:\n"
        "      - file: a\n  - caption: Appendix\n    chapters:\n      - file: p\n"
        "      - file: g\n",
    )
    assert {p.name for p in toc_appendix(tmp_path)} == {"p.ipynb", "g.md"}


def test_tidy_outputs_neutralises_progress_bar_times():
    bar = "epochs: 100%|##########| 8/8 [01:16<00:00,  9.52s/it, loss=0.07]\n"
    nb = _nb([_code("x", [{"output_type": "stream", "name": "stderr", "text": bar}])])
    tidy_outputs(nb)
    text = nb.cells[0].outputs[0]["text"]
    assert text == "epochs: 100%|##########| 8/8 [elapsed time not stored, loss=0.07]\n"
    # nbval's sanitizer maps a fresh bar to the same text, so the comparison still holds
    pattern, replacement = elapsed_time_rule()
    fresh = "epochs: 100%|##########| 8/8 [00:07<00:00,  1.10it/s, loss=0.07]\n"
    assert pattern.sub(replacement, fresh) == text
    assert pattern.sub(replacement, text) == text


def test_elapsed_time_rule_missing_section_says_what_to_do(tmp_path):
    config = tmp_path / "sanitize.cfg"
    config.write_text("[other]\nregex: x\nreplace: y\n")
    with pytest.raises(RuntimeError, match="restore it"):
        elapsed_time_rule(config)
