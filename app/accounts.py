"""Accounts: passwords, sign-in with throttling, activation codes, password changes.

Each public coroutine here is one action: it checks, writes and commits in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.stores.base import Store
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.i18n import gettext as _
from app.i18n import ngettext
from app.models import Account, ActivationCode, Person, utcnow

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{2,39}$")
MIN_PASSWORD_LENGTH = 8
ACTIVATION_ALPHABET = (
    "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed by elderly residents
)
ACTIVATION_LENGTH = 8
ACTIVATION_VALIDITY = timedelta(days=90)

# Sign-in throttling: failures allowed per window, per account identifier and per client address.
THROTTLE_WINDOW = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30

password_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the hasher (tests use cheap parameters; a deployment may raise them)."""
    global password_hasher, _DUMMY_HASH
    password_hasher = hasher
    _DUMMY_HASH = hasher.hash(secrets.token_hex(16))


class AccountError(Exception):
    """A refused account action; the message is for the user, already translated."""

    def __init__(self, message: str, *, field: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after = retry_after


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(password_hasher.hash, password)


def check_new_password(password: str, confirm: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _("The password must have at least %(n)s characters.", n=MIN_PASSWORD_LENGTH),
            field="password",
        )
    if len(password) > 200:
        raise AccountError(
            _("The password is too long (at most 200 characters)."), field="password"
        )
    if password != confirm:
        raise AccountError(_("The two passwords do not match."), field="confirm")


def normalise_identifier(identifier: str) -> str:
    return re.sub(r"[\s-]", "", identifier).lower()


async def find_account(session: AsyncSession, identifier: str) -> Account | None:
    key = normalise_identifier(identifier)
    column = Account.phone if PHONE_RE.match(key) else Account.username
    return (await session.execute(select(Account).where(column == key))).scalar_one_or_none()


# A real argon2 hash to verify against when no account matches, so a miss costs as much time as a
# hit; made with the hasher in use (see use_password_hasher), or the two would differ in time.
_DUMMY_HASH = password_hasher.hash(secrets.token_hex(16))


def _verify(hash_: str, password: str) -> bool:
    try:
        return password_hasher.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass
class _Throttle:
    store: Store

    async def failures(self, key: str) -> tuple[int, int]:
        raw = await self.store.get(key)
        if raw is None:
            return 0, 0
        data = json.loads(raw)
        return int(data["n"]), int(data["reset"])

    async def record_failure(self, key: str) -> None:
        count, reset = await self.failures(key)
        now = int(time.time())
        if count == 0 or reset <= now:
            count, reset = 0, now + THROTTLE_WINDOW
        await self.store.set(
            key, json.dumps({"n": count + 1, "reset": reset}), expires_in=reset - now
        )

    async def retry_after(self, key: str, limit: int) -> int:
        count, reset = await self.failures(key)
        return max(reset - int(time.time()), 1) if count >= limit else 0


async def sign_in(
    session: AsyncSession, store: Store, identifier: str, password: str, address: str
) -> Account:
    """Check the credentials under per-account and per-address throttling.

    The refusal never says whether the account exists.
    """
    throttle = _Throttle(store)
    account = await find_account(session, identifier) if identifier.strip() else None
    # Failures count against the account whichever of its names (phone, username) is tried;
    # an identifier without an account is throttled alike, so the limit reveals nothing.
    subject = f"id:{account.id}" if account else "name:" + normalise_identifier(identifier)
    account_key = "signin:acct:" + hashlib.sha256(subject.encode()).hexdigest()
    address_key = "signin:addr:" + address
    wait = max(
        await throttle.retry_after(account_key, MAX_FAILURES_PER_ACCOUNT),
        await throttle.retry_after(address_key, MAX_FAILURES_PER_ADDRESS),
    )
    if wait:
        minutes = (wait + 59) // 60
        raise AccountError(
            ngettext(
                "Too many attempts. Please try again in %(num)s minute.",
                "Too many attempts. Please try again in %(num)s minutes.",
                minutes,
            ),
            retry_after=wait,
        )

    stored_hash = account.password_hash if account and account.is_active else _DUMMY_HASH
    ok = await anyio.to_thread.run_sync(_verify, stored_hash, password)
    if not (ok and account and account.is_active):
        await throttle.record_failure(account_key)
        await throttle.record_failure(address_key)
        raise AccountError(_("The phone number, username or password is not correct."))

    await store.delete(account_key)
    if password_hasher.check_needs_rehash(account.password_hash):
        account.password_hash = await hash_password(password)
    account.last_sign_in_at = utcnow()
    await session.commit()
    return account


async def change_password(
    session: AsyncSession, account: Account, current: str, new: str, confirm: str
) -> None:
    if not await anyio.to_thread.run_sync(_verify, account.password_hash, current):
        raise AccountError(_("The current password is not correct."), field="current")
    check_new_password(new, confirm)
    account.password_hash = await hash_password(new)
    account.password_changed_at = utcnow()
    session.add(account)
    await session.commit()


def activation_code_hash(secret_key: str, code: str) -> str:
    normalised = re.sub(r"[\s-]", "", code).upper()
    return hmac.new(secret_key.encode(), normalised.encode(), hashlib.sha256).hexdigest()


def new_activation_code() -> str:
    raw = "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(ACTIVATION_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


async def issue_activation_code(
    session: AsyncSession, secret_key: str, person: Person, *, now: datetime | None = None
) -> str:
    """A fresh code for the person; earlier unused codes of theirs stop working."""
    now = now or utcnow()
    earlier = await session.execute(
        select(ActivationCode).where(
            ActivationCode.person_id == person.id,
            ActivationCode.used_at.is_(None),
        )
    )
    for code_row in earlier.scalars():
        code_row.expires_at = min(code_row.expires_at, now)
    code = new_activation_code()
    session.add(
        ActivationCode(
            community_id=person.community_id,
            person_id=person.id,
            code_hash=activation_code_hash(secret_key, code),
            created_at=now,
            expires_at=now + ACTIVATION_VALIDITY,
        )
    )
    await session.commit()
    return code


async def activate(
    session: AsyncSession,
    secret_key: str,
    code: str,
    username: str,
    password: str,
    confirm: str,
) -> Account:
    """Redeem a one-time code: the resident chooses a password (and optionally a username)."""
    row = (
        await session.execute(
            select(ActivationCode).where(
                ActivationCode.code_hash == activation_code_hash(secret_key, code)
            )
        )
    ).scalar_one_or_none()
    now = utcnow()
    if row is None:
        raise AccountError(
            _("This activation code is not valid. Check the letter and try again."), field="code"
        )
    if row.used_at is not None:
        raise AccountError(_("This activation code has already been used."), field="code")
    if row.expires_at <= now:
        raise AccountError(
            _("This activation code has expired. Ask your grid member for a new letter."),
            field="code",
        )
    person = await session.get(Person, row.person_id)
    assert person is not None  # a foreign key guarantees it
    username = normalise_identifier(username) if username.strip() else ""
    if username:
        if not USERNAME_RE.match(username):
            raise AccountError(
                _(
                    "A username has 3 to 40 letters, digits, dots, dashes or underscores and starts with a letter."
                ),
                field="username",
            )
        taken = await session.execute(select(Account.id).where(Account.username == username))
        if taken.first() is not None:
            raise AccountError(
                _("This username is taken; please choose another."), field="username"
            )
    check_new_password(password, confirm)

    account = await session.get(Account, person.account_id) if person.account_id else None
    if account is None and person.phone:
        account = (
            await session.execute(select(Account).where(Account.phone == person.phone))
        ).scalar_one_or_none()
    password_hash = await hash_password(password)
    if account is None:
        account = Account(
            username=username or None,
            phone=person.phone,
            display_name=person.name,
            password_hash=password_hash,
        )
    else:
        account.password_hash = password_hash
        account.password_changed_at = now
        account.username = username or account.username
    session.add(account)
    await session.flush()
    person.account_id = account.id
    row.used_at = now
    await session.commit()
    return account
