"""Witnesses: `yishi witness serve`, a C2SP tlog-witness, and the log's side that pushes each new
checkpoint to the community's witnesses and keeps their cosignatures.

A witness keeps, for each log it follows, the size and root it last cosigned. It cosigns a new
checkpoint only when it is signed by the log's key and provably extends what it saw before, so a
log that shows different histories to different people is caught. See https://c2sp.org/tlog-witness.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar, Request, Response, post
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import log
from app.models import Community, Cosignature, SignedCheckpoint, Witness
from app.settings import Settings
from audit.checkpoint import parse_checkpoint
from audit.merkle import ProofError, verify_consistency
from audit.note import NoteError, b64, open_note, parse_note, parse_verifier_key
from audit.witness import (
    Cosigner,
    cosignature_time,
    generate_cosigner,
    parse_cosigner_key,
    parse_witness_key,
)

logger = logging.getLogger("yishi.witness")
SIZE_TYPE = "text/x.tlog.size"
MAX_BODY = 64 * 1024
MAX_PROOF_LINES = 63


# ---------------------------------------------------------------- the witness


@dataclass
class WitnessService:
    """The witness's key, the logs it trusts (origin → verifier keys) and what it last cosigned
    for each, persisted as JSON in ``state_file``."""

    cosigner: Cosigner
    logs: dict[str, list[Any]]
    state_file: Path
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def open(cls, directory: Path, name: str, log_vkeys: list[str]) -> WitnessService:
        directory.mkdir(parents=True, exist_ok=True)
        key_file = directory / "witness.key"
        if key_file.exists():
            cosigner = parse_cosigner_key(key_file.read_text(encoding="ascii"))
        else:
            cosigner = generate_cosigner(name)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(cosigner.skey() + "\n")
        logs: dict[str, list[Any]] = {}
        for vkey in log_vkeys:
            verifier = parse_verifier_key(vkey)
            logs.setdefault(verifier.name, []).append(verifier)
        state_file = directory / "state.json"
        seen = json.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else {}
        return cls(cosigner, logs, state_file, seen)

    def _persist(self) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.seen, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.state_file)  # atomic: a crash leaves the old or the new state

    async def add_checkpoint(self, body: bytes, now: int | None = None) -> tuple[int, str, bytes]:
        """One add-checkpoint request: (HTTP status, content type, response body)."""
        try:
            old_size, proof, note_bytes = parse_request(body)
            note = parse_note(note_bytes)
            checkpoint = parse_checkpoint(note.text)
        except (ValueError, NoteError) as error:
            return 400, "text/plain", f"malformed request: {error}\n".encode()
        trusted = self.logs.get(checkpoint.origin)
        if trusted is None:
            return 404, "text/plain", b"unknown log origin\n"
        try:
            open_note(note_bytes, trusted)
        except NoteError:
            return 403, "text/plain", b"no signature by a trusted log key\n"
        if old_size > checkpoint.size:
            return 400, "text/plain", b"old size is larger than the checkpoint size\n"
        async with self.lock:  # check and record atomically (the spec's roll-back race)
            record = self.seen.get(checkpoint.origin, {"size": 0, "root": None})
            if old_size != record["size"]:
                return 409, SIZE_TYPE, f"{record['size']}\n".encode()
            old_root = base64.b64decode(record["root"]) if record["root"] else None
            if old_size == checkpoint.size and old_root not in (None, checkpoint.root_hash):
                return 409, SIZE_TYPE, f"{record['size']}\n".encode()
            if old_size == 0 and proof:
                return 422, "text/plain", b"the proof must be empty when the old size is zero\n"
            if 0 < old_size < checkpoint.size:
                try:
                    verify_consistency(
                        old_size, checkpoint.size, old_root, checkpoint.root_hash, proof
                    )
                except ProofError:
                    logger.warning(
                        "inconsistent checkpoint from %s at size %s",
                        checkpoint.origin,
                        checkpoint.size,
                    )
                    return 422, "text/plain", b"the consistency proof does not verify\n"
            self.seen[checkpoint.origin] = {
                "size": checkpoint.size,
                "root": b64(checkpoint.root_hash),
            }
            await asyncio.to_thread(self._persist)
        signature = self.cosigner.cosign(note.text, int(time.time()) if now is None else now)
        return 200, "text/plain", signature.line().encode()


def parse_request(body: bytes) -> tuple[int, list[bytes], bytes]:
    """old size line, proof lines, empty line, checkpoint — as the spec lays them out."""
    head, separator, note = body.partition(b"\n\n")
    if not separator:
        raise ValueError("no empty line before the checkpoint")
    lines = head.decode("ascii").split("\n")
    first = lines[0]
    if (
        not first.startswith("old ")
        or not first[4:].isdecimal()
        or (first[4:] != "0" and first[4:].startswith("0"))
    ):
        raise ValueError("the first line must be 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise ValueError("more than 63 proof lines")
    try:
        proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
    except binascii.Error:
        raise ValueError("a proof line is not base64") from None
    if any(len(h) != 32 for h in proof):
        raise ValueError("a proof hash is not 32 bytes")
    return int(first[4:]), proof, note


def witness_app(service: WitnessService) -> Litestar:
    @post("/add-checkpoint", status_code=200)
    async def add_checkpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = await request.body()
        status, content_type, answer = await service.add_checkpoint(body)
        return Response(answer, status_code=status, media_type=content_type)

    return Litestar([add_checkpoint], request_max_body_size=MAX_BODY, openapi_config=None)


# ---------------------------------------------------------------- the log's side


async def push_checkpoints(session: AsyncSession, client: httpx.AsyncClient) -> int:
    """Send each community's latest checkpoint to its witnesses that have not cosigned it.
    Returns the number of cosignatures gathered."""
    gathered = 0
    witnesses = list((await session.execute(select(Witness))).scalars())
    for witness in witnesses:
        latest = await log.latest_checkpoint(session, witness.community_id)
        if latest is None or witness.last_size > latest.size:
            continue
        done = await session.execute(
            select(Cosignature.id).where(
                Cosignature.checkpoint_id == latest.id, Cosignature.witness_id == witness.id
            )
        )
        if done.first() is not None:
            continue
        for _attempt in range(2):  # a 409 tells us the size the witness holds: retry once from it
            old = witness.last_size
            proof = (
                await log.consistency(session, witness.community_id, old, latest.size)
                if 0 < old < latest.size
                else []
            )
            request_body = (
                f"old {old}\n".encode()
                + b"".join(b64(h).encode() + b"\n" for h in proof)
                + b"\n"
                + latest.note.encode()
            )
            try:
                response = await client.post(
                    witness.url.rstrip("/") + "/add-checkpoint", content=request_body, timeout=5
                )
            except httpx.HTTPError as error:
                logger.warning("witness %s unreachable: %s", witness.name, error)
                break
            if response.status_code == 409 and response.headers.get("content-type", "").startswith(
                SIZE_TYPE
            ):
                witness.last_size = int(response.text.strip() or 0)
                continue
            if response.status_code != 200:
                logger.warning(
                    "witness %s refused size %s: %s %s",
                    witness.name,
                    latest.size,
                    response.status_code,
                    response.text.strip(),
                )
                break
            if _store_cosignature(session, witness, latest, response.text):
                gathered += 1
            break
    await session.commit()
    return gathered


async def run_pusher(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    client: httpx.AsyncClient | None = None,
) -> None:
    """Beside the sequencer, so that a slow or absent witness never delays integration."""
    async with contextlib.AsyncExitStack() as stack:
        client = client or await stack.enter_async_context(httpx.AsyncClient())
        while not stop.is_set():
            try:
                async with sessionmaker() as session:
                    await push_checkpoints(session, client)
            except Exception:
                logger.exception("witness push failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.log_interval)


def _store_cosignature(
    session: AsyncSession, witness: Witness, checkpoint: SignedCheckpoint, answer: str
) -> bool:
    """Keep the witness's cosignature line if it verifies under the key we registered."""
    verifier = parse_witness_key(witness.vkey)
    for line in answer.splitlines():
        try:  # a note's signatures are its last lines: one more line is one more signature
            open_note(checkpoint.note.encode() + line.encode() + b"\n", [verifier])
        except NoteError:
            continue
        session.add(
            Cosignature(
                community_id=witness.community_id,
                checkpoint_id=checkpoint.id,
                witness_id=witness.id,
                line=line,
            )
        )
        witness.last_size = checkpoint.size
        return True
    logger.warning("witness %s answered without a valid cosignature", witness.name)
    return False


async def cosigned_note(session: AsyncSession, checkpoint: SignedCheckpoint) -> bytes:
    """The checkpoint with every stored cosignature appended."""
    rows = await session.execute(
        select(Cosignature.line)
        .where(Cosignature.checkpoint_id == checkpoint.id)
        .order_by(Cosignature.id)
    )
    return checkpoint.note.encode() + b"".join(line.encode() + b"\n" for line in rows.scalars())


async def add_witness(session: AsyncSession, community: Community, vkey: str, url: str) -> Witness:
    verifier = parse_witness_key(vkey)
    witness = Witness(community_id=community.id, name=verifier.name, vkey=verifier.vkey(), url=url)
    session.add(witness)
    await session.commit()
    return witness


async def cosignatures_of(
    session: AsyncSession, checkpoint: SignedCheckpoint
) -> list[tuple[Witness, datetime]]:
    """Who cosigned the checkpoint, and when they say they did."""
    rows = await session.execute(
        select(Cosignature.line, Witness)
        .join(Witness, Witness.id == Cosignature.witness_id)
        .where(Cosignature.checkpoint_id == checkpoint.id)
        .order_by(Witness.name)
    )
    found = []
    for line, witness in rows.all():
        signature = parse_note(b"-\n\n" + line.encode() + b"\n").signatures[0]
        found.append((witness, datetime.fromtimestamp(cosignature_time(signature), tz=UTC)))
    return found
