"""The job report: what each map task cost and which faults were injected, seen and fixed.

Built in one place (:func:`build_report`) for every runner, from the plan, the fault plan
and what the runner recorded (:class:`RunRecord`): the core's per-task bookkeeping, or
Hadoop's job counters when Hadoop ran the map stage itself. Written as
``_dirft_report.json`` in the output directory and summarised in a few lines on the console.
"""

from collections import Counter
from dataclasses import dataclass, field

from dirft.units import format_bytes

JOB_COUNTERS = "Job Counters"  # Hadoop's counter group of launched, failed, killed tasks


def task_entry(plan_task, task_state) -> dict:
    """Report one map task: replicas, phases, failures by cause, mismatches, work in bytes.

    ``extra_work_bytes`` is the input bytes processed beyond one copy of the split (what
    redundancy cost: f_s·split for fault-free silent-tolerant DIRFT, 0 for crash-tolerant).
    """
    split = plan_task.split
    return {
        "task": plan_task.index,
        "split": {"path": split.path, "start": split.start, "length": split.length},
        "replicas_launched": len(task_state.replicas),
        "extra_replicas": task_state.extra_launched,
        "phases": task_state.phases,
        "crashes_detected": dict(task_state.failures),
        "mismatches_detected": task_state.mismatches,
        "work_bytes": task_state.work_bytes,
        "extra_work_bytes": task_state.work_bytes - split.length,
    }


@dataclass
class RunRecord:
    """What a runner recorded of one run: with the plan and the fault plan, all a report needs.

    ``timings``: seconds by stage (``makespan``, ``map``, ``reduce``); ``counters``: dirft's
    own counters of the job, ``{group: {name: count}}`` (the winning copies' map counters and
    the reducers'; on the Hadoop runner Hadoop's own counters of each Hadoop job are in
    ``extra["hadoop"]``); ``fired``: the faults the injector recorded as fired (dicts with
    ``kind``, ``mode``); ``state``: the core's final :class:`~dirft.core.state.JobState`,
    or None when Hadoop ran the map stage itself (schemes se and none on the Hadoop runner:
    the figures then come from Hadoop's ``Job Counters`` in ``extra["hadoop"]``);
    ``cluster``: ``{"nodes", "slots_per_node"}`` or None if unknown;
    ``stragglers``: the slowdown factors applied, if not the fault plan's; ``succeeded``:
    the job's output was committed; ``extra``: the runner's own sections (``placement``,
    ``hadoop``, ``simulated``, ...), added to the report as they are.
    """

    timings: dict
    counters: dict
    fired: list
    state: object = None
    cluster: dict | None = None
    stragglers: dict | None = None
    succeeded: bool = True
    extra: dict = field(default_factory=dict)


def build_report(job_id: str, plan, fault_plan, record: RunRecord) -> dict:
    """The whole report of every runner as a JSON-ready dict (the one place it is built).

    ``plan``: the :class:`~dirft.core.jobplan.JobPlan`; ``fault_plan``: the job's
    :class:`~fault_injector.plan.FaultPlan`; ``record``: see :class:`RunRecord`. Crashes
    detected count replicas found dead, by cause (process exit, heartbeat timeout, node
    loss, user program gave up): one lost node is one fault injected and as many replicas
    detected dead as it ran. Silent errors detected count sub-splits whose votes disagreed.
    """
    scheme, fired = plan.scheme, record.fired
    figures = (_core_figures(plan, record.state, record.succeeded) if record.state is not None
               else _hadoop_figures(plan, hadoop_job_counters(record.extra.get("hadoop"))))
    injected = Counter(f["kind"] for f in fired)
    stragglers = fault_plan.stragglers if record.stragglers is None else record.stragglers
    faults = {"tasks_hit": list(fault_plan.tasks_hit), "stragglers": dict(stragglers),
              **planned_and_fired(fault_plan, fired),
              "injected": {"crash": injected["crash"], "silent": injected["silent"]},
              "injected_by_mode": dict(sorted(Counter(f["mode"] for f in fired).items())),
              **figures.pop("faults")}
    return {
        "job_id": job_id, "scheme": scheme.name, "adaptive": scheme.adaptive is not None,
        "tolerance": {"crash": scheme.tolerance.crash, "silent": scheme.tolerance.silent},
        "replicas_per_task": scheme.initial_replicas, "subsplits_per_task": scheme.subsplits,
        "quorum": scheme.quorum, "silent_errors_checked": scheme.checks_silent,
        "cluster": record.cluster, "tasks": len(plan.tasks),
        "input_bytes": sum(p.split.length for p in plan.tasks),
        **figures, "faults": faults,
        "makespan_seconds": round(record.timings.get("makespan", 0.0), 3),
        "map_seconds": _seconds(record.timings.get("map", 0.0)),
        "reduce_seconds": _seconds(record.timings.get("reduce", 0.0)),
        "counters": record.counters, **record.extra,
    }


def planned_and_fired(fault_plan, fired: list) -> dict:
    """The fault plan's faults against those that fired: ``planned`` and ``fired``
    ({"crash": n, "silent": n}; a planned node loss is one crash), ``fired_on_sibling``
    (planned faults that struck a sibling of their replica, which had not started when its
    work was handed out: :mod:`fault_injector.strike`) and ``not_fired`` (each planned
    fault that did not fire: task, planned replica, kind, mode, phase; or the node).

    ``fired``: the fired records (dicts with ``task``, ``replica``, ``kind``, and
    ``planned_replica`` for a planned fault, ``node`` for a node loss, ``bad_node`` for a
    bad node's corruption, which no plan counts in advance and is left out here).
    """
    planned = {(t, r): f for (t, r), f in sorted(fault_plan.faults.items())}
    losses = {loss.node for loss in fault_plan.node_losses}
    keys = {(f["task"], f["planned_replica"]): f["replica"] for f in fired
            if "planned_replica" in f}
    nodes = {f["node"] for f in fired if f.get("mode") == "node" and "node" in f}
    kinds = Counter(f.kind for f in planned.values())
    struck = Counter(f.kind for key, f in planned.items() if key in keys)
    missed = [{"task": t, "replica": r, "kind": f.kind, "mode": f.mode, "phase": f.phase}
              for (t, r), f in planned.items() if (t, r) not in keys]
    missed += [{"node": node, "kind": "crash", "mode": "node"} for node in sorted(losses - nodes)]
    return {"planned": {"crash": kinds["crash"] + len(losses), "silent": kinds["silent"]},
            "fired": {"crash": struck["crash"] + len(losses & nodes), "silent": struck["silent"]},
            "fired_on_sibling": sum(1 for (t, r), x in keys.items()
                                    if (t, r) in planned and x != r),
            "not_fired": missed}


def _core_figures(plan, state, succeeded: bool) -> dict:
    """The map stage's figures from the core's per-task bookkeeping."""
    tasks = [task_entry(p, s) for p, s in zip(plan.tasks, state.tasks)]
    causes = sum((Counter(t["crashes_detected"]) for t in tasks), Counter())
    crashes = sum(causes.values())
    mismatches = sum(t["mismatches_detected"] for t in tasks)
    return {
        "nodes_quarantined": dict(state.record.quarantined),
        "replicas_launched": sum(t["replicas_launched"] for t in tasks),
        "phases_per_task": dict(sorted(Counter(t["phases"] for t in tasks).items())),
        "extra_work_bytes": sum(t["extra_work_bytes"] for t in tasks),
        "faults": {"nodes_lost": sorted(state.lost_nodes),
                   "detected": {"crash": crashes, "silent": mismatches},
                   "crashes_detected_by": dict(sorted(causes.items())),
                   "corrected": {"crash": crashes if succeeded else 0,
                                 "silent": mismatches if succeeded else 0}},
        "per_task": tasks,
    }


def hadoop_job_counters(section: dict | None) -> dict:
    """Hadoop's ``Job Counters`` (``{name: count}``) of the jobs a Hadoop runner's report
    section lists (``{"submitted": [{"counters": {group: {name: count}}}, ...]}``; None: no
    section), summed over them (launched and failed tasks add up; schemes se and none, the
    callers, run one Hadoop job)."""
    total: Counter = Counter()
    for job in (section or {}).get("submitted", ()):
        total.update(job.get("counters", {}).get(JOB_COUNTERS, {}))
    return dict(total)


def _hadoop_figures(plan, jobs: dict) -> dict:
    """The map stage's figures when Hadoop re-executed and speculated on its own (se, none).

    ``jobs``: Hadoop's ``Job Counters``, ``{name: count}``. Crashes detected are the failed
    map attempts Hadoop counted; the extra work in bytes is not measured (Hadoop does not
    say how far a killed speculative attempt got).
    """
    failed = jobs.get("Failed map tasks", 0)
    return {
        "replicas_launched": jobs.get("Launched map tasks", len(plan.tasks)),
        "phases_per_task": {"1": len(plan.tasks)},
        "extra_work_bytes": 0, "extra_work_measured": False,
        "speculative_attempts_killed": jobs.get("Killed map tasks", 0),
        "faults": {"nodes_lost": [], "detected": {"crash": failed, "silent": 0},
                   "crashes_detected_by": {"hadoop": failed} if failed else {},
                   "corrected": {"crash": failed, "silent": 0}},
        "per_task": [],
    }


def summary_lines(report: dict) -> list[str]:
    """A few human lines about ``report``, for the console."""
    tol, faults = report["tolerance"], report["faults"]
    phases = ", ".join(f"{n} phase(s): {c} task(s)" for n, c in report["phases_per_task"].items())
    lines = [
        f"scheme {report['scheme']} (f_c={tol['crash']}, f_s={tol['silent']}): "
        f"{report['tasks']} map tasks, {report['replicas_launched']} replicas launched "
        f"({report['replicas_per_task']} per task), {phases}",
        (f"extra work: {format_bytes(report['extra_work_bytes'])} beyond one copy of "
         f"{format_bytes(report['input_bytes'])} of input"
         if report.get("extra_work_measured", True) else
         f"extra work: not measured (Hadoop does not say how far a failed or killed attempt "
         f"got) for {format_bytes(report['input_bytes'])} of input"),
        f"faults injected: {faults['injected']['crash']} crash, {faults['injected']['silent']}"
        f" silent{_modes(faults['injected_by_mode'])}; detected: "
        f"{faults['detected']['crash']} crash{_modes(faults['crashes_detected_by'])}, "
        f"{faults['detected']['silent']} silent; corrected: {faults['corrected']['crash']} "
        f"crash, {faults['corrected']['silent']} silent",
        *_planned_lines(faults),
        _times(report),
    ]
    if placement_line(report.get("placement")):
        lines.append(placement_line(report["placement"]))
    how = (report.get("placement") or {}).get("lost_hosts") or {}
    known = list(faults.get("nodes_lost") or [])  # the core's; then any found later
    lost = known + [host for host in how if host not in known]
    if lost:
        lines.append("nodes lost: " + ", ".join(
            f"{node} ({how[node]})" if node in how else node for node in lost))
    if report.get("nodes_quarantined"):
        lines.append("nodes quarantined (no new replicas): " + ", ".join(
            f"{node} ({why})" for node, why in report["nodes_quarantined"].items()))
    for warning in (report.get("security") or {}).get("warnings", []):
        lines.append(f"warning: {warning}")
    if not report["silent_errors_checked"]:
        lines.append(f"note: scheme {report['scheme']} does not check for silent errors: "
                     f"a silently corrupted map output would go undetected")
    return lines


def _planned_lines(faults: dict) -> list[str]:
    """The planned-against-fired line (none when no fault was planned), and a warning
    naming each planned fault that did not fire."""
    planned, fired = faults.get("planned"), faults.get("fired")
    if not planned or not sum(planned.values()):
        return []
    moved = faults.get("fired_on_sibling", 0)
    lines = [f"faults planned: {planned['crash']} crash, {planned['silent']} silent; fired: "
             f"{fired['crash']} crash, {fired['silent']} silent"
             + (f" ({moved} by the sibling that took over their replica's sub-split)"
                if moved else "")]
    missed = faults.get("not_fired", [])
    if missed:
        named = "; ".join(_fault_text(m) for m in missed[:5])
        lines.append(f"warning: {len(missed)} of {sum(planned.values())} planned fault(s) "
                     f"did not fire: {named}{'; …' if len(missed) > 5 else ''}")
    return lines


def _fault_text(fault: dict) -> str:
    if "node" in fault:
        return f"loss of node {fault['node']}"
    return (f"task {fault['task']} replica {fault['replica']} {fault['kind']} "
            f"({fault['mode']}, phase {fault['phase']})")


def placement_line(section: dict | None) -> str | None:
    """The console's line about the Hadoop runner's ``placement`` section
    (:func:`dirft.runners.hadoop_report.placement`), or None without one:
    ``placement: 15 of 16 replicas data-local (94%), 15 on their planned host, 0 sharing a
    host with a replica of their task; manifests: 9 of 9 on their planned host's DataNode``."""
    if not section or not section.get("registered_replicas"):
        return None
    line = (f"placement: {section['data_local_replicas']} of {section['registered_replicas']}"
            f" replicas data-local ({section['data_local_share']:.0%}), "
            f"{section['ran_on_planned_host']} on their planned host, "
            f"{section['replicas_sharing_a_host']} sharing a host with a replica of their task")
    files = section.get("manifests")
    if files:
        line += (f"; manifests: {files['on_planned_host']} of {files['map_tasks']} on their "
                 f"planned host's DataNode")
    return line


def _seconds(value: float | None) -> float | None:
    """``value`` seconds to the millisecond; None (not measured) stays None."""
    return None if value is None else round(value, 3)


def _times(report: dict) -> str:
    if report["map_seconds"] is None or report["reduce_seconds"] is None:
        return (f"makespan {report['makespan_seconds']:.2f} s (map and reduce in one Hadoop "
                f"job: their times are not measured apart)")
    return (f"makespan {report['makespan_seconds']:.2f} s (map {report['map_seconds']:.2f} s, "
            f"reduce {report['reduce_seconds']:.2f} s)")


def _modes(counts: dict) -> str:
    return f" ({', '.join(f'{k} {v}' for k, v in counts.items())})" if counts else ""
