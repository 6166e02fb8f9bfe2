"""The benchmark's sections: each measures its figures and returns table rows and notes.

Every section takes a :class:`Settings` and returns ``(figures, notes)``: a list of
:class:`~bench.common.Figure` rows for the one table and a list of text lines (breakdowns,
profiles, the raw medians) printed after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from bench import overhead, planner, response, service, signing
from bench.common import (Figure, alternate, at_least, at_most, cores, median,
                          paired_ratio)


@dataclass
class Settings:
    """What a run of the benchmark uses: ``workdir`` (scratch), ``input_path`` (the
    64 MiB split), ``reps`` (repetitions of each side-by-side comparison), ``budget_s``
    (seconds after which a section starts no new repetition), ``job`` (plain|mrjob),
    ``clients`` and ``messages`` (voting service load), ``profile`` (profile the
    service), ``log`` (progress lines)."""

    workdir: str
    input_path: str
    reps: int = 3
    budget_s: float = 150.0
    job: str = "plain"
    clients: int = 4
    messages: int = 6000
    profile: bool = False
    log: Callable[[str], None] = field(default=print)


# --------------------------------------------------------------------------- response

def _job_runs(s: Settings, variants: dict) -> tuple[dict, dict]:
    """Alternate the job ``variants``; return ({name: [map s]}, {name: [makespan s]})."""
    makespans: dict[str, list] = {name: [] for name in variants}

    def runner(name: str, variant: response.Variant):
        def run() -> float:
            report = response.run_job(s.input_path, variant, s.workdir, s.job)
            makespans[name].append(report["makespan_seconds"])
            return report["map_seconds"]
        return run
    maps = alternate({n: runner(n, v) for n, v in variants.items()}, s.reps, s.log,
                     s.budget_s)
    return maps, makespans


def _ratio_row(name: str, maps: dict, spans: dict, a: str, b: str, target: str,
               met: Callable, used: str, model: str) -> Figure:
    """A row whose value is the paired ratio of ``a``'s and ``b``'s map seconds."""
    value = paired_ratio(maps[a], maps[b])
    detail = (f"map s median {median(maps[a]):.2f} / {median(maps[b]):.2f}; makespan "
              f"ratio {paired_ratio(spans[a], spans[b]):.3f}; {len(maps[a])} pairs; "
              f"model {model}")
    return Figure(name, value, "{:.3f}", target, met(value), used, detail)


def response_section(s: Settings) -> tuple[list, list]:
    """Response time without fault (R = 2 and R = 3) and after one crash (R = 2)."""
    se_why = response.se_status(s.workdir)
    V = response.Variant
    kill = ("dirft.fault.crash.mode=kill",)  # SIGKILL at a seeded point inside phase 1
    r2 = {"dirft": V("dirft"), "frft": V("frft"), "none": V("none"),
          "dirft crash": V("dirft", fault=True), "none crash": V("none", fault=True),
          "dirft kill": V("dirft", fault=True, extra=kill),
          "none kill": V("none", fault=True, extra=kill)}
    if not se_why:
        r2 |= {"se": V("se"), "se crash": V("se", fault=True),
               "se kill": V("se", fault=True, extra=kill)}
    s.log(f"response time, f_c=1 (R=2), {s.job} word count on one 64 MiB split:")
    maps, spans = _job_runs(s, r2)
    s.log("response time, f_s=1 (R=3):")
    maps3, spans3 = _job_runs(s, {"dirft": V("dirft", 0, 1, nodes=3),
                                  "frft": V("frft", 0, 1, nodes=3)})
    used2 = f"{cores()} cores; 2 nodes x 1 slot: the 2 replicas run at once, 1 per core"
    used3 = f"{cores()} cores; 3 nodes x 1 slot: the 3 replicas run at once on 2 cores"
    rows = [
        _ratio_row("response, no fault: DIRFT / FRFT, f_c=1 (R=2)", maps, spans, "dirft",
                   "frft", "<= 0.53 (limit 0.50)", lambda v: at_most(v, 0.53), used2,
                   "0.50"),
        _ratio_row("response, no fault: DIRFT / FRFT, f_s=1 (R=3)", maps3, spans3, "dirft",
                   "frft", "<= 0.70 (limit 0.667)", lambda v: at_most(v, 0.70), used3,
                   "0.667 (both CPU-bound on 2 cores: 2 vs 3 split-equivalents)"),
        _ratio_row("response, no fault: DIRFT / none, f_c=1", maps, spans, "dirft", "none",
                   "— (model 0.50)", lambda v: None,
                   f"{cores()} cores; none: 1 replica (mapper, runtime, sort: up to "
                   "2 cores busy)", "0.50"),
    ]
    rows += _se_rows(maps, spans, se_why, used2)
    rows += _recovery_rows(maps, spans, used2)
    return rows, []


def _se_rows(maps: dict, spans: dict, se_why: str, used: str) -> list:
    """DIRFT / SE without fault: measured if ``se`` runs, else a "not built yet" row."""
    name = "response, no fault: DIRFT / SE, f_c=1"
    if se_why:
        return [Figure(name, None, "{:.3f}", "— (model 0.50)", None, used,
                       f"not built yet: {se_why[:120]}")]
    return [_ratio_row(name, maps, spans, "dirft", "se", "— (model 0.50)",
                       lambda v: None, used, "0.50")]


def _recovery_rows(maps: dict, spans: dict, used: str) -> list:
    """Crash at the end of phase 1 (paper mode): each scheme against its fault-free run."""
    mode = "recovery, crash at end of phase (paper mode)"
    rows = [
        _ratio_row(f"{mode}: DIRFT crash / DIRFT no fault", maps, spans, "dirft crash",
                   "dirft", "— (model 2.0)", lambda v: None, used,
                   "2.0: the survivor runs the lost half in phase 2"),
        _ratio_row(f"{mode}: none crash / none no fault", maps, spans, "none crash", "none",
                   "— (model 2.0)", lambda v: None, "1 replica, then its re-execution",
                   "2.0: the whole split again"),
        _ratio_row(f"{mode}: DIRFT crash / none crash", maps, spans, "dirft crash",
                   "none crash", "— (model 0.50)", lambda v: None, used, "0.50"),
    ]
    if "se crash" in maps:
        rows.append(_ratio_row(f"{mode}: SE crash / SE no fault", maps, spans, "se crash",
                               "se", "—", lambda v: None, used, "backup copy"))
    else:
        rows.append(Figure(f"{mode}: SE crash / SE no fault", None, "{:.3f}", "—", None,
                           used, "not built yet (SE)"))
    return rows + _kill_rows(maps, spans, used)


def _kill_rows(maps: dict, spans: dict, used: str) -> list:
    """One replica SIGKILLed inside phase 1: each scheme against its own fault-free run."""
    mode = "recovery, killed mid-phase"
    rows = [_ratio_row(f"{mode}: {name} kill / {name} no fault", maps, spans,
                       f"{key} kill", key, "—", lambda v: None, used, model)
            for name, key, model in (("DIRFT", "dirft", "< 2.0: the survivor takes the "
                                      "killed half once it is found dead"),
                                     ("none", "none", "1 + the killed fraction: re-run"),
                                     ("SE", "se", "1 + the killed fraction: backup"))
            if f"{key} kill" in maps]
    if "dirft kill" in maps and "none kill" in maps:
        rows.append(_ratio_row(f"{mode}: DIRFT kill / none kill", maps, spans, "dirft kill",
                               "none kill", "—", lambda v: None, used, "about 0.5"))
    return rows


# --------------------------------------------------------------------------- overhead

def overhead_section(s: Settings) -> tuple[list, list]:
    """One replica under the runtime (scheme none) against the bare programs."""
    rows, notes = [], []
    for name, task in overhead.tasks().items():
        s.log(f"layer overhead, {name}: dirft job (none, R=1) / bare / run_map_phase")
        runs, cpu = _overhead_runs(task, s)
        value = paired_ratio(runs["job"], runs["bare"])
        heavy = name != "cat"
        rows.append(Figure(
            f"layer overhead: 1 replica under dirft / bare, {_task_label(name)}", value,
            "{:.3f}", "<= 1.05" if heavy else "— (worst case)",
            at_most(value, 1.05) if heavy else None,
            f"{cores()} cores; 1 node x 1 slot, 1 replica",
            f"s median {median(runs['job']):.2f} / {median(runs['bare']):.2f}; CPU s "
            f"ratio {paired_ratio(cpu['job'], cpu['bare']):.3f} ({median(cpu['job']):.2f} / "
            f"{median(cpu['bare']):.2f}); run_map_phase in-process / bare "
            f"{paired_ratio(runs['phase'], runs['bare']):.3f}"))
        notes += _breakdown_notes(name, task, s, runs)
    return rows, notes


def _overhead_runs(task, s: Settings) -> tuple[dict, dict]:
    """Alternate job / bare / in-process phase for ``task``; return (wall s, CPU s) by
    variant, CPU being that of all the processes each run started."""
    sides = {"job": overhead.run_job, "bare": overhead.run_bare, "phase": overhead.run_phase}
    cpu: dict[str, list] = {name: [] for name in sides}

    def measured(name: str):
        def run() -> float:
            before = overhead.children_cpu()
            seconds = sides[name](task, s.input_path, s.workdir)
            cpu[name].append(overhead.children_cpu() - before)
            return seconds
        return run
    runs = alternate({name: measured(name) for name in sides}, s.reps, s.log,
                     s.budget_s / 2)
    return runs, cpu


def _task_label(name: str) -> str:
    """How the table names an overhead task."""
    return "word count mapper+sort+combiner" if name == "wordcount" else f"{name} mapper"


def _breakdown_notes(name: str, task, s: Settings, runs: dict) -> list:
    """Lines breaking the overhead of ``task`` down into timed pieces."""
    pieces = overhead.breakdown(task, s.input_path, s.workdir, reps=min(3, s.reps))
    extra = median(runs["job"]) - median(runs["bare"])
    lines = [f"overhead breakdown, {_task_label(name)}: job - bare = {extra:+.3f} s "
             f"(medians); pieces timed in-process (medians, dirft way - bare way):"]
    lines += [f"  {piece:16s} {seconds:+.3f} s" for piece, seconds in pieces.items()]
    rest = extra - sum(pieces.values())
    lines.append(f"  {'rest':16s} {rest:+.3f} s  (runner loop, exit detection, the "
                 "feeder/reader threads competing with the mapper for the cores, noise)")
    return lines


# --------------------------------------------------------------------------- service

def service_section(s: Settings) -> tuple[list, list]:
    """Voting service throughput and latency (Driver and trivial dispatchers), and the
    production client's cost."""
    rows, notes = [], []
    used = f"{cores()} cores; service: 1 thread; load: {s.clients} client processes"
    for kind, label in (("driver", "real Driver"), ("trivial", "trivial dispatcher")):
        s.log(f"voting service, {label}: {s.clients} clients x {s.messages} messages")
        r = service.measure(kind, s.clients, s.messages, profile=s.profile)
        mix = (f"1 in 3 with a report, a job of {s.clients * (s.messages // 3) // 2:,} "
               "tasks" if kind == "driver" else "every one a report")
        detail = (f"{sum(r.statuses.values())} answers {dict(r.statuses)}; {mix}; "
                  f"server CPU {r.server_cpu_per_msg * 1e6:.0f} us/msg = "
                  f"{1 / r.server_cpu_per_msg:.0f}/s per core")
        rows.append(Figure(f"voting service, {label}: signed messages/s", r.rate,
                           "{:,.0f}", ">= 10,000/s", at_least(r.rate, 10000), used, detail))
        rows.append(Figure(f"voting service, {label}: p99 latency (ms)", r.p99 * 1e3,
                           "{:.2f}", "<= 20 ms", at_most(r.p99 * 1e3, 20), used,
                           f"p50 {r.p50 * 1e3:.2f} ms"))
        notes += [f"profile of the service thread ({label}), by own CPU time:",
                  r.profile] if r.profile else []
    rate, cpu = service.client_cost()
    rows.append(Figure("VotingClient (requests): calls/s, one process", rate, "{:,.0f}",
                       "—", None, "1 thread + the service in the same process",
                       f"client CPU {cpu * 1e6:.0f} us/call"))
    return rows, notes


# --------------------------------------------------------------------------- signing

def signing_section(s: Settings) -> tuple[list, list]:
    """Streaming SHA-256 of the runtime's sink against raw hashlib, same bytes."""
    chunks = signing.load_chunks(s.input_path)
    size = sum(len(c) for c in chunks)
    s.log(f"signing: {size} bytes in 64 KiB chunks, sink / raw / normalize+sink")
    runs = alternate({"sink": lambda: signing.sink(chunks),
                      "raw": lambda: signing.raw(chunks),
                      "normalize+sink": lambda: signing.normalize_sink(chunks)},
                     max(5, s.reps), s.log)
    mbps = {name: size / median(t) / 1e6 for name, t in runs.items()}
    value = paired_ratio(runs["raw"], runs["sink"])
    used = "1 core (in-process)"
    return [Figure("signing: _Sink SHA-256 bytes/s / raw hashlib bytes/s", value, "{:.3f}",
                   ">= 0.90", at_least(value, 0.90), used,
                   f"{mbps['sink']:.0f} vs {mbps['raw']:.0f} MB/s"),
            Figure("signing incl. LineNormalizer: bytes/s / raw hashlib", paired_ratio(
                runs["raw"], runs["normalize+sink"]), "{:.3f}", "—", None, used,
                f"{mbps['normalize+sink']:.0f} MB/s (split text, all lines have a tab)")], []


# --------------------------------------------------------------------------- planner

def planner_section(s: Settings) -> tuple[list, list]:
    """build_plan for 100,000 splits, R = 3, 30 nodes: best wall time of the repetitions."""
    rows = []
    for name, (files, block) in planner.shapes().items():
        s.log(f"planner: {name}")
        runs = [planner.plan_once(files, block) for _ in range(max(1, min(3, s.reps)))]
        walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
        rows.append(Figure(f"planner: {runs[0][2]:,} splits, R=3, 30 nodes, {name} (s)",
                           min(walls), "{:.2f}", "< 1 s", min(walls) < 1.0,
                           "1 core (in-process)",
                           f"best of {len(runs)}; median {median(walls):.2f} s; "
                           f"CPU best {min(cpus):.2f} s"))
    return rows, []


SECTIONS = {"response": response_section, "overhead": overhead_section,
            "service": service_section, "signing": signing_section,
            "planner": planner_section}
"""Sections in the order they run and print."""


def needs_input(names) -> bool:
    """True if any of the sections ``names`` reads the 64 MiB split."""
    return bool(set(names) & {"response", "overhead", "signing"})


def scratch_input(workdir: str) -> str:
    """Generate the 64 MiB split under ``workdir``; return its path."""
    return response.make_input(workdir)

