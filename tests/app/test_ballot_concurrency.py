"""Ballot actions under concurrency, on SQLite and PostgreSQL: each task has a session (and
connection) of its own, and they all start together.

One eligible voter, one counted ballot, whatever the interleaving; proxy limits and paper serials
hold under parallel grants and entries; and no cast lands after the close in the log.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app import ballots as actions
from app import log
from app.ballots import BallotError
from app.db import create_engine, create_sessionmaker
from app.models import (
    Account,
    Ballot,
    BallotParticipation,
    BallotProxy,
    Community,
    Grid,
    Person,
    utcnow,
)
from app.register_import import import_file
from app.settings import Settings
from audit.verify import verify_bundle
from ballots.replay import BallotReplay
from ballots.rules import civil_code_278
from tests.app.conftest import World, settle
from tests.conftest import in_thread

EXTRA = 200  # owners added to the small world, one unit each, in building 3 (grid 2)
HEADER = "楼栋,单元,户号,面积,居民编号,姓名,手机号,关系,出生年份,起始日期,终止日期,户代表,单位\n"


def extra_ref(n: int) -> str:
    return f"X{n:04d}"


async def add_owners(session: Any, world: World) -> None:
    community = await session.get(Community, world.ids["z"])
    rows = "".join(
        f"3,9,{n + 1000},{50 + n % 50}.00,{extra_ref(n)},业主{n},,业主,1970,,,是,\n"
        for n in range(EXTRA)
    )
    report = await import_file(session, community, "households.csv", (HEADER + rows).encode(), None)
    assert not getattr(report, "problems", None), report


def definition(**changes: Any) -> dict[str, Any]:
    data = actions.blank_definition()
    now = utcnow()
    data.update(
        title="停车管理方案",
        opens_at=(now - timedelta(minutes=5)).isoformat(),
        closes_at=(now + timedelta(days=1)).isoformat(),
        early_close=True,  # the tests close by the chair: the verifier would flag a moved clock
    )
    data["questions"][0]["text"] = "是否同意?"
    data.update(changes)
    return data


async def open_ballot(session: Any, world: World, **changes: Any) -> int:
    community = await session.get(Community, world.ids["z"])
    chair = await _account(session, "chair")
    ballot = await actions.create_ballot(session, community, chair, definition(**changes))
    await actions.open_ballot(session, ballot, chair)
    return ballot.number  # type: ignore[no-any-return]


async def _account(session: Any, name: str) -> Account:
    return (await session.execute(select(Account).where(Account.username == name))).scalar_one()  # type: ignore[no-any-return]


async def _person(session: Any, ref: str) -> Person:
    return (await session.execute(select(Person).where(Person.ref == ref))).scalar_one()  # type: ignore[no-any-return]


Task = Callable[[Any, Ballot], Awaitable[Any]]


def parallel(
    world: World, number: int, tasks: list[Task], sequencer: Settings | None = None
) -> list[Any]:
    """Run each task in a session of its own, all at once; a refusal comes back as its code,
    any other exception as itself (so a test shows it). With ``sequencer`` settings the log is
    integrated in a loop meanwhile, as the app's own sequencer does."""

    async def main() -> list[Any]:
        engine = create_engine(world.db.url)
        sessionmaker = create_sessionmaker(engine)
        start = asyncio.Event()

        async def one(task: Task) -> Any:
            async with sessionmaker() as session:
                await start.wait()
                try:
                    # as a request does: read the ballot, then act, in one transaction
                    ballot = await actions.get_ballot(session, world.ids["z"], number)
                    return await task(session, ballot)
                except BallotError as error:
                    return error.code

        async def integrate(settings: Settings) -> None:
            async with sessionmaker() as session:
                while True:
                    await log.integrate_all(session, settings)
                    await asyncio.sleep(0.001)

        background = None
        if sequencer is not None:
            background = asyncio.ensure_future(integrate(sequencer))
        try:
            running = [asyncio.ensure_future(one(t)) for t in tasks]
            await asyncio.sleep(0.05)
            start.set()
            return list(await asyncio.gather(*running, return_exceptions=True))
        finally:
            if background is not None:
                background.cancel()
                await asyncio.gather(background, return_exceptions=True)
            await engine.dispose()

    return in_thread(asyncio.run, main())


def cast_by(ref: str, answers: dict[str, Any]) -> Task:
    async def task(session: Any, ballot: Ballot) -> Any:
        return await actions.cast_online(session, ballot, await _person(session, ref), answers)

    return task


def close_and_tally(world: World, number: int) -> dict[str, Any]:
    async def work(session: Any) -> dict[str, Any]:
        ballot = await actions.get_ballot(session, world.ids["z"], number)
        if ballot.status == "open" and ballot.definition["early_close"]:
            await actions.close_ballot(session, ballot, await _account(session, "chair"))
        elif ballot.status == "open":  # wait for the closing time, as the scheduler does
            await asyncio.sleep(max(0.0, (ballot.closes_at - utcnow()).total_seconds()) + 0.05)
        await actions.run_due(session)
        await session.refresh(ballot)
        assert ballot.tally is not None, ballot.status
        return ballot.tally  # type: ignore[no-any-return]

    return world.db.run(work)


def participation(world: World, number: int) -> list[BallotParticipation]:
    async def work(session: Any) -> list[BallotParticipation]:
        ballot = await actions.get_ballot(session, world.ids["z"], number)
        return await actions.participation(session, ballot)

    return world.db.run(work)


def log_entries(world: World, settings: Settings, number: int) -> list[dict[str, Any]]:
    """This ballot's entries in log order (seq), after integrating everything."""
    settle(world, settings)

    async def work(session: Any) -> list[dict[str, Any]]:
        from app.models import LogEntry

        rows = await session.execute(
            select(LogEntry.id, LogEntry.line)
            .where(LogEntry.community_id == world.ids["z"])
            .order_by(LogEntry.seq)
        )
        entries = [json.loads(line) | {"id": entry_id} for entry_id, line in rows.all()]
        return [e for e in entries if e["payload"].get("ballot") == number]

    return world.db.run(work)


def assert_log_verifies(world: World, settings: Settings, out: Path) -> None:
    settle(world, settings)

    async def work(session: Any) -> None:
        community = await session.get(Community, world.ids["z"])
        await log.export_bundle(session, community, out)

    world.db.run(work)
    report = verify_bundle(out, observers=[BallotReplay()])  # the log and every ballot in it
    assert report.ok, report.issues[:5]


# --- one voter, many parallel casts ------------------------------------------------------------


def test_parallel_casts_by_one_voter_revoting_first(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    number = world.db.run(lambda s: open_ballot(s, world, revoting="first"))
    results = parallel(world, number, [cast_by("P001", {"q1": "yes"}) for _ in range(16)])
    assert sum(isinstance(r, actions.CastResult) for r in results) == 1, results
    assert sorted(r for r in results if isinstance(r, str)) == ["already_voted"] * 15, results
    assert len(participation(world, number)) == 1
    assert close_and_tally(world, number)["counted"] == 1
    assert_log_verifies(world, settings, tmp_path / "bundle")


def test_parallel_casts_by_one_voter_revoting_last_count_the_last_in_the_log(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    options = [{"id": f"o{i}", "label": f"方案{i}"} for i in range(16)]
    question = {
        "id": "q1",
        "text": "选哪个方案?",
        "method": "single_choice",
        "options": options,
        "seats": 1,
        "max_picks": None,
        "budget": None,
    }
    number = world.db.run(lambda s: open_ballot(s, world, questions=[question]))
    casts_ = [cast_by("P001", {"q1": f"o{i}"}) for i in range(16)]
    results = parallel(world, number, casts_, sequencer=settings)
    assert all(isinstance(r, actions.CastResult) for r in results), results
    rows = participation(world, number)
    assert len(rows) == 1
    casts = [e for e in log_entries(world, settings, number) if e["type"] == "ballot.cast"]
    assert len(casts) == 16
    last = casts[-1]["payload"]["answers"]["q1"]
    tally = close_and_tally(world, number)
    assert tally["counted"] == 1
    counts = tally["questions"][0]["counts"]
    assert_log_verifies(world, settings, tmp_path / "bundle")
    # the count (and the participation row) take the last cast in log order: what the verifier
    # replays from the exported log
    assert counts[last] == "1", (last, counts)
    assert rows[0].entry_id == casts[-1]["id"]


# --- many voters at once -----------------------------------------------------------------------


def test_many_voters_in_parallel_one_counted_ballot_each(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    world.db.run(lambda s: add_owners(s, world))
    number = world.db.run(
        lambda s: open_ballot(
            s,
            world,
            electorate="owners",
            rule=civil_code_278("ordinary").to_dict(),
            early_close=False,  # art. 278 gives owners the whole window: it closes on time
            closes_at=(utcnow() + timedelta(seconds=10)).isoformat(),
        )
    )
    tasks = [cast_by(extra_ref(n), {"q1": ("yes", "no")[n % 2]}) for n in range(EXTRA)]
    tasks += [cast_by(extra_ref(n), {"q1": "abstain"}) for n in range(0, EXTRA, 10)]  # revotes
    results = parallel(world, number, tasks)
    assert all(isinstance(r, actions.CastResult) for r in results), [
        r for r in results if not isinstance(r, actions.CastResult)
    ][:5]
    assert len(participation(world, number)) == EXTRA
    tally = close_and_tally(world, number)
    assert tally["counted"] == EXTRA
    assert tally["turnout"]["heads"] == EXTRA
    counts = tally["questions"][0]["counts"]
    assert sum(int(v) for v in counts.values()) == EXTRA
    assert_log_verifies(world, settings, tmp_path / "bundle")


# --- proxies and paper -------------------------------------------------------------------------


def test_parallel_proxies_to_one_holder_stop_at_the_limit(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    world.db.run(lambda s: add_owners(s, world))
    number = world.db.run(lambda s: open_ballot(s, world, electorate="owners", proxy_limit=3))

    def grant(ref: str) -> Task:
        async def task(session: Any, ballot: Ballot) -> Any:
            principal = await _person(session, ref)
            code = (await actions.electors_of(session, ballot, principal.id))[0]
            holder = await _person(session, extra_ref(EXTRA - 1))
            return await actions.grant_proxy(session, ballot, code, holder, by_principal=principal)

        return task

    results = parallel(world, number, [grant(extra_ref(n)) for n in range(12)])
    granted = [r for r in results if isinstance(r, int)]
    assert len(granted) == 3, results  # a grant whose slot was taken tries the next one

    async def held(session: Any) -> int:
        ballot = await actions.get_ballot(session, world.ids["z"], number)
        query = select(func.count()).where(BallotProxy.ballot_id == ballot.id)
        return (await session.execute(query)).scalar_one()  # type: ignore[no-any-return]

    assert world.db.run(held) == len(granted)
    assert_log_verifies(world, settings, tmp_path / "bundle")
    refusals = {r for r in results if not isinstance(r, int)}
    assert refusals <= {"proxy_limit"}, results


def test_one_paper_serial_entered_in_parallel_counts_once(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    world.db.run(lambda s: add_owners(s, world))
    number = world.db.run(lambda s: open_ballot(s, world, electorate="owners"))

    def enter(ref: str) -> Task:
        async def task(session: Any, ballot: Ballot) -> Any:
            member = await _account(session, "grid")
            grid = (
                await session.execute(
                    select(Grid.id).where(Grid.community_id == world.ids["z"], Grid.number == 2)
                )
            ).scalar_one()
            code = (await actions.electors_of(session, ballot, (await _person(session, ref)).id))[0]
            return await actions.enter_paper(
                session, ballot, member, {grid}, code, "Z-0001", {"q1": "yes"}
            )

        return task

    results = parallel(world, number, [enter(extra_ref(n)) for n in range(12)])
    entered = [r for r in results if isinstance(r, actions.PaperResult)]
    assert len(entered) == 1, results
    assert [r for r in results if not isinstance(r, actions.PaperResult)] == ["serial_used"] * 11
    assert len(participation(world, number)) == 1
    assert_log_verifies(world, settings, tmp_path / "bundle")


# --- closing while voters cast -----------------------------------------------------------------


def test_close_racing_with_casts_leaves_no_cast_after_the_close(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    world.db.run(lambda s: add_owners(s, world))
    number = world.db.run(lambda s: open_ballot(s, world, electorate="owners", early_close=True))

    async def close(session: Any, ballot: Ballot) -> Any:
        await asyncio.sleep(0.02)  # let some casts in first
        return (
            "closed",
            await actions.close_ballot(session, ballot, await _account(session, "chair")),
        )

    tasks: list[Task] = [cast_by(extra_ref(n), {"q1": "yes"}) for n in range(120)]
    tasks.insert(40, close)
    results = parallel(world, number, tasks)
    cast_ok = [r for r in results if isinstance(r, actions.CastResult)]
    refused = [r for r in results if isinstance(r, str)]
    assert any(isinstance(r, tuple) and r[0] == "closed" for r in results), results
    assert set(refused) <= {"closed"}, results
    assert len(cast_ok) + len(refused) == 120, [r for r in results if isinstance(r, Exception)]

    types = [e["type"] for e in log_entries(world, settings, number)]
    closed_at = types.index("ballot.closed")
    assert "ballot.cast" not in types[closed_at:], types
    assert types.count("ballot.cast") == len(cast_ok)

    async def publish(session: Any) -> dict[str, Any]:
        ballot = await actions.get_ballot(session, world.ids["z"], number)
        await actions.run_due(session)
        await session.refresh(ballot)
        return ballot.tally  # type: ignore[no-any-return]

    tally = world.db.run(publish)
    assert tally["counted"] == len(cast_ok) == len(participation(world, number))
    assert_log_verifies(world, settings, tmp_path / "bundle")
