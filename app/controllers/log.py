"""Public log pages: browse entries, the latest checkpoint, receipts, and the auditor's bundle."""

from __future__ import annotations

import io
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread
import qrcode
import qrcode.image.svg
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.response import Response, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import log, witness
from app.auth import Membership, community_guard
from app.i18n import gettext as _
from app.models import LogEntry, Role
from app.web import page, page_number
from audit.entries import KNOWN_TYPES
from audit.note import NoteError, parse_verifier_key
from audit.proof import ReceiptError, parse_receipt, verify_receipt

PAGE_SIZE = 50
MAX_RECEIPT_BYTES = 64 * 1024
public = community_guard()


@get("/c/{slug:str}/log", guards=[public])
async def entries(
    request: Request[Any, Any, Any],
    slug: str,
    db: AsyncSession,
    membership: Membership,
    type: str = "",
    p: str | None = None,
) -> Template:
    number = page_number(p)
    chosen = type if type in KNOWN_TYPES else ""
    rows, total = await log.entries_page(
        db, membership.community.id, number, PAGE_SIZE, chosen or None
    )
    checkpoint = await log.latest_checkpoint(db, membership.community.id)
    return page(
        request,
        "log/entries.html",
        fragment="log/_entries.html",
        m=membership,
        rows=rows,
        total=total,
        page_no=number,
        page_size=PAGE_SIZE,
        types=sorted(KNOWN_TYPES),
        chosen=chosen,
        checkpoint=checkpoint,
    )


async def _entry(db: AsyncSession, community_id: int, seq: int) -> LogEntry:
    entry = (
        await db.execute(
            select(LogEntry).where(LogEntry.community_id == community_id, LogEntry.seq == seq)
        )
    ).scalar_one_or_none()
    if entry is None:
        raise NotFoundException()
    return entry


def qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=6, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]  # inline: drop the XML declaration


@get("/c/{slug:str}/log/{seq:int}", guards=[public])
async def entry(
    request: Request[Any, Any, Any], slug: str, seq: int, db: AsyncSession, membership: Membership
) -> Template:
    found = await _entry(db, membership.community.id, seq)
    receipt = await log.receipt(db, membership.community.id, found)
    return page(
        request,
        "log/entry.html",
        m=membership,
        entry=found,
        receipt=receipt.decode() if receipt else None,
        qr=qr_svg(receipt.decode()) if receipt else None,
    )


@get("/c/{slug:str}/log/{seq:int}/receipt.tlog-proof", guards=[public])
async def receipt_file(
    slug: str, seq: int, db: AsyncSession, membership: Membership
) -> Response[bytes]:
    found = await _entry(db, membership.community.id, seq)
    receipt = await log.receipt(db, membership.community.id, found)
    if receipt is None:
        raise NotFoundException()
    return Response(
        receipt,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{slug}-{seq}.tlog-proof"'},
    )


@get("/c/{slug:str}/log/checkpoint", guards=[public])
async def checkpoint(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    latest = await log.latest_checkpoint(db, membership.community.id)
    keys = await log.keys(db, membership.community.id)
    cosigned = await witness.cosignatures_of(db, latest) if latest else []
    note = (await witness.cosigned_note(db, latest)).decode() if latest else None
    return page(
        request,
        "log/checkpoint.html",
        m=membership,
        checkpoint=latest,
        note=note,
        keys=keys,
        cosigned=cosigned,
    )


@get("/c/{slug:str}/log/checkpoint.txt", guards=[public])
async def checkpoint_text(slug: str, db: AsyncSession, membership: Membership) -> Response[str]:
    latest = await log.latest_checkpoint(db, membership.community.id)
    if latest is None:
        raise NotFoundException()
    return Response(latest.note, media_type="text/plain; charset=utf-8")


@get("/c/{slug:str}/log/log.vkey", guards=[public])
async def log_vkey(slug: str, db: AsyncSession, membership: Membership) -> Response[str]:
    """The log's first key: the trust anchor the verifier starts from."""
    return Response(
        (await log.keys(db, membership.community.id))[0].vkey + "\n",
        media_type="text/plain; charset=utf-8",
    )


@get("/c/{slug:str}/log/receipt", guards=[public])
async def receipt_form(
    request: Request[Any, Any, Any], slug: str, membership: Membership
) -> Template:
    return page(request, "log/receipt.html", m=membership, result=None, error=None, text="")


@post("/c/{slug:str}/log/receipt", guards=[public])
async def receipt_check(
    request: Request[Any, Any, Any], slug: str, db: AsyncSession, membership: Membership
) -> Template:
    """Check a receipt against this community's keys and its stored log."""
    form = await request.form()
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = (await upload.read())[:MAX_RECEIPT_BYTES]
    else:
        raw = str(form.get("receipt", "")).encode()
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")

    def refused(message: str) -> Template:
        return page(
            request, "log/receipt.html", 400, m=membership, result=None, error=message, text=text
        )

    if not text.strip():
        return refused(_("Paste a receipt or choose a receipt file."))
    keys = [parse_verifier_key(k.vkey) for k in await log.keys(db, membership.community.id)]
    try:
        receipt = parse_receipt(text.encode())
        checked = verify_receipt(receipt, keys)
    except (ReceiptError, NoteError) as error:
        return refused(_("This receipt does not check out: %(reason)s", reason=error.detail))
    if checked.origin != log.origin(request.app.state.settings, membership.community.slug):
        return refused(_("This receipt belongs to another community's log."))
    query = select(LogEntry).where(
        LogEntry.community_id == membership.community.id, LogEntry.seq == receipt.index
    )
    stored = (await db.execute(query)).scalar_one_or_none()
    if stored is None or stored.leaf_hash != receipt.leaf_hash:
        return refused(_("The log holds a different entry at this position."))
    result = {"index": receipt.index, "size": checked.size, "entry": stored}
    return page(request, "log/receipt.html", m=membership, result=result, error=None, text=text)


@get("/c/{slug:str}/log/export.zip", guards=[community_guard(Role.auditor, Role.admin)])
async def export_zip(slug: str, db: AsyncSession, membership: Membership) -> Response[bytes]:
    """The verifier's bundle as one zip: entries.jsonl, checkpoint, log.vkey."""
    with tempfile.TemporaryDirectory() as directory:
        try:
            await log.export_bundle(db, membership.community, Path(directory) / slug)
        except LookupError:
            raise NotFoundException() from None
        data = await anyio.to_thread.run_sync(_zip, Path(directory), slug)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{slug}-log.zip"'},
    )


def _zip(directory: Path, slug: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((directory / slug).rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory))
    return buffer.getvalue()


ROUTES = [
    entries,
    entry,
    receipt_file,
    checkpoint,
    checkpoint_text,
    log_vkey,
    receipt_form,
    receipt_check,
    export_zip,
]


def entry_type_label(type_: str) -> str:
    labels = {
        "roll.frozen": _("electoral roll frozen"),
        "ballot.opened": _("ballot opened"),
        "ballot.cast": _("ballot cast"),
        "ballot.proxy": _("proxy recorded"),
        "ballot.paper": _("paper ballot entered"),
        "ballot.closed": _("ballot closed"),
        "tally.published": _("tally published"),
        "tally.final": _("result final"),
        "item.transitioned": _("agenda item moved on"),
        "item.cosigned": _("agenda item co-signed"),
        "amendment.decided": _("amendment decided"),
        "summary.published": _("chair's summary published"),
        "comment.moderated": _("comment moderated"),
        "meeting.convened": _("meeting convened"),
        "meeting.minutes": _("meeting minutes"),
        "meeting.cancelled": _("meeting cancelled"),
        "key.rotated": _("signing key replaced"),
        "register.changed": _("register changed"),
    }
    return labels.get(type_, type_)


def entry_time(entry: LogEntry) -> datetime:
    return datetime.fromtimestamp((entry.t or 0) / 1000, tz=UTC)


def entry_summary(entry: LogEntry) -> str:
    """The entry in plain words, from its payload."""
    from app.register import label

    payload = entry.payload
    if entry.type == "register.changed":
        action = payload.get("action")
        if action == "import":
            return _(
                "Import of a %(kind)s file with %(rows)s rows: %(created)s records added, %(updated)s changed.",
                kind=label("kind", str(payload.get("kind"))),
                rows=payload.get("rows"),
                created=sum(payload.get("created", {}).values()),
                updated=sum(payload.get("updated", {}).values()),
            )
        fields = "、".join(label("field", f) for f in payload.get("fields", []))
        return _(
            "%(entity)s #%(id)s: %(action)s (%(fields)s)",
            entity=label("entity", str(payload.get("entity"))),
            id=payload.get("id"),
            action=label("action", str(action)),
            fields=fields,
        )
    if entry.type.startswith(("ballot.", "tally.")):
        return ballot_entry_summary(entry.type, payload)
    if entry.type == "key.rotated":
        return _("The log's signing key was replaced; the old key signed the handover.")
    if entry.type.startswith(("item.", "amendment.", "summary.", "comment.", "meeting.")):
        return deliberation_entry_summary(entry.type, payload)
    return entry_type_label(entry.type)


def ballot_entry_summary(type_: str, payload: dict[str, Any]) -> str:
    """A ballot or tally entry in words; never who voted what beyond what the entry says."""
    number = payload.get("ballot")
    if type_ == "ballot.opened":
        definition = payload.get("definition") or {}
        return _(
            "Ballot #%(n)s “%(title)s” opened with a frozen roll of %(size)s electors "
            "(fingerprint %(digest)s).",
            n=number,
            title=definition.get("title", ""),
            size=payload.get("roll_size"),
            digest=str(payload.get("roll_digest", ""))[:16],
        )
    if type_ == "ballot.cast":
        channels = {"online": _("online"), "paper": _("on paper"), "proxy": _("by proxy")}
        channel = channels.get(str(payload.get("channel")), str(payload.get("channel")))
        if payload.get("elector"):
            return _(
                "Ballot #%(n)s: a vote for %(elector)s (%(channel)s).",
                n=number,
                elector=payload["elector"],
                channel=channel,
            )
        return _("Ballot #%(n)s: a secret vote (%(channel)s).", n=number, channel=channel)
    if type_ == "ballot.proxy":
        return _(
            "Ballot #%(n)s: %(principal)s authorised %(holder)s as proxy.",
            n=number,
            principal=payload.get("principal"),
            holder=payload.get("holder"),
        )
    if type_ == "ballot.closed":
        took_part = len(payload.get("participation") or [])
        if payload.get("by") == "chair":
            return _(
                "Ballot #%(n)s closed early by the chair; %(count)s electors took part.",
                n=number,
                count=took_part,
            )
        return _(
            "Ballot #%(n)s closed at its closing time; %(count)s electors took part.",
            n=number,
            count=took_part,
        )
    if type_ == "tally.published":
        return _(
            "Preliminary result of ballot #%(n)s: %(counted)s ballots counted; objections until "
            "%(until)s (UTC).",
            n=number,
            counted=(payload.get("result") or {}).get("counted"),
            until=str(payload.get("objection_until", "")).replace("T", " ").rstrip("Z"),
        )
    if type_ == "tally.final":
        return _("The result of ballot #%(n)s is final.", n=number)
    return entry_type_label(type_)


def deliberation_entry_summary(type_: str, p: dict[str, Any]) -> str:
    """An agenda item, amendment, summary, moderation or meeting entry in words."""
    from app.controllers.ballot_views import local_time
    from app.controllers.items import category_label, outcome_label, progress_label, status_label

    n = p.get("item")
    if type_ == "item.transitioned":
        action = p.get("action")
        if action == "publish":
            return _(
                "Item #%(n)s “%(title)s” (%(category)s) published; it needs %(threshold)s "
                "co-signatures. Text fingerprint %(digest)s.",
                n=n,
                title=p.get("title", ""),
                category=category_label(str(p.get("category"))),
                threshold=p.get("threshold"),
                digest=str(p.get("body_sha256", ""))[:16],
            )
        if action == "decline":
            return _("Item #%(n)s declined by the chair: %(reason)s", n=n, reason=p.get("reason"))
        if action == "open_consultation":
            return _(
                "Item #%(n)s: consultation open from %(start)s to %(end)s (Beijing time).",
                n=n,
                start=local_time(p.get("opens_at")),
                end=local_time(p.get("closes_at")),
            )
        if action == "decide" and "ballot" in p:
            return _(
                "Item #%(n)s decided by ballot #%(ballot)s: %(outcome)s.",
                n=n,
                ballot=p["ballot"],
                outcome=outcome_label(p.get("outcome")),
            )
        if action == "decide":
            return _(
                "Item #%(n)s decided by meeting #%(meeting)s: %(outcome)s.",
                n=n,
                meeting=p.get("meeting"),
                outcome=outcome_label(p.get("outcome")),
            )
        if "progress" in p:
            return _(
                "Item #%(n)s: implementation %(progress)s (%(status)s).",
                n=n,
                progress=progress_label(p["progress"]),
                status=status_label(str(p.get("to"))),
            )
        return _(
            "Item #%(n)s: %(before)s → %(after)s.",
            n=n,
            before=status_label(str(p.get("from"))),
            after=status_label(str(p.get("to"))),
        )
    if type_ == "item.cosigned":
        return _(
            "Item #%(n)s co-signed: %(count)s of %(threshold)s.",
            n=n,
            count=p.get("count"),
            threshold=p.get("threshold"),
        )
    if type_ == "amendment.decided":
        decision = p.get("decision")
        if decision == "accepted":
            return _(
                "Amendment %(k)s to item #%(n)s accepted: the text is now revision %(r)s.",
                k=p.get("amendment"),
                n=n,
                r=p.get("revision"),
            )
        if decision == "put_to_vote":
            return _(
                "Amendment %(k)s to item #%(n)s put to a vote (ballot #%(ballot)s).",
                k=p.get("amendment"),
                n=n,
                ballot=p.get("ballot"),
            )
        return _("Amendment %(k)s to item #%(n)s rejected.", k=p.get("amendment"), n=n)
    if type_ == "summary.published":
        points = p.get("points") or []
        return _(
            "The chair's summary of item #%(n)s: %(pro)s points for, %(con)s against.",
            n=n,
            pro=sum(1 for x in points if x.get("side") == "for"),
            con=sum(1 for x in points if x.get("side") == "against"),
        )
    if type_ == "comment.moderated":
        reasons = {
            "personal_attack": _("personal attack"),
            "private_data": _("someone's private data"),
            "off_topic": _("off topic"),
            "spam": _("spam"),
            "illegal": _("unlawful content"),
        }
        by = _("the chair") if p.get("by") == "chair" else _("a grid member")
        reason = reasons.get(str(p.get("reason")), str(p.get("reason")))
        if p.get("action") == "restored":
            return _("A comment on item #%(n)s was shown again by %(by)s.", n=n, by=by)
        return _(
            "A comment on item #%(n)s was hidden by %(by)s: %(reason)s.", n=n, by=by, reason=reason
        )
    if type_ == "meeting.convened":
        return _(
            "Meeting #%(m)s “%(title)s” convened for %(start)s at %(place)s, with %(k)s items.",
            m=p.get("meeting"),
            title=p.get("title", ""),
            start=local_time(p.get("starts_at")),
            place=p.get("place", ""),
            k=len(p.get("agenda") or []),
        )
    if type_ == "meeting.cancelled":
        return _("Meeting #%(m)s was cancelled; it decided nothing.", m=p.get("meeting"))
    if type_ == "meeting.minutes":
        return _(
            "Minutes of meeting #%(m)s: %(present)s of %(eligible)s present, %(votes)s votes "
            "recorded.",
            m=p.get("meeting"),
            present=p.get("attendance"),
            eligible=p.get("eligible"),
            votes=len(p.get("votes") or []),
        )
    return entry_type_label(type_)
