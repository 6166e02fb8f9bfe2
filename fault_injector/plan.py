"""Fault plans: seeded, declarative, carried out by the runtime and the runners.

The paper's fault injector (Ganguly et al. 2017, "Fault Injector"): with
``mapred.map.tasks.fault.inject`` true, ``mapred.map.tasks.fault.percent`` percent of the map
tasks are hit, and up to f of a hit task's replicas get a fault (f_c crashes and/or f_s silent
errors), so a run stays within tolerance. Modes (``dirft.fault.crash.mode``,
``dirft.fault.silent.mode``):

* crash ``exception`` (paper): the replica raises at the end of a phase, before reporting;
* crash ``kill``: SIGKILL of the replica's process group at a point inside a phase;
* crash ``hang``: SIGSTOP at a point inside a phase; only the heartbeat timeout finds it;
* crash ``node``: a whole emulated node is lost (every replica on it killed, its block copies
  unreadable) once the job has received a given number of signature reports; f_c nodes;
* silent ``signature`` (paper): the reported SHA-256 is tampered;
* silent ``data``: one bit of the replica's real output is flipped before it is signed.

Stragglers (``dirft.fault.straggler.nodes``) are nodes that run k times slower. Which tasks,
replicas, phases, points, bits and nodes is drawn from ``dirft.fault.seed`` alone.
"""

import json
import os
import random
from dataclasses import asdict, dataclass, field

from dirft.errors import ConfigError

CRASH_MODES = ("exception", "kill", "node", "hang")
SILENT_MODES = ("signature", "data")
EMULATED_CRASH_EXIT = 75  # exit status of a replica that raised an emulated crash


@dataclass(frozen=True)
class Fault:
    """A fault of one replica: ``kind`` crash|silent, ``mode`` how, ``phase`` (1-based) when.

    ``at``: fraction (0..1) of the phase's input after which a kill or hang strikes;
    ``bit``: which bit of the output a data fault flips (taken modulo the output's bits).
    """

    kind: str
    mode: str
    phase: int
    at: float = 1.0
    bit: int = 0


@dataclass(frozen=True)
class NodeLoss:
    """Lose ``node`` once the job has received ``after_reports`` signature reports."""

    node: str
    after_reports: int


@dataclass(frozen=True)
class FaultPlan:
    """Faults by (task, replica); ``tasks_hit`` ascending; node losses; straggler factors;
    ``bad_nodes`` {node: share 0..1 of its outputs it corrupts}, drawn with ``seed``."""

    faults: dict
    tasks_hit: tuple[int, ...]
    node_losses: tuple[NodeLoss, ...] = ()
    stragglers: dict = field(default_factory=dict)
    bad_nodes: dict = field(default_factory=dict)
    seed: int = 0

    def for_replica(self, task: int, replica: int) -> Fault | None:
        """The fault planned for that replica, or None."""
        return self.faults.get((task, replica))

    def bad_node_fault(self, node: str, task: int, replica: int, unit: int,
                       phase: int) -> Fault | None:
        """The silent data fault a bad ``node`` puts in replica ``replica``'s output of
        (``task``, ``unit``) in ``phase``, or None: drawn with probability ``bad_nodes[node]``
        from a generator seeded by the plan's seed and those ids, so every runner and every
        rerun corrupts the same outputs (a machine that "computes wrong" now and then, as
        the field studies of silent data corruption describe)."""
        share = self.bad_nodes.get(node, 0.0)
        if share <= 0:
            return None
        rng = random.Random(f"bad-node:{self.seed}:{node}:{task}:{replica}:{unit}")
        if rng.random() >= share:
            return None
        return Fault("silent", "data", phase, bit=rng.randrange(1 << 30))

    def to_json(self) -> dict:
        """JSON-ready form, for the replica spec file (inverse: :meth:`from_json`)."""
        return {"faults": {f"{t}/{r}": asdict(f) for (t, r), f in sorted(self.faults.items())},
                "tasks_hit": list(self.tasks_hit),
                "node_losses": [asdict(n) for n in self.node_losses],
                "stragglers": dict(self.stragglers), "bad_nodes": dict(self.bad_nodes),
                "seed": self.seed}

    @staticmethod
    def from_json(data: dict) -> "FaultPlan":
        """Inverse of :meth:`to_json`."""
        faults = {tuple(int(x) for x in k.split("/")): Fault(**v)
                  for k, v in data.get("faults", {}).items()}
        return FaultPlan(faults, tuple(data.get("tasks_hit", ())),
                         tuple(NodeLoss(**n) for n in data.get("node_losses", ())),
                         dict(data.get("stragglers", {})), dict(data.get("bad_nodes", {})),
                         int(data.get("seed", 0)))


NO_FAULTS = FaultPlan({}, ())


def plan_faults(num_tasks: int, scheme, percent: float, seed: int, crash_mode: str,
                silent_mode: str, per_task: int, nodes, straggler_nodes: int,
                straggler_factor: float, inject: bool, bad_nodes: int,
                bad_share: float) -> FaultPlan:
    """Draw the fault plan for a job of ``num_tasks`` map tasks under ``scheme``.

    ``percent`` (0–100) of the tasks, rounded half up, are hit; each hit task gets f_c crash
    and f_s silent faults (``scheme.tolerance``) on distinct initial replicas, at the end of
    (or inside) a phase a fault-free replica runs. ``per_task`` >= 0 sets the number of
    faulty replicas instead (beyond f: beyond tolerance). With crash mode ``node``, f_c (or
    ``per_task``) of ``nodes`` are lost instead of per-replica crashes. ``straggler_nodes``
    nodes run ``straggler_factor`` times slower, with or without ``inject``; ``bad_nodes``
    nodes (seeded choice) corrupt a ``bad_share`` (0..1) of their outputs, with or without
    ``inject`` (:meth:`FaultPlan.bad_node_fault`). Raises
    :class:`ConfigError` for a bad percentage, mode or count.
    """
    _check(percent, crash_mode, silent_mode)
    rng = random.Random(seed)
    stragglers = _stragglers(nodes, straggler_nodes, straggler_factor, seed)
    bad = _bad_nodes(nodes, bad_nodes, bad_share, seed)
    if not inject:
        return FaultPlan({}, (), (), stragglers, bad, seed)
    hit = sorted(rng.sample(range(num_tasks), int(num_tasks * percent / 100 + 0.5)))
    kinds = _kinds(scheme.tolerance, per_task, crash_mode, silent_mode)
    losses = ()
    if crash_mode == "node":
        lost = sum(1 for kind, _ in kinds if kind == "crash") if hit else 0
        kinds = [k for k in kinds if k[0] != "crash"]
        losses = _node_losses(nodes, lost, num_tasks, rng)
    faults = {}
    for task in hit:
        faults.update(_task_faults(task, scheme, kinds, rng))
    return FaultPlan(faults, tuple(hit), losses, stragglers, bad, seed)


def _task_faults(task: int, scheme, kinds: list, rng: random.Random) -> dict:
    phases = scheme.quorum if scheme.subsplits > 1 else 1
    replicas = rng.sample(range(scheme.initial_replicas), min(len(kinds), scheme.initial_replicas))
    return {(task, replica): Fault(kind, mode, rng.randint(1, phases),
                                   round(rng.uniform(0.1, 0.9), 3), rng.randrange(1 << 30))
            for replica, (kind, mode) in zip(replicas, kinds)}


def _kinds(tol, per_task: int, crash_mode: str, silent_mode: str) -> list:
    kinds = [("crash", crash_mode)] * tol.crash + [("silent", silent_mode)] * tol.silent
    if per_task < 0:
        return kinds
    extra = ("crash", crash_mode) if tol.crash or not tol.silent else ("silent", silent_mode)
    return (kinds + [extra] * per_task)[:per_task]


def _node_losses(nodes, count: int, num_tasks: int, rng: random.Random) -> tuple:
    if count > len(nodes):
        raise ConfigError(f"dirft.fault.crash.mode=node: {count} node(s) to lose but only "
                          f"{len(nodes)} in the cluster; lower dirft.fault.replicas.per.task")
    return tuple(NodeLoss(node, rng.randint(0, num_tasks))
                 for node in sorted(rng.sample(list(nodes), count)))


def _stragglers(nodes, count: int, factor: float, seed: int) -> dict:
    if count > len(nodes):
        raise ConfigError(f"dirft.fault.straggler.nodes: {count} stragglers but only "
                          f"{len(nodes)} nodes (dirft.nodes)")
    chosen = random.Random(f"stragglers:{seed}").sample(list(nodes), count)
    return {node: factor for node in sorted(chosen)}


def _bad_nodes(nodes, count: int, share: float, seed: int) -> dict:
    if count > len(nodes):
        raise ConfigError(f"dirft.fault.bad.nodes: {count} bad nodes but only {len(nodes)} "
                          f"nodes; lower it or raise dirft.nodes")
    if not 0 <= share <= 1:
        raise ConfigError(f"dirft.fault.bad.node.percent: {share * 100:g} is not in 0-100")
    chosen = random.Random(f"bad-nodes:{seed}").sample(list(nodes), count)
    return {node: share for node in sorted(chosen)}


def _check(percent: float, crash_mode: str, silent_mode: str) -> None:
    if not 0 <= percent <= 100:
        raise ConfigError(f"mapred.map.tasks.fault.percent: {percent} is not within 0–100")
    if crash_mode not in CRASH_MODES:
        raise ConfigError(f"dirft.fault.crash.mode: {crash_mode!r} is not one of {CRASH_MODES}")
    if silent_mode not in SILENT_MODES:
        raise ConfigError(
            f"dirft.fault.silent.mode: {silent_mode!r} is not one of {SILENT_MODES}")


def record_fired(log_path: str, task: int, replica: int, fault: Fault, **extra) -> None:
    """Append one JSON line saying ``fault`` fired (O_APPEND: safe across processes).

    ``task``/``replica`` are -1 for a fault of a whole node; ``extra`` fields (e.g.
    ``node``) are added to the line.
    """
    line = json.dumps({"task": task, "replica": replica, **asdict(fault), **extra}) + "\n"
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


def flip_bit(data: bytes, bit: int) -> bytes:
    """``data`` with bit ``bit`` (modulo its length in bits) inverted; b"" stays b""."""
    if not data:
        return data
    bit %= 8 * len(data)
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)
