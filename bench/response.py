"""Response time of one map task (no fault, and one emulated crash), scheme against scheme.

Each run is a real ``dirft streaming`` job (``python -m dirft.cli``, local runner) over ONE
64 MiB split of GridMix text: ``dfs.blocksize`` and ``dirft.split.maxsize`` are 128 MiB, so the
input is one map task. The job is word count with a combiner (:mod:`bench.wordcount`, or
the MRJob fixture ``tests/fixtures/mr_wordcount.py`` with ``job="mrjob"``). The figure of
a run is the report's ``map_seconds`` (map stage = the one task's response time here);
``makespan_seconds`` is kept alongside.

The emulated cluster gives every replica its own node with one map slot, so all replicas
of the task start at once: with R = 2 on 2 cores they really run in parallel; with R = 3
on 2 cores three replicas share two cores (said in the table).

Faults are the paper-level emulation: ``mapred.map.tasks.fault.inject=true`` and
``percent=100``: one replica (f_c = 1) raises at the end of its phase 1, before it reports.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPLIT_BYTES = 64 << 20
BIG = "128m"  # dfs.blocksize and dirft.split.maxsize: the 64 MiB input is one split
JOB_TIMEOUT_S = 600

JOBS = {
    "plain": (os.path.join(HERE, "wordcount.py"), ["python wordcount.py --mapper",
                                                   "python wordcount.py --combiner",
                                                   "python wordcount.py --reducer"]),
    "mrjob": (os.path.join(ROOT, "tests", "fixtures", "mr_wordcount.py"),
              [f"python mr_wordcount.py --{role} --step-num=0"
               for role in ("mapper", "combiner", "reducer")]),
}
"""The benchmark jobs: the file shipped with ``-files`` and (mapper, combiner, reducer)."""


@dataclass(frozen=True)
class Variant:
    """One way to run the job: ``scheme``, tolerance ``crash``/``silent`` (f_c, f_s),
    ``nodes`` x ``slots`` emulated cluster, ``fault`` (inject one crash per task)."""

    scheme: str
    crash: int = 1
    silent: int = 0
    nodes: int = 2
    slots: int = 1
    fault: bool = False
    extra: tuple = ()

    def defines(self) -> list[str]:
        """The ``-D key=value`` settings of this variant."""
        f, nature = (self.silent, 2) if self.silent else (self.crash, 1)
        keys = {"dirft.scheme": self.scheme, "mapred.map.tasks.fault.tolerance": f,
                "mapred.map.tasks.fault.nature": nature, "dirft.nodes": self.nodes,
                "dirft.slots.per.node": self.slots, "dfs.blocksize": BIG,
                "dirft.split.maxsize": BIG}
        if self.fault:
            keys |= {"mapred.map.tasks.fault.inject": "true",
                     "mapred.map.tasks.fault.percent": 100}
        return [f"{k}={v}" for k, v in keys.items()] + list(self.extra)


def make_input(directory: str, size: int = SPLIT_BYTES, seed: int = 1) -> str:
    """Write ``size`` bytes of GridMix text (seeded) under ``directory``; return its path."""
    from dirft.gridmix.generate import generate_file

    path = os.path.join(directory, "input.txt")
    generate_file(path, size, seed)
    return path


def job_command(input_path: str, output: str, variant: Variant, job: str,
                scratch: str) -> list[str]:
    """The ``dirft streaming`` command line of one run (``--json`` report on stdout)."""
    shipped, (mapper, combiner, reducer) = JOBS[job]
    argv = [sys.executable, "-m", "dirft.cli", "streaming", "-input", input_path,
            "-output", output, "-mapper", mapper, "-combiner", combiner,
            "-reducer", reducer, "-files", shipped, "--json"]
    for define in variant.defines() + [f"dirft.local.dir={scratch}"]:
        argv += ["-D", define]
    return argv


def run_job(input_path: str, variant: Variant, workdir: str, job: str = "plain") -> dict:
    """Run the job once as ``variant``; return its report (dict). Output is deleted.

    Raises RuntimeError with the job's last stderr line if it fails or times out.
    """
    out_parent = tempfile.mkdtemp(prefix="run-", dir=workdir)
    try:
        argv = job_command(input_path, os.path.join(out_parent, "out"), variant, job,
                           out_parent)
        done = subprocess.run(argv, capture_output=True, text=True, cwd=workdir,
                              timeout=JOB_TIMEOUT_S)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no stderr"])[-1]
            raise RuntimeError(f"{variant.scheme} job failed ({done.returncode}): {tail}")
        return json.loads(done.stdout)
    finally:
        shutil.rmtree(out_parent, ignore_errors=True)


def se_status(workdir: str) -> str:
    """``""`` if speculative execution (``dirft.scheme=se``) runs a tiny job, else why not.

    The benchmark switches SE's rows on by itself once the scheme is built.
    """
    tiny = os.path.join(workdir, "se-probe.txt")
    with open(tiny, "w", encoding="ascii") as f:
        f.write("a b c\nd e f\n")
    try:
        run_job(tiny, Variant("se", nodes=2, slots=1), workdir)
        return ""
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        return str(err)
