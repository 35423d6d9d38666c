"""Cells and stored outputs: tidying, leaks, progress bars (scripts/notebook_cells.py)."""

import pytest

from notebook_builders import code_cell, notebook
from notebook_cells import _collapse_stream, elapsed_time_rule, find_leaks, tidy_outputs


def test_collapse_stream_applies_carriage_returns():
    text = "start\n 0%|  | 0/3\r 33%|# | 1/3\r100%|##| 3/3\ndone\n"
    assert _collapse_stream(text) == "start\n100%|##| 3/3\ndone\n"


def test_tidy_outputs_merges_streams_and_drops_widget_state():
    stream = lambda name, text: {"output_type": "stream", "name": name, "text": text}  # noqa: E731
    nb = notebook(
        [code_cell("x", [stream("stderr", "a\r"), stream("stderr", "b\n"), stream("stdout", "c")])]
    )
    nb.metadata["widgets"] = {"state": {}}
    tidy_outputs(nb)
    outputs = nb.cells[0].outputs
    assert [(o["name"], o["text"]) for o in outputs] == [("stderr", "b\n"), ("stdout", "c")]
    assert "widgets" not in nb.metadata


def test_find_leaks_sees_paths_in_every_kind_of_output():
    nb = notebook(
        [
            code_cell(
                "a",
                [{"output_type": "stream", "name": "stderr", "text": "/tmp/ipykernel_123/4.py:1"}],
            ),
            code_cell(
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
            code_cell(
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
            code_cell(
                "d", [{"output_type": "stream", "name": "stdout", "text": "relative/path.pt"}]
            ),
        ]
    )
    leaks = find_leaks(nb)
    assert [leak.split(":")[0] for leak in leaks] == ["cell 0", "cell 1", "cell 2", "cell 2"]


def test_tidy_outputs_neutralises_progress_bar_times():
    bar = "epochs: 100%|##########| 8/8 [01:16<00:00,  9.52s/it, loss=0.07]\n"
    nb = notebook([code_cell("x", [{"output_type": "stream", "name": "stderr", "text": bar}])])
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
