"""Notices to residents: in the app's notification centre and, where they chose it, by e-mail
or SMS through an outbox that a sender drains. ``notify`` is called inside the action that
causes the notice, so the notice exists exactly when the action committed.

The outbox is drained by ``run_outbox`` in every app process, and by ``yishi outbox send``
beside them. A sender claims a batch with a lease: one short transaction marks the messages
``claimed_until`` a few minutes ahead (counting the attempt) and commits; the messages are then
sent with no transaction open and no row locked, and each outcome is recorded in a short
transaction of its own (sent, or failed with ``next_attempt_at`` pushed back by a doubling
backoff). While a lease holds no other sender takes the message, on SQLite (where the claim
takes the write lock before it reads) as on PostgreSQL (``FOR UPDATE SKIP LOCKED`` inside the
claim), so a healthy run sends each message once. Delivery is at least once, not exactly once:
a sender that dies, or loses the database, between a send and its record leaves a lease that
expires, and the message is sent again (the lost attempt counts); e-mail and SMS cannot promise
better. No send starts late in a lease, so one still running when it expires is unlikely but
possible. Leases are compared with each process's clock, which must agree to well under a
lease. A message is given up after ``MAX_ATTEMPTS``; the last error is kept on the row for
``yishi outbox list``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import i18n
from app.i18n import gettext as _
from app.models import (
    Account,
    Community,
    Notification,
    NotificationPreference,
    OutboxMessage,
    utcnow,
)
from app.settings import Settings

logger = logging.getLogger("yishi.notify")

# What a resident can be told about.
KINDS: Final = (
    "reply",  # a reply to my comment
    "item_status",  # an item I follow changed status or has news
    "amendment",  # an amendment to my item, or a decision on mine
    "moderation",  # my comment was hidden, and why
    "ballot_opened",  # a ballot I may vote in has opened
    "meeting",  # a meeting was convened, or its minutes published
)
CHANNELS: Final = ("inapp", "email", "sms")
DEFAULT_ON: Final = {"inapp"}  # e-mail and SMS only when the resident asks for them
OUTBOX_LANGUAGE: Final = i18n.DEFAULT_LANGUAGE  # accounts keep no language: Simplified Chinese
DEFAULT_BASE_URL: Final = "http://127.0.0.1:8000"  # as the settings' default
EMAIL_MAX: Final = 200
_CHUNK = 2000  # ids per IN (…) list: well under SQLite's and asyncpg's parameter limits
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _refused(code: str, **details: Any) -> Exception:
    # app.items imports this module (its actions notify), so its error class is looked up late
    from app.items import DeliberationError

    return DeliberationError(code, **details)


# --- writing notices ---------------------------------------------------------------------------


async def notify(
    session: AsyncSession,
    community_id: int,
    account_ids: Iterable[int],
    kind: str,
    params: dict[str, Any],
    link: str,
    *,
    exclude: int | None = None,
    base_url: str | None = None,
) -> int:
    """Tell these accounts (but not ``exclude``, usually the actor) about something; returns how
    many in-app notices were written. ``params`` are plain JSON values the notice is worded
    from; ``link`` is the page it points to (a path). Accounts that chose e-mail or SMS for this
    kind also get an outbox message, worded in Simplified Chinese with the full address of the
    link: ``base_url``, else the one the session was made with (``session.info["base_url"]``,
    set by the app and the CLI). Nothing is committed here: the caller's action commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    recipients = sorted({a for a in account_ids if a != exclude})
    if not recipients:
        return 0
    choices = await _choices(session, recipients, kind)

    def chose(account_id: int, channel: str) -> bool:
        return choices.get((account_id, channel), channel in DEFAULT_ON)

    now = utcnow()
    rows = [
        {
            "community_id": community_id,
            "account_id": account_id,
            "kind": kind,
            "params": params,
            "link": link,
            "created_at": now,
        }
        for account_id in recipients
        if chose(account_id, "inapp")
    ]
    for start in range(0, len(rows), _CHUNK):
        await session.execute(insert(Notification), rows[start : start + _CHUNK])

    outside = [a for a in recipients if chose(a, "email") or chose(a, "sms")]
    if outside:
        base = (base_url or session.info.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        messages = await _outbox_rows(
            session, community_id, outside, chose, kind, params, base + link, base, now
        )
        for start in range(0, len(messages), _CHUNK):
            await session.execute(insert(OutboxMessage), messages[start : start + _CHUNK])
    return len(rows)


async def _choices(
    session: AsyncSession, account_ids: list[int], kind: str
) -> dict[tuple[int, str], bool]:
    found: dict[tuple[int, str], bool] = {}
    for start in range(0, len(account_ids), _CHUNK):
        rows = await session.execute(
            select(
                NotificationPreference.account_id,
                NotificationPreference.channel,
                NotificationPreference.enabled,
            ).where(
                NotificationPreference.account_id.in_(account_ids[start : start + _CHUNK]),
                NotificationPreference.kind == kind,
            )
        )
        found.update({(account_id, channel): enabled for account_id, channel, enabled in rows})
    return found


async def _outbox_rows(
    session: AsyncSession,
    community_id: int,
    account_ids: list[int],
    chose: Any,
    kind: str,
    params: dict[str, Any],
    url: str,
    base: str,
    now: datetime,
) -> list[dict[str, Any]]:
    community = (
        await session.execute(
            select(Community.name, Community.slug).where(Community.id == community_id)
        )
    ).one()
    addresses: list[Any] = []
    for start in range(0, len(account_ids), _CHUNK):
        addresses.extend(
            (
                await session.execute(
                    select(Account.id, Account.email, Account.phone).where(
                        Account.id.in_(account_ids[start : start + _CHUNK]),
                        Account.is_active.is_(True),
                    )
                )
            ).all()
        )
    with in_language(OUTBOX_LANGUAGE):
        email = email_text(community.name, kind, params, url, base, community.slug)
        sms = sms_text(community.name, kind, params, url)
    messages = []
    for account_id, email_address, phone in sorted(addresses):
        for channel, address, (subject, body) in (
            ("email", email_address, email),
            ("sms", phone, sms),
        ):
            if address and chose(account_id, channel):
                messages.append(
                    {
                        "community_id": community_id,
                        "account_id": account_id,
                        "channel": channel,
                        "address": address,
                        "subject": subject,
                        "body": body,
                        "created_at": now,
                        "next_attempt_at": now,
                        "attempts": 0,
                    }
                )
    return messages


@contextlib.contextmanager
def in_language(language: str) -> Iterator[None]:
    """Word messages in ``language`` for a while (an e-mail is not in the actor's language)."""
    previous = i18n.current_language()
    i18n.set_language(language)
    try:
        yield
    finally:
        i18n.set_language(previous)


def email_text(
    community: str, kind: str, params: Mapping[str, Any], url: str, base: str, slug: str
) -> tuple[str, str]:
    what = describe(kind, params)
    subject = f"【{community}】{what}"
    if len(subject) > 200:
        subject = subject[:199] + "…"
    body = "\n\n".join(
        (
            what,
            _("Open it here: %(url)s", url=url),
            _(
                "You receive this e-mail because you asked for these notices. "
                "Choose what you receive: %(url)s",
                url=f"{base}/c/{slug}/notifications/settings",
            ),
            f"{community} · {_('Yishi')}",
        )
    )
    return subject, body + "\n"


def sms_text(community: str, kind: str, params: Mapping[str, Any], url: str) -> tuple[str, str]:
    what = describe(kind, params)
    return what[:200], f"【{community}】{what} {url}"


# --- wording -----------------------------------------------------------------------------------


def kind_label(kind: str) -> str:
    """What a kind of notice is about, as the settings page lists it."""
    return {
        "reply": lambda: _("Replies to my comments"),
        "item_status": lambda: _("News on items I follow"),
        "amendment": lambda: _("Amendments to my items, and decisions on my amendments"),
        "moderation": lambda: _("Moderation of my comments"),
        "ballot_opened": lambda: _("Ballots I may vote in"),
        "meeting": lambda: _("Meetings and their minutes"),
    }.get(kind, lambda: kind)()


def channel_label(channel: str) -> str:
    return {
        "inapp": lambda: _("In the app"),
        "email": lambda: _("By e-mail"),
        "sms": lambda: _("By SMS"),
    }.get(channel, lambda: channel)()


def status_label(status: object) -> str:
    """An agenda item's status in words."""
    return {
        "draft": lambda: _("draft"),
        "collecting": lambda: _("gathering support"),
        "submitted": lambda: _("waiting for the chair"),
        "declined": lambda: _("declined"),
        "on_agenda": lambda: _("on the agenda"),
        "consultation": lambda: _("in consultation"),
        "deciding": lambda: _("being decided"),
        "decided": lambda: _("decided"),
        "implementing": lambda: _("being carried out"),
        "closed": lambda: _("closed"),
    }.get(str(status), lambda: str(status))()


def reason_label(reason: object) -> str:
    """A moderation reason in words."""
    return {
        "personal_attack": lambda: _("a personal attack"),
        "private_data": lambda: _("someone's private data"),
        "off_topic": lambda: _("off topic"),
        "spam": lambda: _("advertising or repeated posts"),
        "illegal": lambda: _("content against the law"),
        "other": lambda: _("another reason"),
    }.get(str(reason), lambda: str(reason))()


def beijing_time(value: object) -> str:
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if not isinstance(value, datetime):
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def describe(kind: str, params: Mapping[str, Any]) -> str:
    """A notice in one sentence, in the current language, from what its params hold: item,
    amendment, ballot and meeting numbers, titles, a status or a reason code (a name only if
    the caller gave one)."""
    p: dict[str, Any] = {k: v for k, v in params.items() if v is not None}
    titled = "title" in p
    if kind == "reply":
        if "name" in p and titled:
            return _(
                "%(name)s replied to your comment on item #%(item)s “%(title)s”.",
                name=p["name"],
                item=p.get("item", "?"),
                title=p["title"],
            )
        if titled:
            return _(
                "Someone replied to your comment on item #%(item)s “%(title)s”.",
                item=p.get("item", "?"),
                title=p["title"],
            )
        return _("Someone replied to your comment on item #%(item)s.", item=p.get("item", "?"))
    if kind == "item_status":
        item = p.get("item", "?")
        if "status" in p and titled:
            return _(
                "Item #%(item)s “%(title)s” is now %(status)s.",
                item=item,
                title=p["title"],
                status=status_label(p["status"]),
            )
        if "status" in p:
            return _(
                "Item #%(item)s is now %(status)s.", item=item, status=status_label(p["status"])
            )
        if titled:
            return _("There is news on item #%(item)s “%(title)s”.", item=item, title=p["title"])
        return _("There is news on item #%(item)s.", item=item)
    if kind == "amendment":
        values = {
            "amendment": p.get("amendment", "?"),
            "item": p.get("item", "?"),
            "title": p.get("title", ""),
        }
        status = str(p.get("status") or p.get("decision") or "")
        if status == "proposed":
            return _(
                "Amendment %(amendment)s was proposed to your item #%(item)s “%(title)s”.",
                **values,
            )
        if status == "accepted":
            return _(
                "Amendment %(amendment)s to item #%(item)s “%(title)s” was accepted.", **values
            )
        if status == "rejected":
            return _(
                "Amendment %(amendment)s to item #%(item)s “%(title)s” was rejected.", **values
            )
        if status == "put_to_vote":
            return _(
                "Amendment %(amendment)s to item #%(item)s “%(title)s” is put to a vote.",
                **values,
            )
        return _("There is news on amendment %(amendment)s to item #%(item)s.", **values)
    if kind == "moderation":
        item = p.get("item", "?")
        if p.get("action") == "restored":
            return _("Your comment on item #%(item)s was shown again.", item=item)
        return _(
            "Your comment on item #%(item)s was hidden by a moderator: %(reason)s.",
            item=item,
            reason=reason_label(p.get("reason", "other")),
        )
    if kind == "ballot_opened":
        return _(
            "Ballot #%(ballot)s “%(title)s” is open: you may vote.",
            ballot=p.get("ballot", "?"),
            title=p.get("title", ""),
        )
    if kind == "meeting":
        values = {"meeting": p.get("meeting", "?"), "title": p.get("title", "")}
        status = str(p.get("status") or "")
        if status == "held" or p.get("minutes"):
            return _("The minutes of meeting #%(meeting)s “%(title)s” are published.", **values)
        if status == "cancelled":
            return _("Meeting #%(meeting)s “%(title)s” is cancelled.", **values)
        if "starts_at" in p:
            return _(
                "Meeting #%(meeting)s “%(title)s” is called for %(when)s (Beijing time).",
                when=beijing_time(p["starts_at"]),
                **values,
            )
        return _("There is news on meeting #%(meeting)s “%(title)s”.", **values)
    return _("You have a new notice.")


# --- the centre --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    id: int
    text: str
    link: str
    created_at: datetime
    unread: bool


async def notices(
    session: AsyncSession, community_id: int, account_id: int, page: int, size: int = 20
) -> tuple[list[Notice], int]:
    """One page of this account's notices in this community, newest first, and how many."""
    mine = and_(Notification.community_id == community_id, Notification.account_id == account_id)
    total = (await session.execute(select(func.count()).where(mine))).scalar_one()
    rows = (
        await session.execute(
            select(Notification)
            .where(mine)
            .order_by(Notification.id.desc())
            .offset((page - 1) * size)
            .limit(size)
        )
    ).scalars()
    return [
        Notice(n.id, describe(n.kind, n.params), n.link, n.created_at, n.read_at is None)
        for n in rows
    ], total


async def unread_count(session: AsyncSession, community_id: int, account_id: int) -> int:
    return (
        await session.execute(
            select(func.count()).where(
                Notification.account_id == account_id,
                Notification.read_at.is_(None),
                Notification.community_id == community_id,
            )
        )
    ).scalar_one()


async def mark_read(
    session: AsyncSession, community_id: int, account_id: int, notification_id: int
) -> str:
    """Mark one of the account's own notices read; returns where it points. Anyone else's
    notice (or one of another community) is ``no_such_notification``."""
    found = (
        await session.execute(
            select(Notification).where(
                Notification.id == notification_id,
                Notification.account_id == account_id,
                Notification.community_id == community_id,
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise _refused("no_such_notification", id=notification_id)
    if found.read_at is None:
        found.read_at = utcnow()
        await session.commit()
    return found.link


async def mark_all_read(session: AsyncSession, community_id: int, account_id: int) -> int:
    done = await session.execute(
        update(Notification)
        .where(
            Notification.account_id == account_id,
            Notification.community_id == community_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    await session.commit()
    return int(done.rowcount or 0)


# --- preferences -------------------------------------------------------------------------------

_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")


def clean_email(text: str) -> str | None:
    """An e-mail address as stored (None when blank), or ``DeliberationError("bad_email")``."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > EMAIL_MAX or not _EMAIL.fullmatch(text) or any(c in text for c in "<>,;\"'"):
        raise _refused("bad_email", field="email", max=EMAIL_MAX)
    local, _at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


async def preferences(session: AsyncSession, account_id: int) -> dict[tuple[str, str], bool]:
    """Every kind × channel for this account: what it chose, else the default."""
    chosen = {
        (kind, channel): enabled
        for kind, channel, enabled in await session.execute(
            select(
                NotificationPreference.kind,
                NotificationPreference.channel,
                NotificationPreference.enabled,
            ).where(NotificationPreference.account_id == account_id)
        )
    }
    return {
        (kind, channel): chosen.get((kind, channel), channel in DEFAULT_ON)
        for kind in KINDS
        for channel in CHANNELS
    }


async def save_preferences(
    session: AsyncSession, account: Account, chosen: set[tuple[str, str]], email: str
) -> None:
    """Store the account's whole table of choices and its e-mail address, or refuse before
    writing anything: a bad address, e-mail without an address, SMS without a phone."""
    address = clean_email(email)
    wanted = {(k, c) for k, c in chosen if k in KINDS and c in CHANNELS}
    if address is None and any(c == "email" for _k, c in wanted):
        raise _refused("email_needed", field="email")
    if not account.phone and any(c == "sms" for _k, c in wanted):
        raise _refused("no_phone", field="sms")
    await session.execute(
        delete(NotificationPreference).where(NotificationPreference.account_id == account.id)
    )
    await session.execute(
        insert(NotificationPreference),
        [
            {
                "account_id": account.id,
                "kind": kind,
                "channel": channel,
                "enabled": (kind, channel) in wanted,
            }
            for kind in KINDS
            for channel in CHANNELS
        ],
    )
    await session.execute(update(Account).where(Account.id == account.id).values(email=address))
    await session.commit()
    account.email = address


# --- senders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    id: int
    channel: str  # email | sms
    address: str
    subject: str
    body: str


class Sender(Protocol):
    """Delivers one message or raises; the error's text is kept on the outbox row."""

    async def send(self, message: Outgoing) -> None: ...


def masked(address: str) -> str:
    """An address for the console log: enough to tell messages apart, not to collect them."""
    if "@" in address:
        local, _at, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return address[:3] + "****" + address[-4:] if len(address) > 7 else "****"


class FileSender:
    """Appends each message as one JSON line to a file (by default ``<var>/outbox.jsonl``) and
    logs it: the default, for trying the app and for a mail relay that reads the file."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, message: Outgoing) -> None:
        line = json.dumps(
            {
                "id": message.id,
                "channel": message.channel,
                "to": message.address,
                "subject": message.subject,
                "body": message.body,
                "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            ensure_ascii=False,
        )
        await asyncio.to_thread(self._append, line)
        logger.info(
            "outbox %s %s to %s: %s",
            message.channel,
            message.id,
            masked(message.address),
            message.subject,
        )

    def _append(self, line: str) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")


class SMTPSender:
    """E-mail through an SMTP server (stdlib smtplib, in a worker thread so the event loop never
    waits on the network). Port 465 speaks TLS from the start; otherwise STARTTLS when asked."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.user = user
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    def compose(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["Subject"] = message.subject
        email["From"] = self.sender
        email["To"] = message.address
        email["Date"] = formatdate(usegmt=True)
        email["Message-ID"] = make_msgid(
            idstring=f"outbox{message.id}", domain=self.sender.rpartition("@")[2] or None
        )
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.body)
        return email

    async def send(self, message: Outgoing) -> None:
        await asyncio.to_thread(self._send, self.compose(message))

    def _send(self, email: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.port == 465:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.starttls and self.port != 465:
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(email)


class WebhookSMSSender:
    """SMS through a gateway's webhook: POST {"to", "text", "id"} as JSON; any 2xx is sent."""

    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.client = client or httpx.AsyncClient(timeout=15.0)

    async def send(self, message: Outgoing) -> None:
        response = await self.client.post(
            self.url, json={"to": message.address, "text": message.body, "id": message.id}
        )
        response.raise_for_status()


def senders_for(settings: Settings) -> dict[str, Sender]:
    """E-mail by SMTP when YISHI_SMTP_HOST is set, SMS by webhook when YISHI_SMS_WEBHOOK is;
    otherwise both go to the outbox file."""
    file_sender = FileSender(settings.var_dir / "outbox.jsonl")
    senders: dict[str, Sender] = {"email": file_sender, "sms": file_sender}
    if settings.smtp_host:
        senders["email"] = SMTPSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from or f"noreply@{urlsplit(settings.base_url).hostname}",
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    if settings.sms_webhook:
        senders["sms"] = WebhookSMSSender(settings.sms_webhook)
    return senders


# --- draining the outbox -----------------------------------------------------------------------

MAX_ATTEMPTS: Final = 10
RETRY_BASE: Final = 30.0  # seconds before the first retry; doubling, at most RETRY_CAP
RETRY_CAP: Final = 3600.0
BATCH: Final = 20
LEASE: Final = timedelta(minutes=5)
# No send starts in the last fifth of a lease: one send may take a while (SMTP waits up to 30 s
# a step), and it must end before another sender may take the message over.
LEASE_RESERVE: Final = 0.2


def backoff(attempts: int, base: float = RETRY_BASE, cap: float = RETRY_CAP) -> timedelta:
    """How long a message waits after its ``attempts``-th failed attempt: 30 s, 1 min, 2 min,
    … at most an hour each, so about three hours from the first attempt to the tenth."""
    return timedelta(seconds=min(base * 2 ** min(max(attempts - 1, 0), 32), cap))


@dataclass
class Drained:
    sent: int = 0
    failed: int = 0
    given_up: int = 0
    released: int = 0  # claimed but not tried: the lease ran short, or the app is stopping


@dataclass(frozen=True)
class Claim:
    message: Outgoing
    attempt: int  # the message's attempts with this one: whoever claims it next counts higher


_OUTBOX = OutboxMessage.__table__  # the Core table: executemany, no ORM bulk-by-key rules
_HELD = and_(
    _OUTBOX.c.id == bindparam("message"),
    _OUTBOX.c.sent_at.is_(None),
    _OUTBOX.c.attempts == bindparam("attempt"),  # nobody claimed it since (its lease held)
)
# Sent is recorded even when the lease ran out meanwhile: it is true, and it spares the message
# a further send by whoever took it over.
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("message"), _OUTBOX.c.sent_at.is_(None))
    .values(sent_at=bindparam("at"), claimed_until=None, last_error=None)
)
_MARK_FAILED = (
    update(_OUTBOX)
    .where(_HELD)
    .values(last_error=bindparam("error"), next_attempt_at=bindparam("due"), claimed_until=None)
)
_RELEASE = update(_OUTBOX).where(_HELD).values(attempts=_OUTBOX.c.attempts - 1, claimed_until=None)


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    batch: int = BATCH,
    lease: timedelta = LEASE,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[Claim]:
    """Take up to ``batch`` due messages, oldest first, for ``lease``, and commit: one short
    transaction, so no lock outlives it. Due means unsent, ``next_attempt_at`` passed, no
    lease held and attempts left. The claim is a single UPDATE … RETURNING over a sub-select:
    on PostgreSQL the sub-select skips rows another claimer has locked (``FOR UPDATE SKIP
    LOCKED``) and re-checks the rest after its commit; on SQLite the UPDATE, the first
    statement of its transaction, takes the write lock before it reads, so another process
    waits and then sees the leases. The session must have nothing else pending."""
    due = (
        select(_OUTBOX.c.id)
        .where(
            _OUTBOX.c.sent_at.is_(None),
            _OUTBOX.c.next_attempt_at <= now,
            or_(_OUTBOX.c.claimed_until.is_(None), _OUTBOX.c.claimed_until < now),
            _OUTBOX.c.attempts < max_attempts,
        )
        .order_by(_OUTBOX.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders no lock
    )
    rows = await session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(claimed_until=now + lease, attempts=_OUTBOX.c.attempts + 1)
        .returning(
            _OUTBOX.c.id,
            _OUTBOX.c.channel,
            _OUTBOX.c.address,
            _OUTBOX.c.subject,
            _OUTBOX.c.body,
            _OUTBOX.c.attempts,
        )
    )
    claims = sorted(  # RETURNING follows no order
        (
            Claim(Outgoing(id_, channel, address, subject, body), attempts)
            for id_, channel, address, subject, body, attempts in rows
        ),
        key=lambda c: c.message.id,
    )
    await session.commit()
    return claims


async def drain_batch(
    session: AsyncSession,
    senders: Mapping[str, Sender],
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    lease: timedelta = LEASE,
    max_attempts: int = MAX_ATTEMPTS,
    stop: asyncio.Event | None = None,
) -> tuple[int, Drained]:
    """Claim up to ``batch`` due messages, send them with no transaction open, and record each
    outcome in a short transaction of its own as soon as it is known; returns how many were
    claimed and what became of them. ``now`` (for tests) stands for the clock."""
    claims = await claim(
        session, now=now or utcnow(), batch=batch, lease=lease, max_attempts=max_attempts
    )
    # The lease is counted on this process's own clock from the claim, so a slow batch stops
    # starting sends before another sender may take its messages over.
    deadline = time.monotonic() + lease.total_seconds() * (1 - LEASE_RESERVE)
    result = Drained()
    for index, held in enumerate(claims):
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            rest = claims[index:]
            await session.execute(
                _RELEASE, [{"message": c.message.id, "attempt": c.attempt} for c in rest]
            )
            await session.commit()
            result.released = len(rest)
            break
        message = held.message
        sender = senders.get(message.channel)
        try:
            if sender is None:
                raise LookupError(f"no sender for channel {message.channel!r}")
            await sender.send(message)
        except Exception as error:  # any failure is recorded and retried later
            text = f"{type(error).__name__}: {error}"[:500]
            await session.execute(
                _MARK_FAILED,
                {
                    "message": message.id,
                    "attempt": held.attempt,
                    "error": text,
                    "due": (now or utcnow()) + backoff(held.attempt),
                },
            )
            result.failed += 1
            if held.attempt >= max_attempts:
                result.given_up += 1
                logger.warning(
                    "outbox %s: given up after %s attempts: %s", message.id, held.attempt, text
                )
            else:
                logger.info("outbox %s: attempt %s failed: %s", message.id, held.attempt, text)
        else:
            await session.execute(_MARK_SENT, {"message": message.id, "at": utcnow()})
            result.sent += 1
        await session.commit()
    return len(claims), result


async def drain(
    sessionmaker: async_sessionmaker[AsyncSession],
    senders: Mapping[str, Sender],
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    lease: timedelta = LEASE,
    max_attempts: int = MAX_ATTEMPTS,
    stop: asyncio.Event | None = None,
) -> Drained:
    """Send everything that is due, batch after batch, until a batch comes back short or
    ``stop`` is set (what was claimed and not tried is released at once)."""
    total = Drained()
    while stop is None or not stop.is_set():
        async with sessionmaker() as session:
            claimed, result = await drain_batch(
                session,
                senders,
                now=now,
                batch=batch,
                lease=lease,
                max_attempts=max_attempts,
                stop=stop,
            )
        total.sent += result.sent
        total.failed += result.failed
        total.given_up += result.given_up
        total.released += result.released
        if claimed < batch:
            break
    return total


async def run_outbox(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    senders: Mapping[str, Sender] | None = None,
    interval: float = 5.0,
) -> None:
    """The app's background loop: every interval, send what is due."""
    senders = senders or senders_for(settings)
    while not stop.is_set():
        try:
            await drain(sessionmaker, senders, stop=stop)
        except Exception:  # keep sending; the next round retries
            logger.exception("outbox round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    await close_senders(senders)


async def close_senders(senders: Mapping[str, Sender]) -> None:
    for sender in {id(s): s for s in senders.values()}.values():
        if isinstance(sender, WebhookSMSSender):
            await sender.client.aclose()


@dataclass(frozen=True)
class Waiting:
    id: int
    channel: str
    address: str
    subject: str
    created_at: datetime
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    sending: bool  # a sender holds a lease on it now
    given_up: bool


async def waiting(
    session: AsyncSession, limit: int = 100, now: datetime | None = None
) -> list[Waiting]:
    """Unsent messages, oldest first, with their attempts, last error, when they are due and
    whether one is being sent (for the CLI)."""
    now = now or utcnow()
    rows = (
        await session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    ).scalars()
    found = []
    for m in rows:
        sending = m.claimed_until is not None and m.claimed_until >= now
        found.append(
            Waiting(
                m.id,
                m.channel,
                m.address,
                m.subject,
                m.created_at,
                m.attempts,
                m.last_error,
                m.next_attempt_at,
                sending,
                not sending and m.attempts >= MAX_ATTEMPTS,
            )
        )
    return found


async def retry_given_up(session: AsyncSession, now: datetime | None = None) -> int:
    """Give messages that were given up a fresh start, due at once (after fixing the mail
    settings). A message whose last attempt is still being sent is left to its sender."""
    now = now or utcnow()
    done = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.attempts >= MAX_ATTEMPTS,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .values(attempts=0, next_attempt_at=now, claimed_until=None)
    )
    await session.commit()
    return int(done.rowcount or 0)
