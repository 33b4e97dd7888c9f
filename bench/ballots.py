"""Casting and counting ballots.

* Casting through the HTTP API (YISHI_BENCH_BALLOT_VOTERS distinct voters, default 4,000, each
  signed in once beforehand; sign-in is not measured): the app served by uvicorn in a process of
  its own (one worker on SQLite, two on PostgreSQL), driven by 64 concurrent voters with httpx.
  Ballots/s, p50 and p99 latency, each against bare single-row insert commits on the same
  database in the same run (one connection on SQLite, 64 concurrent connections on PostgreSQL):
  the ceiling. Targets: >= 2,000 ballots/s on PostgreSQL with p99 < 50 ms.
* The whole reference community in one ballot (YISHI_BENCH_BALLOT_WHOLE=0 skips it): every one of
  the register's 10,569 people (a named list) casts through the API; total seconds (target: well
  under a minute) and the ratio to the ceiling's time for as many commits.
* Counting (YISHI_BENCH_BALLOT_COUNT ballots, default 100,000): STV (3 seats, 10 candidates) and a
  participatory budget (equal shares, with greedy beside it, 60 projects) with ballots.methods,
  against SHA-256 over the same ballots' canonical JSON: the ceiling.

The server's argon2 cost is lowered (app.accounts.use_password_hasher, in a factory of this
module) so that signing 10,569 voters in before the measurement takes seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import create_async_engine

from app import accounts
from app import ballots as actions
from app.cli import upgrade_database
from app.db import create_engine, session_scope
from app.demo import SLUG, _building_rows, _household_rows
from app.models import Account, Person, Role, RoleGrant, utcnow
from app.register import create_community
from app.register_import import (
    apply_buildings,
    apply_households,
    validate_buildings,
    validate_households,
)
from app.settings import Settings, normalise_database_url
from ballots import methods

VOTERS = int(os.environ.get("YISHI_BENCH_BALLOT_VOTERS", "4000"))
WHOLE = os.environ.get("YISHI_BENCH_BALLOT_WHOLE", "1") != "0"
COUNT = int(os.environ.get("YISHI_BENCH_BALLOT_COUNT", "100000"))
PEOPLE = int(os.environ.get("YISHI_BENCH_BALLOT_PEOPLE", "0"))  # 0: the whole register
CONCURRENCY = 64
POSTGRES_URL = os.environ.get(
    "YISHI_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "bench-password-1"  # noqa: S105
SECRET = "bench-" + "s" * 40
CHEAP = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def server_app() -> Any:
    """The app as `yishi serve` builds it, with cheap argon2 (each worker process calls this)."""
    accounts.use_password_hasher(PasswordHasher(**CHEAP))
    from app.asgi import create

    return create()


# --- setting up: the register, an account per person, two ballots -----------------------------


async def _prepare(url: str, directory: Path) -> tuple[list[str], int, int]:
    """The reference register, an account for every person (one cheap hash for all), and two
    open ballots: one for the first VOTERS people, one for everybody. Returns the usernames."""
    settings = Settings(
        database_url=url,
        secret_key=SECRET,
        redis_url=None,
        var_dir=directory,
        base_url="http://127.0.0.1",
        workers=1,
        log_level="WARNING",
        cli_lang="en",
    )
    engine = create_engine(url)
    try:
        async with session_scope(engine) as session:
            community = await create_community(session, settings, SLUG, "Z社区")
            await apply_buildings(session, community, validate_buildings(_building_rows()), None)
            rows = _household_rows(2026)
            if PEOPLE:  # a small register for a quick run: the first PEOPLE people
                wanted = set(sorted({row["person_ref"] for _line, row in rows})[:PEOPLE])
                rows = [(line, row) for line, row in rows if row["person_ref"] in wanted]
            await apply_households(session, community, validate_households(rows), None)
            hashed = PasswordHasher(**CHEAP).hash(PASSWORD)
            people = list(
                (
                    await session.execute(
                        select(Person.id, Person.ref)
                        .where(Person.community_id == community.id)
                        .order_by(Person.ref)
                    )
                ).all()
            )
            if PEOPLE:
                people = people[:PEOPLE]
            usernames = []
            for start in range(0, len(people), 2000):
                chunk = people[start : start + 2000]
                made = [
                    Account(username=f"v{ref.lower()}", display_name=ref, password_hash=hashed)
                    for _pid, ref in chunk
                ]
                session.add_all(made)
                await session.flush()
                for (pid, _ref), account in zip(chunk, made, strict=True):
                    await session.execute(
                        update(Person).where(Person.id == pid).values(account_id=account.id)
                    )
                usernames.extend(a.username for a in made)
            chair = Account(username="chair", display_name="chair", password_hash=hashed)
            session.add(chair)
            await session.flush()
            session.add(RoleGrant(community_id=community.id, account_id=chair.id, role=Role.chair))
            await session.commit()
            numbers = []
            refs = [ref for _pid, ref in people]
            for title, named in (("投票速度", refs[:VOTERS]), ("全社区表决", refs)):
                data = actions.blank_definition()
                now = utcnow()
                data.update(
                    title=title,
                    electorate="list",
                    named=named,
                    channels=["online"],
                    opens_at=(now - timedelta(minutes=1)).isoformat(),
                    closes_at=(now + timedelta(days=1)).isoformat(),
                )
                data["questions"][0]["text"] = "是否同意?"
                ballot = await actions.create_ballot(session, community, chair, data)
                await actions.open_ballot(session, ballot, chair)
                numbers.append(ballot.number)
            return usernames, numbers[0], numbers[1]
    finally:
        await engine.dispose()


# --- the server and its voters -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`yishi serve` in a subprocess (the same uvicorn settings), with cheap argon2."""

    def __init__(self, url: str, directory: Path, workers: int) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "YISHI_DATABASE_URL": url,
            "YISHI_SECRET_KEY": SECRET,
            "YISHI_VAR_DIR": str(directory),
            "YISHI_BASE_URL": self.base,
            "YISHI_WORKERS": str(workers),
            "YISHI_LOG_LEVEL": "WARNING",
        }
        code = (
            "import uvicorn; uvicorn.run('bench.ballots:server_app', factory=True,"
            f" host='127.0.0.1', port={self.port}, workers={workers}, access_log=False,"
            " proxy_headers=True, log_config=None)"
        )
        root = Path(__file__).resolve().parent.parent
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=root, stdout=subprocess.DEVNULL
        )

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer /healthz")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Voter:
    username: str
    cookie: str = ""
    token: str = ""


async def _csrf(client: httpx.AsyncClient) -> str:
    response = await client.get("/signin")
    token = response.cookies.get("csrftoken") or client.cookies.get("csrftoken")
    assert token, "no csrftoken cookie"
    client.cookies.clear()
    return token


async def _pool(
    base: str, voters: list[Voter], work: Any, concurrency: int = CONCURRENCY
) -> list[float]:
    """Run ``work(client, voter)`` for every voter, ``concurrency`` at a time (a client each),
    and return each call's latency in seconds."""
    queue: asyncio.Queue[Voter] = asyncio.Queue()
    for voter in voters:
        queue.put_nowait(voter)
    latencies: list[float] = []

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            while not queue.empty():
                voter = queue.get_nowait()
                started = time.perf_counter()
                await work(client, voter)
                latencies.append(time.perf_counter() - started)
                client.cookies.clear()  # each voter's own cookies are sent explicitly

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def _sign_in(base: str, voters: list[Voter]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        token = await _csrf(client)

    async def sign_in(client: httpx.AsyncClient, voter: Voter) -> None:
        response = await client.post(
            "/api/v1/session",
            json={"identifier": voter.username, "password": PASSWORD},
            headers={"x-csrftoken": token, "cookie": f"csrftoken={token}"},
        )
        assert response.status_code == 200, response.text
        session = response.cookies.get("yishi_session")
        assert session, "no session cookie"
        voter.cookie = f"csrftoken={token}; yishi_session={session}"
        voter.token = token

    await _pool(base, voters, sign_in)


async def _cast(base: str, voters: list[Voter], number: int) -> tuple[float, list[float]]:
    path = f"/api/v1/c/{SLUG}/ballots/{number}/cast"
    answers = ("yes", "no", "abstain")

    async def cast(client: httpx.AsyncClient, voter: Voter) -> None:
        response = await client.post(
            path,
            json={"answers": {"q1": answers[hash(voter.username) % 3]}},
            headers={"x-csrftoken": voter.token, "cookie": voter.cookie},
        )
        assert response.status_code == 201, (response.status_code, response.text[:300])

    started = time.perf_counter()
    latencies = await _pool(base, voters, cast)
    return time.perf_counter() - started, latencies


# --- the ceiling: bare single-row commits ------------------------------------------------------


async def _ceiling(url: str, commits: int, concurrency: int) -> tuple[float, list[float]]:
    """``commits`` single-row INSERTs, each committed on its own, over ``concurrency``
    connections: total seconds and each commit's latency."""
    engine = (
        create_engine(url)
        if url.startswith("sqlite")
        else create_async_engine(url, pool_size=concurrency, max_overflow=0)
    )
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("CREATE TABLE bench_ceiling (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)")
            )
        insert = text("INSERT INTO bench_ceiling (id, a, b) VALUES (:id, :a, :b)")
        numbers = iter(range(commits))
        latencies: list[float] = []

        async def worker() -> None:
            async with engine.connect() as connection:
                for n in numbers:
                    started = time.perf_counter()
                    await connection.execute(insert, {"id": n, "a": n, "b": '{"q1":"yes"}'})
                    await connection.commit()
                    latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies
    finally:
        await engine.dispose()


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _casting_figures(backend: str, url: str, workers: int, concurrency: int) -> None:
    upgrade_database(url)
    with tempfile.TemporaryDirectory() as directory:
        usernames, speed, whole = asyncio.run(_prepare(url, Path(directory)))
        server = Server(url, Path(directory), workers)
        try:
            server.wait()
            voters = [Voter(u) for u in usernames]
            asyncio.run(_sign_in(server.base, voters))
            seconds, latencies = asyncio.run(_cast(server.base, voters[:VOTERS], speed))
            whole_s = None
            if WHOLE:
                whole_s, _latencies = asyncio.run(_cast(server.base, voters, whole))
        finally:
            server.stop()
    n = min(VOTERS, len(usernames))
    bare_s, bare = asyncio.run(_ceiling(url, n, concurrency))
    rate, bare_rate = n / seconds, n / bare_s
    p50, p99 = _quantile(latencies, 0.5), _quantile(latencies, 0.99)
    b50, b99 = _quantile(bare, 0.5), _quantile(bare, 0.99)
    print(
        f"   {backend} ({workers} worker{'s' if workers > 1 else ''}, {CONCURRENCY} voters at once):"
        f" {rate:,.0f} ballots/s over {n:,} voters, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms;"
        f" bare commits ({concurrency} connection{'s' if concurrency > 1 else ''})"
        f" {bare_rate:,.0f}/s, p50 {b50 * 1000:.2f} ms, p99 {b99 * 1000:.2f} ms;"
        f" ratios: rate {rate / bare_rate:.2f}, p50 {p50 / b50:.0f}x, p99 {p99 / b99:.0f}x"
    )
    if backend == "postgres":
        met = rate >= 2000 and p99 < 0.050
        print(f"   target >= 2,000 ballots/s with p99 < 50 ms: {'met' if met else 'NOT met'}")
    if whole_s is not None:
        people = len(usernames)
        print(
            f"   {backend} whole community: {people:,} voters cast in {whole_s:.1f} s"
            f" ({people / whole_s:,.0f}/s; target well under 60 s);"
            f" ratio to bare commits {bare_s / n * people / whole_s:.2f}"
        )


# --- counting ----------------------------------------------------------------------------------


def _ranked(rng: random.Random, candidates: list[str]) -> list[str]:
    weights = [len(candidates) - i for i in range(len(candidates))]
    pool, ranking = list(candidates), []
    for _rank in range(rng.randint(1, len(candidates))):
        choice = rng.choices(pool, weights[: len(pool)])[0]
        pool.remove(choice)
        ranking.append(choice)
    return ranking


def _counting_figures() -> None:
    rng = random.Random(278)
    candidates = [f"c{i}" for i in range(10)]
    ranked = [(_ranked(rng, candidates), 1) for _ in range(COUNT)]
    projects = [f"p{i}" for i in range(60)]
    costs = {p: Decimal(rng.randrange(10_000, 200_000, 1_000)) for p in projects}
    popularity = [rng.random() ** 2 for _ in projects]
    approvals = [
        (sorted(set(rng.choices(projects, popularity, k=rng.randint(1, 8)))), 1)
        for _ in range(COUNT)
    ]

    def hashed(ballots: list[tuple[Any, int]]) -> float:
        started = time.perf_counter()
        for answer, _weight in ballots:
            hashlib.sha256(json.dumps(answer, separators=(",", ":")).encode()).digest()
        return time.perf_counter() - started

    started = time.perf_counter()
    stv = methods.count_stv(ranked, candidates, 3, "bench-seed-0123456789")
    stv_s = time.perf_counter() - started
    ceiling = hashed(ranked)
    print(
        f"   STV, {COUNT:,} ranked ballots, 10 candidates, 3 seats: {stv_s:.2f} s"
        f" (elected {', '.join(stv.winners)}); SHA-256 of the ballots {ceiling:.2f} s;"
        f" ratio {ceiling / stv_s:.3f}"
    )
    budget = sum(costs.values(), Decimal(0)) / 4
    started = time.perf_counter()
    shares = methods.count_equal_shares(approvals, costs, budget, "bench-seed-0123456789")
    shares_s = time.perf_counter() - started
    started = time.perf_counter()
    methods.count_greedy_approval(approvals, costs, budget, "bench-seed-0123456789")
    greedy_s = time.perf_counter() - started
    ceiling = hashed(approvals)
    print(
        f"   equal shares, {COUNT:,} approval ballots, 60 projects: {shares_s:.2f} s"
        f" ({len(shares.winners)} funded), greedy beside it {greedy_s:.2f} s;"
        f" SHA-256 of the ballots {ceiling:.2f} s; ratio {ceiling / (shares_s + greedy_s):.3f}"
    )


def main() -> None:
    from bench.register_import import _postgres_database

    _counting_figures()
    with tempfile.TemporaryDirectory() as directory:
        _casting_figures(
            "sqlite", normalise_database_url(f"sqlite:///{Path(directory) / 'bench.db'}"), 1, 1
        )
    name = f"yishi_bench_ballots_{os.getpid()}"
    try:
        asyncio.run(_postgres_database("CREATE", name))
    except Exception as error:  # no server: report and go on
        print(f"   postgres: skipped ({error.__class__.__name__}: {error})")
        return
    try:
        url = normalise_database_url(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
        _casting_figures("postgres", url, 2, CONCURRENCY)
    finally:
        asyncio.run(_postgres_database("DROP", name))


if __name__ == "__main__":
    main()
