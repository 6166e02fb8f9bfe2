"""What the Hadoop runner adds to the job report, and the report of schemes se and none.

* :func:`placement` — where each replica was meant to run (a host holding a copy of its
  block), where it ran (the host its ``register`` message named), whether that host held a
  copy (a data-local read) and ``replicas_sharing_a_host``: replicas of one task that ran
  on the same host as another replica of that task, which are no longer independent
  (one machine failure takes both).
* :func:`hadoop_section` — every ``hadoop jar`` the run submitted, with Hadoop's job id,
  exit status and counters: how many Hadoop jobs the run took.
* :func:`direct_report` — schemes se and none, where Hadoop re-executes and speculates on
  its own: the report's usual fields, from Hadoop's job counters (``Launched``, ``Failed``
  and ``Killed map tasks``) and the faults the tasks recorded as fired.
"""

from __future__ import annotations

from collections import Counter

from dirft.contract.manifest import same_host

JOB_COUNTERS = "Job Counters"


def placement(plan, hosts: dict, blocks_by_path: dict) -> dict:
    """Placement of the voted schemes' replicas.

    ``hosts``: ``{(task, replica): host it registered from}``; ``blocks_by_path``: the
    input files' blocks. Replicas that never registered are left out.
    """
    replicas, sharing = [], 0
    for task in plan.tasks:
        ran = {r: h for (t, r), h in sorted(hosts.items()) if t == task.index}
        counts = Counter(_short(h) for h in ran.values())
        sharing += sum(c for c in counts.values() if c > 1)
        holders = _holders(blocks_by_path, task.split)
        for replica, host in ran.items():
            planned = task.nodes[replica] if replica < len(task.nodes) else ""
            replicas.append({"task": task.index, "replica": replica, "planned": planned,
                             "ran_on": host,
                             "data_local": any(same_host(host, h) for h in holders)})
    return {"replicas_sharing_a_host": sharing,
            "data_local_replicas": sum(r["data_local"] for r in replicas),
            "replicas": replicas}


def _short(host: str) -> str:
    return host.split(".")[0]


def _holders(blocks_by_path: dict, split) -> list[str]:
    for block in blocks_by_path.get(split.path, ()):
        if block.offset <= split.start < block.offset + block.length:
            return list(block.hosts)
    return []


def hadoop_section(submitted: list) -> dict:
    """``{"jobs": N, "submitted": [{what, job_id, returncode, counters}, ...]}``."""
    entries = []
    for what, running in submitted:
        result = running.result
        entries.append({"what": what, "job_id": running.job_id,
                        "returncode": None if result is None else result.returncode,
                        "counters": {} if result is None else result.counters})
    return {"jobs": len(entries), "submitted": entries}


def direct_report(job_id: str, plan, fired: list, fault_plan, timings: dict,
                  counters: dict) -> dict:
    """The report of a se/none job; ``counters`` are Hadoop's (``{group: {name: n}}``).

    Crashes detected are the failed map attempts Hadoop counted; the extra work in bytes
    is not measured (Hadoop does not say how far a killed speculative attempt got).
    """
    scheme, jobs = plan.scheme, counters.get(JOB_COUNTERS, {})
    injected = Counter(f["kind"] for f in fired)
    failed = jobs.get("Failed map tasks", 0)
    launched = jobs.get("Launched map tasks", len(plan.tasks))
    return {
        "job_id": job_id, "scheme": scheme.name,
        "tolerance": {"crash": scheme.tolerance.crash, "silent": scheme.tolerance.silent},
        "replicas_per_task": scheme.initial_replicas, "subsplits_per_task": 1, "quorum": 1,
        "silent_errors_checked": False, "cluster": None, "tasks": len(plan.tasks),
        "input_bytes": sum(t.split.length for t in plan.tasks),
        "replicas_launched": launched, "phases_per_task": {"1": len(plan.tasks)},
        "extra_work_bytes": 0, "extra_work_measured": False,
        "speculative_attempts_killed": jobs.get("Killed map tasks", 0),
        "faults": {
            "tasks_hit": list(fault_plan.tasks_hit), "nodes_lost": [],
            "stragglers": dict(fault_plan.stragglers),
            "injected": {"crash": injected["crash"], "silent": injected["silent"]},
            "injected_by_mode": dict(sorted(Counter(f["mode"] for f in fired).items())),
            "detected": {"crash": failed, "silent": 0},
            "crashes_detected_by": {"hadoop": failed} if failed else {},
            "corrected": {"crash": failed, "silent": 0},
        },
        "makespan_seconds": round(timings.get("makespan", 0.0), 3),
        "map_seconds": round(timings.get("map", 0.0), 3),
        "reduce_seconds": round(timings.get("reduce", 0.0), 3),
        "counters": counters, "per_task": [],
    }
