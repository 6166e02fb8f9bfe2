#!/usr/bin/env python3
"""Speculative execution against a straggler node: makespan of ``se`` / ``none``.

Runs a map-heavy streaming job (a Python mapper, ``cat`` reducer) on the same generated input with one straggler node
(``dirft.fault.straggler.nodes=1``, 4× slower), alternating the two schemes so that machine
noise hits both, and prints the median map-stage and job times and their ratio. Speculative
execution (Hadoop's rule: progress rate well below the mean) should back up the straggling
attempts on healthy nodes, so ``se`` finishes first: a ratio below 1.

Usage: ``.venv/bin/python bench/se_straggler.py [--size 32MiB] [--repeat 3]``.
"""

import argparse
import os
import statistics
import sys
import tempfile

from dirft.config import JobConf
from dirft.gridmix.generate import generate_file
from dirft.runners.base import StreamingJob
from dirft.runners.local import LocalRunner
from dirft.units import parse_bytes

SETTINGS = ["dirft.split.maxsize=4194304", "dfs.blocksize=8388608",
            "dirft.nodes=4", "dirft.slots.per.node=1", "dirft.fault.straggler.nodes=1",
            "dirft.fault.straggler.factor=4", "dirft.heartbeat.interval=0.1",
            "dirft.se.min.runtime=0.3", "mapreduce.job.speculative.retry-after-no-speculate=100",
            "mapreduce.job.speculative.retry-after-speculate=300",
            "mapred.map.tasks.fault.inject=false", "mapred.map.tasks.fault.tolerance=1"]
# A map-heavy mapper (each record hashed 100 times), so that phases last seconds: long
# enough past the minimum run time for progress rates to tell a straggler from the rest.
MAPPER = ["python", "-c", "import hashlib, sys\nfor line in sys.stdin:\n"
          "    d = line.encode()\n    for _ in range(100):\n        d = hashlib.sha256(d).digest()\n"
          "    sys.stdout.write(line)"]


def run(scheme: str, data: str, workdir: str, index: int) -> dict:
    """One job under ``scheme``; returns its report (seconds in ``map_seconds`` etc.)."""
    conf = JobConf.load(defines=SETTINGS + [f"dirft.scheme={scheme}"])
    out = os.path.join(workdir, f"out-{scheme}-{index}")
    job = StreamingJob(inputs=[data], output=out, mapper=MAPPER, reducer=["cat"], conf=conf)
    return LocalRunner(job).run()


def main() -> int:
    """Print the table; exit status 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="32MiB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dirft-se-bench-") as work:
        data = os.path.join(work, "input.txt")
        generate_file(data, parse_bytes(args.size), seed=1)
        results = {"se": [], "none": []}
        for i in range(args.repeat):
            for scheme in ("none", "se"):
                results[scheme].append(run(scheme, data, work, i))
    med = {s: {k: statistics.median(r[k] for r in rs) for k in ("map_seconds", "makespan_seconds")}
           for s, rs in results.items()}
    backups = statistics.median(r["replicas_launched"] - r["tasks"] for r in results["se"])
    print(f"straggler: 1 of 4 nodes 4x slower; {args.size} input, 8 map tasks, 1 slot/node, "
          f"{os.cpu_count()} cores; median of {args.repeat} alternating runs")
    print(f"{'scheme':8} {'map s':>8} {'job s':>8}")
    for scheme in ("none", "se"):
        print(f"{scheme:8} {med[scheme]['map_seconds']:8.2f} {med[scheme]['makespan_seconds']:8.2f}")
    ratio = med["se"]["makespan_seconds"] / med["none"]["makespan_seconds"]
    print(f"se / none makespan: {ratio:.2f} ({'se finishes first' if ratio < 1 else 'se is NOT faster'}); "
          f"backups launched by se (median): {backups:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
