"""Faults against Hadoop's own recovery: plain streaming, dirft ``none`` and DIRFT side by side.

Usage (inside the cluster's network; the input an HDFS text file of ``--maps`` blocks)::

    . /opt/hadoop-node/env.sh
    hx .venv/bin/python -m bench.hadoop_recovery --input /tmp/bench-in/text64.txt \\
        --cases free,hang,kill,silent --rounds 2 --json recovery.json

On the mini cluster (``. /opt/hmc/env.sh``, ``hmx …``) add ``--extra
dirft.service.bind.host=0.0.0.0 --extra dirft.service.advertise.host=master``; the
lost-worker case also needs ``--lost-node w2`` (and runs ``hmc kill-node w2``, then ``hmc
start-node w2``: only with ``--allow-kill-node``, where killing nodes is agreed;
``--dry-run-kill`` logs the two
commands instead, and its runs are discarded as "0 fired"; ``--kill-when-running`` waits
until the node runs a task of the run's own job, found by the output path in its job name,
:func:`job_tag`). Each round runs every case, and
in each case the three variants in turn, the same job (``-mapper cat -reducer cat``, one
reduce; with ``--map-rounds N`` the mapper is :mod:`bench.cpu_mapper` at N SHA-256 rounds a
line instead, whose output is ``cat``'s: a map then does work that a fault wastes and Hadoop's
re-run must redo, as a real job's map does) over the same input:

* ``plain``: ``hadoop jar $STREAMING_JAR``, the mapper run through :mod:`bench.fault_mapper`
  (shipped with ``-files``), which gives attempt 0 of map task K the round's fault half way
  through its split (K = the task dirft's fault injector hits with seed = round);
* ``none``: ``dirft streaming --runner hadoop -D dirft.scheme=none``;
* ``dirft``: the same with dirft's defaults (DIRFT, f_c = 1), f_s = 1 for the silent case.

Cases: ``free`` (no fault), ``hang`` (the attempt, or one replica, is SIGSTOPped), ``kill``
(SIGKILLed), ``silent`` (one byte of its output flipped; plain Hadoop commits it, so do
``none``'s single replicas), ``lost`` (worker ``--lost-node`` killed ``--kill-after``
seconds into the job, restarted ``--restart-after`` seconds later) and ``cpu1`` (one split,
``--cpu-input``, a CPU-heavy mapper :mod:`bench.cpu_mapper`; ``none`` and ``dirft`` only).
dirft's faults: ``mapred.map.tasks.fault.inject=true``, ``percent`` = 100 / ``--maps`` (one
task), ``dirft.fault.seed`` = round. A run counts only if it exited 0 and its planned fault
fired (dirft: the report's faults injected; plain: the wrapper's marker file; lost: the node
ran an attempt of the job when it was killed, by JobHistory or, with ``--kill-when-running``,
by the trigger itself: :func:`lost_hit`) — otherwise it is discarded, and the JSON and
the notes say why (:mod:`bench.recovery_figures`). Each run starts once the ResourceManager
holds no container (:func:`bench.hadoop_history.wait_idle`, at most 30 s, the wait kept as
``idle_wait_s``): the previous run's ApplicationMaster outlives its client by a few seconds,
and would otherwise shape the next run's containers. Every run's output is compared with the
first fault-free output (lines committed that the fault-free output has not), and what
Hadoop did (speculative attempts, re-runs, failed and killed maps, lost nodes) is read
from JobHistory (:mod:`bench.hadoop_history`). Prints the table of ratios and writes every
run to ``--json``. Outputs go under ``/tmp/dirft-bench-*`` on HDFS and are removed.

A plain ``hadoop jar`` whose worker was lost may exit non-zero after its job succeeded:
once the ApplicationMaster is gone the client asks JobHistory for the job's status, and
JobHistory answers 404 until it holds the job's history file ("Job status not available",
exit 5; seen on the mini cluster after ``kill-node``). Such a run is not discarded when
the ResourceManager says its one application ``FINISHED`` with final status ``SUCCEEDED``
and the output folder has ``_SUCCESS``: it counts with exit 0, its output compared as any
run's, its seconds taken from the start to the application's ``finishedTime`` (not the
client's wait for JobHistory), and the JSON keeps the client's exit, seconds and a note
(:meth:`Bench.settle`).
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import json
import os
import re
import sys
import time
import uuid

from bench import recovery_figures as figures
from bench.common import load_average
from bench.hadoop_history import (application_end, fetch_job, lost_nodes, node_hit,
                                  service_urls, summarize, wait_idle)
from bench.recovery_run import (NodeKiller, Scratch, applications_named, run_command,
                                runs_task_container)
from dirft.config.hadoop_client import conf_dir
from dirft.runners.hadoop_launcher import find_hadoop
from dirft.storage.hdfs import HdfsStorage

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = ("free", "hang", "kill", "lost", "silent", "cpu1")
#: ``hmc`` is a shell function of the mini cluster's env.sh (which exports HMC_DIR).
HMC = """bash -c '. "$HMC_DIR/env.sh" && hmc {verb} {{node}}'"""
JOB_ID = re.compile(r"\bjob_\d+_\d+\b")


def parse(argv: list | None) -> argparse.Namespace:
    """The command line (module doc)."""
    p = argparse.ArgumentParser(prog="python -m bench.hadoop_recovery")
    p.add_argument("--input", help="HDFS text file of --maps blocks (required to run)")
    p.add_argument("--first-round", type=int, default=0,
                   help="number (and fault seed) of the first round (0)")
    p.add_argument("--report", metavar="JSON", nargs="+",
                   help="print the table and discards of JSONs written earlier (even by runs "
                   "cut short; each file's rounds kept apart), run nothing")
    p.add_argument("--maps", type=int, default=8, help="map tasks of a job over --input (8)")
    p.add_argument("--cases", default="free,hang,kill,silent",
                   help=f"comma-separated, of {','.join(CASES)}")
    p.add_argument("--rounds", type=int, default=2, help="rounds of every case (2)")
    p.add_argument("--budget", type=float, default=float("inf"),
                   help="seconds after which no new round starts")
    p.add_argument("--at", type=float, default=0.5, help="share of the split before the "
                   "plain job's fault (0.5)")
    p.add_argument("--extra", action="append", default=[],
                   help="more -D key=value for both dirft variants (repeatable)")
    p.add_argument("--python", default="python3", help="the cluster's Python for wrappers")
    p.add_argument("--cpu-input", help="HDFS file of one split for the cpu1 case")
    p.add_argument("--cpu-rounds", type=int, default=200, help="SHA-256 rounds per line")
    p.add_argument("--map-rounds", type=int, default=0,
                   help="the other cases' mapper: cat (0) or cpu_mapper.py at this many "
                        "SHA-256 rounds a line, the same in every variant (0)")
    p.add_argument("--lost-node", help="worker killed in the lost case, e.g. w2")
    p.add_argument("--kill-after", type=float, default=25.0, help="seconds into the job")
    p.add_argument("--kill-when-running", action="store_true",
                   help="after --kill-after, wait until the node runs a task container")
    p.add_argument("--restart-after", type=float, default=5.0, help="seconds after the kill")
    p.add_argument("--kill-cmd", default=HMC.format(verb="kill-node"),
                   help="command that kills {node} (default: the mini cluster's hmc)")
    p.add_argument("--start-cmd", default=HMC.format(verb="start-node"),
                   help="command that starts {node} again")
    p.add_argument("--dry-run-kill", action="store_true", help="log the node commands only")
    p.add_argument("--allow-kill-node", action="store_true",
                   help="really kill --lost-node (only where the cluster's users agreed)")
    p.add_argument("--json", default="hadoop_recovery.json", help="where to write every run")
    args = p.parse_args(argv)
    args.cases = [c for c in args.cases.split(",") if c]
    check_args(p, args)
    return args


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse unknown cases, a lost case without a node, cpu1 without its input."""
    if not (args.input or args.report):
        p.error("--input is required (or --report JSON)")
    unknown = set(args.cases) - set(CASES)
    if unknown:
        p.error(f"unknown case(s) {sorted(unknown)}; choose from {CASES}")
    if "lost" in args.cases and not args.lost_node:
        p.error("the lost case needs --lost-node (e.g. w2)")
    if "lost" in args.cases and not (args.dry_run_kill or args.allow_kill_node):
        p.error("the lost case kills a worker of a shared cluster: say --allow-kill-node "
                "(or --dry-run-kill to run it without killing)")
    if "cpu1" in args.cases and not args.cpu_input:
        p.error("the cpu1 case needs --cpu-input (an HDFS file of one split)")
    if args.cases and "free" in args.cases and args.cases[0] != "free":
        args.cases.remove("free")
        args.cases.insert(0, "free")  # the fault-free output is every round's reference


def variants(case: str) -> tuple[str, ...]:
    """The variants run in ``case``: cpu1 compares dirft's two schemes only."""
    return ("none", "dirft") if case == "cpu1" else figures.VARIANTS


def fault_keys(case: str, maps: int, seed: int) -> list[str]:
    """dirft's ``-D`` pairs giving one of ``maps`` tasks the ``case``'s fault (none for
    free, lost and cpu1: those get theirs from outside or none at all)."""
    modes = {"hang": ["dirft.fault.crash.mode=hang"], "kill": ["dirft.fault.crash.mode=kill"],
             "silent": ["mapred.map.tasks.fault.nature=2", "dirft.fault.silent.mode=data"]}
    if case not in modes:
        return []
    return ["mapred.map.tasks.fault.inject=true",
            f"mapred.map.tasks.fault.percent={100 / maps!r}", f"dirft.fault.seed={seed}",
            *modes[case]]


def hit_task(maps: int, seed: int) -> int:
    """The task dirft's fault injector hits among ``maps`` at 100 / ``maps`` percent with
    ``seed`` (:func:`fault_injector.plan.plan_faults` draws them so), the plain job's K."""
    from dirft.core.scheme import Tolerance, make_scheme
    from fault_injector.plan import plan_faults
    scheme = make_scheme("dirft", Tolerance.from_paper_keys(1, 1))
    plan = plan_faults(maps, scheme, 100 / maps, seed, "kill", "data", -1, ["n"], 0, 1.0,
                       True, 0, 0.0)
    return plan.tasks_hit[0]


def plain_argv(args, case: str, seed: int, out: str, markers: str, home: str) -> list:
    """``hadoop jar`` streaming with the fault wrapper (module doc)."""
    hadoop, jar = find_hadoop(home, "", "")
    mode = case if case in ("hang", "kill", "silent") else "off"
    files, mapper = map_program(args)
    wrapper = (f"{args.python} fault_mapper.py --mode {mode} --task {hit_task(args.maps, seed)}"
               f" --at {args.at} --marker {markers} -- {mapper}")
    return [*hadoop, "jar", jar, "-D", f"mapreduce.job.name=dirft-bench-{case}-{seed} "
            f"{job_tag(out)}",
            "-files", ",".join([os.path.join(HERE, "fault_mapper.py"), *files]),
            "-input", args.input, "-output", out, "-mapper", wrapper, "-reducer", "cat"]


def lost_hit(killed_at_ms: int, when_running: bool, jobs: list, node: str) -> str:
    """How the lost case's kill is known to have struck the run: ``"history"`` (JobHistory
    has an attempt of one of ``jobs`` running on ``node`` at ``killed_at_ms``),
    ``"trigger"`` (``--kill-when-running``: the kill waited until ``node``'s NodeManager
    listed a running task container of the run's own application, half a second before
    at most; JobHistory often keeps no record of an attempt killed with its node), or ""
    (no kill, or no sign that it struck)."""
    if not killed_at_ms:
        return ""
    if any(node_hit(job, node, killed_at_ms) for job in jobs):
        return "history"
    return "trigger" if when_running else ""


def map_program(args) -> tuple[list[str], str]:
    """The mapper of every case but cpu1: ``([files to ship], command)``. ``cat`` when
    ``--map-rounds`` is 0, else :mod:`bench.cpu_mapper` at that many SHA-256 rounds a line
    (its output is ``cat``'s: the map does work a fault can waste, and every variant does
    the same work)."""
    if not args.map_rounds:
        return [], "cat"
    return ([os.path.join(HERE, "cpu_mapper.py")],
            f"{args.python} cpu_mapper.py {args.map_rounds}")


def dirft_argv(args, variant: str, case: str, seed: int, out: str, home: str,
               url: str) -> list:
    """``dirft streaming --runner hadoop`` (scheme ``none`` or DIRFT) with the case's keys."""
    argv = [sys.executable, "-m", "dirft.cli", "streaming", "--runner", "hadoop",
            "-D", f"dirft.hadoop.home={home}", "-D", f"dirft.webhdfs.url={url}",
            "-D", "dirft.service.bind.host=127.0.0.1"]
    keys = [f"mapreduce.job.name=dirft-bench-{case}-{seed}-{variant} {job_tag(out)}",
            *args.extra, *fault_keys(case, args.maps, seed)]
    keys += ["dirft.scheme=none"] if variant == "none" else []
    for pair in keys:
        argv += ["-D", pair]
    if case == "cpu1":  # one split: Hadoop's rule would cut it in mapreduce.job.maps (2)
        return argv + ["-D", "mapreduce.job.maps=1", "-files",
                       os.path.join(HERE, "cpu_mapper.py"), "-input",
                       args.cpu_input, "-output", out, "-mapper",
                       f"{args.python} cpu_mapper.py {args.cpu_rounds}", "-reducer", "cat"]
    files, mapper = map_program(args)
    ship = ["-files", ",".join(files)] if files else []
    return argv + [*ship, "-input", args.input, "-output", out, "-mapper", mapper,
                   "-reducer", "cat"]


def job_tag(out: str) -> str:
    """The mark of one run's YARN applications (in their ``mapreduce.job.name``): its
    output path, unique per run. ``--kill-when-running`` kills the node only once it runs
    a task of an application so marked (a shared cluster runs others' tasks too)."""
    return f"[{out}]"


class Bench:
    """One benchmark run: its scratch, cluster endpoints, runs so far and references."""

    def __init__(self, args, home: str, url: str) -> None:
        self.args, self.home, self.url = args, home, url
        self.storage = HdfsStorage(url, os.environ.get("DIRFT_TEST_WEBHDFS_USER"))
        self.scratch = Scratch(self.storage, f"/tmp/dirft-bench-{uuid.uuid4().hex[:10]}")
        self.history, self.rm = service_urls(conf_dir(home))
        self.runs, self.references = [], {}
        self.killer = NodeKiller(args.kill_cmd, args.start_cmd, args.dry_run_kill, log)

    def one(self, rnd: int, case: str, variant: str) -> dict:
        """Run ``variant`` of ``case`` in round ``rnd``; return its run record (module doc)."""
        out, markers = self.scratch.output(f"{case}-{variant}-{rnd}"), self.scratch.markers()
        argv = (plain_argv(self.args, case, rnd, out, markers, self.home) if variant == "plain"
                else dirft_argv(self.args, variant, case, rnd, out, self.home, self.url))
        lost = case == "lost"
        ready = (functools.partial(runs_task_container, self.args.lost_node, apps=lambda:
                                   applications_named(self.rm, job_tag(out)))
                 if self.args.kill_when_running else None)
        strike = (lambda: self.killer.strike(self.args.lost_node, self.args.kill_after,
                                             self.args.restart_after, ready)) if lost else None
        idle_wait = wait_idle(self.rm)  # the last run's ApplicationMaster still ends
        started = time.time()
        done = run_command(argv, strike)
        run = {"round": rnd, "case": case, "variant": variant, "seed": rnd,
               "idle_wait_s": round(idle_wait, 1),
               "exit": done.returncode, "seconds": round(done.seconds, 3),
               "planned": 0 if case in ("free", "cpu1") else 1, "fired": 0,
               "stderr_tail": done.stderr[-800:] if done.returncode else ""}
        if variant == "plain" and done.returncode != 0:
            self.settle(run, out, done, started)
        self.inspect(run, out, markers, done)
        self.scratch.drop(out)
        log(f"  round {rnd} {case} {variant}: {run['seconds']:.1f} s, exit {run['exit']}, "
            f"fired {run['fired']}/{run['planned']}, wrong lines {run.get('wrong_lines')}")
        return run

    def inspect(self, run: dict, out: str, markers: str, done) -> None:
        """Fill in ``run``: faults fired, Hadoop's jobs and what they did, wrong lines."""
        report = self.scratch.report(out) if run["variant"] != "plain" else None
        if report:
            run["dirft"] = {k: report.get(k) for k in ("faults", "replicas_launched",
                                                       "phases_per_task", "tasks")}
        jobs = ([j["job_id"] for j in report["hadoop"]["submitted"] if j.get("job_id")]
                if report else sorted(set(JOB_ID.findall(done.stderr))))
        fetched = {j: self._fetch(j) for j in jobs}
        run["hadoop"] = {j: summarize(f) if "tasks" in f else f for j, f in fetched.items()}
        run["fired"] = self.fired(run, report, markers, fetched, done)
        if run["exit"] == 0:
            self.compare(run, out)

    def settle(self, run: dict, out: str, done, started: float) -> None:
        """A plain run whose client exited non-zero: count it (exit 0, seconds to the
        application's end) if its one application SUCCEEDED by the ResourceManager and
        ``out/_SUCCESS`` exists (module doc); else leave it failed."""
        jobs = sorted(set(JOB_ID.findall(done.stderr)))
        end = _safe(lambda: application_end(self.rm, jobs[0])) if len(jobs) == 1 else None
        if not isinstance(end, dict) or (end["state"], end["finalStatus"]) != (
                "FINISHED", "SUCCEEDED") or not self.storage.exists(out + "/_SUCCESS"):
            return
        run.update({"client_exit": done.returncode, "client_seconds": run["seconds"],
                    "exit": 0, "seconds": round(end["finishedTime"] / 1000 - started, 3),
                    "note": f"hadoop jar exited {done.returncode} after its job: the "
                            f"ResourceManager says {jobs[0]} SUCCEEDED and the output has "
                            f"_SUCCESS; counted with the seconds to the application's end"})

    def _fetch(self, job_id: str) -> dict:
        try:
            return fetch_job(self.history, job_id)
        except Exception as err:  # noqa: BLE001 - the history is a side note of the run
            return {"error": f"{type(err).__name__}: {err}"[:300]}

    def fired(self, run: dict, report, markers: str, fetched: dict, done) -> int:
        """Faults seen to fire: the lost node's hit, the wrapper's markers, dirft's report."""
        if run["case"] == "lost":
            run["lost_nodes"] = _safe(lambda: lost_nodes(self.rm))
            run["hit_by"] = lost_hit(done.killed_at_ms, self.args.kill_when_running, [
                f for f in fetched.values() if "tasks" in f], self.args.lost_node)
            return int(bool(run["hit_by"]))
        if run["variant"] == "plain":
            run["markers"] = self.scratch.read_markers(markers)
            return len(run["markers"])
        injected = (report or {}).get("faults", {}).get("injected", {})
        return sum(injected.values())

    def compare(self, run: dict, out: str) -> None:
        """Count ``run``'s output lines against the first fault-free output of its input;
        keep the SHA-256 of its output bytes (a hint across benchmark runs, not a check:
        a reduce's order of one key's values may differ from run to run)."""
        data = self.scratch.output_bytes(out)
        run["output_sha256"] = hashlib.sha256(data).hexdigest()
        lines = figures.count_lines(data)
        key = "cpu" if run["case"] == "cpu1" else "text"
        if run["case"] in ("free", "cpu1") and key not in self.references:
            self.references[key] = lines
        if key in self.references:
            run["wrong_lines"], run["missing_lines"] = figures.wrong_lines(
                lines, self.references[key])

    def rounds(self) -> None:
        """Every round of every case and variant, in turn; the JSON rewritten after each run."""
        start = time.monotonic()
        first = self.args.first_round
        for rnd in range(first, first + self.args.rounds):
            if rnd > first and time.monotonic() - start > self.args.budget:
                log(f"budget of {self.args.budget:.0f} s used: stopping before round {rnd}")
                break
            for case in self.args.cases:
                for variant in variants(case):
                    self.runs.append(self.one(rnd, case, variant))
                    self.write()

    def write(self) -> None:
        """Write the JSON: the command, load, every run (marked), the figures."""
        figures.mark(self.runs)
        data = {"argv": sys.argv, "when": _now(), "load_average": load_average(),
                "input": self.args.input, "maps": self.args.maps, "cases": self.args.cases,
                "figures": figures.figures(self.runs, self.args.cases), "runs": self.runs}
        with open(self.args.json, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)


def _safe(function):
    try:
        return function()
    except Exception as err:  # noqa: BLE001 - a side note of the run
        return f"{type(err).__name__}: {err}"[:200]


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def log(line: str) -> None:
    """Progress to stderr."""
    print(line, file=sys.stderr, flush=True)


def main(argv: list | None = None) -> int:
    """Run the benchmark; print the table and notes. Returns 0, or 2 without a cluster."""
    args = parse(argv)
    if args.report:
        runs, cases = merged(args.report)
        print_results(figures.mark(runs), cases, " ".join(args.report))
        return 0
    home, url = os.environ.get("DIRFT_TEST_HADOOP_HOME"), os.environ.get("DIRFT_TEST_WEBHDFS_URL")
    if not (home and url):
        print("set DIRFT_TEST_HADOOP_HOME and DIRFT_TEST_WEBHDFS_URL", file=sys.stderr)
        return 2
    bench = Bench(args, home, url)
    try:
        bench.rounds()
    finally:
        bench.write()
        bench.scratch.close()
    print_results(bench.runs, args.cases, args.json)
    return 0


def merged(paths: list) -> tuple[list, list]:
    """(runs, cases) of several saved JSONs; with more than one file, a run's round becomes
    ``"<file number>:<round>"`` so that only runs of one file's round are paired."""
    runs, cases = [], []
    for number, path in enumerate(paths):
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        for run in saved["runs"]:
            runs.append({**run, "round": f"{number}:{run['round']}"} if len(paths) > 1 else run)
        cases += [c for c in saved["cases"] if c not in cases]
    return runs, cases


def print_results(runs: list, cases: list, where: str) -> None:
    """Print the table, the time and load, and one line per discarded run."""
    print(figures.table(runs, cases))
    print(f"\n{_now()}; load average: {load_average()}; every run in {where}")
    for line in figures.discarded(runs):
        print(f"- discarded: {line}")


if __name__ == "__main__":
    sys.exit(main())
