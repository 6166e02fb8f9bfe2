"""streamSort on a real Hadoop cluster: plain streaming, dirft ``none`` and DIRFT side by side.

Usage (inside the cluster's network, e.g. ``. /opt/hadoop-node/env.sh; hx …``)::

    .venv/bin/python -m bench.hadoop_real --input /user/me/text64.txt [--reps 2]

The input is an HDFS file (e.g. ``dirft gridmix generate --size 64MiB --seed 1`` put with
``-D dfs.blocksize=8388608``: 8 splits). Needs ``DIRFT_TEST_HADOOP_HOME`` and
``DIRFT_TEST_WEBHDFS_URL`` (as the integration suite). Each repetition runs, in turn:

* ``plain``: ``hadoop jar $STREAMING_JAR -mapper cat -reducer cat``;
* ``none``: ``dirft streaming --runner hadoop -D dirft.scheme=none`` (same job);
* ``dirft``: the same with dirft's defaults (DIRFT, crash tolerance 1: 2 replicas per task).

It prints each wall time (seconds, the whole command) and the paired ratios
``none / plain`` (target <= 1.2) and ``dirft / none`` (target <= 1.3), the medians of the
per-repetition ratios (:func:`bench.common.paired_ratio`), as a Markdown table. (The
outputs' correctness is what ``tests/test_hadoop_integration.py`` checks.) Outputs go under
``/tmp/dirft-bench-*`` on HDFS and are removed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import uuid

from bench.common import Figure, alternate, at_most, format_table, load_average, paired_ratio, timed
from dirft.runners.hadoop_launcher import find_hadoop
from dirft.storage.hdfs import HdfsStorage


def parse(argv: list | None) -> argparse.Namespace:
    """The command line (module doc)."""
    p = argparse.ArgumentParser(prog="python -m bench.hadoop_real")
    p.add_argument("--input", required=True, help="HDFS path of the text to sort")
    p.add_argument("--reps", type=int, default=2, help="repetitions of each variant (2)")
    p.add_argument("--extra", action="append", default=[],
                   help="more -D key=value for both dirft variants (repeatable)")
    return p.parse_args(argv)


def commands(args, out: str, home: str, url: str) -> dict:
    """``{variant: argv}`` writing to ``out-<variant>``."""
    hadoop, jar = find_hadoop(home, "", "")
    dirft = [sys.executable, "-m", "dirft.cli", "streaming", "--runner", "hadoop",
             "-D", f"dirft.hadoop.home={home}", "-D", f"dirft.webhdfs.url={url}",
             "-D", "dirft.service.bind.host=127.0.0.1"]
    for pair in args.extra:
        dirft += ["-D", pair]
    job = ["-input", args.input, "-mapper", "cat", "-reducer", "cat"]
    return {"plain": [*hadoop, "jar", jar, *job, "-output", f"{out}-plain"],
            "none": [*dirft, "-D", "dirft.scheme=none", *job, "-output", f"{out}-none"],
            "dirft": [*dirft, *job, "-output", f"{out}-dirft"]}


def run_one(argv: list, storage: HdfsStorage, output: str, log) -> float:
    """Run ``argv`` (its output to ``output``), return its wall seconds; check and remove
    the output. Raises RuntimeError if the command fails."""
    def go() -> None:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
        if done.returncode:
            raise RuntimeError(f"{argv[:6]} failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace')[-600:]}")
    seconds = timed(go)
    storage.delete(output, recursive=True)
    log(f"    {output}: {seconds:.1f} s")
    return seconds


def main(argv: list | None = None) -> int:
    """Run the benchmark; print the table. Returns 0, or 2 without a cluster."""
    args = parse(argv)
    home, url = os.environ.get("DIRFT_TEST_HADOOP_HOME"), os.environ.get("DIRFT_TEST_WEBHDFS_URL")
    if not (home and url):
        print("set DIRFT_TEST_HADOOP_HOME and DIRFT_TEST_WEBHDFS_URL", file=sys.stderr)
        return 2
    storage = HdfsStorage(url, os.environ.get("DIRFT_TEST_WEBHDFS_USER"))
    out = f"/tmp/dirft-bench-{uuid.uuid4().hex[:10]}/out"
    storage.makedirs(os.path.dirname(out))
    argvs = commands(args, out, home, url)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        times = alternate({name: (lambda n=name: run_one(argvs[n], storage, f"{out}-{n}", log))
                           for name in argvs}, args.reps, log)
    finally:
        storage.delete(os.path.dirname(out), recursive=True)
    print(report(times, args))
    return 0


def report(times: dict, args) -> str:
    """The Markdown table of the two ratios, with the raw times."""
    def detail(a: str, b: str) -> str:
        return (f"{a} {', '.join(f'{t:.1f}' for t in times[a])} s; "
                f"{b} {', '.join(f'{t:.1f}' for t in times[b])} s")
    none_plain = paired_ratio(times["none"], times["plain"])
    dirft_none = paired_ratio(times["dirft"], times["none"])
    figures = [Figure("dirft none / plain streaming", none_plain, "{:.2f}", "<= 1.2",
                      at_most(none_plain, 1.2), "1 node", detail("none", "plain")),
               Figure("DIRFT / dirft none", dirft_none, "{:.2f}", "<= 1.3",
                      at_most(dirft_none, 1.3), "1 node", detail("dirft", "none"))]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (format_table(figures) + f"\n\n{when}; input {args.input}; {args.reps} rep(s); "
            f"load average at the end: {load_average()}")


if __name__ == "__main__":
    sys.exit(main())
