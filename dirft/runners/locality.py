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
* :func:`auto_per_map` — k per host when the key is ``auto``: the replicas planned on a
  host go into as many map tasks as the host has map containers free now
  (:func:`map_slots`, from the ResourceManager's node list), so that no map task waits for
  its host. A waiting one is the miss: the CapacityScheduler's delay scheduling
  (``yarn.scheduler.capacity.node-locality-delay``) gives a request for a busy host to
  another host after that many missed scheduling opportunities.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from dirft.contract.manifest import same_host
from dirft.core.planner import replica_candidates

ANY_HOST = "any-host-"  # placeholder node names where HDFS named too few hosts
MAX_PER_MAP = 8  # most replicas one map task runs (a heartbeat's ``ended`` holds 8)


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


def group_launches(launches: list, per_map: int | Mapping[str, int]) -> list[list]:
    """``launches`` (``(task, replica, node)``) in groups of at most ``per_map``, one group
    per map task: a group's launches share one real planned host (:func:`is_host`), or
    have none; never two launches of one task in a group. ``per_map``: k for every host,
    or ``{host: k}`` (:func:`auto_per_map`; the key "" for the launches without a host,
    1 for a host not in it). Per host, and for the launches without one, greedy in
    (replica, task) order (:func:`pack`). Returns the non-empty groups, fullest first,
    then by their first launch in (replica, task) order: with one replica per map task,
    launch order (every task's replica 0 first)."""
    by_host = launches_by_host(launches)
    k = per_map if isinstance(per_map, Mapping) else dict.fromkeys(by_host, per_map)
    groups = [g for host in by_host for g in pack(by_host[host], k.get(host, 1))]
    return sorted(groups, key=lambda g: (-len(g), min((r, t) for t, r, _ in g)))


def launches_by_host(launches: list) -> dict[str, list]:
    """``{planned host: its launches}`` in launch order; "" gathers those without a real
    host (:func:`is_host`)."""
    by_host: dict = {}
    for launch in launches:
        by_host.setdefault(launch[2] if is_host(launch[2]) else "", []).append(launch)
    return by_host


def auto_per_map(launches: list, slots: Mapping[str, int]) -> dict[str, int]:
    """Replicas per map task for each planned host of ``launches`` (``(task, replica,
    node)``) under ``dirft.hadoop.replicas.per.map=auto``: the host's n launches in as
    many map tasks as it has map containers free (``slots``, ``{host name: free map
    containers}`` from :func:`map_slots`, names matched by :func:`same_host`; at least
    one), k = ceil(n / free), at most :data:`MAX_PER_MAP`. The launches without a real
    host ("") get the cluster's free containers in all. Returns ``{host: k}`` (k >= 1)
    for :func:`group_launches`; a host then runs max(ceil(n / k), the most launches of
    one task it holds) map tasks (:func:`pack`)."""
    result = {}
    for host, planned in launches_by_host(launches).items():
        free = (sum(slots.values()) if host == "" else
                sum(n for name, n in slots.items() if same_host(name, host)))
        result[host] = min(MAX_PER_MAP, -(-len(planned) // max(1, free)))
    return result


def pack(launches: list, per_map: int) -> list[list]:
    """``launches`` in groups of at most ``per_map``, never two of one task in a group, in
    G = max(ceil(n / per_map), the most launches of one task) groups. Greedy in (replica,
    task) order: a launch joins the emptiest group with room and none of its task (the
    lowest such), else opens a group; if that needs more than G groups, :func:`deal`.
    Returns the non-empty groups, fullest first (stable)."""
    if not launches:
        return []
    count = max(-(-len(launches) // per_map), max(Counter(t for t, _, _ in launches).values()))
    groups: list = [[] for _ in range(count)]
    for launch in sorted(launches, key=lambda x: (x[1], x[0])):
        fits = [g for g in groups if len(g) < per_map and all(x[0] != launch[0] for x in g)]
        if not fits:
            return deal(launches, count)
        min(fits, key=len).append(launch)
    return sorted((g for g in groups if g), key=len, reverse=True)


def deal(launches: list, count: int) -> list[list]:
    """``launches`` dealt into ``count`` groups in (task, replica) order, launch j to group
    j mod ``count``: a task's launches are consecutive, so with at most ``count`` of them
    they land in distinct groups, and every group gets floor or ceil of n / ``count``.
    Returns the non-empty groups, each in (replica, task) order, fullest first (stable)."""
    groups: list = [[] for _ in range(count)]
    for j, launch in enumerate(sorted(launches, key=lambda x: (x[0], x[1]))):
        groups[j % count].append(launch)
    groups = [sorted(g, key=lambda x: (x[1], x[0])) for g in groups if g]
    return sorted(groups, key=len, reverse=True)


def group_host(group: list) -> str:
    """The planned host of a map task's ``group`` of launches: the node they share if it is
    a real host, else "" (no preference: the manifest goes where the NameNode puts it)."""
    nodes = {node for _, _, node in group}
    node = nodes.pop() if len(nodes) == 1 else ""
    return node if is_host(node) else ""


def map_slots(nodes: Sequence[Mapping], map_size: tuple[int, int],
              am_size: tuple[int, int], vcores: bool = True) -> dict[str, int]:
    """``{host: map containers it can start now beside one ApplicationMaster}`` from the
    ResourceManager's node list (``/ws/v1/cluster/nodes`` entries: ``nodeHostName``,
    ``state``, ``availMemoryMB``, ``availableVirtualCores``); ``map_size`` and ``am_size``:
    one map container and one MapReduce ApplicationMaster as ``(MB, vcores)``, already
    rounded up to the scheduler's minimum allocation. Every ``RUNNING`` host keeps one
    ApplicationMaster's room (the job's AM host is chosen after submission); ``vcores``:
    count them too, as the ``DominantResourceCalculator`` does (False: memory only, the
    CapacityScheduler's default ``DefaultResourceCalculator``). Other hosts get 0."""
    return {host: fits(node, map_size, am_size, vcores) if up else 0
            for host, node, up in _hosts(nodes)}


def fits(node: Mapping, map_size: tuple[int, int], reserve: tuple[int, int],
         vcores: bool) -> int:
    """How many ``map_size`` containers fit in ``node``'s free resources less ``reserve``
    (``(MB, vcores)``), counting vcores only if ``vcores``; at least 0."""
    memory = int(node.get("availMemoryMB") or 0) - reserve[0]
    count = memory // max(1, map_size[0])
    if vcores:
        cores = int(node.get("availableVirtualCores") or 0) - reserve[1]
        count = min(count, cores // max(1, map_size[1]))
    return max(0, count)


def snug_memory(nodes: Sequence[Mapping], map_size: tuple[int, int],
                am_size: tuple[int, int], step: int, most: int, vcores: bool) -> int | None:
    """The smallest map container memory M (MB: ``map_size[0]`` and up in ``step``s, at
    most ``most``, the scheduler's maximum allocation) with which every ``RUNNING`` host
    fits as many map containers beside an ApplicationMaster as it fits without one (memory
    only, the most any calculator counts), and at least one; None if no M does (or no host
    runs). With it each host is full once its own map tasks run, so a map task still
    waiting for its planned host cannot be given to another one after the
    CapacityScheduler's node-locality delay: no other host has room for it."""
    up = [node for _, node, running in _hosts(nodes) if running]
    for memory in range(map_size[0], most + 1, max(1, step)):
        size = (memory, map_size[1])
        if up and all(1 <= fits(n, size, am_size, vcores) == fits(n, size, (0, 0), False)
                      for n in up):
            return memory
    return None


def _hosts(nodes: Sequence[Mapping]) -> list[tuple[str, Mapping, bool]]:
    """``(host name, entry, RUNNING?)`` of each ResourceManager node entry."""
    return [(str(n.get("nodeHostName") or str(n.get("id", "")).split(":")[0]), n,
             n.get("state") == "RUNNING") for n in nodes]
