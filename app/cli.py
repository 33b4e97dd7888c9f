"""The `yishi` command line."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from app import i18n
from app.i18n import gettext as _
from app.i18n import ngettext
from app.settings import PROJECT_ROOT, Settings, SettingsError, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    i18n.set_language(settings.cli_lang)
    return settings


def _run(work: Callable[[Any], Awaitable[T]], settings: Settings) -> T:
    """Run one coroutine with a session on a fresh engine, disposed afterwards."""
    from app.db import create_engine, session_scope

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with session_scope(engine) as session:
                session.info["base_url"] = settings.base_url  # links in e-mails and SMS
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def _community(session: Any, slug: str) -> Any:
    from sqlalchemy import select

    from app.models import Community

    community = (
        await session.execute(select(Community).where(Community.slug == slug))
    ).scalar_one_or_none()
    if community is None:
        raise click.ClickException(_("No community has the slug “%(slug)s”.", slug=slug))
    return community


@click.group()
def main() -> None:
    """Yishi (议事): neighbourhood deliberation and decisions."""


@main.group()
def db() -> None:
    """Database schema."""


def upgrade_database(database_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, "head")


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (the only way the schema changes)."""
    settings = _settings()
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.database_url)
    click.echo(_("The database is up to date."))


@main.group()
def community() -> None:
    """Communities on this instance."""


@community.command("create")
@click.option("--slug", required=True, help="Short name used in addresses, e.g. z")
@click.option("--name", required=True)
@click.option("--address", default="")
def community_create(slug: str, name: str, address: str) -> None:
    """Create a community."""
    import re

    from app.models import Community
    from app.register import create_community

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", slug):
        raise click.ClickException(_("The slug has 1 to 40 lowercase letters, digits or dashes."))
    settings = _settings()

    async def work(session: Any) -> None:
        from sqlalchemy import select

        if (await session.execute(select(Community).where(Community.slug == slug))).first():
            raise click.ClickException(
                _("A community with the slug “%(slug)s” exists already.", slug=slug)
            )
        await create_community(session, settings, slug, name, address)

    _run(work, settings)
    click.echo(_("Community %(name)s created: /c/%(slug)s", name=name, slug=slug))


@main.group()
def register() -> None:
    """The community register."""


@register.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--community", "slug", required=True)
def register_import(file: Path, slug: str) -> None:
    """Import a buildings or households file (CSV or XLSX): all rows or none."""
    from app.register import label as reg_label
    from app.register_import import ImportRejected, import_file

    settings = _settings()

    data = file.read_bytes()

    async def work(session: Any) -> Any:
        return await import_file(session, await _community(session, slug), file.name, data, None)

    try:
        report = _run(work, settings)
    except ImportRejected as rejected:
        click.echo(
            ngettext(
                "Nothing was imported: %(num)s problem in %(file)s.",
                "Nothing was imported: %(num)s problems in %(file)s.",
                len(rejected.errors),
                file=file,
            ),
            err=True,
        )
        for error in rejected.errors:
            where = _("line %(n)s", n=error.line) + (f" [{error.column}]" if error.column else "")
            click.echo(f"  {file.name}:{where}: {error.message}", err=True)
        sys.exit(1)
    if not report.changed:
        click.echo(
            _("All %(n)s rows match the register already; nothing was changed.", n=report.rows)
        )
        return
    for entity, n in report.created.items():
        click.echo(_("%(entity)s created: %(n)s", entity=reg_label("entity", entity), n=n))
    for entity, n in report.updated.items():
        click.echo(_("%(entity)s updated: %(n)s", entity=reg_label("entity", entity), n=n))


@register.command("export")
@click.option("--community", "slug", required=True)
@click.option("--what", type=click.Choice(["households", "buildings"]), default="households")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output)",
)
def register_export(slug: str, what: str, out: Path | None) -> None:
    """Export the register in the import format."""
    from app import register as reg

    settings = _settings()

    async def work(session: Any) -> str:
        community = await _community(session, slug)
        export = reg.export_households if what == "households" else reg.export_buildings
        return await export(session, community.id)

    text = _run(work, settings)
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.command()
@click.option("--seed", default=2026, show_default=True)
def demo(seed: int) -> None:
    """Load the reference community (Z社区) at its real size; running it again changes nothing."""
    from app.demo import load_demo

    settings = _settings()
    started = time.perf_counter()
    result = _run(lambda session: load_demo(session, settings, seed=seed), settings)
    click.echo(
        _(
            "Demo community %(name)s ready at %(url)s (%(s).1f s).",
            name=result.community.name,
            url=f"{settings.base_url}/c/{result.community.slug}",
            s=time.perf_counter() - started,
        )
    )
    click.echo(_("Sign in with one of these demo accounts:"))
    for role, username, password in result.accounts:
        click.echo(f"  {role:<12} {username:<10} {password}")
    if result.activation:
        click.echo(
            _(
                "An activation code for %(name)s, to try /activate: %(code)s",
                name=result.activation[0],
                code=result.activation[1],
            )
        )


@main.group()
def outbox() -> None:
    """Notices by e-mail and SMS waiting to be sent (the server sends them continuously)."""


@outbox.command("send")
@click.option("--retry-failed", is_flag=True, help="Try again the messages given up on")
def outbox_send(retry_failed: bool) -> None:
    """Send every message that is due now, with the configured senders. Safe beside a running
    server: each message is claimed with a lease, so the two never both send it."""
    from app import notify
    from app.db import create_engine, create_sessionmaker

    settings = _settings()

    async def main() -> tuple[int, notify.Drained]:
        engine = create_engine(settings.database_url)
        senders = notify.senders_for(settings)
        try:
            retried = 0
            if retry_failed:
                async with create_sessionmaker(engine)() as session:
                    retried = await notify.retry_given_up(session)
            return retried, await notify.drain(create_sessionmaker(engine), senders)
        finally:
            await notify.close_senders(senders)
            await engine.dispose()

    retried, done = asyncio.run(main())
    if retry_failed:
        click.echo(_("%(n)s messages given up on will be tried again.", n=retried))
    click.echo(
        _(
            "%(sent)s sent, %(failed)s failed (%(given_up)s given up).",
            sent=done.sent,
            failed=done.failed,
            given_up=done.given_up,
        )
    )


@outbox.command("list")
@click.option("--limit", default=100, show_default=True)
def outbox_list(limit: int) -> None:
    """Messages not sent yet, oldest first, with their attempts and last error."""
    from app import notify

    settings = _settings()
    found = _run(lambda session: notify.waiting(session, limit), settings)
    if not found:
        click.echo(_("Nothing is waiting to be sent."))
        return
    for w in found:
        if w.sending:
            state = _("in progress")
        elif w.given_up:
            state = _("given up")
        else:  # and when it is due next
            state = _("waiting") + f" → {w.next_attempt_at:%H:%M}Z"
        click.echo(
            f"#{w.id}  {w.channel:<5}  {notify.masked(w.address):<24}  {state}  "
            + ngettext("%(num)s attempt", "%(num)s attempts", w.attempts)
            + f"  {w.created_at:%Y-%m-%d %H:%M}Z  {w.subject}"
        )
        if w.last_error:
            click.echo(f"      {w.last_error}")


@main.group()
def audit() -> None:
    """The public log: integrate, export for the verifier, rotate the signing key."""


@audit.command("integrate")
def audit_integrate() -> None:
    """Integrate pending entries now and sign checkpoints (the server does this continuously)."""
    from app import log

    settings = _settings()
    count = _run(lambda session: log.integrate_all(session, settings), settings)
    click.echo(_("%(n)s entries integrated.", n=count))


@audit.command("export")
@click.option("--community", "slug", required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def audit_export(slug: str, out: Path) -> None:
    """Write the log bundle that yishi-verify checks: entries.jsonl, checkpoint, log.vkey."""
    from app import log

    settings = _settings()

    async def work(session: Any) -> Any:
        community = await _community(session, slug)
        await log.integrate_all(session, settings)
        try:
            return await log.export_bundle(session, community, out)
        except LookupError:
            raise click.ClickException(
                _("The log of %(slug)s is empty: nothing to export yet.", slug=slug)
            ) from None

    checkpoint = _run(work, settings)
    click.echo(
        _(
            "Exported %(n)s entries to %(dir)s. Check them with: yishi-verify %(dir)s",
            n=checkpoint.size,
            dir=out,
        )
    )


@audit.command("rotate-key")
@click.option("--community", "slug", required=True)
def audit_rotate_key(slug: str) -> None:
    """Hand the log to a new signing key, announced in the log and signed by the old one."""
    from app import log

    settings = _settings()

    async def work(session: Any) -> int:
        entry_id = await log.rotate_key(session, settings, await _community(session, slug))
        await log.integrate_all(session, settings)
        return entry_id

    _run(work, settings)
    click.echo(_("The signing key of %(slug)s has been rotated.", slug=slug))


@main.group("witness")
def witness_group() -> None:
    """Witnesses that cosign the communities' checkpoints (C2SP tlog-witness)."""


@witness_group.command("serve")
@click.option("--name", required=True, help="The witness's name, e.g. witness.example.org/w1")
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    help="A log's verifier key (log.vkey); repeat for several",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Key and state (default: var/witness)",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8100, show_default=True)
def witness_serve(
    name: str, logs: tuple[str, ...], directory: Path | None, host: str, port: int
) -> None:
    """Run a witness: cosign checkpoints that extend what it saw before."""
    import uvicorn

    from app.witness import WitnessService, witness_app

    settings = _settings()
    try:
        service = WitnessService.open(directory or settings.var_dir / "witness", name, list(logs))
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        _(
            "Witness key (give it to the communities): %(vkey)s",
            vkey=service.cosigner.verifier().vkey(),
        )
    )
    uvicorn.run(witness_app(service), host=host, port=port, log_level="warning")


@witness_group.command("add")
@click.option("--community", "slug", required=True)
@click.option(
    "--vkey", required=True, help="The witness's public key, as `witness serve` prints it"
)
@click.option(
    "--url", required=True, help="Its submission prefix, e.g. https://witness.example.org"
)
def witness_add(slug: str, vkey: str, url: str) -> None:
    """Register a witness for a community's log."""
    from app.witness import add_witness
    from audit.note import NoteError

    settings = _settings()

    async def work(session: Any) -> str:
        try:
            return (await add_witness(session, await _community(session, slug), vkey, url)).name
        except NoteError as error:
            raise click.ClickException(
                _("This is not a witness key: %(reason)s", reason=error.detail)
            ) from None

    click.echo(_("Witness %(name)s added.", name=_run(work, settings)))


@witness_group.command("quorum")
@click.option("--community", "slug", required=True)
@click.option("--quorum", type=int, required=True, help="How many witnesses must cosign")
def witness_quorum(slug: str, quorum: int) -> None:
    """Set how many of the community's witnesses must cosign a checkpoint."""
    from sqlalchemy import func, select

    from app.models import Witness

    settings = _settings()

    async def work(session: Any) -> None:
        community = await _community(session, slug)
        count = (
            await session.execute(select(func.count()).where(Witness.community_id == community.id))
        ).scalar_one()
        if not 0 <= quorum <= count:
            raise click.ClickException(
                _("The quorum must be between 0 and the %(n)s registered witnesses.", n=count)
            )
        community.witness_quorum = quorum
        await session.commit()

    _run(work, settings)
    click.echo(_("Quorum set to %(n)s.", n=quorum))


@main.command("tally")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--method",
    required=True,
    type=click.Choice(
        [
            "yes_no_abstain",
            "single_choice",
            "approval",
            "instant_runoff",
            "stv",
            "schulze",
            "equal_shares",
        ]
    ),
)
@click.option("--question", help="The question to count (default: the only one in the file)")
@click.option("--seats", type=int, default=1, show_default=True, help="Seats (approval, stv)")
@click.option("--options", help="Option ids a,b,c (default: every option the file mentions)")
@click.option("--budget", help="The budget (equal_shares)")
@click.option("--costs", help="Project costs id=cost,... (equal_shares)")
@click.option(
    "--seed", default="", help="Tie-break seed: definition.seed in the ballot.opened log entry"
)
@click.option(
    "--rule",
    type=click.Choice(
        [
            "consultation",
            "civil_code_278:ordinary",
            "civil_code_278:major",
            "civil_code_278:ordinary:pre2021",
            "civil_code_278:major:pre2021",
            "residents_meeting",
        ]
    ),
    help="Decision rule to apply",
)
@click.option("--roll-heads", type=int, help="Electors on the roll (with a rule)")
@click.option("--roll-area", help="Exclusive floor area on the roll, m² (with an area rule)")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")
@click.option("--lang", type=click.Choice(["zh_CN", "en"]), envvar="YISHI_LANG", default="zh_CN")
def tally_command(
    file: Path,
    method: str,
    question: str | None,
    seats: int,
    options: str | None,
    budget: str | None,
    costs: str | None,
    seed: str,
    rule: str | None,
    roll_heads: int | None,
    roll_area: str | None,
    as_json: bool,
    lang: str,
) -> None:
    """Recount an exported ballots CSV (the ballot page's download) offline."""
    import json

    from ballots.recount import RecountError, Spec, recount, render
    from ballots.replay import translator

    tr = translator(lang)
    try:
        spec = Spec.from_text(
            method,
            question=question,
            seats=seats,
            options=options,
            budget=budget,
            costs=costs,
            seed=seed,
            rule=rule,
            roll_heads=roll_heads,
            roll_area=roll_area,
        )
        data = file.read_bytes()
        result = recount(data, spec)
    except RecountError as error:
        for problem in error.problems:
            click.echo(f"{file.name}: {problem.text(tr)}", err=True)
        sys.exit(2)
    except OSError as error:
        click.echo(f"{file}: {error.strerror or error}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result.entry, ensure_ascii=False, indent=2))
    else:
        click.echo(render(result, tr))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option(
    "--workers", type=int, default=None, help="Worker processes (default: YISHI_WORKERS or 1)"
)
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the application with uvicorn."""
    import uvicorn

    from app.logs import configure_logging

    settings = _settings()
    count = workers or settings.workers
    if settings.is_sqlite and count > 1:
        click.echo(
            _("SQLite has a single writer: serving with one worker. Use PostgreSQL for several."),
            err=True,
        )
        count = 1
    configure_logging(settings.log_level)
    uvicorn.run(
        "app.asgi:create",
        factory=True,
        host=host,
        port=port,
        workers=count,
        access_log=False,
        proxy_headers=True,
        log_config=None,
    )


if __name__ == "__main__":
    main()
