"""Cost of starting a replica on the local runner: fork server against exec (issue 22).

Each start is timed from the request to the moment the driver holds the replica's key
(:func:`dirft.service.keys.accept_key` returned), side by side, alternating:

* ``fork``: :meth:`dirft.runners.forkserver.ForkServer.spawn` (what the local runner does
  now: a fork of the undumpable fork server, whose replica runtime is already imported);
* ``exec``: ``python -c`` importing the replica runtime and offering its key
  (:func:`dirft.service.keys.offer_key`), what a replica started with ``execve`` did
  before: the interpreter starts and imports before the lock.

``python -m bench.replica_start [--starts N]`` prints one Markdown row: the medians (ms)
and the per-pair ratio fork / exec.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from dirft.contract.spec import JobSpec
from dirft.runners.forkserver import ForkServer
from dirft.service import keys

_EXEC = ("import sys, dirft.runtime.replica; from dirft.service.keys import offer_key; "
         "offer_key(int(sys.argv[1]))")


def _spec(work: str) -> str:
    """A job spec the fork server loads (its replicas find no service and exit)."""
    path = os.path.join(work, "dirft-job.json")
    JobSpec(job_id="job_bench_0001", job_number=1, stamp="bench",
            service_url="http://127.0.0.1:9", secret_file="", mapper=["cat"], combiner=None,
            jobconf={}, cmdenv={}, files=[], tasks=[], map_output_dir=work, work_dir=work,
            heartbeat_interval=1.0, sort_memory=1 << 20, faults={},
            fault_log="").save(path)
    return path


def fork_start(server: ForkServer, n: int, log) -> float:
    """Seconds from a fork request to the key of replica ``n`` accepted."""
    ours, theirs = keys.handshake_pair()
    start = time.perf_counter()
    with theirs:
        pid = server.spawn(n, 0, "bench", theirs.fileno(), log.fileno())
    keys.accept_key(ours, pid, 30.0, lambda key: None)
    return time.perf_counter() - start


def exec_start(log) -> float:
    """Seconds from ``Popen`` of an exec'd replica runtime to its key accepted."""
    ours, theirs = keys.handshake_pair()
    start = time.perf_counter()
    with theirs:
        proc = subprocess.Popen([sys.executable, "-c", _EXEC, str(theirs.fileno())],
                                pass_fds=(theirs.fileno(),), stdout=log, stderr=log)
    keys.accept_key(ours, proc.pid, 30.0, lambda key: None)
    elapsed = time.perf_counter() - start
    proc.wait()
    return elapsed


def measure(starts: int) -> dict:
    """``starts`` pairs (fork, exec), alternating; return the medians and the ratio."""
    with tempfile.TemporaryDirectory(prefix="dirft-bench-start-") as work:
        server = ForkServer(_spec(work), lambda *exited: None)
        forks, execs = [], []
        try:
            with open(os.path.join(work, "log"), "ab") as log:
                for n in range(starts):
                    forks.append(fork_start(server, n, log))
                    execs.append(exec_start(log))
        finally:
            server.close()
    ratios = [f / e for f, e in zip(forks, execs)]
    return {"fork_ms": statistics.median(forks) * 1e3,
            "exec_ms": statistics.median(execs) * 1e3,
            "ratio": statistics.median(ratios), "pairs": starts}


def main(argv: list | None = None) -> int:
    """Print the row (module doc); return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.replica_start")
    parser.add_argument("--starts", type=int, default=30)
    figures = measure(parser.parse_args(argv).starts)
    print(f"| replica start to key accepted: fork server / exec | {figures['ratio']:.3f} | "
          f"ms median {figures['fork_ms']:.1f} / {figures['exec_ms']:.1f}; "
          f"{figures['pairs']} pairs; load {os.getloadavg()[0]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
