"""The option table's second half: every command-line switch, and the typed defaults that code
outside a JobConf reads (dirft.switches, dirft.options, dirft.config.values)."""

import argparse
import pathlib
import re
import subprocess
import sys

import pytest

from dirft.cli import build_parser
from dirft.config.values import default_value, read_value
from dirft.errors import ConfigError
from dirft.options import OPTIONS, PAPER_CLUSTER, define
from dirft.switches import SWITCHES, add_switches, switch_defines

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_key_a_switch_names_is_in_the_option_table():
    named = [(command, s.key) for command, rows in SWITCHES.items() for s in rows if s.key]
    assert named and all(key in OPTIONS for _, key in named)


def test_a_define_switch_becomes_a_define_only_when_given():
    parser = add_switches(argparse.ArgumentParser(), "streaming")
    base = ["-input", "i", "-output", "o", "-mapper", "cat"]
    assert switch_defines("streaming", parser.parse_args(base)) == []
    args = parser.parse_args(base + ["-partitioner", "P", "-numReduceTasks", "3"])
    assert switch_defines("streaming", args) == ["mapreduce.job.reduces=3",
                                                 "mapreduce.job.partitioner.class=P"]


def test_simulate_takes_its_defaults_from_the_table():
    args = build_parser().parse_args(["simulate"])
    for dest, key in [("tolerance", "mapred.map.tasks.fault.tolerance"),
                      ("fault_percent", "mapred.map.tasks.fault.percent"),
                      ("fault_replicas", "dirft.fault.replicas.per.task"),
                      ("crash_mode", "dirft.fault.crash.mode"),
                      ("silent_mode", "dirft.fault.silent.mode"),
                      ("bad_nodes", "dirft.fault.bad.nodes"),
                      ("bad_node_percent", "dirft.fault.bad.node.percent"),
                      ("scheme", "dirft.scheme"), ("seed", "dirft.placement.seed")]:
        assert getattr(args, dest) == default_value(key), dest
    assert args.nature == int(default_value("mapred.map.tasks.fault.nature"))
    assert args.slots == read_value(PAPER_CLUSTER, "dirft.slots.per.node") == 20
    assert args.heartbeat_interval == read_value(PAPER_CLUSTER, "dirft.heartbeat.interval")


def test_define_refuses_a_key_outside_the_table():
    assert define("mapreduce.job.reduces", 0) == "mapreduce.job.reduces=0"
    with pytest.raises(KeyError):
        define("mapreduce.job.reducez", 0)


def test_read_value_types_a_tasks_strings_and_falls_back_to_the_default():
    assert read_value({"dirft.heartbeat.timeout": "2.5"}, "dirft.heartbeat.timeout") == 2.5
    assert read_value({}, "dirft.heartbeat.timeout") == 10.0
    assert read_value({}, "dirft.sort.memory") == 256 << 20
    with pytest.raises(ConfigError, match="dirft.poll.interval"):
        read_value({"dirft.poll.interval": "soon"}, "dirft.poll.interval")


def test_the_task_runtime_reads_typed_values_without_the_xml_reader():
    code = ("import sys, dirft.runtime.replica, dirft.storage.hdfs; "
            "print('defusedxml' in sys.modules, 'dirft.config.layers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.split() == ["False", "False"]  # defusedxml is not shipped to cluster nodes


def test_no_literal_default_for_a_dirft_key_in_the_code():
    pattern = re.compile(r'\.get\("dirft\.[a-z.]+", [^)]')
    found = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "dirft").rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert not found, f"literal defaults outside dirft.options: {found}"
