from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.settings import SettingsError, load_settings, normalise_database_url


def test_defaults_use_sqlite_under_var_and_generate_a_private_secret(tmp_path: Path) -> None:
    settings = load_settings({"YISHI_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'yishi.db'}"
    secret_file = tmp_path / "secret_key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert settings.secret_key == secret_file.read_text().strip()
    assert load_settings({"YISHI_VAR_DIR": str(tmp_path)}).secret_key == settings.secret_key
    assert settings.secure_cookies is False


def test_a_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_settings({"YISHI_VAR_DIR": str(tmp_path)})
    (tmp_path / "secret_key").chmod(0o644)
    with pytest.raises(SettingsError, match="YISHI_SECRET_KEY"):
        load_settings({"YISHI_VAR_DIR": str(tmp_path)})


@pytest.mark.parametrize(
    ("plain", "driver"),
    [
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_database_urls_get_the_async_driver(plain: str, driver: str) -> None:
    assert normalise_database_url(plain) == driver


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("YISHI_DATABSE_URL", "sqlite:///x", "YISHI_DATABSE_URL: unknown setting"),
        ("YISHI_DATABASE_URL", "mysql://x", "YISHI_DATABASE_URL: unsupported database"),
        ("YISHI_DATABASE_URL", "not a url", "YISHI_DATABASE_URL"),
        ("YISHI_WORKERS", "two", "YISHI_WORKERS"),
        ("YISHI_WORKERS", "0", "YISHI_WORKERS"),
        ("YISHI_SECRET_KEY", "short", "YISHI_SECRET_KEY: must be at least 32"),
        ("YISHI_REDIS_URL", "http://localhost", "YISHI_REDIS_URL"),
        ("YISHI_BASE_URL", "example.org", "YISHI_BASE_URL"),
        ("YISHI_LOG_LEVEL", "LOUD", "YISHI_LOG_LEVEL"),
        ("YISHI_LANG", "fr", "YISHI_LANG"),
    ],
)
def test_unknown_or_malformed_settings_name_the_setting(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({"YISHI_VAR_DIR": str(tmp_path), name: value})


def test_test_and_bench_variables_are_not_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {"YISHI_VAR_DIR": str(tmp_path), "YISHI_TEST_POSTGRES_URL": "x", "YISHI_BENCH_SECONDS": "3"}
    )
    assert settings.workers == 1


def test_https_base_url_turns_on_secure_cookies(tmp_path: Path) -> None:
    settings = load_settings(
        {"YISHI_VAR_DIR": str(tmp_path), "YISHI_BASE_URL": "https://yishi.example.org/"}
    )
    assert settings.secure_cookies
    assert settings.base_url == "https://yishi.example.org"


def test_cli_reports_a_bad_setting_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from app.cli import main

    monkeypatch.setenv("YISHI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("YISHI_WORKERZ", "2")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "YISHI_WORKERZ: unknown setting" in result.output
    assert "Traceback" not in result.output
