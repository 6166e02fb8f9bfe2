"""Where each replica's map task asks to run on Hadoop: its planned host (pure, no I/O).

A replica's map task is the unit YARN places. Its input is one small manifest file per map
task (:mod:`dirft.runners.hadoop_manifests`) whose only block is written to one DataNode,
so Hadoop's ``TextInputFormat`` gives the split that host as its location and the
MapReduce ApplicationMaster asks YARN for a container there (``TaskAttemptImpl`` requests
the split's hosts; the CapacityScheduler's delay scheduling gives up on them only after
``node-locality-delay`` missed chances). Two rules make that host worth asking for:

* :func:`plan_hosts` — each task's R replicas get R distinct hosts, holders of the task's
  block first (a data-local read), then other DataNodes, then "any host" placeholders
  (:data:`ANY_HOST`) when the cluster named too few; among the allowed hosts a replica
  goes where a map task's group is half full, else to the least loaded host, so that the
  replicas planned on each host fill whole map tasks.
* :func:`group_launches` — replicas that share a map task (``dirft.hadoop.replicas.per.map``,
  k) share their planned host, and never two of one task share one (a lost host, or a
  failed map attempt, then costs each task at most one replica, as DIRFT places a task's
  replicas apart: paper, Sec. III). Replicas without a real planned host are grouped
  among themselves. A host's last group may hold fewer than k replicas: locality is kept
  over one container fewer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from dirft.core.planner import replica_candidates

ANY_HOST = "any-host-"  # placeholder node names where HDFS named too few hosts


def is_host(node: str) -> bool:
    """True if ``node`` names a real host (not empty, not an :data:`ANY_HOST` placeholder)."""
    return bool(node) and not node.startswith(ANY_HOST)


def plan_hosts(splits: Sequence, replicas: int, per_map: int, nodes: Sequence[str],
               seed: int) -> list[tuple[str, ...]]:
    """The planned host of each replica of each split: ``result[i][r]`` for replica ``r``
    of ``splits[i]``.

    ``splits``: :class:`~dirft.core.planner.InputSplit` (its ``index`` and ``hosts``, the
    holders of its block); ``replicas``: R per task; ``per_map``: replicas per map task
    (k >= 1); ``nodes``: every usable node name (real hosts and :data:`ANY_HOST`
    placeholders), at least R; ``seed``: breaks ties (:func:`replica_candidates`'s shuffle).
    A task's R hosts are distinct. Each replica, replica number first, then task, takes
    the first allowed host of: its block's holders, else other real hosts, else
    placeholders; within that pool a host whose last map task has room (load not a
    multiple of k) first, then the least loaded. Raises ValueError if ``nodes`` has fewer
    than R names."""
    if len(set(nodes)) < replicas:
        raise ValueError(f"{replicas} replicas per task need as many distinct nodes; "
                         f"got {len(set(nodes))}")
    load: Counter = Counter()
    chosen: list[list[str]] = [[] for _ in splits]
    for _ in range(replicas):
        for i, split in enumerate(splits):
            host = _pick(split, [n for n in nodes if n not in chosen[i]], load, per_map, seed)
            chosen[i].append(host)
            load[host] += 1
    return [tuple(c) for c in chosen]


def _pick(split, usable: list, load: Counter, per_map: int, seed: int) -> str:
    holders, rest = replica_candidates(split, usable, seed)
    real = [n for n in rest if is_host(n)]
    pool = holders or real or rest
    return min(pool, key=lambda h: (load[h] % per_map == 0, load[h]))


def group_launches(launches: list, per_map: int) -> list[list]:
    """``launches`` (``(task, replica, node)``) in groups of at most ``per_map``, one group
    per map task: a group's launches share one real planned host (:func:`is_host`), or
    have none; never two launches of one task in a group. Per host, and for the launches
    without one, greedy in (replica, task) order (:func:`pack`). Returns the non-empty
    groups, fullest first, then by their first launch in (replica, task) order: with one
    replica per map task, launch order (every task's replica 0 first)."""
    by_host: dict = {}
    for launch in launches:
        by_host.setdefault(launch[2] if is_host(launch[2]) else "", []).append(launch)
    groups = [g for host in by_host for g in pack(by_host[host], per_map)]
    return sorted(groups, key=lambda g: (-len(g), min((r, t) for t, r, _ in g)))


def pack(launches: list, per_map: int) -> list[list]:
    """``launches`` in groups of at most ``per_map``, never two of one task in a group.
    Greedy in (replica, task) order: a launch joins the emptiest group with room and none
    of its task (the lowest such), else opens a group; ceil(n / per_map) groups when the
    tasks allow. Returns the non-empty groups, fullest first (stable)."""
    groups: list = [[] for _ in range(max(1, -(-len(launches) // per_map)))]
    for launch in sorted(launches, key=lambda x: (x[1], x[0])):
        fits = [g for g in groups if len(g) < per_map and all(x[0] != launch[0] for x in g)]
        if not fits:
            groups.append([])
            fits = [groups[-1]]
        min(fits, key=len).append(launch)
    return sorted((g for g in groups if g), key=len, reverse=True)


def group_host(group: list) -> str:
    """The planned host of a map task's ``group`` of launches: the node they share if it is
    a real host, else "" (no preference: the manifest goes where the NameNode puts it)."""
    nodes = {node for _, _, node in group}
    node = nodes.pop() if len(nodes) == 1 else ""
    return node if is_host(node) else ""
