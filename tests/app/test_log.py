"""The stored public log: actions append, the sequencer integrates and signs, exports verify."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from app import log
from app.models import Community, LogEntry, LogHead, SignedCheckpoint
from app.settings import Settings
from audit.checkpoint import open_checkpoint
from audit.note import parse_verifier_key
from audit.proof import parse_receipt, verify_receipt
from audit.verify import main as verify_main
from audit.verify import verify_bundle
from tests.app.conftest import Client, World, settle


async def _community(session: Any, slug: str = "z") -> Community:
    return (await session.execute(select(Community).where(Community.slug == slug))).scalar_one()


def _integrate(world: World, settings: Settings) -> int:
    count = world.db.run(lambda s: log.integrate_all(s, settings))
    settle(world, settings)  # an app beside the test may have been integrating at the same time
    return count


def _export(world: World, settings: Settings, out: Path, slug: str = "z") -> None:
    async def work(session: Any) -> None:
        await log.export_bundle(session, await _community(session, slug), out)

    world.db.run(work)


def test_imports_are_logged_integrated_signed_and_verify(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    assert _integrate(world, settings) == 4  # two imports in each of two communities
    _export(world, settings, tmp_path / "bundle")
    lines = (tmp_path / "bundle" / "entries.jsonl").read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert first["type"] == "register.changed" and first["community"] == "z" and first["seq"] == 0
    assert first["payload"]["action"] == "import" and first["payload"]["kind"] == "buildings"
    assert "王秀英" not in "\n".join(lines)  # the public log carries no personal data
    report = verify_bundle(tmp_path / "bundle")
    assert report.ok, report.issues
    assert report.entries == 2
    assert verify_main([str(tmp_path / "bundle")]) == 0


def test_an_edit_is_one_entry_with_field_names_only_and_its_receipt_verifies(
    world: World, settings: Settings, client: Client, tmp_path: Path
) -> None:
    _integrate(world, settings)
    client.sign_in("admin")
    response = client.form(
        f"/c/z/register/people/{world.ids['P001']}",
        {"name": "王秀英", "phone": "13911112222", "birth_year": "1948"},
    )
    assert response.status_code == 303
    _integrate(world, settings)

    async def newest(session: Any) -> tuple[LogEntry, bytes | None, list[str]]:
        entry = (
            await session.execute(select(LogEntry).order_by(LogEntry.id.desc()).limit(1))
        ).scalar_one()
        return (
            entry,
            await log.receipt(session, entry.community_id, entry),
            [k.vkey for k in await log.keys(session, entry.community_id)],
        )

    entry, receipt_bytes, vkeys = world.db.run(newest)
    assert entry.type == "register.changed"
    assert entry.payload == {
        "action": "update",
        "entity": "person",
        "fields": ["phone"],
        "id": world.ids["P001"],
        "values": {},
    }
    assert receipt_bytes is not None
    receipt = parse_receipt(receipt_bytes)
    checkpoint = verify_receipt(receipt, [parse_verifier_key(vkeys[0])], entry=entry.line.encode())
    assert receipt.index == entry.seq and checkpoint.size == entry.seq + 1
    (tmp_path / "r.tlog-proof").write_bytes(receipt_bytes)
    _export(world, settings, tmp_path / "bundle")
    assert verify_main([str(tmp_path / "bundle"), "--receipt", str(tmp_path / "r.tlog-proof")]) == 0


def test_the_running_app_integrates_within_its_interval(world: World, client: Client) -> None:
    client.sign_in("admin")
    client.form(f"/c/z/register/units/{_unit_id(world)}", {"floor_area": "61.50"})
    deadline = time.monotonic() + 10  # generous: the interval is 0.05 s in tests
    while time.monotonic() < deadline:
        pending = world.db.run(lambda s: _pending(s))
        if pending == 0:
            break
        time.sleep(0.05)
    assert pending == 0


async def _pending(session: Any) -> int:
    return len((await session.execute(select(LogEntry.id).where(LogEntry.seq.is_(None)))).all())


def _unit_id(world: World) -> int:
    async def work(session: Any) -> int:
        from app.models import Unit

        return (await session.execute(select(Unit.id).where(Unit.number == "102"))).scalar_one()  # type: ignore[no-any-return]

    return world.db.run(work)


def test_key_rotation_is_announced_and_followed_by_the_verifier(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    _integrate(world, settings)

    async def rotate(session: Any) -> None:
        await log.rotate_key(session, settings, await _community(session))

    world.db.run(rotate)
    _integrate(world, settings)
    _export(world, settings, tmp_path / "saved")  # the checkpoint after the rotation
    world.db.run(lambda s: _append_and_commit(s, world.ids["z"]))
    _integrate(world, settings)
    _export(world, settings, tmp_path / "bundle")

    async def keys_and_note(session: Any) -> tuple[list[str], str]:
        checkpoint = await log.latest_checkpoint(session, world.ids["z"])
        return [k.vkey for k in await log.keys(session, world.ids["z"])], checkpoint.note  # type: ignore[union-attr]

    vkeys, note = world.db.run(keys_and_note)
    assert len(vkeys) == 2
    open_checkpoint(note.encode(), [parse_verifier_key(vkeys[1])])  # signed by the new key
    report = verify_bundle(tmp_path / "bundle", checkpoints=[tmp_path / "saved" / "checkpoint"])
    assert report.ok, report.issues
    assert len(report.keys) == 2


async def _append_and_commit(session: Any, community_id: int) -> None:
    await log.append(session, community_id, "register.changed", {"action": "test", "n": 1})
    await session.commit()


def test_payloads_that_cannot_be_canonical_are_refused(world: World) -> None:
    async def work(session: Any) -> None:
        await log.append(session, world.ids["z"], "register.changed", {"area": 86.45})

    with pytest.raises(ValueError, match="float"):
        world.db.run(work)


@pytest.mark.parametrize(
    "statement",
    [
        delete(LogEntry),
        update(LogEntry).values(type="register.forged"),
        delete(SignedCheckpoint),
        update(SignedCheckpoint).values(note="forged"),
    ],
    ids=["delete-entry", "rewrite-entry", "delete-checkpoint", "rewrite-checkpoint"],
)
def test_the_database_refuses_to_change_the_log(
    world: World, settings: Settings, statement: Any
) -> None:
    _integrate(world, settings)

    async def tamper(session: Any) -> None:
        await session.execute(statement)
        await session.commit()

    with pytest.raises(Exception, match="append-only"):
        world.db.run(tamper)


def test_an_empty_batch_changes_nothing(world: World, settings: Settings) -> None:
    _integrate(world, settings)

    async def heads(session: Any) -> list[tuple[int, int]]:
        return [
            (h.community_id, h.size) for h in (await session.execute(select(LogHead))).scalars()
        ]

    before = world.db.run(heads)
    assert _integrate(world, settings) == 0
    assert world.db.run(heads) == before


def test_every_checkpoint_of_a_growing_log_is_consistent_with_the_last(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    saved = []
    for round_ in range(5):
        for _ in range(round_ + 1):
            world.db.run(lambda s: _append_and_commit(s, world.ids["z"]))
        _integrate(world, settings)
        _export(world, settings, tmp_path / f"round{round_}")
        saved.append(tmp_path / f"round{round_}" / "checkpoint")
    report = verify_bundle(tmp_path / "round4", checkpoints=saved)
    assert report.ok, report.issues
