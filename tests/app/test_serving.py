"""Serving: sessions and throttling shared through Redis, and structured JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest

from app.factory import create_app, default_stores
from app.logs import JsonFormatter
from app.settings import Settings
from tests.app.conftest import Client
from tests.conftest import skip_or_fail

REDIS_URL = os.environ.get("YISHI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as error:
        skip_or_fail(
            f"Redis is not reachable at {REDIS_URL} ({error}); start redis-server or set YISHI_TEST_REDIS_URL"
        )


def test_sessions_live_in_redis_and_are_shared_by_workers(settings: Settings) -> None:
    _redis_or_skip()
    shared = replace(settings, redis_url=REDIS_URL)
    one = create_app(shared, stores=default_stores(shared))
    two = create_app(shared, stores=default_stores(shared))  # a second worker process
    with Client(app=one, base_url="http://testserver.local") as first:
        first.sign_in("owner")
        cookie = first.cookies["yishi_session"]
    with Client(app=two, base_url="http://testserver.local") as second:
        second.cookies.set("yishi_session", cookie)
        assert second.get("/account").status_code == 200  # the other worker knows the session
        second.form("/signout")
    with Client(app=one, base_url="http://testserver.local") as first:
        first.cookies.set("yishi_session", cookie)
        assert first.get("/account", follow_redirects=False).status_code == 303  # ended everywhere


def test_file_stores_are_private_to_the_server(settings: Settings, tmp_path: Path) -> None:
    stores = default_stores(replace(settings, var_dir=tmp_path))
    assert set(stores) == {"sessions", "ratelimit"}
    assert oct((tmp_path / "stores" / "sessions").stat().st_mode & 0o777) == "0o700"
    asyncio.run(stores["sessions"].set("k", "v"))
    assert asyncio.run(stores["sessions"].get("k")) == b"v"


def test_logs_are_json_lines_with_their_fields() -> None:
    record = logging.LogRecord("yishi.access", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"method": "GET", "path": "/c/z", "status": 200, "ms": 3.2, "account": None}
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert (
        data["logger"] == "yishi.access"
        and data["level"] == "info"
        and data["message"] == "request"
    )
    assert (data["method"], data["path"], data["status"]) == ("GET", "/c/z", 200)


def test_every_request_is_logged_once(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="yishi.access"):
        client.get("/c/z")
    lines = [r for r in caplog.records if r.name == "yishi.access" and r.fields["path"] == "/c/z"]  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].fields["status"] == 200  # type: ignore[attr-defined]


def test_pages_forbid_injected_script_and_framing(client: Client) -> None:
    for path in ("/", "/c/z", "/c/z/items", "/signin", "/static/yishi.css"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self' 'unsafe-eval';" in policy, path
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
    # the API reference loads its script from elsewhere and keeps working
    assert "content-security-policy" not in client.get("/schema").headers
