"""``dirft run`` (scheme none) against ``python job.py -r local``, side by side in one run.

The job is mrjob's own ``mr_word_freq_count.py`` (mrjob.examples) over 16 MiB of GridMix
text (seed 1). Pairs alternate which command goes first; each command is timed end to end
(process start to exit, wall seconds) and both outputs must hold the same lines (Hadoop's
``TextOutputFormat`` tab after a tab-less line aside). Prints each pair, the medians and
the ratio dirft / mrjob (target: <= 1.0), and a JSON line.

    .venv/bin/python bench/mrjob_local.py [--pairs 3] [--size 16MiB]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
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


def commands(data: str, out: str) -> dict[str, list[str]]:
    """The two command lines, by name."""
    return {"mrjob": [sys.executable, str(JOB), "-r", "local", "--no-conf", data,
                      "-o", out + "-mrjob"],
            "dirft": [sys.executable, "-m", "dirft.cli", "run", str(JOB), data, "-o",
                      out + "-dirft", "--no-conf", "-D", "dirft.scheme=none"]}


def timed(argv: list[str]) -> float:
    """Run ``argv``; return its wall seconds. Raises CalledProcessError on failure."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--size", default="16MiB")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-mrjob-")
    try:
        data = os.path.join(work, "in.txt")
        generate_file(data, parse_bytes(args.size), 1)
        times: dict[str, list[float]] = {"mrjob": [], "dirft": []}
        for pair in range(args.pairs):
            out = os.path.join(work, f"out{pair}")
            order = ["mrjob", "dirft"] if pair % 2 == 0 else ["dirft", "mrjob"]
            for name in order:
                times[name].append(timed(commands(data, out)[name]))
            same = _lines(pathlib.Path(out + "-mrjob")) == _lines(pathlib.Path(out + "-dirft"))
            print(f"pair {pair + 1}: mrjob {times['mrjob'][-1]:.2f} s, dirft "
                  f"{times['dirft'][-1]:.2f} s, outputs equal: {'yes' if same else 'NO'}")
            if not same:
                return 1
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med["dirft"] / med["mrjob"]
        print(f"median: mrjob -r local {med['mrjob']:.2f} s, dirft run (scheme none) "
              f"{med['dirft']:.2f} s; dirft/mrjob {ratio:.3f} (target <= 1.0, "
              f"{'met' if ratio <= 1.0 else 'missed'}); {os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.1f}")
        print(json.dumps({"mrjob_seconds": times["mrjob"], "dirft_seconds": times["dirft"],
                          "ratio": round(ratio, 3), "size": args.size}))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
