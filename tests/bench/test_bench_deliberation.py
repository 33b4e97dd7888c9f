"""The consultation benchmark runs end to end at a tiny size (no times are asserted: they are
printed for people, and a shared test machine makes them noise)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import httpx
import pytest
from faker import Faker

from app.settings import normalise_database_url
from bench import deliberation
from deliberation.text import COMMENT_MAX
from tests.conftest import in_thread


def test_threads_are_deep_and_bushy() -> None:
    shape = deliberation.thread_shape(2000, random.Random(2026))
    levels = deliberation.depths(shape)
    assert len(shape) == 2000 and shape[0] is None
    assert all(parent is None or parent < i for i, parent in enumerate(shape))
    assert 100 <= levels.count(0) <= 400  # many top-level threads
    assert 30 <= max(levels) <= deliberation.MAX_DEPTH  # long reply chains, bounded
    children = [parent for parent in shape if parent is not None]
    assert max(children.count(p) for p in set(children)) >= 4  # bushy, not only chains
    assert deliberation.thread_shape(2000, random.Random(2026)) == shape  # reproducible


def test_comment_texts_vary_and_fit() -> None:
    rng, fake = random.Random(1), Faker("zh_CN")
    texts = [deliberation.comment_text(rng, fake) for _ in range(500)]
    assert all(0 < len(t) <= COMMENT_MAX for t in texts)
    assert min(map(len, texts)) < 10 and max(map(len, texts)) > 200
    assert any("\n\n" in t for t in texts)


def test_consultation_page_under_load_and_its_profile_run_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(deliberation, "PEOPLE", 30)
    monkeypatch.setattr(deliberation, "COMMENTS", 120)
    monkeypatch.setattr(deliberation, "SECONDS", 0.3)
    monkeypatch.setattr(deliberation, "MIN_REQUESTS", 8)
    monkeypatch.setattr(deliberation, "PROFILE", True)
    monkeypatch.setattr(deliberation, "CONCURRENCY", 4)
    url = normalise_database_url(f"sqlite:///{tmp_path / 'bench.db'}")
    in_thread(deliberation._figures, "sqlite", url, 1)
    out = capsys.readouterr().out
    assert re.search(r"sqlite setup: 120 comments \(\d+ threads, deepest reply at depth \d+\)", out)
    assert "hidden" in out and "reactions" in out
    assert re.search(r"profile: one render \d+ ms .* in \d+ statements", out)
    assert "a signed-in resident's page" in out
    assert "static /static/yishi.css" in out
    assert "sqlite consultation (page 1, newest):" in out
    assert "sqlite consultation (page 1, supported):" in out
    assert "the deepest chain):" in out
    assert out.count("ratios to static") == 3


def test_pages_missing_or_repeating_comments_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker follows rel=next through the pages and counts every comment once."""
    pages = {
        "/p": '<article id="c1"></article><a rel="next" href="/p?p=2">next</a>',
        "/p?p=2": '<article id="c2"></article>',
    }

    class Answer:
        status_code = 200

        def __init__(self, url: str) -> None:
            self.text = pages[url.removeprefix("http://x")]
            self.content = self.text.encode()

    monkeypatch.setattr(httpx, "get", lambda url, **_k: Answer(url))
    assert deliberation._check_pages("http://x", "/p", [1, 2]) == (2, len(pages["/p"].encode()))
    with pytest.raises(AssertionError, match="1 of 3 comments on no page"):
        deliberation._check_pages("http://x", "/p", [1, 2, 3])
    pages["/p?p=2"] = '<article id="c1"></article><article id="c2"></article>'
    with pytest.raises(AssertionError, match="a comment on two pages"):
        deliberation._check_pages("http://x", "/p", [1, 2])
