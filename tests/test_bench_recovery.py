"""The pure parts of ``bench/hadoop_recovery`` (no cluster, nothing timed): the plain job's
fault wrapper (which attempt it hits, its byte flip, the fault it carries out on a real
child process), the ratios, medians and discards, Hadoop's recovery read from JobHistory
records, the lost-worker path with its node commands faked, and the command lines."""

import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # bench/ is not installed: import it from the checkout

from bench import fault_mapper, recovery_figures as figures  # noqa: E402
from bench.hadoop_history import node_hit, summarize  # noqa: E402
from bench.hadoop_recovery import (dirft_argv, fault_keys, hit_task, parse,  # noqa: E402
                                   plain_argv, variants)
from bench.recovery_run import NodeKiller, Strike, run_command, runs_task_container  # noqa: E402

WRAPPER = os.path.join(ROOT, "bench", "fault_mapper.py")


# -- the fault wrapper ---------------------------------------------------------------------
def test_only_attempt_zero_of_the_planned_map_is_hit():
    assert fault_mapper.parse_attempt("attempt_1796320041367_0029_m_000003_0") == ("m", 3, 0)
    assert fault_mapper.is_target("attempt_1796320041367_0029_m_000003_0", 3)
    assert not fault_mapper.is_target("attempt_1796320041367_0029_m_000003_1", 3)  # re-run
    assert not fault_mapper.is_target("attempt_1796320041367_0029_m_000004_0", 3)
    assert not fault_mapper.is_target("attempt_1796320041367_0029_r_000003_0", 3)
    with pytest.raises(ValueError):
        fault_mapper.parse_attempt("task_1796320041367_0029_m_000003")


@given(st.binary(max_size=64))
def test_a_flip_changes_one_bit_and_keeps_every_separator(line):
    flipped = fault_mapper.flip_byte(line)
    assert len(flipped) == len(line)
    changed = [i for i, (a, b) in enumerate(zip(line, flipped)) if a != b]
    assert len(changed) <= 1
    for sep in b"\t\n\r":
        assert flipped.count(sep) == line.count(sep)
    if any(b not in b"\t\n\r" and b ^ 1 not in b"\t\n\r" for b in line):
        assert len(changed) == 1 and line[changed[0]] ^ flipped[changed[0]] == 1


def test_threshold_is_the_share_of_the_split():
    assert fault_mapper.threshold(8_388_608, 0.5) == 4_194_304
    assert fault_mapper.threshold(10, 0.0) == 1
    with pytest.raises(ValueError):
        fault_mapper.threshold(10, 1.5)


def _wrap(tmp_path, mode: str, attempt: str, data: bytes) -> tuple[int, bytes, list]:
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    env = {**os.environ, "mapreduce_task_attempt_id": attempt,
           "mapreduce_map_input_length": str(len(data))}
    done = subprocess.run([sys.executable, WRAPPER, "--mode", mode, "--task", "3",
                           "--marker", str(markers), "--", "cat"], input=data, env=env,
                          capture_output=True, timeout=60)
    return done.returncode, done.stdout, sorted(os.listdir(markers))


LINES = b"".join(b"key %06d\tvalue %d\n" % (i, i * i) for i in range(40_000))


def test_the_wrapper_flips_one_line_of_the_planned_attempt_only(tmp_path):
    status, out, fired = _wrap(tmp_path, "silent", "attempt_1_2_m_000003_0", LINES)
    assert status == 0 and fired == ["attempt_1_2_m_000003_0.fired"]
    wrong, missing = figures.wrong_lines(Counter(out.splitlines()), Counter(LINES.splitlines()))
    assert (wrong, missing) == (1, 1)
    (tmp_path / "rerun").mkdir()
    status, out, fired = _wrap(tmp_path / "rerun", "silent", "attempt_1_2_m_000003_1", LINES)
    assert status == 0 and out == LINES and fired == []


def test_the_wrapper_kills_the_planned_attempt_with_its_mapper(tmp_path):
    status, out, fired = _wrap(tmp_path, "kill", "attempt_1_2_m_000003_0", LINES)
    assert status == -9 and fired == ["attempt_1_2_m_000003_0.fired"]
    assert len(out) < len(LINES)
    marker = json.loads((tmp_path / "markers" / fired[0]).read_text())
    assert marker["mode"] == "kill" and marker["bytes_fed"] >= len(LINES) // 2


# -- runs, discards, ratios --------------------------------------------------------------
def _run(rnd, case, variant, seconds, exit=0, planned=1, fired=1, **more):
    return {"round": rnd, "case": case, "variant": variant, "seconds": seconds, "exit": exit,
            "planned": planned, "fired": fired, **more}


def test_a_run_counts_only_if_it_succeeded_and_its_planned_fault_fired():
    assert figures.discard_reason(_run(0, "kill", "dirft", 9.0)) is None
    assert figures.discard_reason(_run(0, "kill", "dirft", 9.0, fired=0)) == \
        "1 fault(s) planned, 0 fired"
    assert figures.discard_reason(_run(0, "free", "plain", 9.0, planned=0, fired=1)) == \
        "0 fault(s) planned, 1 fired"
    assert figures.discard_reason(_run(0, "kill", "none", 9.0, exit=3)) == "exit status 3"


def test_ratios_pair_rounds_and_skip_the_discarded():
    runs = figures.mark([
        _run(0, "hang", "plain", 50.0), _run(0, "hang", "none", 40.0),
        _run(0, "hang", "dirft", 25.0),
        _run(1, "hang", "plain", 100.0), _run(1, "hang", "none", 80.0),
        _run(1, "hang", "dirft", 60.0, fired=0),  # discarded: round 1 has no DIRFT pair
        _run(2, "hang", "plain", 40.0), _run(2, "hang", "none", 40.0),
        _run(2, "hang", "dirft", 30.0)])
    got = figures.figures(runs, ["hang"])["hang"]
    assert got["dirft/plain"] == {"value": pytest.approx(0.625), "pairs": 2,
                                  "each": [0.5, 0.75]}
    assert got["none/plain"]["value"] == pytest.approx(0.8) and got["none/plain"]["pairs"] == 3
    assert figures.discarded(runs) == ["round 1 hang dirft: 1 fault(s) planned, 0 fired"]
    assert "| hang | 0.62 (<= 0.9: met) | 0.80 |" in figures.table(runs, ["hang"])


def test_faulty_over_free_is_paired_by_round():
    runs = figures.mark([_run(0, "free", "plain", 30.0, planned=0, fired=0),
                         _run(0, "kill", "plain", 45.0)])
    assert figures.figures(runs, ["free", "kill"])["kill"]["plain kill/free"]["value"] == 1.5


def test_wrong_lines_count_repeats():
    reference = figures.count_lines(b"a\na\nb\n")
    assert figures.wrong_lines(figures.count_lines(b"a\na\nb\n"), reference) == (0, 0)
    assert figures.wrong_lines(figures.count_lines(b"a\n`\nb\n"), reference) == (1, 1)


# -- what Hadoop did -------------------------------------------------------------------------
def _attempt(n, state, start, finish, host="w1", diag=""):
    return {"id": f"attempt_1_1_m_000000_{n}", "state": state, "startTime": start,
            "finishTime": finish, "nodeHttpAddress": f"{host}:8042", "diagnostics": diag}


def test_summary_tells_speculation_from_reruns():
    job = {"counters": {"NUM_FAILED_MAPS": 1},
           "tasks": [{"type": "MAP", "attempts": [_attempt(0, "KILLED", 0, 50),
                                                  _attempt(1, "SUCCEEDED", 30, 45, "w2")]},
                     {"type": "MAP", "attempts": [_attempt(0, "FAILED", 0, 20),
                                                  _attempt(1, "SUCCEEDED", 21, 40)]},
                     {"type": "MAP", "attempts": [
                         _attempt(0, "KILLED", 0, 30, "w3", "Container released on a *lost* node"),
                         _attempt(1, "SUCCEEDED", 31, 60)]},
                     {"type": "REDUCE", "attempts": [_attempt(0, "SUCCEEDED", 40, 70)]}]}
    got = summarize(job)
    assert (got["speculative"], got["reruns"], got["attempts_on_lost_node"]) == (1, 2, 1)
    assert got["map_attempts_by_state"] == {"FAILED": 1, "KILLED": 2, "SUCCEEDED": 3}
    assert got["hosts"] == ["w1", "w2", "w3"] and got["counters"]["NUM_FAILED_MAPS"] == 1
    assert node_hit(job, "w3", 25) and not node_hit(job, "w3", 35)
    assert node_hit(job, "w2", 40) and not node_hit(job, "w2", 10)


# -- the lost worker, with its commands faked -----------------------------------------------
class _Runner:
    def __init__(self):
        self.calls = []

    def __call__(self, argv, capture_output):
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, 0)


def test_the_node_is_killed_then_started_again():
    runner, lines = _Runner(), []
    strike = NodeKiller("hmc kill-node {node}", "hmc start-node {node}", False, lines.append,
                        runner).strike("w2", after=0.0, restart=0.0)
    assert strike.finish() > 0
    assert runner.calls == [["hmc", "kill-node", "w2"], ["hmc", "start-node", "w2"]]


def test_a_dry_run_only_logs_and_fires_nothing():
    runner, lines = _Runner(), []
    done = run_command([sys.executable, "-c", "pass"],
                       lambda: Strike(NodeKiller("hmc kill-node {node}", "hmc start-node {node}",
                                                 True, lines.append, runner), "w2", 0.0, 0.0))
    assert done.returncode == 0 and done.killed_at_ms == 0 and runner.calls == []
    assert all("dry run, not run: hmc" in line for line in lines)


def test_a_kill_planned_after_the_job_ended_never_happens():
    runner = _Runner()
    done = run_command([sys.executable, "-c", "pass"],
                       lambda: NodeKiller("k {node}", "s {node}", False, print,
                                          runner).strike("w2", after=3600.0, restart=0.0))
    assert done.killed_at_ms == 0 and runner.calls == []


def test_a_kill_waits_until_the_node_runs_a_task(monkeypatch):
    containers = {"containers": {"container": [
        {"id": "container_1_0001_01_000001", "state": "RUNNING"}]}}  # the AppMaster only

    class Answer:
        def json(self):
            return containers

    asked = []
    monkeypatch.setattr("bench.recovery_run.requests.get",
                        lambda url, **kw: asked.append(url) or Answer())
    assert not runs_task_container("w2")
    assert asked == ["http://w2:8042/ws/v1/node/containers"]
    containers["containers"]["container"].append(
        {"id": "container_1_0001_01_000004", "state": "RUNNING"})
    assert runs_task_container("w2")
    runner, told = _Runner(), []
    strike = NodeKiller("k {node}", "s {node}", False, print, runner).strike(
        "w2", after=0.0, restart=0.0, ready=lambda: told.append(1) or True)
    strike.thread.join()
    assert told == [1] and strike.finish() > 0 and runner.calls == [["k", "w2"], ["s", "w2"]]


def test_a_kill_whose_node_never_runs_a_task_never_happens():
    runner = _Runner()
    done = run_command([sys.executable, "-c", "pass"],
                       lambda: NodeKiller("k {node}", "s {node}", False, print, runner).strike(
                           "w2", after=0.0, restart=0.0, ready=lambda: False))
    assert done.killed_at_ms == 0 and runner.calls == []


# -- command lines -----------------------------------------------------------------------
def test_commands_carry_the_same_fault_to_every_variant(monkeypatch):
    monkeypatch.setattr("bench.hadoop_recovery.find_hadoop",
                        lambda home, binary, jar: ((f"{home}/bin/hadoop",), "streaming.jar"))
    args = parse(["--input", "/in", "--cases", "hang,free,cpu1", "--cpu-input", "/one"])
    assert args.cases == ["free", "hang", "cpu1"] and variants("cpu1") == ("none", "dirft")
    task = hit_task(8, 1)
    assert 0 <= task < 8 and hit_task(8, 1) == task
    plain = plain_argv(args, "hang", 1, "/out", "/m", "/opt/h")
    mapper = plain[plain.index("-mapper") + 1]
    assert f"--mode hang --task {task} --at 0.5 --marker /m -- cat" in mapper
    none = dirft_argv(args, "none", "hang", 1, "/out", "/opt/h", "http://nn")
    assert "dirft.scheme=none" in none and "dirft.fault.crash.mode=hang" in none
    assert "mapred.map.tasks.fault.percent=12.5" in none and "dirft.fault.seed=1" in none
    assert fault_keys("free", 8, 0) == [] and "mapred.map.tasks.fault.nature=2" in \
        fault_keys("silent", 8, 0)
    cpu = dirft_argv(args, "dirft", "cpu1", 0, "/out", "/opt/h", "http://nn")
    assert "/one" in cpu and "python3 cpu_mapper.py 200" in cpu
    assert "mapreduce.job.maps=1" in cpu  # one split, whatever the file's size


def test_the_lost_case_needs_a_node_and_a_yes_or_a_dry_run():
    with pytest.raises(SystemExit):
        parse(["--input", "/in", "--cases", "lost", "--dry-run-kill"])
    with pytest.raises(SystemExit):
        parse(["--input", "/in", "--cases", "lost", "--lost-node", "w2"])
    assert parse(["--input", "/in", "--cases", "lost", "--lost-node", "w2",
                  "--dry-run-kill"]).dry_run_kill


def test_a_saved_json_is_reported_without_a_cluster(tmp_path, capsys):
    from bench.hadoop_recovery import main
    runs = [_run(0, "free", v, s, planned=0, fired=0) for v, s in
            (("plain", 30.0), ("none", 32.0), ("dirft", 35.0))]
    path = tmp_path / "saved.json"
    path.write_text(json.dumps({"cases": ["free"], "runs": runs}))
    assert main(["--report", str(path)]) == 0
    assert "| free | 1.17 | 1.07 (<= 1.1: met) | 1.09 (<= 1.1: met) | 3 of 3 |" in \
        capsys.readouterr().out


def test_saved_jsons_pair_only_runs_of_one_file(tmp_path):
    from bench.hadoop_recovery import merged
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    one.write_text(json.dumps({"cases": ["free"], "runs": [
        _run(0, "free", "plain", 10.0, planned=0, fired=0)]}))
    two.write_text(json.dumps({"cases": ["free", "kill"], "runs": [
        _run(0, "free", "dirft", 10.0, planned=0, fired=0)]}))
    runs, cases = merged([str(one), str(two)])
    assert cases == ["free", "kill"] and [r["round"] for r in runs] == ["0:0", "1:0"]
    assert figures.figures(figures.mark(runs), ["free"])["free"]["dirft/plain"]["pairs"] == 0


def test_map_rounds_give_every_variant_the_same_working_mapper(monkeypatch):
    monkeypatch.setattr("bench.hadoop_recovery.find_hadoop",
                        lambda home, binary, jar: ((f"{home}/bin/hadoop",), "streaming.jar"))
    args = parse(["--input", "/in", "--cases", "kill", "--map-rounds", "700"])
    plain = plain_argv(args, "kill", 0, "/out", "/m", "/opt/h")
    assert plain[plain.index("-mapper") + 1].endswith("-- python3 cpu_mapper.py 700")
    shipped = plain[plain.index("-files") + 1].split(",")
    assert [os.path.basename(f) for f in shipped] == ["fault_mapper.py", "cpu_mapper.py"]
    for variant in ("none", "dirft"):
        argv = dirft_argv(args, variant, "kill", 0, "/out", "/opt/h", "http://nn")
        assert argv[argv.index("-mapper") + 1] == "python3 cpu_mapper.py 700"
        assert argv[argv.index("-files") + 1].endswith("cpu_mapper.py")
    cat = dirft_argv(parse(["--input", "/in"]), "dirft", "kill", 0, "/out", "/opt/h", "x")
    assert cat[cat.index("-mapper") + 1] == "cat" and "-files" not in cat


class _Outputs:
    """Stands in for the bench's HDFS storage: which paths exist."""

    def __init__(self, paths: set) -> None:
        self.paths = paths

    def exists(self, path: str) -> bool:
        return path in self.paths


@pytest.mark.parametrize("state, final, success, counted", [
    ("FINISHED", "SUCCEEDED", True, True), ("FINISHED", "FAILED", True, False),
    ("FINISHED", "SUCCEEDED", False, False)])
def test_a_plain_client_that_failed_after_its_job_succeeded_counts(monkeypatch, state, final,
                                                                   success, counted):
    from bench.hadoop_recovery import Bench
    from bench.recovery_run import Done
    asked = []
    def end(rm, job_id):
        asked.append((rm, job_id))
        return {"state": state, "finalStatus": final, "finishedTime": 1_000_050_000}
    monkeypatch.setattr("bench.hadoop_recovery.application_end", end)
    bench = Bench.__new__(Bench)
    bench.rm, bench.storage = "http://rm:8088", _Outputs({"/o/_SUCCESS"} if success else set())
    run = {"exit": 5, "seconds": 91.0}
    done = Done(5, 91.0, "Running job: job_17_0004\nJob status not available", 0)
    bench.settle(run, "/o", done, started=1_000_000.0)
    assert asked == [("http://rm:8088", "job_17_0004")]
    if counted:
        assert run["exit"] == 0 and run["seconds"] == 50.0 and run["client_exit"] == 5
        assert run["client_seconds"] == 91.0 and "SUCCEEDED" in run["note"]
    else:
        assert run == {"exit": 5, "seconds": 91.0}


def test_a_kill_waits_for_a_task_of_the_runs_own_application(monkeypatch):
    from bench.hadoop_recovery import job_tag
    from bench.recovery_run import application_of, applications_named

    class Answer:
        def __init__(self, body):
            self.body = body

        def json(self):
            return self.body

    nm = {"containers": {"container": [
        {"id": "container_e17_1796_0040_01_000001", "state": "RUNNING"},  # our AM
        {"id": "container_1796_0041_01_000003", "state": "RUNNING"}]}}   # another job's task
    rm = {"apps": {"app": [{"id": "application_1796_0040", "name": f"x {job_tag('/o/a')}"},
                           {"id": "application_1796_0041", "name": "dirft-bench-hang-0"}]}}
    monkeypatch.setattr("bench.recovery_run.requests.get",
                        lambda url, **kw: Answer(rm if "/cluster/apps" in url else nm))
    assert application_of("container_e17_1796_0040_01_000001") == "application_1796_0040"
    assert applications_named("http://rm", job_tag("/o/a")) == {"application_1796_0040"}
    ours = lambda: applications_named("http://rm", job_tag("/o/a"))  # noqa: E731
    assert runs_task_container("w2") and not runs_task_container("w2", apps=ours)
    nm["containers"]["container"].append(
        {"id": "container_e17_1796_0040_01_000002", "state": "RUNNING"})
    assert runs_task_container("w2", apps=ours)


def test_wait_idle_polls_until_no_container_is_allocated():
    from bench.hadoop_history import wait_idle
    answers = iter([{"clusterMetrics": {"containersAllocated": 2}}, {"bad": 1},
                    {"clusterMetrics": {"containersAllocated": 0}}])
    now = [0.0]
    waited = wait_idle("http://rm", 30.0, get=lambda url: next(answers),
                       sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    assert waited == 2.0
    busy = wait_idle("http://rm", 3.0, get=lambda url: {"clusterMetrics": {
        "containersAllocated": 1}}, sleep=lambda s: now.__setitem__(0, now[0] + s),
        clock=lambda: now[0])
    assert busy == 3.0


def test_a_lost_node_hit_is_known_from_history_or_from_the_trigger():
    from bench.hadoop_recovery import lost_hit
    job = {"tasks": [{"attempts": [{"nodeHttpAddress": "w2:8042", "startTime": 100,
                                    "finishTime": 0}]}]}
    assert lost_hit(150, False, [job], "w2") == "history"
    assert lost_hit(150, True, [], "w2") == "trigger"
    assert lost_hit(150, False, [], "w2") == "" and lost_hit(0, True, [job], "w2") == ""
