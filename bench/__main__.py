"""`python -m bench [NAME ...]`: run the benchmarks (all by default) and print their ratios."""

from __future__ import annotations

import sys
import time

from bench import ballots, deliberation, log, register_import

BENCHMARKS = {
    "register_import": register_import.main,
    "log": log.main,
    "ballots": ballots.main,
    "deliberation": deliberation.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        started = time.perf_counter()
        print(f"== {name}")
        BENCHMARKS[name]()
        print(f"   ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
