"""``dirft calibrate``: measure the simulator's cost model on this machine.

Runs real streamSort jobs (``-mapper cat -reducer cat``) of one map task on the local runner
(:class:`~dirft.runners.local.LocalRunner`) over generated GridMix text of a few sizes, reads
``map_seconds``, ``reduce_seconds`` and the phases from each job's report, and fits the
cost model by least squares:

* map stage ≈ ``startup_s`` + phases × ``phase_overhead_s`` + MiB one replica reads in
  sequence × ``seconds_per_mib``. Scheme ``none`` (one replica, one phase over the whole
  split) at every size gives the per-MiB slope; a DIRFT silent-mode run (f_s = 1: every
  replica runs two phases over a third of the split each) beside a ``none`` run of the same
  small size separates the per-phase overhead from the per-replica startup. The local
  runner's job start (voting service, planning) lands in ``startup_s``; on a machine with
  fewer cores than the probe's three replicas, so does some contention. Each run is
  repeated and the fastest kept.
* reduce stage ≈ constant + ``reduce_seconds_per_mib`` × MiB of map output (= input for
  ``cat``); the slope is kept.
* ``network_penalty_s_per_mib`` is 0 (every emulated node reads the same local disk) and
  ``poll_interval_s`` is the job's ``dirft.poll.interval``.

No fitted number is negative (a coefficient the free fit makes negative, from noise or
contention on a small machine, is fixed at 0 and the rest refitted). The numbers are this
machine's, for ``dirft simulate --cost-model``; a real cluster needs its own (measured from
its job history the same way, or written by hand).
"""

import os
import shutil
import tempfile
from dataclasses import dataclass, replace

from dirft.config import JobConf
from dirft.errors import ConfigError
from dirft.gridmix.generate import generate_file
from dirft.runners.base import StreamingJob
from dirft.runners.local import LocalRunner
from dirft.sim.costmodel import MIB, CostModel
from dirft.units import format_bytes

DEFAULT_SIZES = (4 * MIB, 16 * MIB, 32 * MIB)  # of the scheme-none runs
SILENT_PROBE = 1 * MIB  # input of the run that separates phase overhead from startup


@dataclass(frozen=True)
class Measurement:
    """One calibration run: ``scheme`` and ``nature`` over ``size`` bytes of input;
    ``phases`` and ``mib_per_replica`` (MiB one replica read in sequence) from its report;
    measured ``map_s`` and ``reduce_s`` in seconds."""

    scheme: str
    nature: int
    size: int
    phases: int
    mib_per_replica: float
    map_s: float
    reduce_s: float


def solve_least_squares(rows: list, targets: list) -> list[float]:
    """Coefficients x minimising ||rows·x − targets||² (normal equations, Gauss–Jordan).

    ``rows``: equal-length lists of floats (one per observation), at least as many rows as
    columns. Raises :class:`ConfigError` when the columns are linearly dependent (the runs
    do not determine every coefficient).
    """
    n = len(rows[0])
    a = [[sum(r[i] * r[j] for r in rows) for j in range(n)]
         + [sum(r[i] * t for r, t in zip(rows, targets))] for i in range(n)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda k: abs(a[k][col]))
        if abs(a[pivot][col]) < 1e-12:
            raise ConfigError("calibration: the runs do not determine every cost-model "
                              "number; use at least two different --sizes")
        a[col], a[pivot] = a[pivot], a[col]
        for k in range(n):
            if k != col:
                factor = a[k][col] / a[col][col]
                a[k] = [x - factor * y for x, y in zip(a[k], a[col])]
    return [a[i][n] / a[i][i] for i in range(n)]


def solve_non_negative(rows: list, targets: list) -> list[float]:
    """Least squares with every coefficient >= 0: a coefficient the free fit makes negative
    is fixed at 0 and the others are fitted again (one at a time, most negative first)."""
    free = list(range(len(rows[0])))
    while True:
        x = solve_least_squares([[r[i] for i in free] for r in rows], targets)
        worst = min(range(len(free)), key=lambda k: x[k])
        if x[worst] >= 0 or len(free) == 1:
            out = [0.0] * len(rows[0])
            for k, i in enumerate(free):
                out[i] = max(0.0, x[k])
            return out
        del free[worst]


def fit_cost_model(runs: list[Measurement], poll_interval: float) -> CostModel:
    """Fit the cost model to ``runs`` (see module doc), every number >= 0."""
    startup, overhead, per_mib = solve_non_negative(
        [[1.0, float(m.phases), m.mib_per_replica] for m in runs], [m.map_s for m in runs])
    plain = [m for m in runs if m.scheme == "none"]
    _, reduce_per_mib = solve_non_negative(
        [[1.0, m.size / MIB] for m in plain], [m.reduce_s for m in plain])
    return CostModel(startup_s=_clip(startup), seconds_per_mib=_clip(per_mib),
                     phase_overhead_s=_clip(overhead), network_penalty_s_per_mib=0.0,
                     reduce_seconds_per_mib=_clip(reduce_per_mib),
                     poll_interval_s=poll_interval)


def _clip(value: float) -> float:
    return round(max(0.0, value), 6)


def measure(work: str, size: int, scheme: str, nature: int, seed: int) -> Measurement:
    """Run one streamSort job of one map task over ``size`` bytes; return its numbers.

    Raises the runner's errors (InputError, ConfigError, JobAborted, …).
    """
    data = os.path.join(work, f"in-{size}.txt")
    if not os.path.exists(data):
        generate_file(data, size, seed)
    output = os.path.join(work, f"out-{scheme}-{nature}-{size}")
    conf = JobConf.load((), [f"dirft.scheme={scheme}", f"mapred.map.tasks.fault.nature={nature}",
                             "mapred.map.tasks.fault.tolerance=1", f"dfs.blocksize={2 * size}",
                             "dirft.nodes=4", "dirft.slots.per.node=2"])
    report = LocalRunner(StreamingJob([data], output, ["cat"], conf, reducer=["cat"])).run()
    shutil.rmtree(output, ignore_errors=True)
    phases = max(int(p) for p in report["phases_per_task"])
    sub_mib = size / MIB / report["subsplits_per_task"]
    return Measurement(scheme, nature, size, phases, phases * sub_mib,
                       report["map_seconds"], report["reduce_seconds"])


def calibrate(sizes=DEFAULT_SIZES, seed: int = 1, work_dir: str | None = None,
              repeats: int = 2, progress=None) -> tuple[CostModel, list[Measurement]]:
    """Measure this machine and fit its cost model; return (cost model, runs).

    Runs scheme ``none`` at every size in ``sizes`` (bytes, at least two different ones)
    and at :data:`SILENT_PROBE`, and DIRFT silent mode at :data:`SILENT_PROBE`, each
    ``repeats`` times keeping the fastest (timing noise only ever adds time). ``work_dir``:
    where the generated input and outputs go (in a temporary directory removed afterwards);
    ``progress``: called with one line per kept run. Raises :class:`ConfigError` for fewer
    than two distinct sizes or ``repeats`` < 1, and the runner's errors.
    """
    if len(set(sizes)) < 2 or min(sizes) < 1 or repeats < 1:
        raise ConfigError("calibration: give at least two different positive --sizes "
                          "and --repeats of 1 or more")
    work = tempfile.mkdtemp(prefix="dirft-calibrate-", dir=work_dir)
    try:
        plan = [(size, "none", 1) for size in sorted(set(sizes) | {SILENT_PROBE})] + \
               [(SILENT_PROBE, "dirft", 2)]
        runs = []
        for size, scheme, nature in plan:
            tries = [measure(work, size, scheme, nature, seed) for _ in range(repeats)]
            runs.append(replace(tries[0], map_s=min(m.map_s for m in tries),
                                reduce_s=min(m.reduce_s for m in tries)))
            if progress:
                progress(describe(runs[-1]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    poll = JobConf.load((), ()).get("dirft.poll.interval")
    return fit_cost_model(runs, poll), runs


def describe(m: Measurement) -> str:
    """One line about a calibration run, for the console and the YAML notes."""
    return (f"{m.scheme} nature {m.nature} over {format_bytes(m.size)}: {m.phases} phase(s), "
            f"{m.mib_per_replica:.2f} MiB per replica, map {m.map_s:.3f} s, "
            f"reduce {m.reduce_s:.3f} s")


def notes(runs: list[Measurement], model: CostModel) -> str:
    """The comment block written at the top of a calibrated cost-model file."""
    fitted = [model.startup_s + m.phases * model.phase_overhead_s
              + m.mib_per_replica * model.seconds_per_mib for m in runs]
    lines = ["Cost model measured by `dirft calibrate` on this machine (local runner, one",
             "map task of streamSort per run, fitted by least squares; see",
             "dirft/calibrate.py). Runs (measured map seconds -> fitted):"]
    lines += [f"  {describe(m)} -> {f:.3f} s" for m, f in zip(runs, fitted)]
    return "\n".join(lines)
