"""Reduce-side integrity: the candidates' cost side by side, then detection and false alarms.

Candidates (all through :func:`dirft.shuffle.run_reduce_stage`, same map output):

* ``off``: one unchecked reducer run per partition (Hadoop, the DIRFT paper);
* ``digests``: one run whose shuffle stream is checked against the partition's digest (as
  BFT MapReduce checks map-output digests per reduce partition), re-executed on a mismatch;
  its output has nothing to be compared with;
* ``replicated``: f_s + 1 = 2 voted replicas, each with a checked shuffle stream, a third
  run on a mismatch (:mod:`dirft.shuffle.replicated`).

Cost: word count's reducer (``bench/wordcount.py --reducer``) over ``--size`` bytes of
word-count map output in 2 partitions; runs alternate (off, digests, replicated, …) and each
ratio is the median of per-repetition ratios to ``off``. Detection: ``--cases`` stage runs
of one partition (``cat`` as reducer, the small ``--case-size`` map output set up once), each
with one seeded bit flipped in one replica's shuffle stream or output (alternately); a case
is detected when the vote saw a mismatch or a void vote, and the committed part must be
byte-identical to the fault-free one. False alarms: ``--cases`` fault-free runs, none may
see a mismatch or commit other bytes. ``digests`` goes through ``--compare-cases`` of the
same cases, to show what it misses.

    .venv/bin/python -m bench.reduce_integrity [--cases 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time

from bench.common import alternate, load_average, median
from dirft.errors import JobAborted
from dirft.gridmix.generate import generate_file
from dirft.records import LineNormalizer
from dirft.shuffle import MapOutput, run_reduce_stage
from dirft.shuffle.replicated import ReduceIntegrity
from fault_injector.reduce import ReduceFault

CANDIDATES = {"off": ReduceIntegrity(0), "digests": ReduceIntegrity(0, check=True),
              "replicated": ReduceIntegrity(1)}
WORDCOUNT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wordcount.py")


def map_outputs(workdir: str, size: int, seed: int, files: int = 4,
                words: bool = False) -> list[MapOutput]:
    """Committed-looking map output: ``files`` normalized files of GridMix text (or of its
    ``word\\t1`` lines with ``words``), about ``size`` bytes of text; with their SHA-256s."""
    text = os.path.join(workdir, "input.txt")
    generate_file(text, size, seed)
    with open(text, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    if words:
        lines = [w + b"\t1\n" for line in lines for w in line.split()]
    outputs = []
    for i in range(files):
        normalizer = LineNormalizer()
        data = normalizer.feed(b"".join(lines[i::files])) + normalizer.close()
        path = os.path.join(workdir, f"map-{i}")
        with open(path, "wb") as f:
            f.write(data)
        outputs.append(MapOutput(path, hashlib.sha256(data).hexdigest()))
    return outputs


def reduce_once(outputs, workdir: str, integrity: ReduceIntegrity, reducer, reduces: int):
    """Run the reduce stage once in a fresh directory under ``workdir``.

    Returns (part bytes joined in order or None if the stage aborted, ReduceResult or the
    JobAborted, seconds).
    """
    run = tempfile.mkdtemp(dir=workdir)
    try:
        out, start = os.path.join(run, "out"), time.perf_counter()
        try:
            result = run_reduce_stage(outputs, reduces, reducer, out, os.path.join(run, "w"),
                                      lambda p: dict(os.environ), integrity=integrity)
        except JobAborted as err:
            return None, err, time.perf_counter() - start
        seconds = time.perf_counter() - start
        parts = b"".join(open(os.path.join(out, f"part-{p:05d}"), "rb").read()
                         for p in range(reduces))
        return parts, result, seconds
    finally:
        shutil.rmtree(run, ignore_errors=True)


def cost(workdir: str, size: int, reps: int, seed: int, log) -> dict:
    """Seconds per candidate, alternating; returns ``{name: [seconds per repetition]}``."""
    outputs = map_outputs(workdir, size, seed, words=True)
    reducer = [sys.executable, WORDCOUNT, "--reducer"]
    return alternate({name: (lambda i=i: reduce_once(outputs, workdir, i, reducer, 2)[2])
                      for name, i in CANDIDATES.items()}, reps, log)


def injected(outputs, workdir: str, cases: int, seed: int, base: ReduceIntegrity,
             reference: bytes) -> dict:
    """Run ``cases`` seeded one-bit faults; count detected, wrong and aborted runs by place."""
    rng, tally = random.Random(seed), {}
    for case in range(cases):
        where = ("shuffle", "output")[case % 2]
        replica = rng.randrange(base.votes[0])
        fault = ReduceFault(where, rng.randrange(1 << 40))
        integrity = ReduceIntegrity(base.silent, {(0, replica): fault}, base.check)
        parts, result, _ = reduce_once(outputs, workdir, integrity, ["cat"], 1)
        t = tally.setdefault(where, {"cases": 0, "detected": 0, "wrong": 0, "aborted": 0})
        t["cases"] += 1
        t["aborted"] += parts is None
        t["detected"] += parts is None or 0 in result.mismatched
        t["wrong"] += parts is not None and parts != reference
    return tally


def fault_free(outputs, workdir: str, runs: int, reference: bytes) -> dict:
    """``runs`` fault-free replicated runs: how many saw a mismatch or committed other bytes."""
    alarms = wrong = 0
    for _ in range(runs):
        parts, result, _ = reduce_once(outputs, workdir, CANDIDATES["replicated"], ["cat"], 1)
        alarms += parts is None or bool(result.mismatched)
        wrong += parts != reference
    return {"runs": runs, "false_alarms": alarms, "wrong": wrong}


def main(argv=None) -> int:
    """Print the cost table, then detection and false-alarm counts (Markdown)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--compare-cases", type=int, default=100)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--size", type=int, default=4 << 20)
    ap.add_argument("--case-size", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    started, load = time.time(), load_average()
    with tempfile.TemporaryDirectory(prefix="dirft-bench-reduce-") as workdir:
        runs = cost(workdir, args.size, args.reps, args.seed, log)
        outputs = map_outputs(workdir, args.case_size, args.seed)
        reference = reduce_once(outputs, workdir, CANDIDATES["off"], ["cat"], 1)[0]
        chosen = injected(outputs, workdir, args.cases, args.seed, CANDIDATES["replicated"],
                          reference)
        digests = injected(outputs, workdir, args.compare_cases, args.seed,
                           CANDIDATES["digests"], reference)
        clean = fault_free(outputs, workdir, args.cases, reference)
    print(f"`python -m bench.reduce_integrity {' '.join(argv or sys.argv[1:])}`, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}, "
          f"{time.time() - started:.0f} s; load before {load}, after {load_average()}\n")
    print("| candidate | reduce s (median) | / off | shuffle flips detected | output flips "
          "detected | wrong outputs committed |\n|---|---|---|---|---|---|")
    for name, tally in (("off", None), ("digests", digests), ("replicated", chosen)):
        ratio = median(a / b for a, b in zip(runs[name], runs["off"]))
        print(f"| {name} | {median(runs[name]):.3f} | {ratio:.3f} | "
              f"{_share(tally, 'shuffle')} | {_share(tally, 'output')} | "
              f"{'—' if tally is None else sum(t['wrong'] for t in tally.values())} |")
    print(f"\nfault-free replicated runs: {clean['runs']}, false alarms "
          f"{clean['false_alarms']}, wrong outputs {clean['wrong']}")
    print(f"replicated, injected: {chosen}")
    ok = (all(t["detected"] == t["cases"] and not t["wrong"] for t in chosen.values())
          and not clean["false_alarms"] and not clean["wrong"])
    return 0 if ok else 1


def _share(tally, where: str) -> str:
    if tally is None:
        return "— (not checked)"
    t = tally.get(where, {"cases": 0, "detected": 0})
    return f"{t['detected']} / {t['cases']}"


if __name__ == "__main__":
    sys.exit(main())
