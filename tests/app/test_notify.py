"""Notifications: wording, preferences per kind and channel, the outbox written with the action
that causes it, the senders (file, SMTP, SMS webhook) and the loop that drains the outbox with
leases and retries; the notification centre and the settings page."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import re
import socketserver
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from babel.support import NullTranslations
from click.testing import CliRunner
from sqlalchemy import func, insert, select, update

from app import ballots, i18n, notify
from app.cli import main as cli
from app.db import create_engine, create_sessionmaker
from app.models import (
    Account,
    Ballot,
    Community,
    Notification,
    NotificationPreference,
    OutboxMessage,
    utcnow,
)
from app.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from tests.app.conftest import ACCOUNTS, TEST_BASE_URL, Client, World
from tests.conftest import in_thread

T = TypeVar("T")


# --- helpers -------------------------------------------------------------------------------------


def with_maker(world: World, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(sessionmaker)`` on a fresh engine, as the app's background loops get it."""

    async def main() -> T:
        engine = create_engine(world.db.url)
        try:
            return await work(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    return in_thread(asyncio.run, main())


def send_notice(
    world: World,
    usernames: list[str],
    kind: str = "item_status",
    params: dict[str, Any] | None = None,
    link: str = "/c/z/items/7",
    community: str = "z",
    **kwargs: Any,
) -> int:
    async def work(session: Any) -> int:
        written = await notify.notify(
            session,
            world.ids[community],
            [world.ids[u] for u in usernames],
            kind,
            params if params is not None else {"item": 7, "title": "停车位", "status": "deciding"},
            link,
            **kwargs,
        )
        await session.commit()
        return written

    return world.db.run(work)


def choose(world: World, username: str, **choices: bool) -> None:
    """Set preferences directly: ``reply__email=True`` and so on."""

    async def work(session: Any) -> None:
        for key, enabled in choices.items():
            kind, channel = key.split("__")
            session.add(
                NotificationPreference(
                    account_id=world.ids[username], kind=kind, channel=channel, enabled=enabled
                )
            )
        await session.commit()

    world.db.run(work)


def set_email(world: World, username: str, address: str | None) -> None:
    async def work(session: Any) -> None:
        await session.execute(
            update(Account).where(Account.id == world.ids[username]).values(email=address)
        )
        await session.commit()

    world.db.run(work)


def notifications(world: World) -> list[Notification]:
    async def work(session: Any) -> list[Notification]:
        return list(
            (await session.execute(select(Notification).order_by(Notification.id))).scalars()
        )

    return world.db.run(work)


def outbox(world: World) -> list[OutboxMessage]:
    async def work(session: Any) -> list[OutboxMessage]:
        return list(
            (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        )

    return world.db.run(work)


def recipients(rows: list[Any], world: World) -> set[str]:
    names = {world.ids[name]: name for name in ACCOUNTS}
    return {names[r.account_id] for r in rows}


@pytest.fixture
def english() -> Iterator[None]:
    previous = i18n.current_language()
    i18n.set_language("en")
    yield
    i18n.set_language(previous)


class Marked(NullTranslations):
    """A stand-in Chinese catalogue that marks every message, so a test can tell which language
    a text was worded in whether or not the real translation exists yet."""

    def gettext(self, message: str) -> str:
        return "ZH:" + message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return "ZH:" + (singular if n == 1 else plural)


@pytest.fixture
def marked_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        i18n, "catalogue", lambda language: Marked() if language == "zh_CN" else NullTranslations()
    )


def ballot_definition(title: str = "加装电梯") -> dict[str, Any]:
    data = ballots.blank_definition()
    now = utcnow()
    data.update(
        title=title,
        opens_at=(now - timedelta(minutes=5)).isoformat(),
        closes_at=(now + timedelta(days=1)).isoformat(),
    )
    data["questions"][0]["text"] = "是否同意加装电梯?"
    return data


# --- wording -------------------------------------------------------------------------------------


def test_describe_words_every_kind_from_its_params(english: None) -> None:
    d = notify.describe
    assert d("reply", {"item": 3, "title": "Parcel lockers", "comment": 12}) == (
        "Someone replied to your comment on item #3 “Parcel lockers”."
    )
    assert d("reply", {"item": 3, "title": "Lockers", "name": "Wang"}).startswith("Wang replied")
    assert d("item_status", {"item": 4, "title": "CCTV", "status": "consultation"}) == (
        "Item #4 “CCTV” is now in consultation."
    )
    assert d("item_status", {"item": 4, "title": "CCTV"}) == "There is news on item #4 “CCTV”."
    assert d("amendment", {"item": 5, "title": "Trees", "amendment": 2, "status": "proposed"}) == (
        "Amendment 2 was proposed to your item #5 “Trees”."
    )
    assert "was accepted" in d("amendment", {"item": 5, "amendment": 2, "status": "accepted"})
    assert "was rejected" in d("amendment", {"item": 5, "amendment": 2, "status": "rejected"})
    assert "put to a vote" in d("amendment", {"item": 5, "amendment": 2, "status": "put_to_vote"})
    assert d("moderation", {"item": 6, "comment": 9, "reason": "private_data"}) == (
        "Your comment on item #6 was hidden by a moderator: someone's private data."
    )
    assert d("moderation", {"item": 6, "action": "restored"}) == (
        "Your comment on item #6 was shown again."
    )
    assert d("ballot_opened", {"ballot": 2, "title": "Lift"}) == (
        "Ballot #2 “Lift” is open: you may vote."
    )
    # meeting times are shown as the community reads its clocks
    assert d("meeting", {"meeting": 1, "title": "Owners", "starts_at": "2026-03-01T11:30:00Z"}) == (
        "Meeting #1 “Owners” is called for 2026-03-01 19:30 (Beijing time)."
    )
    assert "minutes" in d("meeting", {"meeting": 1, "title": "Owners", "status": "held"})
    assert "cancelled" in d("meeting", {"meeting": 1, "title": "Owners", "status": "cancelled"})
    assert d("nonsense", {}) == "You have a new notice."


def test_describe_follows_the_current_language(marked_chinese: None) -> None:
    i18n.set_language("zh_CN")
    assert notify.describe("ballot_opened", {"ballot": 1, "title": "t"}).startswith("ZH:")
    with notify.in_language("en"):
        assert notify.describe("ballot_opened", {"ballot": 1, "title": "t"}).startswith("Ballot")
    assert i18n.current_language() == "zh_CN"


# --- notify: in-app, preferences, outbox ---------------------------------------------------------


def test_defaults_are_in_app_only_and_the_actor_is_left_out(world: World) -> None:
    set_email(world, "owner", "wang@example.org")
    written = send_notice(world, ["resident", "owner", "chair"], exclude=world.ids["chair"])
    assert written == 2
    rows = notifications(world)
    assert recipients(rows, world) == {"resident", "owner"}
    assert rows[0].kind == "item_status" and rows[0].link == "/c/z/items/7"
    assert rows[0].params == {"item": 7, "title": "停车位", "status": "deciding"}
    assert rows[0].read_at is None and rows[0].community_id == world.ids["z"]
    assert outbox(world) == []  # e-mail and SMS only when asked for


def test_unknown_kind_is_a_programming_error(world: World) -> None:
    with pytest.raises(ValueError, match="unknown notification kind"):
        send_notice(world, ["resident"], kind="gossip")


def test_preferences_are_honoured_per_kind_and_channel(world: World, marked_chinese: None) -> None:
    set_email(world, "resident", "zhao@example.org")
    set_email(world, "grid", "sun@example.org")
    choose(world, "resident", reply__inapp=False, reply__email=True, ballot_opened__sms=True)
    choose(world, "owner", reply__sms=True, reply__email=True)  # owner has no e-mail address
    choose(world, "grid", item_status__email=False, ballot_opened__email=True)

    reply = {"item": 3, "title": "快递柜", "comment": 12}
    send_notice(
        world,
        ["resident", "owner", "grid"],
        "reply",
        reply,
        "/c/z/comments/12",
        base_url=TEST_BASE_URL,
    )
    send_notice(
        world,
        ["resident", "owner", "grid"],
        "ballot_opened",
        {"ballot": 2, "title": "电梯"},
        "/c/z/ballots/2",
        base_url=TEST_BASE_URL,
    )
    send_notice(world, ["resident", "owner", "grid"], base_url=TEST_BASE_URL)

    by_kind: dict[str, set[str]] = {}
    for row in notifications(world):
        by_kind.setdefault(row.kind, set()).add(recipients([row], world).pop())
    assert by_kind == {
        "reply": {"owner", "grid"},  # the resident turned replies in the app off
        "ballot_opened": {"resident", "owner", "grid"},
        "item_status": {"resident", "owner", "grid"},
    }

    sent = {(recipients([m], world).pop(), m.channel, m.address) for m in outbox(world)}
    assert sent == {
        ("resident", "email", "zhao@example.org"),  # reply by e-mail
        ("owner", "sms", "13800000001"),  # reply by SMS; no e-mail without an address
        ("resident", "sms", "13800000006"),  # ballots by SMS
        ("grid", "email", "sun@example.org"),  # ballots by e-mail
    }

    mail = next(m for m in outbox(world) if m.address == "zhao@example.org")
    # worded in Simplified Chinese whatever the language of the moment, with the full link
    assert mail.subject == "【Z社区】ZH:Someone replied to your comment on item #3 “快递柜”."
    assert mail.body.startswith("ZH:Someone replied to your comment on item #3 “快递柜”.")
    assert f"{TEST_BASE_URL}/c/z/comments/12" in mail.body
    assert f"{TEST_BASE_URL}/c/z/notifications/settings" in mail.body
    assert mail.community_id == world.ids["z"] and mail.sent_at is None and mail.attempts == 0
    sms = next(m for m in outbox(world) if m.address == "13800000006")
    assert (
        sms.body
        == f"【Z社区】ZH:Ballot #2 “电梯” is open: you may vote. {TEST_BASE_URL}/c/z/ballots/2"
    )


def test_the_base_url_comes_from_the_session_when_not_given(world: World) -> None:
    set_email(world, "resident", "zhao@example.org")
    choose(world, "resident", item_status__email=True)

    async def work(session: Any) -> None:
        session.info["base_url"] = "https://yishi.example.org/"
        await notify.notify(
            session,
            world.ids["z"],
            [world.ids["resident"]],
            "item_status",
            {"item": 1},
            "/c/z/items/1",
        )
        await session.commit()

    world.db.run(work)
    assert "https://yishi.example.org/c/z/items/1" in outbox(world)[0].body


def test_nothing_is_written_unless_the_action_commits(world: World) -> None:
    set_email(world, "resident", "zhao@example.org")
    choose(world, "resident", item_status__email=True)

    async def work(session: Any) -> None:
        await notify.notify(
            session,
            world.ids["z"],
            [world.ids["resident"]],
            "item_status",
            {"item": 1},
            "/c/z/items/1",
        )
        await session.rollback()  # the action was refused after all

    world.db.run(work)
    assert notifications(world) == [] and outbox(world) == []


# --- ballots opening -----------------------------------------------------------------------------


def test_opening_a_ballot_tells_everyone_who_may_cast_in_it(world: World) -> None:
    set_email(world, "owner", "wang@example.org")
    choose(world, "owner", ballot_opened__email=True)

    async def work(session: Any) -> int:
        session.info["base_url"] = TEST_BASE_URL
        community = await session.get(Community, world.ids["z"])
        chair = await session.get(Account, world.ids["chair"])
        ballot = await ballots.create_ballot(session, community, chair, ballot_definition())
        await ballots.open_ballot(session, ballot, chair)
        return ballot.number

    number = world.db.run(work)
    rows = notifications(world)
    # every adult in the register with an account; not the auditor or admin (no person), and
    # nobody of the other community
    assert recipients(rows, world) == {"resident", "owner", "grid", "chair"}
    assert {r.kind for r in rows} == {"ballot_opened"}
    assert {r.link for r in rows} == {f"/c/z/ballots/{number}"}
    assert all(r.params == {"ballot": number, "title": "加装电梯"} for r in rows)
    [mail] = outbox(world)
    assert mail.address == "wang@example.org"
    assert f"{TEST_BASE_URL}/c/z/ballots/{number}" in mail.body


def test_a_refused_opening_tells_nobody(world: World) -> None:
    async def work(session: Any) -> list[str]:
        community = await session.get(Community, world.ids["z"])
        chair = await session.get(Account, world.ids["chair"])
        refused = []
        broken = ballot_definition(title="")  # a definition with problems cannot open
        ballot = await ballots.create_ballot(session, community, chair, broken)
        try:
            await ballots.open_ballot(session, ballot, chair)
        except ballots.BallotError as error:
            refused.append(error.code)
        good = await ballots.create_ballot(session, community, chair, ballot_definition())
        await ballots.open_ballot(session, good, chair)
        before = (
            await session.execute(select(func.count()).select_from(Notification))
        ).scalar_one()
        try:
            await ballots.open_ballot(session, good, chair)  # twice
        except ballots.BallotError as error:
            refused.append(error.code)
        after = (await session.execute(select(func.count()).select_from(Notification))).scalar_one()
        assert after == before
        return refused

    assert world.db.run(work) == ["definition_problems", "frozen"]
    assert {r.params["ballot"] for r in notifications(world)} == {2}


# --- senders -------------------------------------------------------------------------------------


MESSAGE = notify.Outgoing(
    41,
    "email",
    "zhao@example.org",
    "【Z社区】表决 #2 “电梯” 已开始",
    "请投票：\nhttp://x/c/z/ballots/2\n",
)


def test_the_file_sender_appends_one_json_line_a_message(tmp_path: Path) -> None:
    sender = notify.FileSender(tmp_path / "outbox.jsonl")
    asyncio.run(sender.send(MESSAGE))
    asyncio.run(sender.send(notify.Outgoing(42, "sms", "13800000006", "s", "短信")))
    lines = (tmp_path / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["id"] == 41 and first["channel"] == "email" and first["to"] == "zhao@example.org"
    assert first["subject"] == MESSAGE.subject and first["body"] == MESSAGE.body
    assert "表决" in lines[0]  # readable UTF-8, not escapes
    assert second["to"] == "13800000006" and second["body"] == "短信"


class FakeSMTPServer(socketserver.ThreadingTCPServer):
    """Speaks just enough SMTP to take a message, or to refuse its recipient."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, refuse: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), FakeSMTPHandler)
        self.refuse = refuse
        self.received: list[tuple[str, list[str], bytes]] = []


class FakeSMTPHandler(socketserver.StreamRequestHandler):
    server: FakeSMTPServer

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 fake.example ESMTP")
        sender, rcpts = "", []
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake.example")
                self.reply("250 8BITMIME")
            elif verb == "MAIL":
                sender = command
                self.reply("250 OK")
            elif verb == "RCPT":
                if self.server.refuse:
                    self.reply("550 5.1.1 no such mailbox")
                else:
                    rcpts.append(command)
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk
                self.server.received.append((sender, rcpts, data))
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


@pytest.fixture
def smtp_server() -> Iterator[FakeSMTPServer]:
    server = FakeSMTPServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_smtp_sender_delivers_a_readable_chinese_email(smtp_server: FakeSMTPServer) -> None:
    port = smtp_server.server_address[1]
    sender = notify.SMTPSender("127.0.0.1", port, "yishi@example.org", starttls=False)
    asyncio.run(sender.send(MESSAGE))
    [(mail_from, rcpts, data)] = smtp_server.received
    assert mail_from.lower() == "mail from:<yishi@example.org>"
    assert [r.lower() for r in rcpts] == ["rcpt to:<zhao@example.org>"]
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == MESSAGE.subject
    assert message["From"] == "yishi@example.org" and message["To"] == "zhao@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<[\d.]+\.outbox41@example\.org>", message["Message-ID"])
    assert message.get_content_type() == "text/plain"
    assert message.get_content().replace("\r\n", "\n") == MESSAGE.body


def test_the_smtp_sender_upgrades_with_starttls_and_signs_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Any] = []

    class Recording:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            calls.append(("connect", host, port))

        def __enter__(self) -> Recording:
            return self

        def __exit__(self, *exc: object) -> None:
            calls.append(("quit",))

        def starttls(self, context: Any) -> None:
            calls.append(("starttls",))

        def login(self, user: str, password: str) -> None:
            calls.append(("login", user, password))

        def send_message(self, message: Any) -> None:
            calls.append(("send", message["To"], message["Subject"], message.get_content()))

    monkeypatch.setattr(notify.smtplib, "SMTP", Recording)
    sender = notify.SMTPSender(
        "smtp.example.org", 587, "yishi@example.org", user="yishi", password="pw"
    )
    asyncio.run(sender.send(MESSAGE))
    assert calls == [
        ("connect", "smtp.example.org", 587),
        ("starttls",),
        ("login", "yishi", "pw"),
        ("send", "zhao@example.org", MESSAGE.subject, MESSAGE.body),
        ("quit",),
    ]


def test_the_sms_webhook_posts_json_and_fails_on_an_error_status() -> None:
    seen: list[dict[str, Any]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(500 if len(seen) > 1 else 200)

    async def main() -> str:
        client = httpx.AsyncClient(transport=httpx.MockTransport(gateway))
        sender = notify.WebhookSMSSender("https://sms.example.org/send", client)
        message = notify.Outgoing(7, "sms", "13800000006", "s", "【Z社区】表决已开始 http://x")
        await sender.send(message)
        try:
            await sender.send(message)
        except httpx.HTTPStatusError as error:
            return str(error.response.status_code)
        finally:
            await client.aclose()
        return "sent twice"

    assert asyncio.run(main()) == "500"
    assert seen[0] == {"to": "13800000006", "text": "【Z社区】表决已开始 http://x", "id": 7}


def test_senders_follow_the_settings(settings: Settings) -> None:
    default = notify.senders_for(settings)
    assert isinstance(default["email"], notify.FileSender)
    assert default["email"].path == settings.var_dir / "outbox.jsonl"
    assert isinstance(default["sms"], notify.FileSender)
    configured = notify.senders_for(
        Settings(
            **{
                **settings.__dict__,
                "smtp_host": "smtp.example.org",
                "smtp_port": 465,
                "sms_webhook": "https://sms.example.org/send",
            }
        )
    )
    smtp = configured["email"]
    assert isinstance(smtp, notify.SMTPSender) and smtp.port == 465
    assert smtp.sender == "noreply@testserver.local"
    assert isinstance(configured["sms"], notify.WebhookSMSSender)
    asyncio.run(notify.close_senders(configured))


def test_sender_settings_are_read_and_checked(tmp_path: Path) -> None:
    base = {"YISHI_VAR_DIR": str(tmp_path), "YISHI_SECRET_KEY": "k" * 40}
    settings = load_settings(
        {
            **base,
            "YISHI_SMTP_HOST": "smtp.example.org",
            "YISHI_SMTP_PORT": "2525",
            "YISHI_SMTP_USER": "yishi",
            "YISHI_SMTP_PASSWORD": "hunter2",
            "YISHI_SMTP_FROM": "yishi@example.org",
            "YISHI_SMTP_STARTTLS": "false",
            "YISHI_SMS_WEBHOOK": "https://sms.example.org/send",
        }
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "smtp.example.org",
        2525,
        False,
    )
    assert settings.smtp_from == "yishi@example.org" and settings.sms_webhook.startswith("https")
    assert settings.smtp_password == "hunter2" and "hunter2" not in repr(settings)
    defaults = load_settings(base)
    assert defaults.smtp_host is None and defaults.smtp_port == 587 and defaults.smtp_starttls
    for name, value in (
        ("YISHI_SMTP_PORT", "smtp"),
        ("YISHI_SMTP_PORT", "70000"),
        ("YISHI_SMTP_STARTTLS", "maybe"),
        ("YISHI_SMTP_FROM", "yishi"),
        ("YISHI_SMS_WEBHOOK", "ftp://sms.example.org"),
    ):
        with pytest.raises(SettingsError, match=name):
            load_settings({**base, name: value})


# --- draining the outbox -------------------------------------------------------------------------


class Recorder:
    """A sender that records what it is given and fails for the addresses it is told to."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.sent: list[notify.Outgoing] = []
        self.failing = failing or set()

    async def send(self, message: notify.Outgoing) -> None:
        if message.address in self.failing:
            raise ConnectionRefusedError(f"gateway down for {message.address}")
        self.sent.append(message)


def queue_mail(world: World, usernames: list[str], count: int = 1) -> None:
    for username in usernames:
        set_email(world, username, f"{username}@example.org")
        choose(world, username, item_status__email=True, item_status__inapp=False)
    for _i in range(count):
        send_notice(world, usernames, base_url=TEST_BASE_URL)


def queue_rows(world: World, count: int) -> list[int]:
    """Many due messages at once, written directly (faster than a notice each)."""

    async def work(session: Any) -> list[int]:
        now = utcnow()
        await session.execute(
            insert(OutboxMessage),
            [
                {
                    "community_id": world.ids["z"],
                    "account_id": world.ids["resident"],
                    "channel": "email",
                    "address": f"r{i}@example.org",
                    "subject": f"notice {i}",
                    "body": "…",
                    "created_at": now,
                    "next_attempt_at": now,
                    "attempts": 0,
                }
                for i in range(count)
            ],
        )
        await session.commit()
        return list((await session.execute(select(OutboxMessage.id))).scalars())

    return world.db.run(work)


def cli_env(world: World, var_dir: Path) -> dict[str, str]:
    return {
        "YISHI_DATABASE_URL": world.db.url,
        "YISHI_SECRET_KEY": "cli-test-secret-" + "x" * 32,
        "YISHI_VAR_DIR": str(var_dir),
        "YISHI_LANG": "en",
    }


def test_the_backoff_doubles_up_to_an_hour_and_gives_up_after_about_three_hours() -> None:
    waits = [notify.backoff(n).total_seconds() for n in range(1, notify.MAX_ATTEMPTS)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert 3 * 3600 <= sum(waits) <= 3.25 * 3600
    assert notify.backoff(10_000) == timedelta(hours=1)


def test_the_drain_sends_retries_with_backoff_and_gives_up(world: World) -> None:
    queue_mail(world, ["resident", "owner"])
    recorder = Recorder(failing={"owner@example.org"})
    senders = {"email": recorder, "sms": recorder}
    start = outbox(world)[0].next_attempt_at
    assert start == outbox(world)[0].created_at  # due at once

    first = with_maker(world, lambda maker: notify.drain(maker, senders, now=start))
    assert (first.sent, first.failed, first.given_up) == (1, 1, 0)
    assert [m.address for m in recorder.sent] == ["resident@example.org"]
    done, failed = outbox(world)
    assert done.sent_at is not None and done.last_error is None and done.attempts == 1
    assert failed.sent_at is None and failed.attempts == 1
    assert failed.last_error == "ConnectionRefusedError: gateway down for owner@example.org"
    assert done.claimed_until is None and failed.claimed_until is None  # leases given back
    # the backoff is counted from the failure and kept on the row
    assert failed.next_attempt_at == start + timedelta(seconds=30)

    # not due again before its backoff, due after it; nothing sent twice
    soon = with_maker(world, lambda m: notify.drain(m, senders, now=start + timedelta(seconds=29)))
    assert (soon.sent, soon.failed) == (0, 0)
    recorder.failing.clear()
    again = with_maker(world, lambda m: notify.drain(m, senders, now=failed.next_attempt_at))
    assert (again.sent, again.failed) == (1, 0)
    assert sorted(m.address for m in recorder.sent) == ["owner@example.org", "resident@example.org"]
    assert all(m.sent_at is not None for m in outbox(world))
    assert outbox(world)[1].attempts == 2 and outbox(world)[1].last_error is None

    # a message that always fails is given up after the last attempt, and retried on request
    queue_mail(world, ["grid"])
    recorder.failing.add("grid@example.org")
    later = utcnow()
    rounds = []
    for hour in range(5):
        result = with_maker(
            world,
            lambda m, at=later + timedelta(hours=hour): notify.drain(  # type: ignore[misc]
                m, senders, now=at, max_attempts=3
            ),
        )
        rounds.append((result.failed, result.given_up))
    assert rounds == [(1, 0), (1, 0), (1, 1), (0, 0), (0, 0)]
    stuck = outbox(world)[-1]
    assert stuck.attempts == 3 and stuck.sent_at is None and "gateway down" in stuck.last_error

    async def listing(session: Any) -> list[notify.Waiting]:
        return await notify.waiting(session)

    [waiting] = world.db.run(listing)
    assert waiting.id == stuck.id and waiting.attempts == 3
    assert not waiting.given_up and not waiting.sending
    assert waiting.next_attempt_at == stuck.next_attempt_at

    async def exhaust(session: Any) -> int:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == stuck.id)
            .values(attempts=notify.MAX_ATTEMPTS)
        )
        await session.commit()
        assert (await notify.waiting(session))[0].given_up
        return await notify.retry_given_up(session)

    assert world.db.run(exhaust) == 1
    assert outbox(world)[-1].attempts == 0
    recorder.failing.clear()
    retried = with_maker(world, lambda maker: notify.drain(maker, senders))  # due at once
    assert retried.sent == 1 and outbox(world)[-1].sent_at is not None


def test_a_channel_without_a_sender_is_an_error_kept_on_the_row(world: World) -> None:
    queue_mail(world, ["resident"])
    done = with_maker(world, lambda maker: notify.drain(maker, {}))
    assert done.failed == 1
    assert outbox(world)[0].last_error == "LookupError: no sender for channel 'email'"


def test_the_drain_goes_batch_after_batch(world: World) -> None:
    queue_mail(world, ["resident"], count=7)
    recorder = Recorder()
    done = with_maker(world, lambda maker: notify.drain(maker, {"email": recorder}, batch=3))
    assert done.sent == 7
    assert [m.id for m in recorder.sent] == sorted(m.id for m in outbox(world))


def test_the_outbox_loop_sends_to_the_file_by_default(world: World, settings: Settings) -> None:
    queue_mail(world, ["resident"])

    async def work(maker: Any) -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(notify.run_outbox(maker, settings, stop, interval=0.05))
        for _i in range(200):
            if (settings.var_dir / "outbox.jsonl").exists():
                break
            await asyncio.sleep(0.05)
        stop.set()
        await loop

    with_maker(world, work)
    [line] = (settings.var_dir / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["to"] == "resident@example.org"
    assert outbox(world)[0].sent_at is not None


def test_a_lease_left_by_a_crashed_sender_expires_and_the_message_is_sent_again(
    world: World, tmp_path: Path
) -> None:
    queue_mail(world, ["resident", "owner"])
    start = utcnow()

    async def crash(maker: Any) -> list[notify.Claim]:  # claims, then dies before sending
        async with maker() as session:
            return await notify.claim(session, now=start, batch=1)

    [held] = with_maker(world, crash)
    row = next(m for m in outbox(world) if m.id == held.message.id)
    assert row.claimed_until == start + notify.LEASE and row.attempts == held.attempt == 1
    listed = CliRunner().invoke(cli, ["outbox", "list"], env=cli_env(world, tmp_path))
    assert listed.exit_code == 0, listed.output
    assert f"#{held.message.id}  email" in listed.output and "in progress" in listed.output

    # while the lease holds, nobody else sends it; the other message goes
    recorder = Recorder()
    during = start + notify.LEASE - timedelta(seconds=1)
    with_maker(world, lambda maker: notify.drain(maker, {"email": recorder}, now=during))
    assert [m.id for m in recorder.sent] == [m.id for m in outbox(world) if m.id != held.message.id]

    # once it has expired, the message is claimed again (the lost attempt counts) and sent once
    after = start + notify.LEASE + timedelta(seconds=1)
    done = with_maker(world, lambda maker: notify.drain(maker, {"email": recorder}, now=after))
    assert done.sent == 1 and recorder.sent[-1].id == held.message.id
    row = next(m for m in outbox(world) if m.id == held.message.id)
    assert row.sent_at is not None and row.attempts == 2 and row.claimed_until is None
    assert len({m.id for m in recorder.sent}) == len(recorder.sent) == 2


def test_a_crash_on_the_last_attempt_is_retried_on_request_once_the_lease_expires(
    world: World,
) -> None:
    queue_mail(world, ["resident"])

    async def crash_last(session: Any) -> list[notify.Claim]:
        await session.execute(update(OutboxMessage).values(attempts=notify.MAX_ATTEMPTS - 1))
        await session.commit()
        return await notify.claim(session, now=utcnow())

    [held] = world.db.run(crash_last)
    assert held.attempt == notify.MAX_ATTEMPTS

    async def state(session: Any) -> tuple[bool, bool, int]:
        [w] = await notify.waiting(session)
        return w.sending, w.given_up, await notify.retry_given_up(session)

    assert world.db.run(state) == (True, False, 0)  # its sender may still be at it

    async def expire(session: Any) -> tuple[bool, bool, int]:
        later = utcnow() + notify.LEASE + timedelta(seconds=1)
        [w] = await notify.waiting(session, now=later)
        return w.sending, w.given_up, await notify.retry_given_up(session, now=later)

    assert world.db.run(expire) == (False, True, 1)
    [row] = outbox(world)
    assert row.attempts == 0 and row.claimed_until is None


def test_concurrent_claimers_get_disjoint_messages(world: World) -> None:
    """Four claimers on connections of their own, as four processes would be, start together
    and claim small batches until nothing is left: every message is claimed exactly once."""
    ids = queue_rows(world, 120)
    now = utcnow()
    start = threading.Barrier(4)

    def claimer() -> list[int]:
        async def main() -> list[int]:
            engine = create_engine(world.db.url)
            maker = create_sessionmaker(engine)
            got: list[int] = []
            try:
                async with maker() as session:  # connect before the race starts
                    await session.execute(select(1))
                start.wait(timeout=30)
                while True:
                    async with maker() as session:
                        claims = await notify.claim(session, now=now, batch=7)
                    if not claims:
                        return got
                    got.extend(c.message.id for c in claims)
            finally:
                await engine.dispose()

        return asyncio.run(main())

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [f.result() for f in [pool.submit(claimer) for _i in range(4)]]
    claimed = [message for got in results for message in got]
    assert sorted(claimed) == sorted(ids)
    assert {m.attempts for m in outbox(world)} == {1}


class Slow(Recorder):
    """Holds every message until released, as a slow mail server would."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, message: notify.Outgoing) -> None:
        self.started.set()
        await self.release.wait()
        await super().send(message)


def test_sending_holds_no_lock_and_other_senders_take_the_rest(world: World) -> None:
    """A batch being sent (to a dead mail server, say) holds leases, not locks: its rows can be
    locked at once, other writers go on, and another sender takes the other messages only."""
    queue_mail(world, ["resident", "owner", "grid", "chair"])

    async def work(maker: Any) -> tuple[int, int, int]:
        slow, quick = Slow(), Recorder()
        first = asyncio.create_task(notify.drain(maker, {"email": slow}, batch=2))
        await slow.started.wait()
        async with maker() as session:
            held = select(OutboxMessage.id).where(OutboxMessage.claimed_until.is_not(None))
            if world.db.backend == "postgres":  # raises at once if a row is locked
                await session.execute(held.with_for_update(nowait=True))
            assert len((await session.execute(held)).all()) == 2
            await asyncio.wait_for(
                notify.notify(session, world.ids["z"], [world.ids["owner"]], "reply", {}, "/"),
                timeout=5,
            )
            await asyncio.wait_for(session.commit(), timeout=5)
        second = await notify.drain(maker, {"email": quick}, batch=2)
        slow.release.set()
        await first
        third = await notify.drain(maker, {"email": quick})
        ids = [m.id for m in slow.sent + quick.sent]
        assert len(ids) == len(set(ids)) == 4
        return len(slow.sent), second.sent, third.sent

    assert with_maker(world, work) == (2, 2, 0)
    assert all(m.sent_at is not None and m.attempts == 1 for m in outbox(world))


def test_a_batch_stops_sending_when_its_lease_runs_short_or_the_app_stops(world: World) -> None:
    """What was claimed and not tried goes back at once, its attempt given back."""
    queue_mail(world, ["resident", "owner", "grid"])

    class Sluggish(Recorder):
        async def send(self, message: notify.Outgoing) -> None:
            await asyncio.sleep(0.25)  # past the 0.24 s a 0.3 s lease leaves for starting sends
            await super().send(message)

    sluggish = Sluggish()
    short = timedelta(seconds=0.3)
    done = with_maker(world, lambda m: notify.drain(m, {"email": sluggish}, batch=3, lease=short))
    # one send a batch: 3 claimed, 1 sent, 2 released; then 2 claimed, 1 sent, 1 released
    assert (done.sent, done.released) == (2, 3)
    first, second, third = outbox(world)
    assert first.sent_at and second.sent_at and third.sent_at is None
    assert (third.attempts, third.claimed_until) == (0, None)

    class Stopping(Recorder):
        def __init__(self, stop: asyncio.Event) -> None:
            super().__init__()
            self.stop = stop

        async def send(self, message: notify.Outgoing) -> None:
            self.stop.set()  # the app is told to stop while this message is being sent
            await super().send(message)

    send_notice(world, ["resident", "owner"], base_url=TEST_BASE_URL)

    async def stopping(maker: Any) -> notify.Drained:
        stop = asyncio.Event()
        return await notify.drain(maker, {"email": Stopping(stop)}, stop=stop)

    stopped = with_maker(world, stopping)
    assert (stopped.sent, stopped.released) == (1, 2)
    assert [m.sent_at is not None for m in outbox(world)] == [True, True, True, False, False]
    assert all(m.claimed_until is None for m in outbox(world))


def test_the_cli_beside_the_running_loop_never_sends_a_message_twice(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    """``yishi outbox send`` in a process of its own while the server's loop is stuck sending a
    batch: the command sends the rest, not the batch, and returns at once."""
    ids = queue_rows(world, notify.BATCH + 5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("YISHI_")}
    env.update(cli_env(world, tmp_path / "cli"))

    async def work(maker: Any) -> tuple[Slow, bytes]:
        slow, stop = Slow(), asyncio.Event()
        loop = asyncio.create_task(
            notify.run_outbox(maker, settings, stop, senders={"email": slow}, interval=0.05)
        )
        await asyncio.wait_for(slow.started.wait(), timeout=10)
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "outbox",
            "send",
            env=env,
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(command.communicate(), timeout=60)
        assert command.returncode == 0, output.decode()
        slow.release.set()
        for _i in range(200):
            if len(slow.sent) == notify.BATCH:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await loop
        return slow, output

    slow, output = with_maker(world, work)
    assert "5 sent, 0 failed (0 given up)." in output.decode()
    lines = (tmp_path / "cli" / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    by_cli = [json.loads(line)["id"] for line in lines]
    by_loop = [m.id for m in slow.sent]
    assert len(by_cli) == 5 and len(by_loop) == notify.BATCH
    assert sorted(by_cli + by_loop) == sorted(ids)  # each message once, by one of the two
    assert all(m.sent_at is not None and m.attempts == 1 for m in outbox(world))


# --- the centre ----------------------------------------------------------------------------------


def test_the_centre_shows_my_notices_newest_first_and_marks_unread(
    world: World, client: Client
) -> None:
    send_notice(
        world, ["resident"], "ballot_opened", {"ballot": 1, "title": "第一次表决"}, "/c/z/ballots/1"
    )
    send_notice(
        world,
        ["resident"],
        "item_status",
        {"item": 2, "title": "<b>快递柜</b>", "status": "consultation"},
    )
    send_notice(
        world, ["owner"], "ballot_opened", {"ballot": 9, "title": "别人的通知"}, "/c/z/ballots/9"
    )
    send_notice(
        world,
        ["resident"],
        "ballot_opened",
        {"ballot": 5, "title": "另一个社区"},
        "/c/other/ballots/5",
        community="other",
    )
    client.sign_in("resident")
    client.cookies.set("yishi_lang", "en")
    page = client.get("/c/z/notifications")
    assert page.status_code == 200
    text = page.text
    assert "Item #2 “&lt;b&gt;快递柜&lt;/b&gt;” is now in consultation." in text  # escaped
    assert text.index("快递柜") < text.index("第一次表决")  # newest first
    assert "别人的通知" not in text and "另一个社区" not in text
    assert text.count('class="notice-item unread"') == 2
    assert "You have 2 unread notices." in text
    first = next(n for n in notifications(world) if n.params.get("ballot") == 1)
    assert f'action="/c/z/notifications/{first.id}/read"' in text

    count = client.get("/c/z/notifications/count", headers={"HX-Request": "true"})
    assert count.status_code == 200 and count.headers["cache-control"] == "no-store"
    assert re.search(r'class="unread-count">2<span class="visually-hidden"> unread', count.text)
    assert "<html" not in count.text

    opened = client.form(f"/c/z/notifications/{first.id}/read")
    assert opened.status_code == 303 and opened.headers["location"] == "/c/z/ballots/1"
    read = next(n for n in notifications(world) if n.id == first.id)
    assert read.read_at is not None
    again = client.get("/c/z/notifications").text
    assert again.count('class="notice-item unread"') == 1
    assert '<a class="notice-open" href="/c/z/ballots/1">' in again  # read ones are plain links
    assert "1<span" in client.get("/c/z/notifications/count").text

    done = client.form("/c/z/notifications/read-all")
    assert done.status_code == 303 and done.headers["location"] == "/c/z/notifications"
    mine = [n for n in notifications(world) if n.account_id == world.ids["resident"]]
    assert all(n.read_at is not None for n in mine if n.community_id == world.ids["z"])
    # read-all is per community, and never touches anyone else's notices
    assert [n.read_at for n in mine if n.community_id == world.ids["other"]] == [None]
    assert all(
        n.read_at is None for n in notifications(world) if n.account_id == world.ids["owner"]
    )
    assert client.get("/c/z/notifications/count").text.strip() == ""
    assert "You have no unread notices." in client.get("/c/z/notifications").text


def test_the_centre_is_paginated(world: World, client: Client) -> None:
    for number in range(1, 26):
        send_notice(
            world,
            ["resident"],
            "ballot_opened",
            {"ballot": number, "title": f"T{number}"},
            f"/c/z/ballots/{number}",
        )
    client.sign_in("resident")
    first = client.get("/c/z/notifications").text
    assert first.count("notice-item") == 20 and "“T25”" in first and "“T5”" not in first
    second = client.get("/c/z/notifications?p=2").text
    assert second.count("notice-item") == 5 and "“T5”" in second and "“T6”" not in second
    assert 'rel="prev"' in second


def test_another_accounts_notice_cannot_be_opened(world: World, client: Client) -> None:
    send_notice(world, ["owner"], "ballot_opened", {"ballot": 1, "title": "t"}, "/c/z/ballots/1")
    [notice] = notifications(world)
    client.sign_in("resident")
    assert client.form(f"/c/z/notifications/{notice.id}/read").status_code == 404
    assert client.form("/c/z/notifications/999999/read").status_code == 404
    client.sign_in("owner")
    # the owner's own notice, but under another community's address
    assert client.form(f"/c/other/notifications/{notice.id}/read").status_code == 404
    assert notifications(world)[0].read_at is None
    assert client.form(f"/c/z/notifications/{notice.id}/read").status_code == 303


def test_the_centre_needs_a_signed_in_account_and_csrf(world: World, client: Client) -> None:
    send_notice(world, ["resident"])
    [notice] = notifications(world)
    for path in ("/c/z/notifications", "/c/z/notifications/count", "/c/z/notifications/settings"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")
    assert client.form(f"/c/z/notifications/{notice.id}/read").status_code == 401
    assert client.form("/c/z/notifications/read-all").status_code == 401
    assert client.get("/c/nowhere/notifications", follow_redirects=False).status_code == 404
    client.sign_in("resident")
    forged = client.post(f"/c/z/notifications/{notice.id}/read", follow_redirects=False)
    assert forged.status_code == 403
    assert client.post("/c/z/notifications/read-all", follow_redirects=False).status_code == 403
    assert (
        client.post("/c/z/notifications/settings", data={"email": "x@example.org"}).status_code
        == 403
    )
    assert client.get(f"/c/z/notifications/{notice.id}/read").status_code == 405
    assert notifications(world)[0].read_at is None


def test_the_navigation_fetches_the_unread_count(world: World, client: Client) -> None:
    anonymous = client.get("/c/z").text
    assert "/c/z/notifications/count" not in anonymous
    client.sign_in("auditor")  # an account with no person in the register has notices too
    page = client.get("/c/z").text
    assert re.search(
        r'<a href="/c/z/notifications" class="notifications-link">[^<]*<span '
        r'hx-get="/c/z/notifications/count" hx-trigger="load"',
        page,
    )


# --- what I receive ------------------------------------------------------------------------------


def preferences_of(world: World, username: str) -> dict[tuple[str, str], bool]:
    async def work(session: Any) -> dict[tuple[str, str], bool]:
        return await notify.preferences(session, world.ids[username])

    return world.db.run(work)


def account_email(world: World, username: str) -> str | None:
    async def work(session: Any) -> str | None:
        return (await session.get(Account, world.ids[username])).email

    return world.db.run(work)


def test_the_settings_page_is_a_labelled_table_of_kinds_and_channels(
    world: World, client: Client
) -> None:
    client.sign_in("resident")
    client.cookies.set("yishi_lang", "en")
    page = client.get("/c/z/notifications/settings")
    assert page.status_code == 200
    text = page.text
    assert 'name="_csrf_token"' in text
    for kind in notify.KINDS:
        for channel in notify.CHANNELS:
            assert f'name="{kind}.{channel}"' in text
    # each checkbox says what it is, read on its own
    assert '<span class="visually-hidden">Replies to my comments: By e-mail</span>' in text
    assert re.search(r'<th scope="col" class="check">By SMS</th>', text)
    # defaults: in the app on, e-mail and SMS off
    assert re.search(r'name="reply\.inapp" value="on" checked', text)
    assert not re.search(r'name="reply\.email" value="on" checked', text)
    assert "Notices by SMS go to your phone number 13800000006." in text

    client.sign_in("auditor")
    text = client.get("/c/z/notifications/settings").text
    assert "Your account has no phone number, so notices cannot be sent by SMS." in text
    assert re.search(r'name="reply\.sms" value="on" disabled', text)


def test_saving_choices_stores_them_and_the_email_address(world: World, client: Client) -> None:
    client.sign_in("resident")
    saved = client.form(
        "/c/z/notifications/settings",
        {
            "email": "  Zhao@Example.ORG ",
            "reply.email": "on",
            "reply.inapp": "on",
            "meeting.sms": "on",
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/c/z/notifications/settings?done=saved"
    chosen = preferences_of(world, "resident")
    assert {k for k, v in chosen.items() if v} == {
        ("reply", "email"),
        ("reply", "inapp"),
        ("meeting", "sms"),
    }
    assert account_email(world, "resident") == "Zhao@example.org"
    page = client.get("/c/z/notifications/settings?done=saved").text
    assert 'value="Zhao@example.org"' in page and 'role="status"' in page

    # and notify follows them
    send_notice(
        world, ["resident"], "reply", {"item": 1, "title": "t", "comment": 3}, "/c/z/comments/3"
    )
    send_notice(
        world,
        ["resident"],
        "meeting",
        {"meeting": 1, "title": "m", "starts_at": "2026-01-01T01:00:00Z"},
        "/c/z/meetings/1",
    )
    assert {(m.channel, m.address) for m in outbox(world)} == {
        ("email", "Zhao@example.org"),
        ("sms", "13800000006"),
    }
    assert [n.kind for n in notifications(world)] == ["reply"]  # meetings in the app: turned off


@pytest.mark.parametrize(
    ("username", "form", "message", "field"),
    [
        ("resident", {"email": "not an address"}, "“not an address” is not an", "email"),
        ("resident", {"email": "a@b"}, "is not an e-mail address", "email"),
        ("resident", {"email": "x" * 195 + "@example.org"}, "at most 200 characters", "email"),
        ("resident", {"email": "", "reply.email": "on"}, "enter your e-mail address", "email"),
        ("auditor", {"email": "a@example.org", "reply.sms": "on"}, "has no phone number", "sms"),
    ],
)
def test_bad_choices_are_refused_naming_the_field_and_nothing_is_stored(
    world: World,
    client: Client,
    username: str,
    form: dict[str, str],
    message: str,
    field: str,
) -> None:
    set_email(world, username, "old@example.org")
    client.sign_in(username)
    client.cookies.set("yishi_lang", "en")
    refused = client.form("/c/z/notifications/settings", {"meeting.email": "on", **form})
    assert refused.status_code == 400
    text = refused.text
    assert message in text
    assert 'role="alert"' in text
    assert ("E-mail address:" if field == "email" else "By SMS:") in text
    if field == "email":
        assert 'aria-invalid="true"' in text and 'href="#f-email"' in text
    # the form keeps what was entered
    assert re.search(r'name="meeting\.email" value="on" checked', text)
    assert account_email(world, username) == "old@example.org"
    assert not any(v for (k, c), v in preferences_of(world, username).items() if c != "inapp")

    async def stored(session: Any) -> int:
        return (
            await session.execute(select(func.count()).select_from(NotificationPreference))
        ).scalar_one()

    assert world.db.run(stored) == 0


def test_an_empty_address_turns_email_off(world: World, client: Client) -> None:
    set_email(world, "resident", "zhao@example.org")
    client.sign_in("resident")
    assert (
        client.form("/c/z/notifications/settings", {"email": "", "reply.inapp": "on"}).status_code
        == 303
    )
    assert account_email(world, "resident") is None
    assert {k for k, v in preferences_of(world, "resident").items() if v} == {("reply", "inapp")}


def test_ballot_opening_shows_in_the_centre(world: World, client: Client) -> None:
    async def work(session: Any) -> int:
        community = await session.get(Community, world.ids["z"])
        chair = await session.get(Account, world.ids["chair"])
        ballot = await ballots.create_ballot(
            session, community, chair, ballot_definition("垃圾分类")
        )
        await ballots.open_ballot(session, ballot, chair)
        return ballot.number

    number = world.db.run(work)
    client.sign_in("owner")
    client.cookies.set("yishi_lang", "en")
    text = client.get("/c/z/notifications").text
    assert f"Ballot #{number} “垃圾分类” is open: you may vote." in text

    async def ballot_title(session: Any) -> str:
        return (await session.execute(select(Ballot.title))).scalar_one()

    assert world.db.run(ballot_title) == "垃圾分类"
