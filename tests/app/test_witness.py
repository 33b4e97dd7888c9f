"""Witnesses: the tlog-witness protocol answered exactly, and a community's log cosigned end to end."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.models import Community, Cosignature
from app.witness import SIZE_TYPE, WitnessService, add_witness, witness_app
from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.merkle import consistency_proof, leaf_hash, perfect_subtrees, tree_root
from audit.note import generate_signer, open_note
from audit.verify import verify_bundle
from tests.app.conftest import Client, World

ORIGIN = "example.org/c/test"
LOG = generate_signer(ORIGIN)
LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(20)]


def _checkpoint(size: int, signer: Any = LOG, origin: str = ORIGIN) -> bytes:
    return sign_checkpoint(Checkpoint(origin, size, tree_root(LEAVES[:size])), signer)


def _request(
    old: int, size: int, proof: list[bytes] | None = None, note: bytes | None = None
) -> bytes:
    if proof is None:
        proof = consistency_proof(old, size, perfect_subtrees(LEAVES)) if 0 < old < size else []
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n".encode() + (note or _checkpoint(size))


@pytest.fixture
def service(tmp_path: Path) -> WitnessService:
    return WitnessService.open(tmp_path / "w", "witness.example/w1", [LOG.verifier().vkey()])


def _add(service: WitnessService, body: bytes) -> tuple[int, str, bytes]:
    return asyncio.run(service.add_checkpoint(body, now=1_800_000_000))


def test_first_checkpoint_is_cosigned_and_the_cosignature_verifies(service: WitnessService) -> None:
    status, _type, body = _add(service, _request(0, 5))
    assert status == 200 and body.startswith("— witness.example/w1 ".encode())
    open_note(_checkpoint(5) + body, [service.cosigner.verifier()])


def test_a_consistent_extension_is_cosigned_and_remembered_across_restarts(
    service: WitnessService, tmp_path: Path
) -> None:
    assert _add(service, _request(0, 5))[0] == 200
    assert _add(service, _request(5, 12))[0] == 200
    reopened = WitnessService.open(tmp_path / "w", "witness.example/w1", [LOG.verifier().vkey()])
    assert reopened.cosigner.verifier().vkey() == service.cosigner.verifier().vkey()
    status, content_type, body = _add(reopened, _request(5, 13))
    assert (status, content_type, body) == (409, SIZE_TYPE, b"12\n")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong old size", 409),
        ("bad proof", 422),
        ("same size other root", 409),
        ("old larger than size", 400),
        ("unknown origin", 404),
        ("untrusted key", 403),
        ("malformed", 400),
    ],
)
def test_refusals(service: WitnessService, case: str, expected: int) -> None:
    assert _add(service, _request(0, 8))[0] == 200
    other_root = sign_checkpoint(Checkpoint(ORIGIN, 8, bytes(32)), LOG)
    bodies = {
        "wrong old size": _request(4, 10),
        "bad proof": _request(8, 10, proof=[bytes(32)] * 2),
        "same size other root": _request(8, 8, note=other_root),
        "old larger than size": _request(9, 8),
        "unknown origin": _request(
            8,
            10,
            note=_checkpoint(
                10, origin="example.org/c/other", signer=generate_signer("example.org/c/other")
            ),
        ),
        "untrusted key": _request(8, 10, note=_checkpoint(10, signer=generate_signer(ORIGIN))),
        "malformed": b"old 8\nnot base64!\n\n" + _checkpoint(10),
    }
    status, _type, _body = _add(service, bodies[case])
    assert status == expected
    assert _add(service, _request(8, 10))[0] == 200  # a refusal changed nothing


def test_a_proof_from_size_zero_must_be_empty(service: WitnessService) -> None:
    assert _add(service, _request(0, 10, proof=[bytes(32)]))[0] == 422
    assert _add(service, _request(0, 10))[0] == 200


def test_the_http_endpoint(service: WitnessService) -> None:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=witness_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://witness.test") as client:
            await client.post("/add-checkpoint", content=_request(0, 3))
            return await client.post("/add-checkpoint", content=_request(0, 4))

    response = asyncio.run(call())
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(SIZE_TYPE) and response.text == "3\n"


def test_a_community_log_is_cosigned_exported_with_its_witnesses_and_verifies(
    world: World, settings: Any, tmp_path: Path
) -> None:
    from app.factory import create_app, memory_stores

    async def log_vkey(session: Any) -> str:
        from app import log

        return (await log.keys(session, world.ids["z"]))[0].vkey

    witnesses = [
        WitnessService.open(tmp_path / f"w{i}", f"witness.example/w{i}", [world.db.run(log_vkey)])
        for i in (1, 2)
    ]
    routes = {f"witness{i}.test": witness_app(w) for i, w in enumerate(witnesses, 1)}

    class Router(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await httpx.ASGITransport(app=routes[request.url.host]).handle_async_request(
                request
            )

    async def register(session: Any) -> None:
        community = (
            await session.execute(select(Community).where(Community.slug == "z"))
        ).scalar_one()
        for i, w in enumerate(witnesses, 1):
            await add_witness(
                session, community, w.cosigner.verifier().vkey(), f"http://witness{i}.test"
            )
        community.witness_quorum = 2
        await session.commit()

    world.db.run(register)
    app = create_app(
        settings, stores=memory_stores(), witness_client=httpx.AsyncClient(transport=Router())
    )

    async def cosignatures(session: Any) -> int:
        return len((await session.execute(select(Cosignature.id))).all())

    with Client(app=app, base_url="http://testserver.local") as client:
        deadline = time.monotonic() + 15
        while world.db.run(cosignatures) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert world.db.run(cosignatures) >= 2
        page = client.get("/c/z/log/checkpoint")
        assert "witness.example/w1" in page.text and "witness.example/w2" in page.text
        client.sign_in("auditor")
        bundle = client.get("/c/z/log/export.zip")
    zipfile.ZipFile(io.BytesIO(bundle.content)).extractall(tmp_path / "out")
    assert (
        (tmp_path / "out" / "z" / "witnesses" / "policy").read_text().strip().endswith("quorum 2")
    )
    report = verify_bundle(tmp_path / "out" / "z")
    assert report.ok, report.issues
    assert report.witnesses is not None and report.witnesses.met
