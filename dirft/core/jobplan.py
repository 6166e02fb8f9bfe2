"""The plan of a job's map stage: input splits, their sub-splits, and replica nodes.

Pure: takes file sizes, never opens a file. Built once by the driver from the planner's
pieces (:mod:`dirft.core.planner`) and handed to :class:`dirft.core.state.JobState`.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from dirft.core.adaptive import Quarantine
from dirft.core.planner import (InputFile, InputSplit, SubSplit, compute_splits,
                                make_subsplits, place_blocks, replica_candidates,
                                replica_nodes)
from dirft.core.scheme import Scheme
from dirft.errors import ConfigError

_new_tuple = tuple.__new__  # a named tuple without its Python-level __new__ (build_plan's loop)


class TaskPlan(NamedTuple):
    """Map task ``index``: its input ``split``, its work units and its replicas' nodes.

    ``subsplits`` has ``scheme.subsplits`` entries covering the split; ``nodes`` has one
    node name per initial replica, all distinct, block holders first. A named tuple, as
    the planner's :class:`~dirft.core.planner.InputSplit` (one per map task).
    """

    index: int
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
    a node gets no new replicas (:class:`~dirft.core.adaptive.Quarantine`).
    """

    tasks: tuple[TaskPlan, ...]
    nodes: tuple[str, ...]
    scheme: Scheme
    heartbeat_timeout: float
    seed: int = 0
    startup_timeout: float = 60.0
    slots: int | None = None
    quarantine: Quarantine = Quarantine()

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
               slots: int | None = None, quarantine: Quarantine = Quarantine()) -> JobPlan:
    """Plan the map stage: HDFS-like block placement, Hadoop's splits, sub-splits, nodes.

    Sizes in bytes, ``heartbeat_timeout`` in seconds; ``slots`` and ``quarantine`` as in
    :class:`JobPlan`. Raises :class:`ConfigError` when a
    task cannot get its replicas on distinct nodes (more replicas than nodes).
    """
    blocks = place_blocks(files, block_size, nodes, seed)
    splits = compute_splits(files, blocks, block_size, min_split, max_split)
    load = dict.fromkeys(nodes, 0)
    units, count = scheme.subsplits, scheme.initial_replicas
    tasks = tuple([_new_tuple(TaskPlan, (  # TaskPlan(index, split, subsplits, nodes)
        split.index, split, make_subsplits(split, units),
        _balanced_nodes(split, count, nodes, seed, load))) for split in splits])
    return JobPlan(tasks=tasks, nodes=tuple(nodes), scheme=scheme,
                   heartbeat_timeout=heartbeat_timeout, seed=seed,
                   startup_timeout=startup_timeout, slots=slots, quarantine=quarantine)


def _balanced_nodes(split: InputSplit, count: int, nodes: Sequence[str], seed: int,
                    load: dict[str, int]) -> tuple[str, ...]:
    """``count`` distinct nodes for a task's replicas: block holders first, least loaded first.

    ``load`` (replicas planned per node so far, with every node of ``nodes`` as a key) is
    updated. Among holders, then among the other nodes, the least loaded come first and
    ties keep :func:`replica_nodes`' seeded order (a stable sort), so the plan stays
    deterministic. The seeded order only breaks ties: when the holders suffice and their
    loads all differ, the least loaded are taken without drawing it (seeding a generator
    per task was most of the planner's time; in bench/planner.py's jobs 2% of tasks tie).
    The other nodes are ranked only when the holders are too few. Raises
    :class:`ConfigError` if too few nodes.
    """
    if count > len(nodes):
        replica_nodes(split, count, nodes, seed)  # raises the ConfigError naming dirft.nodes
    holders = [h for h in split.hosts if h in load]
    if len(holders) >= count and len({load[h] for h in holders}) == len(holders):
        chosen = sorted(holders, key=load.__getitem__)[:count]
    else:
        chosen = _ranked_nodes(split, count, nodes, seed, load)
    for node in chosen:
        load[node] += 1
    return tuple(chosen)


def _ranked_nodes(split: InputSplit, count: int, nodes: Sequence[str], seed: int,
                  load: dict[str, int]) -> list[str]:
    """The general case of :func:`_balanced_nodes`: holders, then others, in seeded order."""
    holders, _ = replica_candidates(split, nodes, seed, others=False)
    chosen = sorted(holders, key=load.__getitem__)[:count]
    if len(chosen) < count:
        _, rest = replica_candidates(split, nodes, seed)
        chosen += sorted(rest, key=load.__getitem__)[:count - len(chosen)]
    return chosen
