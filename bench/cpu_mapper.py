"""A CPU-heavy identity mapper: each input line is hashed ``ROUNDS`` times, then printed as is.

Usage: ``python3 cpu_mapper.py [ROUNDS]`` (default 200 rounds of SHA-256 per line). Its output
is its input, so any job over it has the output of ``cat``; only its CPU time differs. Used by
:mod:`bench.hadoop_recovery` for the one-split job on an idle cluster, where DIRFT's replicas,
each working on its own sub-splits, use cores that a single attempt leaves free. Standard
library only: it runs with the cluster's ``python3`` (shipped with ``-files``).
"""

from __future__ import annotations

import hashlib
import sys


def burn(line: bytes, rounds: int) -> bytes:
    """SHA-256 of ``line`` chained ``rounds`` times (the work; the result is discarded)."""
    digest = line
    for _ in range(rounds):
        digest = hashlib.sha256(digest).digest()
    return digest


def main(argv: list | None = None) -> int:
    """Copy standard input to standard output, burning CPU per line. Returns 0."""
    argv = sys.argv[1:] if argv is None else argv
    rounds = int(argv[0]) if argv else 200
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        burn(line, rounds)
        out.write(line)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
