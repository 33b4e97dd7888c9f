"""The community's public log, stored: appending entries, integrating them into the Merkle tree,
signed checkpoints, receipts and export bundles. The maths and formats are audit/'s.

An action appends its entry *pending* in its own transaction (one action, one transaction, one
log entry). The sequencer then integrates committed entries in batches: it gives each its
``seq`` and time, stores its canonical line, leaf and the completed subtree nodes, and signs a
checkpoint — all in one transaction under a per-community lock that voters never wait on.
A crash at any moment leaves either the old head or the new one, never half of a batch.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import (
    Community,
    CommunityKey,
    LogEntry,
    LogHead,
    LogNode,
    SignedCheckpoint,
    utcnow,
)
from app.settings import Settings
from audit.checkpoint import Checkpoint, community_origin, sign_checkpoint
from audit.entries import Entry, canonical_json, encode_entry
from audit.merkle import consistency_proof, inclusion_proof, leaf_hash, node_hash
from audit.note import Ed25519Signer, generate_signer, parse_signer_key
from audit.proof import Receipt, encode_receipt
from audit.rotation import rotation_payload

logger = logging.getLogger("yishi.log")
BATCH = 10_000
EMPTY_ROOT = bytes.fromhex(
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)  # SHA-256("")


def origin(settings: Settings, slug: str) -> str:
    return community_origin(urlsplit(settings.base_url).netloc, slug)


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"yishi community log keys"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


async def create_log(
    session: AsyncSession, settings: Settings, community: Community
) -> CommunityKey:
    """The community's first signing key (the log's trust anchor) and its empty head."""
    signer = generate_signer(origin(settings, community.slug))
    key = CommunityKey(
        community_id=community.id,
        vkey=signer.verifier().vkey(),
        skey_encrypted=_fernet(settings.secret_key).encrypt(signer.skey().encode()).decode(),
    )
    session.add(key)
    session.add(LogHead(community_id=community.id, size=0, t_last=0, root=EMPTY_ROOT))
    await session.flush()
    return key


def _signer(settings: Settings, key: CommunityKey) -> Ed25519Signer:
    return parse_signer_key(
        _fernet(settings.secret_key).decrypt(key.skey_encrypted.encode()).decode()
    )


async def keys(session: AsyncSession, community_id: int) -> list[CommunityKey]:
    rows = await session.execute(
        select(CommunityKey)
        .where(CommunityKey.community_id == community_id)
        .order_by(CommunityKey.id)
    )
    return list(rows.scalars())


async def _active_key(session: AsyncSession, community_id: int) -> CommunityKey:
    """The newest key whose announcing ``key.rotated`` entry is in the log (or the first key)."""
    active = None
    for key in await keys(session, community_id):
        if key.rotation_entry_id is None:
            active = active or key
            continue
        entry = await session.get(LogEntry, key.rotation_entry_id)
        if entry is not None and entry.seq is not None:
            active = key
    if active is None:
        raise LookupError(f"community {community_id} has no log key")
    return active


_ENTRIES = LogEntry.__table__
# Built once, on the Table rather than the ORM entity: every cast runs it.
_APPEND = (
    insert(_ENTRIES)
    .values(
        community_id=bindparam("community"),
        type=bindparam("type"),
        payload=bindparam("payload", type_=_ENTRIES.c.payload.type),
        created_at=bindparam("at", type_=_ENTRIES.c.created_at.type),
    )
    .returning(_ENTRIES.c.id)
)


async def append(
    session: AsyncSession, community_id: int, type_: str, payload: dict[str, Any]
) -> int:
    """Add an entry to the caller's transaction and return its id. The payload must encode
    canonically (no floats, decimals as strings); that is checked now, so a bad payload never
    gets in. A plain INSERT … RETURNING: this is on every voter's path."""
    canonical_json(payload)
    values = {"community": community_id, "type": type_, "payload": payload, "at": utcnow()}
    return int((await session.execute(_APPEND, values)).scalar_one())


async def rotate_key(session: AsyncSession, settings: Settings, community: Community) -> int:
    """Hand the log to a new key: a ``key.rotated`` entry signed by the key in force."""
    old = _signer(settings, await _active_key(session, community.id))
    new = generate_signer(origin(settings, community.slug))
    entry_id = await append(
        session,
        community.id,
        "key.rotated",
        rotation_payload(origin(settings, community.slug), old, new.verifier()),
    )
    session.add(
        CommunityKey(
            community_id=community.id,
            vkey=new.verifier().vkey(),
            skey_encrypted=_fernet(settings.secret_key).encrypt(new.skey().encode()).decode(),
            rotation_entry_id=entry_id,
        )
    )
    await session.commit()
    return entry_id


# ---------------------------------------------------------------- the sequencer


@dataclass
class _Node:
    level: int
    idx: int
    hash: bytes


def _frontier_positions(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees a tree of ``size`` leaves is made of, largest (leftmost) first."""
    positions = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            positions.append((level, start >> level))
            start += 1 << level
    return positions


async def _nodes(
    session: AsyncSession, community_id: int, positions: list[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    if not positions:
        return {}
    found: dict[tuple[int, int], bytes] = {}
    for level in {level for level, _ in positions}:
        wanted = [idx for lv, idx in positions if lv == level]
        rows = await session.execute(
            select(LogNode.idx, LogNode.hash).where(
                LogNode.community_id == community_id,
                LogNode.level == level,
                LogNode.idx.in_(wanted),
            )
        )
        found.update({(level, idx): hash_ for idx, hash_ in rows.all()})
    return found


async def integrate(
    session: AsyncSession, settings: Settings, cid: int, slug: str, *, batch: int = BATCH
) -> tuple[SignedCheckpoint, int] | None:
    """Integrate committed pending entries of one community and sign a checkpoint; returns it
    with the number of entries integrated, or None when there was nothing to do."""
    head_query = select(LogHead).where(LogHead.community_id == cid)
    if session.bind.dialect.name == "postgresql":
        head_query = head_query.with_for_update(skip_locked=True)  # another worker is at it
    else:
        # SQLite has no row locks: take the database's write lock before reading anything, so a
        # second integrator (the CLI beside the server) waits, then sees the new head.
        await session.execute(
            update(LogHead).where(LogHead.community_id == cid).values(size=LogHead.size)
        )
    head = (await session.execute(head_query)).scalar_one_or_none()
    if head is None:
        await session.rollback()
        return None
    pending_query = (
        select(LogEntry)
        .where(LogEntry.community_id == cid, LogEntry.seq.is_(None))
        .order_by(LogEntry.id)
        .limit(batch)
    )
    pending = list((await session.execute(pending_query)).scalars())
    if not pending:
        await session.rollback()
        return None

    positions = _frontier_positions(head.size)
    stored = await _nodes(session, cid, positions)
    frontier = [_Node(level, idx, stored[(level, idx)]) for level, idx in positions]
    size, t_last = head.size, head.t_last
    entry_updates: list[dict[str, Any]] = []
    new_nodes: list[dict[str, Any]] = []
    for entry in pending:
        t = max(t_last, int(entry.created_at.timestamp() * 1000))
        line = encode_entry(
            Entry(seq=size, type=entry.type, community=slug, t=t, payload=entry.payload)
        )
        leaf = leaf_hash(line)
        entry_updates.append(
            {"id": entry.id, "seq": size, "t": t, "line": line.decode(), "leaf_hash": leaf}
        )
        node = _Node(0, size, leaf)
        new_nodes.append({"community_id": cid, "level": 0, "idx": size, "hash": leaf})
        while frontier and frontier[-1].level == node.level:
            left = frontier.pop()
            node = _Node(node.level + 1, node.idx // 2, node_hash(left.hash, node.hash))
            new_nodes.append(
                {"community_id": cid, "level": node.level, "idx": node.idx, "hash": node.hash}
            )
        frontier.append(node)
        size, t_last = size + 1, t
    root = frontier[-1].hash
    for node in reversed(frontier[:-1]):
        root = node_hash(node.hash, root)

    await session.execute(update(LogEntry), entry_updates)
    await session.execute(insert(LogNode), new_nodes)
    head.size, head.t_last, head.root = size, t_last, root
    await session.flush()
    # A key.rotated entry in this batch hands the new checkpoint to the new key.
    signer = _signer(settings, await _active_key(session, cid))
    note = sign_checkpoint(Checkpoint(origin(settings, slug), size, root), signer)
    checkpoint = SignedCheckpoint(community_id=cid, size=size, root=root, note=note.decode())
    session.add(checkpoint)
    await session.commit()
    return checkpoint, len(pending)


async def integrate_all(session: AsyncSession, settings: Settings) -> int:
    """Integrate every community's committed pending entries; returns how many were integrated.

    It works in a session of its own on the same database, so that the caller's objects are
    not expired by the commits and rollbacks of the sequencer."""
    async with AsyncSession(session.bind, expire_on_commit=False) as own:
        with_pending = select(LogEntry.community_id).where(LogEntry.seq.is_(None)).distinct()
        communities = (
            await own.execute(
                select(Community.id, Community.slug).where(Community.id.in_(with_pending))
            )
        ).all()
        await own.rollback()  # hold no snapshot when integrate takes the write lock
        integrated = 0
        for cid, slug in communities:
            while (done := await integrate(own, settings, cid, slug)) is not None:
                integrated += done[1]
        return integrated


async def run_sequencer(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, stop: asyncio.Event
) -> None:
    """The app's background loop: every interval, integrate what has been committed."""
    while not stop.is_set():
        try:
            async with sessionmaker() as session:
                await integrate_all(session, settings)
        except Exception:  # keep sequencing; the next tick retries what failed
            logger.exception("sequencer tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.log_interval)


# ---------------------------------------------------------------- reading: receipts and export


async def latest_checkpoint(session: AsyncSession, community_id: int) -> SignedCheckpoint | None:
    query = (
        select(SignedCheckpoint)
        .where(SignedCheckpoint.community_id == community_id)
        .order_by(SignedCheckpoint.size.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _proof(session: AsyncSession, community_id: int, build: Any, *args: int) -> list[bytes]:
    """Run a proof builder of audit.merkle over the stored nodes. The subtrees a proof needs
    depend only on its sizes and index, so a first dry run learns which ones to fetch."""
    wanted: list[tuple[int, int]] = []

    def position(start: int, end: int) -> tuple[int, int]:
        level = (end - start).bit_length() - 1
        return level, start >> level

    def record(start: int, end: int) -> bytes:
        wanted.append(position(start, end))
        return bytes(32)

    build(*args, record)
    stored = await _nodes(session, community_id, wanted)
    return list(build(*args, lambda start, end: stored[position(start, end)]))


async def consistency(
    session: AsyncSession, community_id: int, old_size: int, new_size: int
) -> list[bytes]:
    return await _proof(session, community_id, consistency_proof, old_size, new_size)


async def receipt(session: AsyncSession, community_id: int, entry: LogEntry) -> bytes | None:
    """The C2SP tlog-proof for an integrated entry (None while it is pending), under the latest
    checkpoint with the witnesses' cosignatures."""
    from app.witness import cosigned_note

    checkpoint = await latest_checkpoint(session, community_id)
    if entry.seq is None or entry.leaf_hash is None or checkpoint is None:
        return None
    proof = await _proof(session, community_id, inclusion_proof, entry.seq, checkpoint.size)
    note = await cosigned_note(session, checkpoint)
    return encode_receipt(
        Receipt(index=entry.seq, proof=tuple(proof), checkpoint=note, extra=entry.leaf_hash)
    )


async def entry_chunks(
    session: AsyncSession, community_id: int, up_to: int, chunk: int = 5000
) -> AsyncIterator[list[str]]:
    """The canonical lines of entries 0 … up_to − 1, in log order, a chunk at a time."""
    next_seq = 0
    while next_seq < up_to:
        rows = await session.execute(
            select(LogEntry.seq, LogEntry.line)
            .where(
                LogEntry.community_id == community_id,
                LogEntry.seq >= next_seq,
                LogEntry.seq < up_to,
            )
            .order_by(LogEntry.seq)
            .limit(chunk)
        )
        batch = rows.all()
        if not batch:
            return
        yield [line for _seq, line in batch]
        next_seq = batch[-1][0] + 1


async def exportable_checkpoint(
    session: AsyncSession, community: Community
) -> SignedCheckpoint | None:
    """The latest checkpoint, or with a witness quorum, the latest one cosigned by enough."""
    from app.models import Cosignature

    if community.witness_quorum <= 0:
        return await latest_checkpoint(session, community.id)
    cosigned = (
        select(Cosignature.checkpoint_id)
        .where(Cosignature.community_id == community.id)
        .group_by(Cosignature.checkpoint_id)
        .having(func.count() >= community.witness_quorum)
    )
    query = (
        select(SignedCheckpoint)
        .where(SignedCheckpoint.id.in_(cosigned))
        .order_by(SignedCheckpoint.size.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def export_bundle(session: AsyncSession, community: Community, out: Path) -> SignedCheckpoint:
    """Write what ``yishi-verify`` checks, all of one moment: entries.jsonl up to the
    checkpoint's size, the checkpoint with its cosignatures, log.vkey (the first key, where the
    verifier starts), and the witnesses' keys with the community's quorum."""
    from app.models import Witness
    from app.witness import cosigned_note

    checkpoint = await exportable_checkpoint(session, community)
    if checkpoint is None:
        raise LookupError("the log has no checkpoint to export yet")
    directory = anyio.Path(out)
    await directory.mkdir(parents=True, exist_ok=True)
    async with await anyio.open_file(directory / "entries.jsonl", "w", encoding="utf-8") as handle:
        async for lines in entry_chunks(session, community.id, checkpoint.size):
            await handle.write("".join(line + "\n" for line in lines))
    await (directory / "checkpoint").write_bytes(await cosigned_note(session, checkpoint))
    first_key = (await keys(session, community.id))[0]
    await (directory / "log.vkey").write_text(first_key.vkey + "\n", encoding="utf-8")
    witnesses = list(
        (
            await session.execute(
                select(Witness).where(Witness.community_id == community.id).order_by(Witness.id)
            )
        ).scalars()
    )
    if witnesses:
        await (directory / "witnesses").mkdir(exist_ok=True)
        for number, witness in enumerate(witnesses, 1):
            await (directory / "witnesses" / f"{number:02d}.vkey").write_text(
                witness.vkey + "\n", encoding="utf-8"
            )
        policy = f"# at least this many of the witnesses above must cosign\nquorum {community.witness_quorum}\n"
        await (directory / "witnesses" / "policy").write_text(policy, encoding="utf-8")
    return checkpoint


async def entries_page(
    session: AsyncSession, community_id: int, page: int, size: int, type_: str | None
) -> tuple[list[LogEntry], int]:
    query = select(LogEntry).where(LogEntry.community_id == community_id, LogEntry.seq.is_not(None))
    if type_:
        query = query.where(LogEntry.type == type_)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.order_by(LogEntry.seq.desc()).offset((page - 1) * size).limit(size)
    )
    return list(rows.scalars()), total
