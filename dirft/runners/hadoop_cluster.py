"""What the Hadoop runner learns from the cluster before and after a job.

* HDFS (through WebHDFS): the input files' real blocks and their hosts, from which
  :func:`plan_hadoop_job` plans splits, sub-splits and replica hosts; whether ``-output``
  may be written (:func:`check_output`).
* YARN (the ResourceManager's REST API, ``/ws/v1/cluster/metrics``, through ``requests``):
  the cluster the job ran on, for the report (:func:`cluster_facts`). Its address is
  ``dirft.yarn.rm.url``, else ``yarn.resourcemanager.webapp.address`` of the Hadoop
  client's ``yarn-site.xml`` (``$HADOOP_CONF_DIR``, else ``HOME/etc/hadoop``).
* the voting service's address as the nodes should use it (:func:`advertised_url`).
"""

from __future__ import annotations

import os
import socket

from dirft.aggregate import combiner_beside_hadoop
from dirft.codecs import output_codec
from dirft.config.hadoop_client import require_webhdfs, with_client_conf
from dirft.core.jobplan import JobPlan, TaskPlan
from dirft.core.planner import compute_splits, hadoop_order, make_subsplits
from dirft.errors import ConfigError
from dirft.runners.base import check_output, scheme_of  # noqa: F401 - check_output: see doc
from dirft.runners.inputs import split_rule, stored_lengths
from dirft.runners.hadoop_slots import FALLBACK_PER_MAP, fixed_per_map
from dirft.runners.locality import ANY_HOST, plan_hosts
from dirft.shuffle.keys import stream_separators


def plan_hadoop_job(files: list, storage, conf, stored: dict | None = None
                    ) -> tuple[JobPlan, dict]:
    """Plan the map stage from the input files' real HDFS blocks.

    Splits follow each file's own block size (the first block's length; a file of one
    block is smaller than its block size, which then cannot cut it) and the rule of
    :func:`~dirft.runners.inputs.split_rule` (Hadoop Streaming's, numbered largest first,
    unless ``dirft.split.maxsize`` is set); each task's replicas get distinct
    planned hosts, holders of its block first, then other DataNodes, then "any host"
    placeholders, so that replicas sharing a map task share a host
    (:func:`~dirft.runners.locality.plan_hosts`). Returns the
    plan and ``{path: blocks}``. ``stored``: ``{path: Stored}`` of the compressed files
    (:func:`dirft.runners.inputs.readable_inputs`), whose blocks are those of their stored
    bytes and whose one split spans their decompressed size. Raises ConfigError/InputError
    as the planner does.
    """
    scheme, splits, blocks_by_path, stored = scheme_of(conf), [], {}, stored or {}
    max_size, old_api = split_rule(conf, files, stored)
    for f in files:
        size_on_hdfs = stored[f.path].size if f.path in stored else f.size
        blocks = storage.blocks(f.path, size_on_hdfs, conf.get("dfs.blocksize"))
        blocks_by_path[f.path] = blocks
        size = blocks[0].length if len(blocks) > 1 else max(f.size, conf.get("dfs.blocksize"))
        splits += compute_splits([f], {f.path: blocks}, size,
                                 conf.get("mapreduce.input.fileinputformat.split.minsize"),
                                 max_size, old_api)
    splits = (hadoop_order(splits, stored_lengths(stored)) if old_api
              else [s._replace(index=i) for i, s in enumerate(splits)])
    hosts = sorted({h for bs in blocks_by_path.values() for b in bs for h in b.hosts})
    wanted = scheme.initial_replicas + scheme.extra_replicas
    nodes = tuple(hosts + [f"{ANY_HOST}{i}" for i in range(max(0, wanted - len(hosts)))])
    seed = conf.get("dirft.placement.seed")
    per_map = (fixed_per_map(conf) or FALLBACK_PER_MAP) if scheme.voted else 1
    planned = plan_hosts(splits, scheme.initial_replicas, per_map, nodes, seed)
    tasks = tuple(TaskPlan(s.index, s, make_subsplits(s, scheme.subsplits), hosts)
                  for s, hosts in zip(splits, planned))
    return JobPlan(tasks, nodes, scheme, conf.get("dirft.heartbeat.timeout"), seed,
                   conf.get("dirft.startup.timeout"),
                   stall_timeout=conf.get("dirft.stall.timeout")), blocks_by_path


def advertised_url(bound_url: str, conf) -> str:
    """The voting service's URL as the tasks should use it (``dirft.service.advertise.*``)."""
    host, port = bound_url.rsplit("//", 1)[1].rsplit(":", 1)
    host = conf.get("dirft.service.advertise.host") or (
        socket.getfqdn() if host in ("0.0.0.0", "[::]", "::") else host)
    port = conf.get("dirft.service.advertise.port") or int(port)
    return f"http://{host}:{port}"


def hdfs_storage(conf):
    """The WebHDFS storage of ``dirft.webhdfs.*``. Raises ConfigError without a URL
    (:func:`~dirft.config.hadoop_client.require_webhdfs`)."""
    from dirft.storage.hdfs import HdfsStorage

    url = require_webhdfs(conf)
    return HdfsStorage(url, conf.get("dirft.webhdfs.user"), conf.get("dirft.webhdfs.timeout"),
                       conf.get("dirft.webhdfs.datanode.attempts"))


def hadoop_home_of(conf, hadoop_bin: tuple) -> str:
    """The Hadoop home whose ``etc/hadoop`` holds the client's configuration when
    ``HADOOP_CONF_DIR`` is unset: ``dirft.hadoop.home``, else ``$HADOOP_HOME``, else the
    parent of the ``bin`` folder of ``hadoop_bin[0]`` (as ``bin/hadoop`` finds its home)."""
    binary = hadoop_bin[0] if hadoop_bin else ""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(binary))) if "/" in binary else ""
    return conf.get("dirft.hadoop.home") or os.environ.get("HADOOP_HOME") or parent


def client_conf(conf, hadoop_bin: tuple):
    """``conf`` over the Hadoop client's configuration (:func:`~dirft.config.hadoop_client.
    with_client_conf`, found through :func:`hadoop_home_of`); returns the new JobConf."""
    return with_client_conf(conf, hadoop_home_of(conf, hadoop_bin))


def refuse_unbuilt(job) -> None:
    """Raise ConfigError for what the Hadoop runner does not build: an output codec dirft
    cannot name (:func:`~dirft.codecs.output_codec`; Hadoop compresses the parts), an
    empty ``stream.*.field.separator`` (:func:`~dirft.shuffle.keys.stream_separators`), and
    a combiner the replicas run (:func:`~dirft.aggregate.combiner_beside_hadoop` of the
    :class:`~dirft.runners.base.StreamingJob` ``job``) with other separators than Streaming's
    defaults: Hadoop's ``PipeCombiner`` reads and splits with the reducer's separator
    keys, which the replicas' map-side combine does not model (the local runner refuses it
    too). The map and reduce separators themselves reach Hadoop in the jobconf; the
    replicas emit lines it splits as it splits the mapper's own
    (:func:`dirft.records.unmarked`)."""
    conf = job.conf
    output_codec(conf.get)
    split = stream_separators(conf.items())
    combiner = combiner_beside_hadoop(job.combiner, job.reducer, job.num_reduces)
    if combiner is not None and split != (b"\t", b"\t", b"\t", 1):
        raise ConfigError("-combiner with stream.*.field.separator or "
                          "stream.num.reduce.output.key.fields set is not built yet "
                          "(Hadoop's combiner takes the reducer's separators); drop the "
                          "combiner or those keys")


def cluster_facts(conf, timeout: float = 5.0) -> dict:
    """The YARN cluster as its ResourceManager reports it: ``{"source": "yarn", "rm": url,
    "nodes": active NodeManagers, "vcores": total, "memory_mb": total}``, or ``{"source":
    "not measured", "why": ...}`` when no ResourceManager answers (never raises)."""
    url = rm_address(conf)
    if not url:
        return {"source": "not measured", "why": "no ResourceManager address (set "
                "dirft.yarn.rm.url)"}
    try:
        import requests
        reply = requests.get(f"{url.rstrip('/')}/ws/v1/cluster/metrics", timeout=timeout,
                             headers={"Accept": "application/json"})
        reply.raise_for_status()
        metrics = reply.json()["clusterMetrics"]
        return {"source": "yarn", "rm": url, "nodes": metrics["activeNodes"],
                "vcores": metrics["totalVirtualCores"], "memory_mb": metrics["totalMB"]}
    except Exception as err:  # noqa: BLE001 - the report must not fail the job
        return {"source": "not measured", "why": f"{url}: {type(err).__name__}: {err}"[:300]}


def rm_address(conf) -> str:
    """The ResourceManager's web address, ``dirft.yarn.rm.url`` (the Hadoop client's
    ``yarn-site.xml`` fills it when unset, see :mod:`dirft.config.hadoop_client`), or ""."""
    return conf.get("dirft.yarn.rm.url")
