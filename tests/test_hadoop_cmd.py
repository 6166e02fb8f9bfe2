"""Pieces of the Hadoop runner that need no cluster: command lines, manifests, log parsing."""

import http.server
import json
import sys
import threading

import pytest

from dirft.config import JobConf
from dirft.config.hadoop_client import with_client_conf
from dirft.errors import InputError, UsageError
from dirft.runners import hadoop_cmd as cmd
from dirft.runners.hadoop_cluster import advertised_url, cluster_facts
from dirft.runners.hadoop_launcher import Launcher
from dirft.contract.manifest import (CommitLine, ReplicaLine, closest_copy, parse_line,
                                    strip_key, to_line)
from dirft.contract.hadoop import attempt_number, map_index


def test_scheme_jobconf_gives_re_execution_to_the_layer_or_to_hadoop():
    owned = {"mapreduce.map.maxattempts": "2", "mapreduce.map.speculative": "false",
             "mapreduce.map.failures.maxpercent": "100"}
    assert cmd.scheme_jobconf("dirft") == cmd.scheme_jobconf("frft") == \
        cmd.scheme_jobconf("bft") == owned
    assert cmd.scheme_jobconf("se") == {"mapreduce.map.speculative": "true"}
    assert cmd.scheme_jobconf("none") == {}


def test_a_streaming_command_in_mrjobs_order():
    command = cmd.StreamingCommand(("hadoop",), "/h/streaming.jar", (("/w/a.json", "a.json"),),
                                   {"b": "2", "a": "1"}, {"X": "1"}, "/in", "/out", "m", "r")
    assert command.argv() == [
        "hadoop", "jar", "/h/streaming.jar", "-files", "/w/a.json#a.json", "-D", "a=1",
        "-D", "b=2", "-cmdenv", "X=1", "-inputformat", cmd.NLINE_INPUT_FORMAT,
        "-input", "/in", "-output", "/out", "-mapper", "m", "-reducer", "r"]


def test_user_jobconf_keeps_only_what_the_user_set_for_hadoop():
    conf = JobConf.from_layers({"mapreduce.job.queuename": "research", "dirft.nodes": "5",
                                "mapreduce.job.reduces": "3", "mapred.map.tasks.fault.inject":
                                "true"})
    items = conf.items()
    got = cmd.user_jobconf(items, {k: conf.source(k) for k in items})
    assert got == {"mapreduce.job.queuename": "research"}


def test_a_partitioner_reaches_hadoop_under_the_old_api_name_streaming_accepts():
    # dirft's -partitioner sets mapreduce.job.partitioner.class; a real Hadoop 3.3.6
    # refuses that key in a streaming job (map compatibility mode), so it is renamed
    conf = JobConf.from_layers({"mapreduce.job.partitioner.class":
                                "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner"})
    items = conf.items()
    got = cmd.user_jobconf(items, {k: conf.source(k) for k in items})
    assert got == {"mapred.partitioner.class":
                   "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner"}


def test_task_environment_puts_the_zip_first_and_forces_locale_and_hash_seed():
    env = cmd.task_cmdenv({"PYTHONPATH": "lib", "A": "b", "LC_ALL": "fr_FR"})
    assert env == {"PYTHONPATH": "dirft.zip:lib", "A": "b", "LC_ALL": "C",
                   "PYTHONHASHSEED": "0"}


def test_commands_for_the_nodes():
    assert cmd.node_command(["python", "job.py", "--reducer"], "python3") == \
        "python3 job.py --reducer"
    assert cmd.node_command(["cat"], "python3") == "cat"
    assert cmd.runtime_command("/opt/py/bin/python3", "--manifest-stdin") == \
        "/opt/py/bin/python3 -m dirft.task --manifest-stdin"
    with pytest.raises(UsageError, match="may not contain"):
        cmd.files_arg("/a,b", "x")


def test_attempt_ids_round_trip_to_manifest_lines():
    attempt = cmd.attempt_id("job_1700000000000_0003", 7)
    assert attempt == "attempt_1700000000000_0003_m_000007_0" and map_index(attempt) == 7
    assert map_index("attempt_1700000000000_0003_r_000001_0") is None
    assert attempt_number({"mapreduce_task_attempt_id": "attempt_1_0001_m_000003_2"}) == 2
    assert attempt_number({}) == 0


def test_manifest_lines_round_trip_and_tolerate_the_offset_key():
    line = ReplicaLine("job_x_0001", 3, 1, "dn2", "/in", 100, 50, 1000, [[100, 25], [125, 25]],
                       [[0, 128, ["dn1", "dn2"]], [128, 872, ["dn3"]]])
    text = to_line(line)
    assert "\t" not in text and "\n" not in text
    assert parse_line(text, ReplicaLine) == line == parse_line(f"4096\t{text}\n", ReplicaLine)
    assert strip_key("12\tabc\r\n") == "abc"
    commit = CommitLine("job_x_0001", 0, [["/m/t00000/s000-r000.out", "ab" * 32]])
    assert parse_line(to_line(commit), CommitLine) == commit
    with pytest.raises(InputError, match="not a ReplicaLine"):
        parse_line(to_line(commit), ReplicaLine)


def test_the_closest_block_copy_is_the_local_one_else_the_planned_one():
    line = ReplicaLine("j", 0, 0, "dn2", "/in", 0, 10, 10, [[0, 10]], [[0, 10, ["dn1", "dn2"]]])
    assert closest_copy(line, 0, "dn1.example.org") == ("dn1", True)
    assert closest_copy(line, 0, "elsewhere") == ("dn2", False)
    assert closest_copy(line, 50, "dn1") == ("", False)


def test_the_advertised_address_of_the_voting_service():
    conf = JobConf.from_layers({})
    assert advertised_url("http://127.0.0.1:4000", conf) == "http://127.0.0.1:4000"
    conf = JobConf.from_layers({"dirft.service.advertise.host": "driver.example.org",
                                "dirft.service.advertise.port": "8000"})
    assert advertised_url("http://0.0.0.0:4000", conf) == "http://driver.example.org:8000"


HADOOP_OUTPUT = r"""
import sys
w = sys.stderr.write
w("packageJobJar: [] [/opt/hadoop/share/hadoop/tools/lib/hadoop-streaming-3.3.6.jar] /tmp/x.jar tmpDir=null\n")
w("2024-05-01 10:00:01,100 INFO mapreduce.Job: Running job: job_1714550000000_0042\n")
w("2024-05-01 10:00:09,200 INFO mapreduce.Job: Job job_1714550000000_0042 running in uber mode : false\n")
w("2024-05-01 10:00:20,300 INFO mapreduce.Job: Task Id : attempt_1714550000000_0042_m_000003_0, Status : FAILED\n")
w("Error: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 75\n")
w("\tat org.apache.hadoop.streaming.PipeMapRed.waitOutputThreads(PipeMapRed.java:326)\n")
w("2024-05-01 10:00:31,400 INFO mapreduce.Job:  map 100% reduce 0%\n")
w("2024-05-01 10:00:32,500 INFO mapreduce.Job: Counters: 3\n\tJob Counters \n\t\tFailed map tasks=1\n\t\tLaunched map tasks=9\n\tdirft\n\t\trecords=12\n")
w("2024-05-01 10:00:32,600 INFO streaming.StreamJob: Output directory: hdfs:///tmp/out\n")
"""


def test_the_launcher_reads_job_id_failures_and_counters_as_hadoop_prints_them(tmp_path):
    events, done = [], threading.Event()

    def on_event(running, event):
        events.append(event)
        if event[0] == "done":
            done.set()
    running = Launcher().start([sys.executable, "-c", HADOOP_OUTPUT], str(tmp_path / "log"),
                               on_event)
    result = running.wait(30)
    assert done.wait(30) and result.returncode == 0
    assert events[0] == ("job", "job_1714550000000_0042")
    assert events[1][0] == "failed" and events[1][1].code == 75
    assert events[1][1].attempt_id == "attempt_1714550000000_0042_m_000003_0"
    assert result.counters == {"Job Counters": {"Failed map tasks": 1, "Launched map tasks": 9},
                               "dirft": {"records": 12}}
    assert "Running job" in (tmp_path / "log").read_text()


def test_cluster_facts_come_from_the_resourcemanager_rest_api(tmp_path, monkeypatch):
    class RM(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"clusterMetrics": {"activeNodes": 3, "totalVirtualCores": 24,
                                                  "totalMB": 98304}}).encode()
            self.send_response(200 if self.path == "/ws/v1/cluster/metrics" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", 0), RM)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conf_dir = tmp_path / "conf"
        conf_dir.mkdir()
        (conf_dir / "yarn-site.xml").write_text(
            "<configuration><property><name>yarn.resourcemanager.webapp.address</name>"
            f"<value>127.0.0.1:{server.server_port}</value></property></configuration>")
        monkeypatch.setenv("HADOOP_CONF_DIR", str(conf_dir))
        facts = cluster_facts(with_client_conf(JobConf.from_layers({})))
        assert facts == {"source": "yarn", "rm": f"http://127.0.0.1:{server.server_port}",
                         "nodes": 3, "vcores": 24, "memory_mb": 98304}
    finally:
        server.shutdown()
        server.server_close()
    gone = cluster_facts(with_client_conf(JobConf.from_layers({})), timeout=2)
    assert gone["source"] == "not measured" and "ConnectionError" in gone["why"]
    monkeypatch.delenv("HADOOP_CONF_DIR")
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    unknown = cluster_facts(with_client_conf(JobConf.from_layers({})))
    assert unknown["source"] == "not measured" and "dirft.yarn.rm.url" in unknown["why"]


def test_a_failed_submission_quotes_what_hadoop_said_since_its_log_is_removed(tmp_path):
    from dirft.runners.hadoop_launcher import StepResult

    log = tmp_path / "hadoop-jar.log"
    log.write_text(
        "2026-12-03 13:00:00,000 INFO mapreduce.JobSubmitter: number of splits:8\n"
        "2026-12-03 13:00:01,000 ERROR streaming.StreamJob: Error Launching job : "
        "Output directory hdfs://nn/out already exists\n"
        "Streaming Command Failed!\n")
    cause = StepResult(5, None, log_path=str(log)).cause()
    assert "Error Launching job : Output directory hdfs://nn/out already exists" in cause
    assert "dirft.keep.temp=true" in cause and "\n" not in cause


def test_a_log_without_an_error_line_gives_its_last_line_and_a_missing_log_says_so(tmp_path):
    from dirft.runners.hadoop_launcher import StepResult, log_tail

    log = tmp_path / "hadoop-jar.log"
    log.write_text("INFO one\n\nINFO the last   words\n\n")
    assert log_tail(str(log)) == "INFO the last words"
    assert log_tail(str(tmp_path / "gone.log")).startswith("no log at ")
    assert StepResult(1, None).cause() == "no log"


def test_reducers_wait_for_every_map_only_where_a_replica_may_wait_for_a_vote():
    key = "mapreduce.job.reduce.slowstart.completedmaps"
    assert key not in cmd.replica_jobconf("dirft", {}, "n", 1, 2, quorum=1)
    assert cmd.replica_jobconf("dirft", {}, "n", 1, 2, quorum=2)[key] == "1.0"
    assert cmd.replica_jobconf("bft", {key: "0.5"}, "n", 1, 2, quorum=2)[key] == "1.0"
    assert cmd.replica_jobconf("dirft", {key: "0.5"}, "n", 1, 2, quorum=1)[key] == "0.5"
    assert key not in cmd.replica_jobconf("dirft", {}, "n", 0, 2, quorum=2)  # map-only
    assert cmd.replica_jobconf("dirft", {}, "n", 1, 2)[
        "mapreduce.input.lineinputformat.linespermap"] == "2"


def nline_split_lengths(data: bytes, lines_per_split: int) -> list[int]:
    """Split lengths as Hadoop's ``NLineInputFormat.getSplitsForFile`` and
    ``createFileSplit`` make them: the first ``length - 1``, the others ``length``."""
    lines, begin, lengths = data.splitlines(keepends=True), 0, []
    for i in range(0, len(lines), lines_per_split):
        length = sum(map(len, lines[i:i + lines_per_split]))
        lengths.append(length - 1 if begin == 0 else length)
        begin += length
    return lengths


@pytest.mark.parametrize("per_map", [1, 2, 3])
def test_every_manifest_split_has_one_length_so_map_i_is_line_i(per_map):
    from dirft.contract.manifest import CommitLine, manifest_bytes

    entries = [CommitLine("job_x_0001", t, [["/tmp/x" * t, "ab" * t]]) for t in range(7)]
    entries += [None] * (-len(entries) % per_map)
    assert len(set(nline_split_lengths(manifest_bytes(entries), per_map))) == 1
