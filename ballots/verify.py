"""yishi-verify with the ballots replay: the log checks of ``audit.verify`` plus a recount of
every ballot in the log (``ballots.replay``). ``python -m audit.verify`` stays the log-only
check; audit never imports ballots, so the replay is plugged in from here."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from audit import verify
from ballots.replay import BallotReplay


def _language(args: Sequence[str]) -> str:
    """The report's language as yishi-verify reads it (--lang, default zh)."""
    for i, arg in enumerate(args):
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if arg == "--lang" and i + 1 < len(args):
            return args[i + 1]
    return "zh"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return verify.main(args, observers=[BallotReplay(_language(args))])


if __name__ == "__main__":  # pragma: no cover - exercised by a subprocess test
    sys.exit(main())
