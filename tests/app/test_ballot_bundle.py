"""What the server writes, the verifier replays: every channel, both secrecies, then recounted
from the exported CSV with `yishi tally`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from app import ballots as actions
from app import log
from app.cli import main as cli
from app.models import Community
from app.settings import Settings
from ballots.verify import main as verify
from tests.app.conftest import World, settle
from tests.app.test_ballot_actions import account, definition, grid_member, person


def test_every_channel_replays_and_recounts(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    async def run(session: Any) -> list[int]:
        community = await session.get(Community, world.ids["z"])
        chair = await account(session, "chair")
        numbers = []
        for changes in (
            {"paper_double_entry": True, "early_close": True, "objection_days": 0},
            {"secrecy": "secret", "revoting": "first", "early_close": True},
        ):
            ballot = await actions.create_ballot(session, community, chair, definition(**changes))
            await actions.open_ballot(session, ballot, chair)
            holder, principal = await person(session, "P005"), await person(session, "P001")
            await actions.grant_proxy(session, ballot, "P001", holder, by_principal=principal)
            await actions.cast_as_proxy(session, ballot, holder, "P001", {"q1": "yes"})
            if ballot.definition["secrecy"] == "roll_call":
                await actions.cast_online(session, ballot, principal, {"q1": "no"})  # overrides
                grid, grids = await grid_member(session)
                await actions.enter_paper(session, ballot, grid, grids, "P007", "F-1", {"q1": "no"})
                await actions.enter_paper(
                    session, ballot, chair, grids, "P007", "F-1", {"q1": "no"}
                )
            else:
                grid, grids = await grid_member(session)
                await actions.enter_paper(session, ballot, grid, grids, "P007", "F-1", {"q1": "no"})
            tenant = await person(session, "P006")
            await actions.cast_online(session, ballot, tenant, {"q1": "yes"})
            if ballot.definition["revoting"] == "last":
                await actions.cast_online(session, ballot, tenant, {"q1": "abstain"})
            await actions.close_ballot(session, ballot, chair)
            await actions.run_due(session)
            numbers.append(ballot.number)
        return numbers

    numbers = world.db.run(run)
    world.db.run(lambda s: actions.run_due(s))  # the first becomes final (no objection period)
    settle(world, settings)

    async def export(session: Any) -> list[dict[str, Any]]:
        community = await session.get(Community, world.ids["z"])
        await log.export_bundle(session, community, tmp_path / "bundle")
        found = []
        for number in numbers:
            ballot = await actions.get_ballot(session, community.id, number)
            (tmp_path / f"ballot-{number}.csv").write_text(
                await actions.counted_csv(session, ballot)
            )
            found.append({"status": ballot.status, "tally": ballot.tally})
        return found

    roll_call, secret = world.db.run(export)
    assert roll_call["status"] == "final" and secret["status"] == "tallied"
    assert roll_call["tally"]["questions"][0]["counts"] == {"yes": "0", "no": "2", "abstain": "1"}
    assert secret["tally"]["questions"][0]["counts"] == {"yes": "2", "no": "1", "abstain": "0"}
    assert verify([str(tmp_path / "bundle")]) == 0

    for number, published in zip(numbers, (roll_call, secret), strict=True):
        result = CliRunner().invoke(
            cli,
            [
                "tally",
                str(tmp_path / f"ballot-{number}.csv"),
                "--method",
                "yes_no_abstain",
                "--json",
            ],
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["counts"] == published["tally"]["questions"][0]["counts"]
