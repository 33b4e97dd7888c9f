"""Settings, read once from the environment.

Every setting is a ``YISHI_*`` variable. An unknown ``YISHI_*`` name or a malformed value stops
start-up with a message naming the variable, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Names read by the test suite and the benchmarks; accepted here so that exporting them for a
# test run does not stop the server that the tests start.
_TOOLING_PREFIXES = ("YISHI_TEST_", "YISHI_BENCH_")

KNOWN = {
    "YISHI_DATABASE_URL": "database URL (sqlite:///path.db or postgresql://user@host/db)",
    "YISHI_SECRET_KEY": "secret used to sign and encrypt (at least 32 characters)",
    "YISHI_REDIS_URL": "redis:// URL for sessions and rate limits shared by several workers",
    "YISHI_VAR_DIR": "directory for the SQLite file, the generated secret and session files",
    "YISHI_BASE_URL": "public base URL, e.g. https://yishi.example.org",
    "YISHI_WORKERS": "number of server worker processes",
    "YISHI_LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
    "YISHI_LANG": "language of the command line: zh_CN or en",
    "YISHI_LOG_INTERVAL": "seconds between the sequencer's integrations of new log entries",
    "YISHI_SMTP_HOST": "SMTP server for notices by e-mail (without it they go to var/outbox.jsonl)",
    "YISHI_SMTP_PORT": "SMTP port (default 587; 465 means TLS from the start)",
    "YISHI_SMTP_USER": "SMTP user name, if the server wants one",
    "YISHI_SMTP_PASSWORD": "SMTP password",
    "YISHI_SMTP_FROM": "sender address of notices by e-mail",
    "YISHI_SMTP_STARTTLS": "true or false: upgrade the SMTP connection with STARTTLS (default true)",
    "YISHI_SMS_WEBHOOK": "https:// URL that takes SMS notices as POSTed JSON {to, text, id}",
}


class SettingsError(Exception):
    """A setting is unknown or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    redis_url: str | None
    var_dir: Path
    base_url: str
    workers: int
    log_level: str
    cli_lang: str
    log_interval: float = 0.5
    # notices by e-mail and SMS (app.notify); without a host or webhook they go to a file
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    smtp_starttls: bool = True
    sms_webhook: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure whenever the site is served over HTTPS."""
        return self.base_url.startswith("https://")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    unknown = sorted(
        name
        for name in env
        if name.startswith("YISHI_")
        and name not in KNOWN
        and not name.startswith(_TOOLING_PREFIXES)
    )
    if unknown:
        known = ", ".join(sorted(KNOWN))
        raise SettingsError(f"{unknown[0]}: unknown setting (known settings: {known})")

    var_dir = Path(env.get("YISHI_VAR_DIR") or PROJECT_ROOT / "var").resolve()
    database_url = normalise_database_url(
        env.get("YISHI_DATABASE_URL") or f"sqlite:///{var_dir / 'yishi.db'}"
    )
    redis_url = env.get("YISHI_REDIS_URL") or None
    if redis_url and urlsplit(redis_url).scheme not in {"redis", "rediss", "unix"}:
        raise SettingsError("YISHI_REDIS_URL: expected a redis://, rediss:// or unix:// URL")

    base_url = (env.get("YISHI_BASE_URL") or "http://127.0.0.1:8000").rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SettingsError("YISHI_BASE_URL: expected an http:// or https:// URL with a host")

    workers_text = env.get("YISHI_WORKERS") or "1"
    if not workers_text.isdecimal() or not 1 <= int(workers_text) <= 64:
        raise SettingsError("YISHI_WORKERS: expected a whole number from 1 to 64")

    log_level = (env.get("YISHI_LOG_LEVEL") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError("YISHI_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR")

    cli_lang = env.get("YISHI_LANG") or "zh_CN"
    if cli_lang not in {"zh_CN", "en"}:
        raise SettingsError("YISHI_LANG: expected zh_CN or en")

    try:
        log_interval = float(env.get("YISHI_LOG_INTERVAL") or "0.5")
    except ValueError:
        log_interval = -1
    if not 0.01 <= log_interval <= 60:
        raise SettingsError("YISHI_LOG_INTERVAL: expected a number of seconds from 0.01 to 60")

    secret_key = env.get("YISHI_SECRET_KEY") or _generated_secret(var_dir)
    if len(secret_key) < 32:
        raise SettingsError("YISHI_SECRET_KEY: must be at least 32 characters long")

    smtp_port_text = env.get("YISHI_SMTP_PORT") or "587"
    if not smtp_port_text.isdecimal() or not 1 <= int(smtp_port_text) <= 65535:
        raise SettingsError("YISHI_SMTP_PORT: expected a port number from 1 to 65535")
    starttls_text = (env.get("YISHI_SMTP_STARTTLS") or "true").lower()
    if starttls_text not in {"true", "false", "1", "0", "yes", "no"}:
        raise SettingsError("YISHI_SMTP_STARTTLS: expected true or false")
    smtp_from = env.get("YISHI_SMTP_FROM") or None
    if smtp_from is not None and "@" not in smtp_from:
        raise SettingsError("YISHI_SMTP_FROM: expected an e-mail address such as yishi@example.org")
    sms_webhook = env.get("YISHI_SMS_WEBHOOK") or None
    if sms_webhook is not None:
        hook = urlsplit(sms_webhook)
        if hook.scheme not in {"http", "https"} or not hook.netloc:
            raise SettingsError("YISHI_SMS_WEBHOOK: expected an http:// or https:// URL")

    return Settings(
        database_url=database_url,
        secret_key=secret_key,
        redis_url=redis_url,
        var_dir=var_dir,
        base_url=base_url,
        workers=int(workers_text),
        log_level=log_level,
        cli_lang=cli_lang,
        log_interval=log_interval,
        smtp_host=env.get("YISHI_SMTP_HOST") or None,
        smtp_port=int(smtp_port_text),
        smtp_user=env.get("YISHI_SMTP_USER") or None,
        smtp_password=env.get("YISHI_SMTP_PASSWORD") or None,
        smtp_from=smtp_from,
        smtp_starttls=starttls_text in {"true", "1", "yes"},
        sms_webhook=sms_webhook,
    )


def normalise_database_url(url: str) -> str:
    """Accept plain URLs and pick the async driver the application uses."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError("YISHI_DATABASE_URL: expected a URL such as sqlite:///var/yishi.db")
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in {"postgresql", "postgres"}:
        return f"postgresql+asyncpg://{rest}"
    raise SettingsError(
        f"YISHI_DATABASE_URL: unsupported database '{scheme}' (use sqlite or postgresql)"
    )


def _generated_secret(var_dir: Path) -> str:
    """Generate the secret on first run, readable by the owner only."""
    path = var_dir / "secret_key"
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SettingsError(
                f"YISHI_SECRET_KEY: {path} must not be readable by others (chmod 600)"
            )
        return path.read_text(encoding="ascii").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret + "\n")
    return secret
