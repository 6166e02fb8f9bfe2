"""Planner speed: ``build_plan`` for 100,000 splits, R = 3 (f_s = 1), 30 nodes.

Two shapes of input, each 100,000 map tasks: 100,000 files of 64 MiB (one block of
128 MiB each), and one file of 100,000 MiB cut into 1 MiB blocks and splits. Figures are
seconds per plan, wall clock and this process's CPU time (the latter is less disturbed
by other users of the machine); the smallest of the repetitions is the planner's speed,
the others carry the machine's noise.
"""

from __future__ import annotations

import time

SPLITS = 100_000
NODES = 30


def shapes() -> dict:
    """``{name: (files, block_size)}``: the two inputs of :data:`SPLITS` splits each."""
    from dirft.core.planner import InputFile

    many = [InputFile(f"/data/part-{i:06d}", 64 << 20) for i in range(SPLITS)]
    one = [InputFile("/data/huge", SPLITS << 20)]
    return {"100,000 files": (many, 128 << 20), "1 file, 1 MiB splits": (one, 1 << 20)}


def plan_once(files, block_size: int) -> tuple[float, float, int]:
    """Plan once; return (wall seconds, CPU seconds, number of tasks planned)."""
    from dirft.core.jobplan import build_plan, node_names
    from dirft.core.scheme import Tolerance, make_scheme

    scheme = make_scheme("dirft", Tolerance(crash=0, silent=1))
    wall, cpu = time.perf_counter(), time.process_time()
    plan = build_plan(files, scheme, node_names(NODES), block_size, 1, 2**63 - 1, 0, 10.0)
    return time.perf_counter() - wall, time.process_time() - cpu, len(plan.tasks)
