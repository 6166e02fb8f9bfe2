"""The job report: what each map task cost and which faults were injected, seen and fixed.

Built from the core's per-task bookkeeping and the runner's measurements, written as
``_dirft_report.json`` in the output directory and summarised in a few lines on the console.
"""

from collections import Counter

from dirft.counters import Counters
from dirft.units import format_bytes


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


def build_report(job_id: str, conf, plan, state, fired: list[dict], fault_plan,
                 timings: dict, counters: Counters, succeeded: bool) -> dict:
    """The whole report as a JSON-ready dict.

    ``fired``: faults the fault injector recorded as fired (dicts with ``kind``, ``mode``);
    ``fault_plan``: the job's :class:`~fault_injector.plan.FaultPlan`; ``timings``: seconds
    by stage (``makespan``, ``map``, ``reduce``); ``counters``: the job's counters. Crashes
    detected count replicas found dead, by cause (process exit, heartbeat timeout, node
    loss, user program gave up): one lost node is one fault injected and as many replicas
    detected dead as it ran. Silent errors detected count sub-splits whose votes disagreed.
    """
    scheme = plan.scheme
    tasks = [task_entry(p, s) for p, s in zip(plan.tasks, state.tasks)]
    injected = Counter(f["kind"] for f in fired)
    causes = sum((Counter(t["crashes_detected"]) for t in tasks), Counter())
    crashes = sum(causes.values())
    mismatches = sum(t["mismatches_detected"] for t in tasks)
    return {
        "job_id": job_id,
        "scheme": scheme.name,
        "adaptive": scheme.adaptive is not None,
        "nodes_quarantined": dict(state.record.quarantined),
        "tolerance": {"crash": scheme.tolerance.crash, "silent": scheme.tolerance.silent},
        "replicas_per_task": scheme.initial_replicas,
        "subsplits_per_task": scheme.subsplits,
        "quorum": scheme.quorum,
        "silent_errors_checked": scheme.checks_silent,
        "cluster": {"nodes": conf.get("dirft.nodes"), "slots_per_node": conf.get("dirft.slots.per.node")},
        "tasks": len(tasks),
        "input_bytes": sum(p.split.length for p in plan.tasks),
        "replicas_launched": sum(t["replicas_launched"] for t in tasks),
        "phases_per_task": dict(sorted(Counter(t["phases"] for t in tasks).items())),
        "extra_work_bytes": sum(t["extra_work_bytes"] for t in tasks),
        "faults": {
            "tasks_hit": list(fault_plan.tasks_hit),
            "nodes_lost": sorted(state.lost_nodes),
            "stragglers": dict(fault_plan.stragglers),
            "injected": {"crash": injected["crash"], "silent": injected["silent"]},
            "injected_by_mode": dict(sorted(Counter(f["mode"] for f in fired).items())),
            "detected": {"crash": crashes, "silent": mismatches},
            "crashes_detected_by": dict(sorted(causes.items())),
            "corrected": {"crash": crashes if succeeded else 0,
                          "silent": mismatches if succeeded else 0},
        },
        "makespan_seconds": round(timings.get("makespan", 0.0), 3),
        "map_seconds": round(timings.get("map", 0.0), 3),
        "reduce_seconds": round(timings.get("reduce", 0.0), 3),
        "counters": counters.to_dict(),
        "per_task": tasks,
    }


def summary_lines(report: dict) -> list[str]:
    """A few human lines about ``report``, for the console."""
    tol, faults = report["tolerance"], report["faults"]
    phases = ", ".join(f"{n} phase(s): {c} task(s)" for n, c in report["phases_per_task"].items())
    lines = [
        f"scheme {report['scheme']} (f_c={tol['crash']}, f_s={tol['silent']}): "
        f"{report['tasks']} map tasks, {report['replicas_launched']} replicas launched "
        f"({report['replicas_per_task']} per task), {phases}",
        f"extra work: {format_bytes(report['extra_work_bytes'])} beyond one copy of "
        f"{format_bytes(report['input_bytes'])} of input",
        f"faults injected: {faults['injected']['crash']} crash, {faults['injected']['silent']}"
        f" silent{_modes(faults['injected_by_mode'])}; detected: "
        f"{faults['detected']['crash']} crash{_modes(faults['crashes_detected_by'])}, "
        f"{faults['detected']['silent']} silent; corrected: {faults['corrected']['crash']} "
        f"crash, {faults['corrected']['silent']} silent",
        f"makespan {report['makespan_seconds']:.2f} s (map {report['map_seconds']:.2f} s, "
        f"reduce {report['reduce_seconds']:.2f} s)",
    ]
    if report.get("nodes_quarantined"):
        lines.append("nodes quarantined (no new replicas): " + ", ".join(
            f"{node} ({why})" for node, why in report["nodes_quarantined"].items()))
    if not report["silent_errors_checked"]:
        lines.append(f"note: scheme {report['scheme']} does not check for silent errors: "
                     f"a silently corrupted map output would go undetected")
    return lines


def _modes(counts: dict) -> str:
    return f" ({', '.join(f'{k} {v}' for k, v in counts.items())})" if counts else ""
