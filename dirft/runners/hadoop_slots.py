"""How many replicas each map task of a replica job runs (``dirft.hadoop.replicas.per.map``).

A number k: every map task runs up to k replicas planned on one host. ``auto`` (the
default): before each wave is submitted, the ResourceManager's node list (``GET
<rm>/ws/v1/cluster/nodes``, YARN's ``RMWebServices``) says what each host has free, and
the replicas planned on a host go into as many map tasks as it can start at once
(:func:`~dirft.runners.locality.auto_per_map`, :func:`~dirft.runners.locality.map_slots`).
Why: a map task that waits for its planned host is given to another host by the
CapacityScheduler's delay scheduling once ``yarn.scheduler.capacity.node-locality-delay``
scheduling opportunities passed (measured on the 3-worker cluster: every miss was a map
task planned on the ApplicationMaster's host). The trade-off: a container then runs
several replica processes, more of them when the cluster is small.

The container sizes come from the job's configuration (``-D``), else the Hadoop client's
``mapred-site.xml`` / ``yarn-site.xml`` (``$HADOOP_CONF_DIR``), else Hadoop 3's defaults:
``mapreduce.map.memory.mb`` 1024 and ``mapreduce.map.cpu.vcores`` 1 (``MRJobConfig``),
``yarn.app.mapreduce.am.resource.mb`` 1536 and ``yarn.app.mapreduce.am.resource.cpu-vcores``
1, rounded up to the scheduler's ``yarn.scheduler.minimum-allocation-mb`` (1024) and
``-vcores`` (1) as the ResourceManager normalises a request. Without an answer from the
ResourceManager, ``auto`` is k = 2 (the key's fixed default before ``auto``).
"""

from __future__ import annotations

import requests

from dirft.config.hadoop_client import conf_dir, read_site
from dirft.runners.hadoop_nodes import cluster_nodes
from dirft.runners.locality import auto_per_map, map_slots

AUTO = "auto"
FALLBACK_PER_MAP = 2  # auto without the ResourceManager's node list
HADOOP_DEFAULTS = {  # mapred-default.xml / yarn-default.xml of Hadoop 3.3 (MRJobConfig)
    "mapreduce.map.memory.mb": 1024, "mapreduce.map.cpu.vcores": 1,
    "yarn.app.mapreduce.am.resource.mb": 1536, "yarn.app.mapreduce.am.resource.cpu-vcores": 1,
    "yarn.scheduler.minimum-allocation-mb": 1024,
    "yarn.scheduler.minimum-allocation-vcores": 1}


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


def container_sizes(conf, hadoop_home: str = "") -> tuple[tuple[int, int], tuple[int, int]]:
    """``((map MB, map vcores), (AM MB, AM vcores))`` as the ResourceManager allocates
    them: the requests (module doc) rounded up to multiples of the minimum allocation."""
    folder = conf_dir(hadoop_home)
    site = {**read_site(folder, "yarn-site.xml"), **read_site(folder, "mapred-site.xml")}
    get = lambda key: hadoop_int(key, conf, site)  # noqa: E731 - one-line reader
    step = (get("yarn.scheduler.minimum-allocation-mb"),
            get("yarn.scheduler.minimum-allocation-vcores"))

    def normalised(mb: int, vcores: int) -> tuple[int, int]:
        return -(-mb // step[0]) * step[0], -(-vcores // step[1]) * step[1]
    return (normalised(get("mapreduce.map.memory.mb"), get("mapreduce.map.cpu.vcores")),
            normalised(get("yarn.app.mapreduce.am.resource.mb"),
                       get("yarn.app.mapreduce.am.resource.cpu-vcores")))


class PerMapRule:
    """``rule(launches)``: the ``per_map`` argument of
    :func:`~dirft.runners.locality.group_launches` for one wave's launches: the fixed k,
    or under ``auto`` ``{host: k}`` from the ResourceManager at ``rm_url`` (module doc),
    else :data:`FALLBACK_PER_MAP`. ``sizes``: :func:`container_sizes`; ``timeout``:
    seconds for the node list. :attr:`last` keeps the free map containers per host of the
    last wave (``{}`` when not asked), for logs and the report."""

    def __init__(self, fixed: int | None, rm_url: str, sizes, timeout: float = 5.0) -> None:
        self.fixed, self.rm_url, self.sizes, self.timeout = fixed, rm_url, sizes, timeout
        self.last: dict = {}

    def __call__(self, launches: list):
        if self.fixed is not None:
            return self.fixed
        try:
            nodes = cluster_nodes(self.rm_url, self.timeout) if self.rm_url else []
        except (requests.RequestException, ValueError, AttributeError):
            nodes = []
        self.last = map_slots(nodes, *self.sizes)
        return auto_per_map(launches, self.last) if nodes else FALLBACK_PER_MAP


def per_map_rule(conf, hadoop_home: str = "") -> PerMapRule:
    """The :class:`PerMapRule` of a job's configuration: ``dirft.hadoop.replicas.per.map``,
    ``dirft.yarn.rm.url`` and the container sizes (:func:`container_sizes`)."""
    fixed = fixed_per_map(conf)
    sizes = container_sizes(conf, hadoop_home) if fixed is None else None
    return PerMapRule(fixed, conf.get("dirft.yarn.rm.url"), sizes)
