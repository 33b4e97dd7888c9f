"""`yishi tally`: recount an exported ballots CSV offline, no database needed."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from app.cli import main as cli

EXPORT = (
    "elector,units,area,channel,question,answer\n"
    "1-1-101,1-1-101,100.5,online,q1,yes\n"
    "1-1-102,1-1-102 1-1-202,150,paper,q1,no\n"
    "1-1-103,1-1-103,60,proxy,q1,yes\n"
)


def yishi(tmp_path: Path, text: str, *args: str, lang: str = "en") -> Result:
    path = tmp_path / "ballot-3.csv"
    path.write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, ["tally", str(path), *args], env={"YISHI_LANG": lang})


def test_tally_prints_a_table_the_json_entry_and_refuses_bad_rows(tmp_path: Path) -> None:
    rule = ["--rule", "civil_code_278:ordinary", "--roll-heads", "4", "--roll-area", "380.5"]
    result = yishi(tmp_path, EXPORT, "--method", "yes_no_abstain", *rule)
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("Question q1 (yes / no / abstain): 3 ballots counted\n")
    assert "  yes      2      160.5\n" in out
    assert "Rule civil_code_278: passed" in out

    result = yishi(tmp_path, EXPORT, "--method", "yes_no_abstain", "--json", *rule)
    entry = json.loads(result.output)
    assert entry["question"] == "q1"
    assert entry["counts"] == {"yes": "2", "no": "1", "abstain": "0"}
    assert entry["decision"]["passed"] is True
    assert entry["decision"]["participating_area"] == "310.5"

    chinese = yishi(tmp_path, EXPORT, "--method", "yes_no_abstain", *rule, lang="zh_CN")
    assert "表决规则 civil_code_278：通过" in chinese.output

    bad = yishi(
        tmp_path, EXPORT + "1-1-104,1-1-104,70,online,q1,maybe\n", "--method", "yes_no_abstain"
    )
    assert bad.exit_code == 2
    assert "ballot-3.csv: line 5: unknown option “maybe”" in bad.output
    assert "Traceback" not in bad.output

    unknown = yishi(tmp_path, EXPORT, "--method", "borda")
    assert unknown.exit_code == 2


def test_the_command_offers_every_method_and_rule() -> None:
    from ballots.ballot import METHODS
    from ballots.recount import RULE_NAMES

    params = {p.name: p for p in cli.commands["tally"].params}  # type: ignore[attr-defined]
    assert tuple(params["method"].type.choices) == METHODS
    assert tuple(params["rule"].type.choices) == RULE_NAMES
