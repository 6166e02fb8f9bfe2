"""Chaos check: many seeded random fault schedules, real runs, and a tally of what went wrong.

Each run draws a scheme, a fault nature and tolerance, a fault mode, a percentage of hit
tasks, sometimes more faulty replicas than the tolerance (crash faults only: colluding
silent errors beyond tolerance are undetectable by any voting scheme), sometimes straggler
nodes, and a number of reduces; it runs streamSort (``cat``/``cat``) on a small input with
the local runner and compares the output with the fault-free one. A run is *wrong* if it
succeeded with other bytes; a *clean abort* if it was drawn beyond tolerance and failed with
:class:`JobAborted`, leaving no output; a *spurious abort* (a failure) if it aborted although
its faults were within tolerance; and has *leftovers* if scratch files or replica processes
remain afterwards. The check removes its own scratch directory when it is done.
"""

import os
import pathlib
import random
import shutil
from dataclasses import dataclass, field

from dirft.config import JobConf
from dirft.core.scheme import SCHEMES, VOTED_SCHEMES
from dirft.errors import DirftError, JobAborted, UsageError
from dirft.gridmix.generate import generate_file
from dirft.runners.base import StreamingJob
from dirft.runners.local import LocalRunner

#: Settings of every run. The heartbeat timeout is dirft's default (10 s): with 3 s, a loaded
#: machine (load 20 on 2 cores) stalled a replica past it, a false crash beyond f_c = 0 that
#: aborted a run within tolerance; the check is about outcomes, not detection speed.
BASE = ["dirft.split.maxsize=131072", "dfs.blocksize=262144",
        "dirft.nodes=6", "dirft.slots.per.node=8", "dirft.heartbeat.interval=0.1",
        "dirft.heartbeat.timeout=10", "mapred.map.tasks.fault.inject=true"]


@dataclass(frozen=True)
class ChaosRun:
    """One drawn schedule: the ``-D`` settings of the run and its number of reduces."""

    index: int
    defines: tuple[str, ...]
    reduces: int
    beyond: bool

    def describe(self) -> str:
        """The run's settings on one line."""
        return f"run {self.index}: reduces={self.reduces} " + " ".join(self.defines)


@dataclass
class Tally:
    """Counts of outcomes; ``problems`` lists wrong runs and leftovers, one line each."""

    runs: int = 0
    ok: int = 0
    wrong: int = 0
    aborts: int = 0
    spurious: int = 0
    errors: int = 0
    leftovers: int = 0
    problems: list = field(default_factory=list)

    def line(self) -> str:
        """The headline: ``N runs, W wrong outputs, S spurious aborts, L leftovers, …``."""
        return (f"{self.runs} runs, {self.wrong} wrong outputs, {self.spurious} spurious "
                f"aborts, {self.leftovers} leftovers ({self.ok} correct, {self.aborts} clean "
                f"aborts beyond tolerance, {self.errors} other errors)")

    @property
    def failed(self) -> bool:
        """True if any run went wrong: wrong output, spurious abort, leftovers, error."""
        return bool(self.wrong or self.spurious or self.leftovers or self.errors)


def draw_run(index: int, seed: int) -> ChaosRun:
    """Draw run ``index`` of the chaos check seeded by ``seed`` (same seed, same runs)."""
    rng = random.Random(f"chaos:{seed}:{index}")
    scheme = rng.choice(SCHEMES)
    nature = rng.choice((1, 2, 3)) if scheme in VOTED_SCHEMES else 1
    f = 1 if nature == 3 else rng.choice((1, 2)) if nature == 1 else 1
    crash = nature in (1, 3)
    mode = rng.choice(("exception", "kill", "node", "hang")) if crash and \
        (nature == 1 or rng.random() < 0.5) else None
    defines = [f"dirft.scheme={scheme}", f"mapred.map.tasks.fault.nature={nature}",
               f"mapred.map.tasks.fault.tolerance={f}",
               f"mapred.map.tasks.fault.percent={rng.choice((25, 50, 100))}",
               f"dirft.fault.seed={rng.randrange(1000)}"]
    if mode:
        defines.append(f"dirft.fault.crash.mode={mode}")
    if nature in (2, 3):
        defines.append(f"dirft.fault.silent.mode={rng.choice(('signature', 'data'))}")
    beyond = nature == 1 and rng.random() < 0.25
    if beyond:
        defines.append(f"dirft.fault.replicas.per.task={f + 1}")
    if rng.random() < 0.2:
        defines.append("dirft.fault.straggler.nodes=1")
    return ChaosRun(index, tuple(defines), rng.choice((0, 1, 2)), beyond)


def run_chaos(runs: int, seed: int, workdir: str, progress=None) -> Tally:
    """Run ``runs`` (>= 1) drawn schedules under ``workdir``, then remove it.

    ``workdir`` must not exist or be empty (it is created, and removed at the end whatever
    happens). ``progress`` (optional) is called with (Tally, ChaosRun) after each run.
    Returns the :class:`Tally`. Raises :class:`UsageError` for ``runs`` < 1 or a
    non-empty ``workdir``, :class:`DirftError` if the fault-free references fail.
    """
    if runs < 1:
        raise UsageError(f"dirft chaos: --runs must be at least 1, got {runs}")
    work = pathlib.Path(workdir)
    if work.exists() and any(work.iterdir()):
        raise UsageError(f"dirft chaos: work directory {work} is not empty; give a new or "
                         f"empty one (--workdir), it is removed at the end")
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _run_all(runs, seed, work, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_all(runs: int, seed: int, work: pathlib.Path, progress) -> Tally:
    data = work / "input.txt"
    generate_file(str(data), 384 * 1024, seed)
    references = {n: _reference(data, work, n) for n in (0, 1, 2)}
    tally = Tally()
    for index in range(runs):
        run = draw_run(index, seed)
        _judge(run, data, references[run.reduces], work / f"run-{index}", tally)
        if progress is not None:
            progress(tally, run)
    return tally


def _reference(data: pathlib.Path, work: pathlib.Path, reduces: int) -> dict:
    out = work / f"reference-{reduces}"
    shutil.rmtree(out, ignore_errors=True)
    _job(data, out, ["dirft.scheme=none", "mapred.map.tasks.fault.inject=false"], reduces)
    return _parts(out)


def _job(data, out, defines, reduces) -> dict:
    conf = JobConf.load(defines=BASE + list(defines) + [f"mapreduce.job.reduces={reduces}"])
    job = StreamingJob(inputs=[str(data)], output=str(out), mapper=["cat"], conf=conf,
                       reducer=["cat"] if reduces else None)
    return LocalRunner(job).run()


def _judge(run: ChaosRun, data, expected: dict, rundir: pathlib.Path, tally: Tally) -> None:
    rundir.mkdir()
    out = rundir / "out"
    tally.runs += 1
    try:
        _job(data, out, run.defines, run.reduces)
        if _parts(out) == expected:
            tally.ok += 1
        else:
            tally.wrong += 1
            tally.problems.append(f"WRONG OUTPUT {run.describe()}")
    except JobAborted as err:
        if run.beyond:
            tally.aborts += 1
        else:
            tally.spurious += 1
            tally.problems.append(f"SPURIOUS ABORT within tolerance {run.describe()}: {err}")
        if out.exists():
            tally.problems.append(f"ABORT LEFT OUTPUT {run.describe()}")
    except DirftError as err:
        tally.errors += 1
        tally.problems.append(f"ERROR {run.describe()}: {err}")
    _count_leftovers(run, rundir, tally)
    shutil.rmtree(rundir, ignore_errors=True)


def _count_leftovers(run: ChaosRun, rundir: pathlib.Path, tally: Tally) -> None:
    left = [p.name for p in rundir.iterdir() if p.name != "out"] + live_replicas(rundir)
    if left:
        tally.leftovers += 1
        tally.problems.append(f"LEFTOVERS {run.describe()}: {left}")


def live_replicas(directory) -> list[str]:
    """Replica processes (``dirft.task``) still alive whose command line names a path under
    ``directory``, as ``"pid N"`` strings (reads ``/proc``; empty where there is none)."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "dirft.task" in cmd and str(directory) in cmd:
            found.append(f"pid {proc.name}")
    return found


def _parts(out: pathlib.Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name.startswith("part-")}


def default_workdir() -> str:
    """Scratch space for a chaos check: ``$TMPDIR/dirft-chaos-<pid>``."""
    return os.path.join(os.environ.get("TMPDIR", "/tmp"), f"dirft-chaos-{os.getpid()}")
