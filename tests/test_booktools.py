"""Tests of the `sources` command of scripts/booktools.py (what `make sources` runs)."""

from __future__ import annotations

import pytest

import booktools
from tutorial_lib import source_cache
from tutorial_lib.pretrained import SOURCES, PretrainConfig


def test_sources_loads_every_source_and_reports_time_and_status(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(source_cache.CACHE_ENV_VAR, str(tmp_path))
    seen = []

    def fake_load(config, **kwargs):
        seen.append(config)
        status, reason = ("trained", "no cached model yet") if len(seen) == 1 else ("loaded", "")
        return source_cache.SourceModel(None, config, status, reason, "", 0.5, 12.34, True)

    monkeypatch.setattr(source_cache, "load_source_model", fake_load)
    assert booktools.main(["sources"]) == 0
    assert seen == [PretrainConfig(source=name) for name in SOURCES]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[sources] glyphs: trained in 12.3 s (no cached model yet)")
    assert lines[1].startswith("[sources] digits: loaded in 12.3 s; held-out source accuracy 50.0%")
    assert str(tmp_path / "source_resnet18_glyphs.pt") in lines[0]


def test_an_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit):
        booktools.main(["train"])
    assert "invalid choice" in capsys.readouterr().err
