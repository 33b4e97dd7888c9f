"""The public log at scale.

* Append (YISHI_BENCH_LOG_APPENDS, default 20,000): entries appended through the app's own path
  (one INSERT … RETURNING each, committed in transactions of 1,000) and integrated by the
  sequencer, per second, against bare single-row inserts committed in the same batches on the
  same database: the ceiling.
* Verify (YISHI_BENCH_LOG_ENTRIES, default 1,000,000): yishi-verify over a bundle of that many
  entries, against merely rebuilding the tree with hashlib over the same lines (the target is a
  ratio of at least 0.5), and the verifier's peak memory in a process of its own (it streams,
  so it must not grow with the log).
* Receipts: receipts fetched from the database and verified per second.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select, text

from app import log
from app.cli import upgrade_database
from app.db import create_engine, session_scope
from app.models import LogEntry
from app.register import create_community
from app.settings import Settings, normalise_database_url
from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.entries import Entry, encode_entry
from audit.merkle import RootBuilder
from audit.note import generate_signer, parse_verifier_key
from audit.proof import parse_receipt, verify_receipt
from audit.verify import verify_bundle

APPENDS = int(os.environ.get("YISHI_BENCH_LOG_APPENDS", "20000"))
ENTRIES = int(os.environ.get("YISHI_BENCH_LOG_ENTRIES", "1000000"))
POSTGRES_URL = os.environ.get(
    "YISHI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TRANSACTION = 1_000


def _settings(url: str, directory: Path) -> Settings:
    return Settings(
        database_url=url,
        secret_key="bench-" + "s" * 40,
        redis_url=None,
        var_dir=directory,
        base_url="https://yishi.example",
        workers=1,
        log_level="WARNING",
        cli_lang="en",
    )


async def _append_and_integrate(settings: Settings) -> tuple[float, int]:
    engine = create_engine(settings.database_url)
    try:
        async with session_scope(engine) as session:
            community = await create_community(session, settings, "bench", "bench")
            community_id: int = community.id  # type: ignore[assignment]
            started = time.perf_counter()
            for start in range(0, APPENDS, TRANSACTION):
                for n in range(start, min(start + TRANSACTION, APPENDS)):
                    await log.append(
                        session,
                        community_id,
                        "ballot.cast",
                        {"ballot": 1, "choice": n % 3, "receipt": n},
                    )
                await session.commit()
                await log.integrate_all(session, settings)
            return time.perf_counter() - started, community_id
    finally:
        await engine.dispose()


async def _bare_inserts(url: str) -> float:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "CREATE TABLE bench_raw (id INTEGER PRIMARY KEY, a INTEGER, b VARCHAR(40), c TEXT)"
                )
            )
        insert = text("INSERT INTO bench_raw (id, a, b, c) VALUES (:id, :a, :b, :c)")
        started = time.perf_counter()
        for start in range(0, APPENDS, TRANSACTION):
            async with engine.begin() as connection:
                for n in range(start, min(start + TRANSACTION, APPENDS)):
                    await connection.execute(
                        insert, {"id": n, "a": n, "b": "ballot.cast", "c": '{"ballot":1}'}
                    )
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def _receipts_per_second(settings: Settings, community_id: int) -> float:
    engine = create_engine(settings.database_url)
    try:
        async with session_scope(engine) as session:
            vkeys = [parse_verifier_key(k.vkey) for k in await log.keys(session, community_id)]
            receipts = []
            for seq in range(0, APPENDS, max(APPENDS // 500, 1)):
                query = select(LogEntry).where(
                    LogEntry.community_id == community_id, LogEntry.seq == seq
                )
                entry = (await session.execute(query)).scalar_one()
                receipt = await log.receipt(session, community_id, entry)
                receipts.append((parse_receipt(receipt), entry.line.encode()))  # type: ignore[arg-type, union-attr]
        started = time.perf_counter()
        for receipt, line in receipts:
            verify_receipt(receipt, vkeys, entry=line)
        return len(receipts) / (time.perf_counter() - started)
    finally:
        await engine.dispose()


def _append_figures(backend: str, url: str, directory: Path) -> None:
    upgrade_database(url)
    settings = _settings(url, directory)
    append_s, community_id = asyncio.run(_append_and_integrate(settings))
    bare_s = asyncio.run(_bare_inserts(url))
    receipts = asyncio.run(_receipts_per_second(settings, community_id))
    print(
        f"   {backend}: {APPENDS / append_s:,.0f} entries/s appended and integrated;"
        f" bare single-row inserts {APPENDS / bare_s:,.0f}/s; ratio {bare_s / append_s:.2f};"
        f" receipts verified {receipts:,.0f}/s"
    )


def _write_bundle(directory: Path) -> Path:
    """A bundle of ENTRIES entries written with audit/ alone (no database needed to check it)."""
    bundle = directory / "bundle"
    bundle.mkdir()
    signer = generate_signer("yishi.example/c/bench")
    builder = RootBuilder()
    t0 = 1_800_000_000_000
    with (bundle / "entries.jsonl").open("wb") as handle:
        for seq in range(ENTRIES):
            payload = {
                "ballot": 7,
                "choice": seq % 3,
                "receipt": f"{seq:012d}",
                "unit": f"{seq % 79 + 1}-{seq % 3 + 1}-{seq % 600 + 101}",
            }
            line = encode_entry(Entry(seq, "ballot.cast", "bench", t0 + seq, payload))
            builder.append_entry(line)
            handle.write(line + b"\n")
    note = sign_checkpoint(Checkpoint("yishi.example/c/bench", ENTRIES, builder.root()), signer)
    (bundle / "checkpoint").write_bytes(note)
    (bundle / "log.vkey").write_text(signer.verifier().vkey() + "\n")
    return bundle


def _bare_rebuild(path: Path) -> float:
    """The ceiling: read the lines and fold them into an RFC 9162 root with hashlib alone."""
    started = time.perf_counter()
    stack: list[tuple[int, bytes]] = []
    sha = hashlib.sha256
    with path.open("rb") as handle:
        for raw in handle:
            node = sha(b"\x00" + raw[:-1]).digest()
            height = 0
            while stack and stack[-1][0] == height:
                node = sha(b"\x01" + stack.pop()[1] + node).digest()
                height += 1
            stack.append((height, node))
    return time.perf_counter() - started


def _verifier_peak_mb(bundle: Path) -> float:
    """The verifier's own high-water mark (VmHWM starts afresh with the new process image)."""
    probe = (
        "import sys; from audit.verify import main; code = main([sys.argv[1], '--json']);"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(bundle)], check=True, capture_output=True, text=True
    )
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def _verify_figures(directory: Path) -> None:
    bundle = _write_bundle(directory)
    started = time.perf_counter()
    report = verify_bundle(bundle)
    verify_s = time.perf_counter() - started
    assert report.ok, report.issues[:3]
    rebuild_s = _bare_rebuild(bundle / "entries.jsonl")
    print(
        f"   verify: {ENTRIES / verify_s:,.0f} entries/s over {ENTRIES:,} entries; hashlib rebuild"
        f" {ENTRIES / rebuild_s:,.0f}/s; ratio {rebuild_s / verify_s:.2f} (target >= 0.5);"
        f" verifier peak memory {_verifier_peak_mb(bundle):.0f} MB"
    )


def main() -> None:
    from bench.register_import import _postgres_database

    with tempfile.TemporaryDirectory() as directory:
        _append_figures(
            "sqlite",
            normalise_database_url(f"sqlite:///{Path(directory) / 'bench.db'}"),
            Path(directory),
        )
        _verify_figures(Path(directory))
    name = f"yishi_bench_log_{os.getpid()}"
    try:
        asyncio.run(_postgres_database("CREATE", name))
    except Exception as error:  # no server: report and go on
        print(f"   postgres: skipped ({error.__class__.__name__}: {error})")
        return
    try:
        with tempfile.TemporaryDirectory() as directory:
            _append_figures(
                "postgres",
                normalise_database_url(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"),
                Path(directory),
            )
    finally:
        asyncio.run(_postgres_database("DROP", name))
