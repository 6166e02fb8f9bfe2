"""A driver that stalls: does it take its own stall for its replicas' deaths?

Usage: ``.venv/bin/python -m bench.driver_stall [--trials 6] [--stall 4] [--workdir DIR]``.

Each trial runs a fault-free DIRFT job on the local runner (4 MiB of GridMix text, 4 map
tasks of 1 MiB, 2 replicas each, mapper ``sh -c "sleep 5; cat"``, heartbeat every 0.25 s,
timeout 2 s) and, 3 s in, stops the driver process with SIGSTOP for ``--stall`` seconds
(more than the heartbeat timeout, less than a replica's 10 s wait for an answer), as a
node at load 50 starves it. Nothing is injected, so every replica declared dead is a
false alarm, and an abort is spurious. Before the voting service's listening clock
(``ClockTicked.heard``), the driver's clock loop could wake before its service had read
the heartbeats that waited in its sockets, and declare both replicas of a task dead
(2026-12-03: 4 of 10 trials aborted). Prints one Markdown table; exit status 0 if no trial
had a false alarm, else 1. Timing lives here, not in the tests: the stall is real time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from bench.common import Figure, format_table, load_average
from dirft.gridmix.generate import generate_file

JOB_ARGS = ["-mapper", 'sh -c "sleep 5; cat"', "-reducer", "cat",
            "-D", "mapred.map.tasks.fault.inject=false", "-D", "dirft.heartbeat.timeout=2",
            "-D", "dirft.heartbeat.interval=0.25",
            "-D", "dirft.split.maxsize=1048576"]
STALL_AFTER_S = 3.0
"""Seconds after the job's start at which the driver is stopped."""


def parse(argv: list | None) -> argparse.Namespace:
    """The command line (module doc)."""
    p = argparse.ArgumentParser(prog="python -m bench.driver_stall")
    p.add_argument("--trials", type=int, default=6, help="jobs to run (6)")
    p.add_argument("--stall", type=float, default=4.0,
                   help="seconds the driver stays stopped (4; the heartbeat timeout is 2)")
    p.add_argument("--workdir", default=None, help="scratch directory (default: temporary)")
    return p.parse_args(argv)


def trial(workdir: str, data: str, index: int, stall: float) -> dict:
    """Run one job, stopping its driver for ``stall`` seconds; return ``{"rc", "dead",
    "error"}``: exit status, replicas declared dead by heartbeat (from the report), the
    error line of an aborted job ("" if it succeeded)."""
    out = os.path.join(workdir, f"out-{index}")
    dirft = os.path.join(os.path.dirname(sys.executable), "dirft")
    proc = subprocess.Popen([dirft, "streaming", "-input", data, "-output", out, *JOB_ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(STALL_AFTER_S)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(stall)  # the stall itself: what is measured, not a synchronisation
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate()
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        return {"rc": proc.returncode, "dead": None, "error": lines[-1] if lines else "?"}
    with open(os.path.join(out, "_dirft_report.json")) as f:
        report = json.load(f)
    return {"rc": 0, "dead": report["faults"]["crashes_detected_by"].get("heartbeat", 0),
            "error": ""}


def main(argv: list | None = None) -> int:
    """Run the trials and print the table; see the module doc."""
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="dirft-stall-", dir=args.workdir) as workdir:
        data = os.path.join(workdir, "in.txt")
        generate_file(data, 4 << 20, seed=3)
        results = []
        for i in range(args.trials):
            results.append(trial(workdir, data, i, args.stall))
            print(f"trial {i + 1}: {results[-1]}", file=sys.stderr, flush=True)
    aborted = sum(r["rc"] != 0 for r in results)
    dead = sum(r["dead"] or 0 for r in results)
    print(f"Driver stopped {args.stall:g} s mid-map (heartbeat timeout 2 s), "
          f"{args.trials} fault-free jobs, load {load_average()}")
    print(format_table([
        Figure("spurious aborts", aborted, "{:d}", "0", aborted == 0, "1 driver, 8 replicas",
               f"jobs, of {args.trials}"),
        Figure("replicas declared dead by heartbeat", dead, "{:d}", "0", dead == 0,
               "1 driver, 8 replicas", "in the jobs that succeeded")]))
    return 0 if aborted == 0 and dead == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
