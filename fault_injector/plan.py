"""Fault plans at the paper's level of emulation.

The DIRFT prototype's fault injector (Ganguly et al. 2017, "Fault Injector"): with
``mapred.map.tasks.fault.inject`` true, ``mapred.map.tasks.fault.percent`` percent of the
map tasks are hit; a crash fault is an exception raised at the end of a phase, before the
signature is reported; a silent fault is a tampered signature. Up to f replicas of a hit
task get a fault (f_c crashes and/or f_s silent errors), so a run stays within tolerance.
Which tasks, replicas and phases is drawn from ``dirft.fault.seed`` alone: the same seed
gives the same plan on every machine.
"""

import json
import os
import random
from dataclasses import asdict, dataclass

from dirft.errors import ConfigError

CRASH_MODES = ("exception",)
SILENT_MODES = ("signature",)
EMULATED_CRASH_EXIT = 75  # exit status of a replica that raised an emulated crash


@dataclass(frozen=True)
class Fault:
    """One planned fault: ``kind`` crash|silent, ``mode`` how, ``phase`` (1-based) when."""

    kind: str
    mode: str
    phase: int


@dataclass(frozen=True)
class FaultPlan:
    """Faults by (task, replica). ``tasks_hit`` lists the map tasks chosen, ascending."""

    faults: dict
    tasks_hit: tuple[int, ...]

    def for_replica(self, task: int, replica: int) -> Fault | None:
        """The fault planned for that replica, or None."""
        return self.faults.get((task, replica))

    def to_json(self) -> dict:
        """JSON-ready form: {"T/R": {kind, mode, phase}} (for the replica spec file)."""
        return {f"{t}/{r}": asdict(f) for (t, r), f in sorted(self.faults.items())}

    @staticmethod
    def from_json(data: dict) -> "FaultPlan":
        """Inverse of :meth:`to_json`."""
        faults = {tuple(int(x) for x in k.split("/")): Fault(**v) for k, v in data.items()}
        return FaultPlan(faults, tuple(sorted({t for t, _ in faults})))


NO_FAULTS = FaultPlan({}, ())


def plan_faults(num_tasks: int, scheme, percent: float, seed: int,
                crash_mode: str = "exception", silent_mode: str = "signature",
                per_task: int = -1) -> FaultPlan:
    """Draw the fault plan for a job of ``num_tasks`` map tasks under ``scheme``.

    ``percent`` (0–100) of the tasks, rounded half up, are hit. Each hit task gets f_c
    crash faults and f_s silent faults (``scheme.tolerance``) on distinct replicas among
    its initial ones, each at the end of a phase drawn from those a fault-free replica
    runs. ``per_task`` >= 0 sets how many replicas get a fault instead (beyond f: beyond
    tolerance); the extra ones are of the kind the tolerance covers (crash if f_c > 0).
    Raises :class:`ConfigError` for a bad percentage or mode.
    """
    _check(percent, crash_mode, silent_mode)
    rng = random.Random(seed)
    hit = sorted(rng.sample(range(num_tasks), int(num_tasks * percent / 100 + 0.5)))
    faults = {}
    phases = scheme.quorum if scheme.subsplits > 1 else 1
    kinds = _kinds(scheme.tolerance, per_task, crash_mode, silent_mode)
    for task in hit:
        replicas = rng.sample(range(scheme.initial_replicas),
                              min(len(kinds), scheme.initial_replicas))
        for replica, (kind, mode) in zip(replicas, kinds):
            faults[(task, replica)] = Fault(kind, mode, rng.randint(1, phases))
    return FaultPlan(faults, tuple(hit))


def _kinds(tol, per_task: int, crash_mode: str, silent_mode: str) -> list:
    kinds = [("crash", crash_mode)] * tol.crash + [("silent", silent_mode)] * tol.silent
    if per_task < 0:
        return kinds
    extra = ("crash", crash_mode) if tol.crash or not tol.silent else ("silent", silent_mode)
    return (kinds + [extra] * per_task)[:per_task]


def _check(percent: float, crash_mode: str, silent_mode: str) -> None:
    if not 0 <= percent <= 100:
        raise ConfigError(f"mapred.map.tasks.fault.percent: {percent} is not within 0–100")
    if crash_mode not in CRASH_MODES:
        raise ConfigError(f"dirft.fault.crash.mode: {crash_mode!r} is not one of {CRASH_MODES}")
    if silent_mode not in SILENT_MODES:
        raise ConfigError(
            f"dirft.fault.silent.mode: {silent_mode!r} is not one of {SILENT_MODES}")


def record_fired(log_path: str, task: int, replica: int, fault: Fault) -> None:
    """Append one JSON line saying ``fault`` fired (O_APPEND: safe across processes)."""
    line = json.dumps({"task": task, "replica": replica, **asdict(fault)}) + "\n"
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_fired(log_path: str) -> list[dict]:
    """The faults that fired, as recorded by :func:`record_fired` (empty if none)."""
    if not os.path.exists(log_path):
        return []
    with open(log_path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def tamper(signature: str) -> str:
    """A silent error at the paper's level: the reported SHA-256 hex with one digit changed."""
    last = signature[-1]
    return signature[:-1] + ("0" if last != "0" else "1")
