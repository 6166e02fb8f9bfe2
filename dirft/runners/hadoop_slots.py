"""How many replicas each map task of a replica job runs (``dirft.hadoop.replicas.per.map``).

A number k: every map task runs up to k replicas planned on one host. ``auto`` (the
default): before each wave is submitted, the ResourceManager's node list (``GET
<rm>/ws/v1/cluster/nodes``, YARN's ``RMWebServices``) says what each host has free, and
the replicas planned on a host go into as many map tasks as it can start at once
(:func:`~dirft.runners.locality.auto_per_map`, :func:`~dirft.runners.locality.map_slots`),
keeping on every host the room of one ApplicationMaster (its host is chosen after
submission). Why: a map task that waits for its planned host is given to another host
with room by the CapacityScheduler's delay scheduling once
``min(yarn.scheduler.capacity.node-locality-delay, cluster nodes)`` scheduling
opportunities passed without its host (measured on the 3-worker cluster: every miss was a
map task planned on the ApplicationMaster's host, given to a host with a container free).
So the map containers are also made just big enough (``mapreduce.map.memory.mb`` of the
replica job raised, :func:`~dirft.runners.locality.snug_memory`) that each host is full
once its own map tasks run, with or without the ApplicationMaster: a map task whose host
is slow to take it has nowhere else to go. The trade-off: a container runs several
replica processes, more of them when the cluster is small, and reserves more memory than
the user's map size. On a cluster of one running host (nowhere else to go) ``auto`` is
k = :data:`ONE_HOST_PER_MAP` (4): there every container shares the one host's cores, so
the replicas run at once whatever the number of map tasks, and each map task costs a
map-task JVM's start-up on those cores (on the 2-core single node, 64 MiB in 8 tasks:
8 map tasks of 2 replicas started their mappers 19-21 s after their JVMs, 4 of 4 after
9-10 s, at load 14-30). Without an answer from the ResourceManager (or a node list
without free memory), ``auto`` is k = 2 (the key's fixed default before).

**Reduces start with the maps on one host.** When the ResourceManager lists one running
host, the wave's reducers are asked for at once (``mapreduce.job.reduce.slowstart.
completedmaps`` = 0, unless the job sets that key): a map task's replicas linger until
their neighbours are done (:mod:`dirft.runtime.container`), so a wave's map tasks end
together and Hadoop's default slowstart (5 % of the maps done) asked for the reducer only
then: its container and JVM start, about 5 s on the loaded single node, came after the
map stage. Hadoop's ``RMContainerAllocator`` ramps reducers up only into room the maps do
not need (all maps assigned, or headroom beyond them), and a quorum above 1 keeps its
1.0 (:func:`~dirft.runners.hadoop_cmd.replica_jobconf`). Several hosts keep Hadoop's
default: there an early reducer could take the room a map task's planned host keeps for
it.

The container sizes come from the job's configuration (``-D``), else the Hadoop client's
``mapred-site.xml`` / ``yarn-site.xml`` (``$HADOOP_CONF_DIR``), else Hadoop 3's defaults:
``mapreduce.map.memory.mb`` 1024 and ``mapreduce.map.cpu.vcores`` 1 (``MRJobConfig``),
``yarn.app.mapreduce.am.resource.mb`` 1536 and ``yarn.app.mapreduce.am.resource.cpu-vcores``
1, rounded up to the scheduler's ``yarn.scheduler.minimum-allocation-mb`` (1024) and
``-vcores`` (1) as the ResourceManager normalises a request, at most
``yarn.scheduler.maximum-allocation-mb`` (8192). vcores count unless the client's
``capacity-scheduler.xml`` names the memory-only ``DefaultResourceCalculator`` or a node
reports fewer than 0 free (only that calculator overcommits them).
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from dirft.config.hadoop_client import conf_dir, read_site
from dirft.runners.hadoop_nodes import cluster_nodes
from dirft.runners.locality import auto_per_map, map_slots, snug_memory

AUTO = "auto"
FALLBACK_PER_MAP = 2  # auto without the ResourceManager's node list
ONE_HOST_PER_MAP = 4  # auto when the ResourceManager lists one running host (module doc)
SLOWSTART = "mapreduce.job.reduce.slowstart.completedmaps"
HADOOP_DEFAULTS = {  # mapred-default.xml / yarn-default.xml of Hadoop 3.3 (MRJobConfig)
    "mapreduce.map.memory.mb": 1024, "mapreduce.map.cpu.vcores": 1,
    "yarn.app.mapreduce.am.resource.mb": 1536, "yarn.app.mapreduce.am.resource.cpu-vcores": 1,
    "yarn.scheduler.minimum-allocation-mb": 1024,
    "yarn.scheduler.minimum-allocation-vcores": 1,
    "yarn.scheduler.maximum-allocation-mb": 8192}
CALCULATOR = "yarn.scheduler.capacity.resource-calculator"


@dataclass(frozen=True)
class Sizes:
    """Container sizes as the ResourceManager allocates them: ``map`` and ``am`` as
    ``(MB, vcores)`` rounded up to the minimum allocation, ``step`` (MB) that minimum,
    ``most`` (MB) the maximum allocation, ``vcores``: whether the scheduler counts them."""

    map: tuple[int, int]
    am: tuple[int, int]
    step: int
    most: int
    vcores: bool


def fixed_per_map(conf) -> int | None:
    """``dirft.hadoop.replicas.per.map`` as a number, or None for ``auto``."""
    value = conf.get("dirft.hadoop.replicas.per.map")
    return None if value == AUTO else int(value)


def hadoop_int(key: str, conf, site: dict) -> int:
    """The positive int ``key`` from the jobconf (``conf.raw``), else ``site`` (the
    client's site files), else :data:`HADOOP_DEFAULTS`; a value that is not a positive
    integer (Hadoop 3's ``-1``: "work it out") counts as the default."""
    for value in (conf.raw(key), site.get(key)):
        if value is not None and str(value).strip().isdigit() and int(value) > 0:
            return int(value)
    return HADOOP_DEFAULTS[key]


def container_sizes(conf, hadoop_home: str = "") -> Sizes:
    """The :class:`Sizes` of a job's containers (module doc): its jobconf over the
    Hadoop client's ``yarn-site.xml``, ``mapred-site.xml``, ``capacity-scheduler.xml``."""
    folder = conf_dir(hadoop_home)
    site = {**read_site(folder, "yarn-site.xml"), **read_site(folder, "mapred-site.xml")}
    get = lambda key: hadoop_int(key, conf, site)  # noqa: E731 - one-line reader
    step = (get("yarn.scheduler.minimum-allocation-mb"),
            get("yarn.scheduler.minimum-allocation-vcores"))

    def normalised(mb: int, vcores: int) -> tuple[int, int]:
        return -(-mb // step[0]) * step[0], -(-vcores // step[1]) * step[1]
    calculator = read_site(folder, "capacity-scheduler.xml").get(CALCULATOR, "")
    return Sizes(normalised(get("mapreduce.map.memory.mb"), get("mapreduce.map.cpu.vcores")),
                 normalised(get("yarn.app.mapreduce.am.resource.mb"),
                            get("yarn.app.mapreduce.am.resource.cpu-vcores")),
                 step[0], get("yarn.scheduler.maximum-allocation-mb"),
                 not calculator.endswith(".DefaultResourceCalculator"))


class PerMapRule:
    """``rule(launches)``: the ``per_map`` argument of
    :func:`~dirft.runners.locality.group_launches` for one wave's launches: the fixed k,
    or under ``auto`` ``{host: k}`` from the ResourceManager at ``rm_url`` (module doc),
    :data:`ONE_HOST_PER_MAP` when it lists one running host (with its free memory), else
    :data:`FALLBACK_PER_MAP`. ``sizes``: :class:`Sizes`; ``timeout``: seconds for
    the node list; ``early_reduce``: the job leaves :data:`SLOWSTART` to dirft. After
    each call :attr:`slots` holds the free map containers per host (``{}`` when not
    asked) and :meth:`jobconf` the wave's map container memory and, on one host, its
    slowstart (module doc)."""

    def __init__(self, fixed: int | None, rm_url: str, sizes: Sizes | None,
                 timeout: float = 5.0, early_reduce: bool = True) -> None:
        self.fixed, self.rm_url, self.sizes, self.timeout = fixed, rm_url, sizes, timeout
        self.early_reduce = early_reduce
        self.slots: dict = {}
        self.memory: int | None = None  # MB of the last wave's map containers, if raised
        self.one_host = False  # the last wave's node list named one running host

    def __call__(self, launches: list):
        self.slots, self.memory = {}, None
        nodes = self._nodes() if self.fixed is None else []
        running = [n for n in nodes if n.get("state") == "RUNNING"]
        self.one_host = len(running) == 1 and "availMemoryMB" in running[0]
        if self.fixed is not None or self.one_host:
            return self.fixed or ONE_HOST_PER_MAP
        if not running or not all("availMemoryMB" in n for n in running):
            return FALLBACK_PER_MAP  # no answer, or no free room said
        size = self.sizes
        vcores = size.vcores and all(int(n.get("availableVirtualCores") or 0) >= 0
                                     for n in running)
        memory = snug_memory(nodes, size.map, size.am, size.step, size.most, vcores)
        if memory is not None and memory != size.map[0]:
            self.memory = memory
        self.slots = map_slots(nodes, (memory or size.map[0], size.map[1]), size.am, vcores)
        return auto_per_map(launches, self.slots)

    def jobconf(self) -> dict[str, str]:
        """Keys the last wave's replica job must carry: ``mapreduce.map.memory.mb`` when
        the rule raised it (:func:`~dirft.runners.locality.snug_memory`); :data:`SLOWSTART`
        0 when the node list named one running host and the job left the key to dirft
        (module doc); else none."""
        keys = {"mapreduce.map.memory.mb": str(self.memory)} if self.memory else {}
        if self.one_host and self.early_reduce:
            keys[SLOWSTART] = "0"
        return keys

    def _nodes(self) -> list[dict]:
        try:
            return cluster_nodes(self.rm_url, self.timeout) if self.rm_url else []
        except (requests.RequestException, ValueError, AttributeError):
            return []


def per_map_rule(conf, hadoop_home: str = "") -> PerMapRule:
    """The :class:`PerMapRule` of a job's configuration: ``dirft.hadoop.replicas.per.map``,
    ``dirft.yarn.rm.url`` and the container sizes (:func:`container_sizes`)."""
    fixed = fixed_per_map(conf)
    sizes = container_sizes(conf, hadoop_home) if fixed is None else None
    return PerMapRule(fixed, conf.get("dirft.yarn.rm.url"), sizes,
                      early_reduce=conf.raw(SLOWSTART) is None)
