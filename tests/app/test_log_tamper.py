"""The tamper suite on a real exported log: the app writes it through real actions, then each
case fabricates what a dishonest server or a broken copy would show, and the verifier must fail
naming the right cause. The fabrications that need the log's key use the community's real key."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app import log
from app.models import Community, CommunityKey, LogEntry, Unit
from audit.checkpoint import Checkpoint, community_origin, sign_checkpoint
from audit.entries import Entry, encode_entry
from audit.merkle import leaf_hash, node_hash, tree_root
from audit.note import Ed25519Signer, generate_signer
from audit.proof import Receipt, encode_receipt, parse_receipt
from audit.verify import Report, verify_bundle
from tests.app.conftest import Client, World, settle


@dataclass
class RealBundle:
    path: Path
    lines: list[bytes]
    signer: Ed25519Signer
    origin: str
    receipts: dict[int, Receipt]

    def write(
        self,
        lines: list[bytes] | None = None,
        *,
        resign: bool = False,
        signer: Ed25519Signer | None = None,
        origin: str | None = None,
    ) -> None:
        self.lines = self.lines if lines is None else lines
        (self.path / "entries.jsonl").write_bytes(b"".join(line + b"\n" for line in self.lines))
        if resign or signer or origin:
            (self.path / "checkpoint").write_bytes(
                self.checkpoint(len(self.lines), signer=signer, origin=origin)
            )

    def checkpoint(
        self, size: int, *, signer: Ed25519Signer | None = None, origin: str | None = None
    ) -> bytes:
        root = tree_root([leaf_hash(line) for line in self.lines[:size]])
        return sign_checkpoint(Checkpoint(origin or self.origin, size, root), signer or self.signer)

    def save(self, name: str, data: bytes) -> Path:
        path = self.path.parent / name
        path.write_bytes(data)
        return path

    def verify(self, **kwargs: Any) -> Report:
        return verify_bundle(self.path, **kwargs)


def _codes(report: Report) -> set[str]:
    return {issue.code for issue in report.issues}


def _rewrite(line: bytes, **changes: Any) -> bytes:
    entry = json.loads(line)
    entry.update(changes)
    return encode_entry(
        Entry(entry["seq"], entry["type"], entry["community"], entry["t"], entry["payload"])
    )


@pytest.fixture
def real(world: World, settings: Any, client: Client, tmp_path: Path) -> RealBundle:
    """40 entries written by real actions: two imports, then an admin correcting areas."""
    client.sign_in("admin")
    unit_id = world.db.run(lambda s: _first_unit(s))
    for n in range(38):
        response = client.form(f"/c/z/register/units/{unit_id}", {"floor_area": f"{60 + n}.50"})
        assert response.status_code == 303
    settle(world, settings)

    async def export(session: Any) -> tuple[Ed25519Signer, dict[int, Receipt]]:
        community = (
            await session.execute(select(Community).where(Community.slug == "z"))
        ).scalar_one()
        await log.export_bundle(session, community, tmp_path / "bundle")
        key = (
            await session.execute(
                select(CommunityKey).where(CommunityKey.community_id == community.id)
            )
        ).scalar_one()
        receipts = {}
        for seq in (0, 13, 20):
            entry = (
                await session.execute(
                    select(LogEntry).where(
                        LogEntry.community_id == community.id, LogEntry.seq == seq
                    )
                )
            ).scalar_one()
            receipts[seq] = parse_receipt(await log.receipt(session, community.id, entry))  # type: ignore[arg-type]
        return log._signer(settings, key), receipts

    signer, receipts = world.db.run(export)
    lines = (tmp_path / "bundle" / "entries.jsonl").read_bytes().splitlines()
    bundle = RealBundle(tmp_path / "bundle", lines, signer, log.origin(settings, "z"), receipts)
    assert len(lines) == 40 and bundle.verify().ok
    return bundle


async def _first_unit(session: Any) -> int:
    return (await session.execute(select(Unit.id).order_by(Unit.id).limit(1))).scalar_one()  # type: ignore[no-any-return]


def _altered(b: RealBundle) -> dict[str, Any]:
    b.write(
        [
            *b.lines[:10],
            _rewrite(b.lines[10], payload={**json.loads(b.lines[10])["payload"], "id": 999}),
            *b.lines[11:],
        ]
    )
    return {}


def _deleted(b: RealBundle) -> dict[str, Any]:
    b.write([*b.lines[:10], *b.lines[11:]])
    return {}


def _reordered(b: RealBundle) -> dict[str, Any]:
    lines = list(b.lines)
    lines[10], lines[11] = lines[11], lines[10]
    b.write(lines)
    return {}


def _inserted(b: RealBundle) -> dict[str, Any]:
    forged = _rewrite(
        b.lines[10],
        payload={
            "action": "update",
            "entity": "unit",
            "fields": ["floor_area"],
            "id": 1,
            "values": {},
        },
    )
    b.write([*b.lines[:10], forged, *b.lines[10:]])
    return {}


def _backdated(b: RealBundle) -> dict[str, Any]:
    b.write(
        [
            *b.lines[:10],
            _rewrite(b.lines[10], t=json.loads(b.lines[10])["t"] - 60_000),
            *b.lines[11:],
        ],
        resign=True,
    )
    return {}


def _truncated(b: RealBundle) -> dict[str, Any]:
    saved = b.save("saved.checkpoint", b.checkpoint(40))
    b.write(b.lines[:30], resign=True)
    return {"checkpoints": [saved]}


def _fork(b: RealBundle) -> dict[str, Any]:
    saved = b.save("saved.checkpoint", b.checkpoint(40))
    b.write(
        [
            *b.lines[:5],
            _rewrite(b.lines[5], payload={**json.loads(b.lines[5])["payload"], "id": 999}),
            *b.lines[6:],
        ],
        resign=True,
    )
    return {"checkpoints": [saved]}


def _dropped_after_receipt(b: RealBundle) -> dict[str, Any]:
    receipt = b.save("r.tlog-proof", encode_receipt(b.receipts[20]))
    b.write(
        [
            *b.lines[:20],
            *[_rewrite(line, seq=json.loads(line)["seq"] - 1) for line in b.lines[21:]],
        ],
        resign=True,
    )
    return {"receipts": [receipt]}


def _unknown_key(b: RealBundle) -> dict[str, Any]:
    b.write(signer=generate_signer(b.origin))
    return {}


def _replayed_receipt(b: RealBundle) -> dict[str, Any]:
    real = b.receipts[13]
    return {
        "receipts": [
            b.save(
                "r.tlog-proof", encode_receipt(Receipt(14, real.proof, real.checkpoint, real.extra))
            )
        ]
    }


def _non_canonical(change: Callable[[bytes], bytes]) -> Callable[[RealBundle], dict[str, Any]]:
    def fabricate(b: RealBundle) -> dict[str, Any]:
        b.write([*b.lines[:10], change(b.lines[10]), *b.lines[11:]], resign=True)
        return {}

    return fabricate


def _inner_node(b: RealBundle) -> dict[str, Any]:
    real = b.receipts[0]
    inner = node_hash(leaf_hash(b.lines[0]), leaf_hash(b.lines[1]))
    return {
        "receipts": [
            b.save(
                "r.tlog-proof", encode_receipt(Receipt(0, real.proof[1:], real.checkpoint, inner))
            )
        ]
    }


def _padded(b: RealBundle) -> dict[str, Any]:
    real = b.receipts[13]
    return {
        "receipts": [
            b.save(
                "r.tlog-proof",
                encode_receipt(
                    Receipt(13, (*real.proof, real.proof[0]), real.checkpoint, real.extra)
                ),
            )
        ]
    }


def _cut(b: RealBundle) -> dict[str, Any]:
    real = b.receipts[13]
    return {
        "receipts": [
            b.save(
                "r.tlog-proof",
                encode_receipt(Receipt(13, real.proof[:-1], real.checkpoint, real.extra)),
            )
        ]
    }


def _other_community(b: RealBundle) -> dict[str, Any]:
    b.write(origin=community_origin("testserver.local", "other"))
    return {}


def _silent_rotation(b: RealBundle) -> dict[str, Any]:
    """The server switches to a new key and goes on, without announcing it in the log."""
    new = generate_signer(b.origin)
    b.signer = new
    b.write(resign=True)
    return {}


CASES: dict[str, tuple[Callable[[RealBundle], dict[str, Any]], set[str]]] = {
    "altered entry": (_altered, {"root_mismatch"}),
    "deleted entry": (_deleted, {"seq_mismatch", "checkpoint_size_mismatch"}),
    "reordered entries": (_reordered, {"seq_mismatch"}),
    "inserted entry": (_inserted, {"seq_mismatch"}),
    "backdated entry": (_backdated, {"time_backwards"}),
    "truncated behind a saved checkpoint": (_truncated, {"log_truncated"}),
    "fork": (_fork, {"fork"}),
    "entry dropped after its receipt": (_dropped_after_receipt, {"receipt_entry_mismatch"}),
    "checkpoint by an unknown key": (_unknown_key, {"checkpoint_unknown_key"}),
    "receipt replayed at another index": (_replayed_receipt, {"receipt_proof_invalid"}),
    "duplicate key": (
        _non_canonical(lambda line: line.replace(b'"v":1}', b'"v":1,"v":1}')),
        {"duplicate_key"},
    ),
    "float": (_non_canonical(lambda line: line.replace(b'"v":1}', b'"v":1.0}')), {"float_number"}),
    "extra whitespace": (
        _non_canonical(lambda line: line.replace(b'"v":1}', b'"v": 1}')),
        {"non_canonical"},
    ),
    "inner node as a leaf": (_inner_node, {"receipt_proof_invalid"}),
    "proof padded": (_padded, {"receipt_proof_invalid"}),
    "proof cut short": (_cut, {"receipt_proof_invalid"}),
    "checkpoint of another community": (_other_community, {"origin_mismatch"}),
    "silent key rotation": (_silent_rotation, {"checkpoint_unknown_key"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_verifier_names_the_fabrication(real: RealBundle, case: str) -> None:
    fabricate, expected = CASES[case]
    report = real.verify(**fabricate(real))
    assert not report.ok
    assert expected <= _codes(report), _codes(report)
