"""The plan of a job's map stage: input splits, their sub-splits, and replica nodes.

Pure: takes file sizes, never opens a file. Built once by the driver from the planner's
pieces (:mod:`dirft.core.planner`) and handed to :class:`dirft.core.state.JobState`.
"""

import gc
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from dirft.core.adaptive import Quarantine
from dirft.core.planner import (InputFile, InputSplit, SubSplit, compute_splits,
                                hadoop_order, place_blocks, replica_candidates, replica_nodes,
                                subsplits_of)
from dirft.core.scheme import Scheme
from dirft.errors import ConfigError

_new_tuple = tuple.__new__  # a named tuple without its Python-level __new__ (build_plan's loop)


class TaskPlan(NamedTuple):
    """Map task ``index``: its input ``split``, its work units and its replicas' nodes.

    ``subsplits`` has ``scheme.subsplits`` entries covering the split; ``nodes`` has one
    node name per initial replica, all distinct, block holders first. A named tuple, as
    the planner's :class:`~dirft.core.planner.InputSplit` (one per map task).
    """

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index
    split: InputSplit
    subsplits: tuple[SubSplit, ...]
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class JobPlan:
    """Everything the core needs to know up front about a job's map stage.

    ``tasks``: one :class:`TaskPlan` per input split; ``nodes``: every node of the cluster;
    ``heartbeat_timeout``: seconds of silence after which a registered replica is dead;
    ``seed``: for the choice of nodes for extra replicas; ``startup_timeout``: seconds a
    started replica may take to register; ``slots``: map slots per node when the runner
    knows them (adaptive DIRFT then gang-starts tasks as slots free), else None (every
    replica is launched at job start and waits in the runner's queue); ``quarantine``: when
    a node gets no new replicas (:class:`~dirft.core.adaptive.Quarantine`);
    ``host_retries``: None when the runner starts each replica on its planned node (local,
    sim); a count >= 0 when the cluster places replicas itself (YARN: the planned node is a
    preference, the host is known when the replica starts): a replica that starts on a lost
    node, or on a host already running a registered live replica of its task, is not an
    independent replica and is replaced, at most ``host_retries`` times per task;
    ``stall_timeout``: seconds a working replica may be silent before a sibling may take its
    sub-split too (:mod:`dirft.core.stall`; 0: never).
    """

    tasks: tuple[TaskPlan, ...]
    nodes: tuple[str, ...]
    scheme: Scheme
    heartbeat_timeout: float
    seed: int = 0
    startup_timeout: float = 60.0
    slots: int | None = None
    quarantine: Quarantine = Quarantine()
    host_retries: int | None = None
    stall_timeout: float = 0.0

    def node_for_extra(self, task: int, exclude: Collection[str],
                       lost: Collection[str] = ()) -> str | None:
        """Pick a node for an extra replica of ``task``, avoiding ``exclude`` and ``lost``.

        Prefers nodes holding the split's block; when every live node is excluded, falls
        back to any live node (the replica is then no longer independent). Never a node in
        ``lost``. None if no live node exists.
        """
        split = self.tasks[task].split
        seed = self.seed + 7919 * (len(exclude) + 1)
        for avoid in (set(exclude) | set(lost), set(lost)):
            try:
                return replica_nodes(split, 1, self.nodes, seed, exclude=avoid)[0]
            except ConfigError:
                continue
        return None


def node_names(count: int) -> tuple[str, ...]:
    """Names of the emulated cluster's nodes: ``node0`` … ``node{count-1}``."""
    return tuple(f"node{i}" for i in range(count))


def build_plan(files: Sequence[InputFile], scheme: Scheme, nodes: Sequence[str],
               block_size: int, min_split: int, max_split: int, seed: int,
               heartbeat_timeout: float, startup_timeout: float = 60.0,
               slots: int | None = None, quarantine: Quarantine = Quarantine(),
               old_api: bool = False, lengths: Mapping[str, int] | None = None,
               stall_timeout: float = 0.0) -> JobPlan:
    """Plan the map stage: HDFS-like block placement, Hadoop's splits, sub-splits, nodes.

    Sizes in bytes, ``heartbeat_timeout`` in seconds; ``slots``, ``quarantine`` and
    ``stall_timeout`` as in
    :class:`JobPlan`. ``old_api``: Hadoop Streaming's splits (``max_split`` its goal size,
    :func:`~dirft.core.planner.compute_splits` with ``old_api``), numbered largest first
    (:func:`~dirft.core.planner.hadoop_order` with ``lengths``); else the new API's, in
    file order. Raises :class:`ConfigError` when a
    task cannot get its replicas on distinct nodes (more replicas than nodes). Runs with
    the cyclic garbage collector paused (:func:`_gc_paused`).
    """
    with _gc_paused():
        blocks = place_blocks(files, block_size, nodes, seed)
        splits = compute_splits(files, blocks, block_size, min_split, max_split, old_api)
        if old_api:
            splits = hadoop_order(splits, lengths)
        tasks = _plan_tasks(splits, scheme, nodes, seed)
    return JobPlan(tasks=tasks, nodes=tuple(nodes), scheme=scheme,
                   heartbeat_timeout=heartbeat_timeout, seed=seed,
                   startup_timeout=startup_timeout, slots=slots, quarantine=quarantine,
                   stall_timeout=stall_timeout)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block, then restore its state.

    A plan of 100,000 tasks allocates about a million tuples, all acyclic (named tuples
    are never untracked, so each full collection walks them all again); while they pile
    up the collector ran 5-8 full collections, a third of the planner's time. They stay
    tracked: the collector walks them at its next collections after the block, as it would
    have. Process-wide for the block's duration (other threads too); re-enabled only if it
    was enabled, also when the block raises.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _plan_tasks(splits: Sequence[InputSplit], scheme: Scheme, nodes: Sequence[str],
                seed: int) -> tuple[TaskPlan, ...]:
    """One :class:`TaskPlan` per split: sub-splits, and replica nodes balanced by load.

    Raises :class:`ConfigError` (naming the first task) if there are more replicas than
    nodes.
    """
    count, load = scheme.initial_replicas, dict.fromkeys(nodes, 0)
    if splits and count > len(nodes):
        replica_nodes(splits[0], count, nodes, seed)  # raises the ConfigError naming dirft.nodes
    tasks = []
    for split, subsplits in zip(splits, subsplits_of(splits, scheme.subsplits)):
        chosen = (_least_loaded(split.hosts, count, load)
                  or _ranked_nodes(split, count, nodes, seed, load))
        for node in chosen:
            load[node] += 1
        tasks.append(_new_tuple(TaskPlan, (split.index, split, subsplits, chosen)))
    return tuple(tasks)


def _least_loaded(hosts: Sequence[str], count: int,
                  load: dict[str, int]) -> tuple[str, ...] | None:
    """The ``count`` least loaded ``hosts``, least first, when that needs no tie-break.

    ``load``: replicas planned per node so far (every node a key; hosts that are not
    nodes are left out). None when the holders are too few or two of them have the same
    load: then the seeded order of :func:`_ranked_nodes` decides (seeding a generator per
    task was most of the planner's time; in bench/planner.py's jobs 2% of tasks tie).
    Three holders (``dfs.replication``'s default) are ordered by three comparisons.
    """
    if len(hosts) != 3:
        holders = [h for h in hosts if h in load]
        if len(holders) < count or len({load[h] for h in holders}) < len(holders):
            return None
        return tuple(sorted(holders, key=load.__getitem__)[:count])
    a, b, c = hosts
    try:
        la, lb, lc = load[a], load[b], load[c]
    except KeyError:
        return None  # a host that is not a node
    if count > 3 or la == lb or lb == lc or la == lc:
        return None  # too few holders, or a tie
    if la > lb:
        a, b, la, lb = b, a, lb, la
    if lb > lc:
        b, c, lb = c, b, lc
    if la > lb:
        a, b = b, a
    return (a, b, c)[:count]


def _ranked_nodes(split: InputSplit, count: int, nodes: Sequence[str], seed: int,
                  load: dict[str, int]) -> tuple[str, ...]:
    """``count`` distinct nodes for a task's replicas: block holders first, least loaded first.

    Among holders, then among the other nodes, the least loaded come first and ties keep
    :func:`replica_nodes`' seeded order (a stable sort), so the plan stays deterministic.
    The other nodes are ranked only when the holders are too few. ``load`` as in
    :func:`_least_loaded` (not updated here).
    """
    holders, _ = replica_candidates(split, nodes, seed, others=False)
    chosen = sorted(holders, key=load.__getitem__)[:count]
    if len(chosen) < count:
        _, rest = replica_candidates(split, nodes, seed)
        chosen += sorted(rest, key=load.__getitem__)[:count - len(chosen)]
    return tuple(chosen)
