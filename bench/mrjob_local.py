"""``dirft run`` (scheme none) against ``python job.py -r local``, side by side in one run.

The job is mrjob's own ``mr_word_freq_count.py`` (mrjob.examples) over 16 MiB of GridMix
text (seed 1). Pairs alternate which command goes first; each command is timed end to end
(process start to exit, wall seconds, and the CPU seconds of it and its descendants) and
both outputs must hold the same lines (Hadoop's ``TextOutputFormat`` tab after a tab-less
line aside). Prints each pair, the median of the per-pair ratios dirft / mrjob (target:
<= 1.0) for wall and CPU seconds, and a JSON line.

    .venv/bin/python bench/mrjob_local.py [--pairs 3] [--size 16MiB] [--unbuffered unset]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import mrjob.examples

from dirft.gridmix.generate import generate_file
from dirft.units import parse_bytes

JOB = pathlib.Path(mrjob.examples.__file__).parent / "mr_word_freq_count.py"


def _lines(out: pathlib.Path) -> list[bytes]:
    lines = [line for p in sorted(out.iterdir()) if p.name.startswith("part-")
             for line in p.read_bytes().splitlines()]
    return sorted(line[:-1] if line.count(b"\t") == 1 and line.endswith(b"\t") else line
                  for line in lines)


def commands(data: str, out: str, defines: tuple = ()) -> dict[str, list[str]]:
    """The two command lines, by name; ``defines``: extra ``KEY=VALUE`` jobconf for dirft."""
    return {"mrjob": [sys.executable, str(JOB), "-r", "local", "--no-conf", data,
                      "-o", out + "-mrjob"],
            "dirft": [sys.executable, "-m", "dirft.cli", "run", str(JOB), data, "-o",
                      out + "-dirft", "--no-conf", "-D", "dirft.scheme=none",
                      *[arg for d in defines for arg in ("-D", d)]]}


def timed(argv: list[str], env: dict) -> tuple[float, float]:
    """Run ``argv`` with ``env``; return (wall seconds, CPU seconds: user + system of it and
    every descendant it waited for). Raises CalledProcessError on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def task_env(unbuffered: str) -> dict:
    """The environment of both commands: this one, with ``PYTHONUNBUFFERED`` as it is
    (``inherit``), removed (``unset``) or set to 1 (``set``). Unbuffered Python makes every
    line a mapper prints a write of its own, which both runners pay."""
    env = dict(os.environ)
    if unbuffered == "unset":
        env.pop("PYTHONUNBUFFERED", None)
    elif unbuffered == "set":
        env["PYTHONUNBUFFERED"] = "1"
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--size", default="16MiB")
    parser.add_argument("--unbuffered", choices=("inherit", "unset", "set"), default="inherit",
                        help="PYTHONUNBUFFERED for both commands (default: as it is here)")
    parser.add_argument("-D", dest="defines", action="append", default=[],
                        metavar="KEY=VALUE", help="extra jobconf for dirft run, e.g. "
                        "-D dirft.nodes=1 (mrjob -r local runs one task per core at a time; "
                        "dirft's default 4 nodes x 2 slots run up to 8)")
    args = parser.parse_args()
    env = task_env(args.unbuffered)
    work = tempfile.mkdtemp(prefix="bench-mrjob-")
    try:
        data = os.path.join(work, "in.txt")
        generate_file(data, parse_bytes(args.size), 1)
        print(f"load before: {os.getloadavg()[0]:.1f}; PYTHONUNBUFFERED="
              f"{env.get('PYTHONUNBUFFERED', '(unset)')}; dirft -D {args.defines}", flush=True)
        return _pairs(args, data, work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pairs(args, data: str, work: str, env: dict) -> int:
    wall: dict[str, list[float]] = {"mrjob": [], "dirft": []}
    cpu: dict[str, list[float]] = {"mrjob": [], "dirft": []}
    for pair in range(args.pairs):
        out = os.path.join(work, f"out{pair}")
        order = ["mrjob", "dirft"] if pair % 2 == 0 else ["dirft", "mrjob"]
        for name in order:
            seconds, cpu_seconds = timed(commands(data, out, tuple(args.defines))[name], env)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
        same = _lines(pathlib.Path(out + "-mrjob")) == _lines(pathlib.Path(out + "-dirft"))
        print(f"pair {pair + 1} ({order[0]} first): mrjob {wall['mrjob'][-1]:.2f} s "
              f"(CPU {cpu['mrjob'][-1]:.1f} s), dirft {wall['dirft'][-1]:.2f} s (CPU "
              f"{cpu['dirft'][-1]:.1f} s), ratio {wall['dirft'][-1] / wall['mrjob'][-1]:.3f}; "
              f"outputs equal: {'yes' if same else 'NO'}; load {os.getloadavg()[0]:.1f}",
              flush=True)
        if not same:
            return 1
    ratio = statistics.median(d / m for d, m in zip(wall["dirft"], wall["mrjob"]))
    cpu_ratio = statistics.median(d / m for d, m in zip(cpu["dirft"], cpu["mrjob"]))
    print(f"median of per-pair ratios dirft run (scheme none) / mrjob -r local: wall "
          f"{ratio:.3f} (target <= 1.0, {'met' if ratio <= 1.0 else 'missed'}), CPU "
          f"{cpu_ratio:.3f}; medians mrjob {statistics.median(wall['mrjob']):.2f} s, dirft "
          f"{statistics.median(wall['dirft']):.2f} s; {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.1f}")
    print(json.dumps({"mrjob_seconds": wall["mrjob"], "dirft_seconds": wall["dirft"],
                      "mrjob_cpu_seconds": cpu["mrjob"], "dirft_cpu_seconds": cpu["dirft"],
                      "ratio": round(ratio, 3), "cpu_ratio": round(cpu_ratio, 3),
                      "size": args.size, "pythonunbuffered": env.get("PYTHONUNBUFFERED"),
                      "dirft_defines": args.defines}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
