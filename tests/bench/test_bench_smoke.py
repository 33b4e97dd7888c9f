"""The ballots benchmark runs end to end at a tiny size (no times are asserted: they are
printed for people, and a shared test machine makes them noise)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import normalise_database_url
from bench import ballots
from tests.conftest import in_thread


def test_counting_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ballots, "COUNT", 300)
    ballots._counting_figures()
    out = capsys.readouterr().out
    assert "STV, 300 ranked ballots" in out and "equal shares, 300 approval ballots" in out


def test_casting_through_the_api_runs_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(ballots, "PEOPLE", 40)
    monkeypatch.setattr(ballots, "VOTERS", 30)
    url = normalise_database_url(f"sqlite:///{tmp_path / 'bench.db'}")
    in_thread(ballots._casting_figures, "sqlite", url, 1, 1)
    out = capsys.readouterr().out
    assert "ballots/s over 30 voters" in out
    assert "whole community: 40 voters cast" in out
