"""What the Hadoop runner adds to the job report (:mod:`dirft.report` builds the rest).

* :func:`placement` — where each replica was meant to run (its map task's planned host, a
  host holding a copy of its block), where it ran (the host its ``register`` message
  named), whether that host held a copy (a data-local read), the share of data-local
  replicas, how the manifest files were placed, and ``replicas_sharing_a_host``: replicas
  of one task that ran on the same host as another replica of that task, which are no
  longer independent (one machine failure takes both; those the core replaced before
  they worked are ``replicas_replaced_for_host``), and ``lost_hosts``: the hosts lost
  during the job. The console's line about it is :func:`dirft.report.placement_line`.
* :func:`hadoop_section` — every ``hadoop jar`` the run submitted, with Hadoop's job id,
  exit status and counters (as a mapping, and as the listing Hadoop printed): how many
  Hadoop jobs the run took. Each job's counters stay its own: they are not summed over
  jobs (a replica job counts manifest lines as ``Map input records``, a commit job counts
  decided outputs, and Hadoop's ``Peak Map Physical memory (bytes)`` is a maximum, not a
  sum).
"""

from __future__ import annotations

from collections import Counter

from dirft.contract.manifest import same_host


def placement(plan, hosts: dict, blocks_by_path: dict, planned: dict | None = None,
              manifests: dict | None = None, state=None,
              lost_hosts: dict | None = None) -> dict:
    """Placement of the voted schemes' replicas.

    ``hosts``: ``{(task, replica): host it registered from}``; ``blocks_by_path``: the
    input files' blocks; ``planned``: ``{(task, replica): host its map task asked for}``
    (default: the plan's nodes of the initial replicas); ``manifests``: how the waves'
    manifest files were placed (:meth:`~dirft.runners.hadoop_manifests.ManifestWriter.
    summary`); ``state``: the core's final :class:`~dirft.core.state.JobState` (with it,
    ``replicas_sharing_a_host`` counts only replicas that reported a signature: one that
    started after its task was done, or that was stopped for starting on a host that was
    not independent, ``ReplicaState.shared``, counted in ``replicas_replaced_for_host``,
    worked on nothing); ``lost_hosts``: ``{host: how it was found}``
    (:mod:`dirft.runners.hadoop_nodes`). Replicas that never registered are left out.
    ``data_local_share`` is the share of registered replicas that ran on a host holding a
    copy of their split's first block (None when none registered).
    """
    replicas, sharing, replaced, idle = [], 0, set(), set()
    if state is not None:
        replaced = {(t.index, r.rid) for t in state.tasks for r in t.replicas.values()
                    if r.shared}
        idle = {(t.index, r.rid) for t in state.tasks for r in t.replicas.values()
                if not r.processed}
    for task in plan.tasks:
        ran = {r: h for (t, r), h in sorted(hosts.items()) if t == task.index}
        counts = Counter(_short(h) for r, h in ran.items() if (task.index, r) not in idle)
        sharing += sum(c for c in counts.values() if c > 1)
        holders = _holders(blocks_by_path, task.split)
        for replica, host in ran.items():
            replicas.append({"task": task.index, "replica": replica,
                             "planned": _planned(task, replica, planned),
                             "ran_on": host,
                             "data_local": any(same_host(host, h) for h in holders),
                             "replaced_for_host": (task.index, replica) in replaced})
    local = sum(r["data_local"] for r in replicas)
    return {"replicas_sharing_a_host": sharing, "replicas_replaced_for_host": len(replaced),
            "data_local_replicas": local, "registered_replicas": len(replicas),
            "data_local_share": round(local / len(replicas), 4) if replicas else None,
            "ran_on_planned_host": sum(same_host(r["ran_on"], r["planned"]) for r in replicas),
            "manifests": manifests, "lost_hosts": dict(lost_hosts or {}), "replicas": replicas}


def _planned(task, replica: int, planned: dict | None) -> str:
    if planned is not None:
        return planned.get((task.index, replica), "")
    return task.nodes[replica] if replica < len(task.nodes) else ""


def _short(host: str) -> str:
    return host.split(".")[0]


def _holders(blocks_by_path: dict, split) -> list[str]:
    for block in blocks_by_path.get(split.path, ()):
        if block.offset <= split.start < block.offset + block.length:
            return list(block.hosts)
    return []


def hadoop_section(submitted: list) -> dict:
    """The report's ``hadoop`` section from ``submitted`` (``[(what, Running)]`` in the order
    the jobs were submitted): ``{"jobs": N, "submitted": [{what, job_id, returncode,
    counters, counters_listing}, ...]}``. ``counters``: ``{group: {name: amount}}``, names
    stripped; ``counters_listing``: Hadoop's ``Counters: N`` block as ``hadoop jar`` printed
    it, a string a line (``[]`` when it printed none: the job was killed, or its client
    ended first); ``returncode`` None: the client had not ended."""
    entries = []
    for what, running in submitted:
        result = running.result
        entries.append({"what": what, "job_id": running.job_id,
                        "returncode": None if result is None else result.returncode,
                        "counters": {} if result is None else result.counters,
                        "counters_listing": [] if result is None else list(result.listing)})
    return {"jobs": len(entries), "submitted": entries}
