"""The verifier's streaming pass, block by block: the work that needs no earlier line.

entries.jsonl is cut into blocks of whole lines. For each block, ``check_block`` hashes the
lines and folds the leaves into the block's compact range (a few perfect subtrees, which the
verifier merges into the root knowing only where the block starts), and checks every line
(audit.entries.check_entry_block), grouping the good ones into runs: lines in a row whose
seq goes up by one, whose time never goes back and whose community is the same, so that only
a run's first line has to be compared with what came before it. That is nearly all of the
verifier's work, so with ``jobs`` above one it runs in worker processes, a few blocks in
flight at a time, and the results come back in order for the verifier to replay.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Final, NamedTuple

from audit.entries import EntryColumns, EntryError, check_entry_block, check_entry_line
from audit.merkle import CompactRange, compact_range
from audit.rotation import ROTATION_TYPE

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult

BLOCK_BYTES: Final = 1 << 18  # big enough that per-block costs vanish, small enough for memory
MAX_JOBS: Final = 4  # beyond that, this process's share (reading, handing out) is the limit


def default_jobs() -> int:
    """One worker per CPU this process may use, capped."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cpus or 1, MAX_JOBS))


class Block(NamedTuple):
    start: int  # index of the block's first line
    data: bytes  # whole lines, each ending in a newline
    sizes: tuple[int, ...]  # tree sizes wanted that end inside the block
    leaves: tuple[int, ...]  # leaf indexes wanted that are inside the block
    payloads: bool  # observers are waiting: every entry comes back with its payload


@dataclass(slots=True)
class Run:
    """Good lines in a row, from ``index``: ``seq`` and ``t`` are the first line's, and
    ``t_last`` the last one's. A key rotation, and with observers every entry, is a run of
    its own that carries its payload; other runs carry none."""

    index: int
    count: int
    seq: int
    t: int
    t_last: int
    community: str
    type: str
    payload: dict[str, Any] | None = None


class CheckedBlock(NamedTuple):
    subtrees: CompactRange  # the block's leaves
    prefixes: dict[int, CompactRange]  # wanted size -> the block's leaves below it
    leaves: dict[int, bytes]  # wanted leaf hashes
    runs: list[Run | tuple[int, EntryError]]  # in line order; a bad line is (index, fault)


def check_block(block: Block) -> CheckedBlock:
    lines = block.data.split(b"\n")
    lines.pop()  # the empty piece after the last newline
    sha = hashlib.sha256
    hashes = [sha(b"\x00" + line).digest() for line in lines]  # merkle.leaf_hash, inlined
    start = block.start
    return CheckedBlock(
        compact_range(hashes, start),
        {size: compact_range(hashes[: size - start], start) for size in block.sizes},
        {index: hashes[index - start] for index in block.leaves},
        _runs(start, lines, check_entry_block(block.data, lines), block.payloads),
    )


def _runs(
    start: int, lines: list[bytes], columns: EntryColumns, payloads: bool
) -> list[Run | tuple[int, EntryError]]:
    seqs, times, types, communities, errors = columns
    count = len(lines)
    if not count:
        return []
    first = seqs[0]
    if (  # the usual block is a single run: found without a loop over the lines
        not errors
        and not payloads
        and ROTATION_TYPE not in types
        and seqs == list(range(first, first + count))
        and times == sorted(times)
        and communities.count(communities[0]) == count
    ):
        return [Run(start, count, first, times[0], times[-1], communities[0], types[0])]
    runs: list[Run | tuple[int, EntryError]] = []
    run: Run | None = None  # the run the next line may join
    for i, line in enumerate(lines):
        error = errors.get(i)
        if error is not None:
            runs.append((start + i, error))
            run = None
            continue
        seq, t, kind, community = seqs[i], times[i], types[i], communities[i]
        plain = not payloads and kind != ROTATION_TYPE
        if (
            plain
            and run is not None
            and seq == run.seq + run.count
            and t >= run.t_last
            and community == run.community
        ):
            run.count += 1
            run.t_last = t
            continue
        payload = None if plain else check_entry_line(line)["payload"]
        run = Run(start + i, 1, seq, t, t, community, kind, payload)
        runs.append(run)
        if not plain:
            run = None
    return runs


class BlockReader:
    """A stream of log lines as Block objects. Once read through, ``lines`` counts the whole
    lines and ``rest`` holds a last line without its newline (empty if there is none)."""

    def __init__(
        self, stream: BinaryIO, sizes: set[int], leaves: set[int], *, payloads: bool
    ) -> None:
        self.stream, self.sizes, self.leaves, self.payloads = stream, sizes, leaves, payloads
        self.lines, self.rest = 0, b""
        self.small = os.fstat(stream.fileno()).st_size <= 2 * BLOCK_BYTES

    def __iter__(self) -> Iterator[Block]:
        pending: list[bytes] = []  # the start of a line that goes on in the next read
        while data := self.stream.read(BLOCK_BYTES):
            cut = data.rfind(b"\n") + 1
            if not cut:
                pending.append(data)
                continue
            lines = b"".join([*pending, data[:cut]]) if pending else data[:cut]
            pending = [data[cut:]] if cut < len(data) else []
            start, end = self.lines, self.lines + lines.count(b"\n")
            yield Block(
                start,
                lines,
                tuple(size for size in self.sizes if start < size <= end),
                tuple(index for index in self.leaves if start <= index < end),
                self.payloads,
            )
            self.lines = end
        self.rest = b"".join(pending)


def check_blocks(blocks: BlockReader, jobs: int) -> Iterator[CheckedBlock]:
    """The blocks checked, in order: here, or by ``jobs`` worker processes with at most two
    blocks each in flight, so that memory stays flat however long the log."""
    if jobs <= 1 or blocks.small:  # starting workers would take longer than the work
        yield from map(check_block, blocks)
        return
    import multiprocessing  # only here: a few MB that a single process does without

    with multiprocessing.Pool(jobs) as pool:
        pending: deque[AsyncResult[CheckedBlock]] = deque()
        for block in blocks:
            pending.append(pool.apply_async(check_block, (block,)))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
