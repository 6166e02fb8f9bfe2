"""Tests of the environment a streaming task sees (docs/hadoop.md, 'Task environment')."""

import os
import sys

import pytest

from dirft.config import parse_cmdenv
from dirft.contract.env import OLD_ALIASES, hadoop_ids, safe_env_name, streaming_env
from dirft.errors import UsageError

BASE = {"PATH": "/usr/bin:/bin", "HOME": "/home/u", "LC_ALL": "en_US.UTF-8",
        "PYTHONHASHSEED": "random"}
HERE = os.path.dirname(os.path.abspath(sys.executable))


def test_safe_env_name():
    assert safe_env_name("mapreduce.map.input.file") == "mapreduce_map_input_file"
    assert safe_env_name("a-b c/d:é9Z") == "a_b_c_d__9Z"


def test_jobconf_and_task_vars_with_old_aliases():
    ids = hadoop_ids(1, 0, 0, is_map=True, stamp="local1225208670")
    task = {**ids, "mapreduce.map.input.file": "file:/tmp/hs/in.txt",
            "mapreduce.map.input.start": "0", "mapreduce.map.input.length": "53"}
    env = streaming_env({"mapreduce.job.reduces": "0", "mapreduce.task.timeout": "600000"},
                        task, base=BASE)
    assert env["mapreduce_job_reduces"] == "0" and env["mapreduce_task_timeout"] == "600000"
    assert env["mapreduce_map_input_file"] == env["map_input_file"] == "file:/tmp/hs/in.txt"
    assert env["mapreduce_map_input_start"] == env["map_input_start"] == "0"
    assert env["mapreduce_map_input_length"] == env["map_input_length"] == "53"
    attempt = "attempt_local1225208670_0001_m_000000_0"
    assert env["mapreduce_task_attempt_id"] == env["mapred_task_id"] == attempt
    assert env["mapreduce_task_id"] == "task_local1225208670_0001_m_000000"
    assert env["mapreduce_job_id"] == "job_local1225208670_0001"
    assert env["mapreduce_task_partition"] == env["mapred_task_partition"] == "0"
    assert env["mapreduce_task_ismap"] == env["mapred_task_is_map"] == "true"
    assert env["HOME"] == "/home/u"


def test_alias_table_is_the_documented_one():
    names = {safe_env_name(old) for old in OLD_ALIASES.values()}
    assert names == {"map_input_file", "map_input_start", "map_input_length",
                     "mapred_task_id", "mapred_task_partition", "mapred_task_is_map"}


def test_cmdenv_wins_over_jobconf_and_task_vars():
    env = streaming_env({"my.setting": "from-jobconf"}, {"mapreduce.task.partition": "3"},
                        {"my_setting": "from-cmdenv", "mapred_task_partition": "9"}, base=BASE)
    assert env["my_setting"] == "from-cmdenv"
    assert env["mapred_task_partition"] == "9" and env["mapreduce_task_partition"] == "3"


def test_task_vars_win_over_jobconf():
    env = streaming_env({"mapreduce.task.partition": "7"}, {"mapreduce.task.partition": "2"},
                        base=BASE)
    assert env["mapreduce_task_partition"] == "2"


def test_determinism_is_forced_and_interpreter_first_on_path():
    env = streaming_env({"x": "1"}, {}, {"PYTHONHASHSEED": "123", "LC_ALL": "fr_FR"}, base=BASE)
    assert env["PYTHONHASHSEED"] == "0" and env["LC_ALL"] == "C"
    assert env["PATH"].split(os.pathsep)[0] == HERE
    assert env["PATH"].endswith("/usr/bin:/bin") or HERE in ("/usr/bin", "/bin")


def test_path_is_set_without_base_path_and_not_duplicated():
    assert streaming_env({}, {}, base={})["PATH"] == HERE
    twice = streaming_env({}, {}, base={"PATH": HERE + os.pathsep + "/bin"})["PATH"]
    assert twice.split(os.pathsep) == [HERE, "/bin"]


def test_default_base_is_os_environ(monkeypatch):
    monkeypatch.setenv("DIRFT_TEST_MARKER", "yes")
    assert streaming_env({}, {})["DIRFT_TEST_MARKER"] == "yes"


def test_streaming_env_does_not_touch_its_inputs():
    base = dict(BASE)
    streaming_env({"a.b": "1"}, {"mapreduce.task.ismap": "true"}, {"C": "2"}, base=base)
    assert base == BASE


def test_hadoop_ids_reduce_and_defaults():
    ids = hadoop_ids(12, 3, 2, is_map=False)
    assert ids == {
        "mapreduce.job.id": "job_local_0012",
        "mapreduce.task.id": "task_local_0012_r_000003",
        "mapreduce.task.attempt.id": "attempt_local_0012_r_000003_2",
        "mapreduce.task.partition": "3",
        "mapreduce.task.ismap": "false",
    }


@pytest.mark.parametrize("args", [(-1, 0, 0, True), (1, -1, 0, True), (1, 0, -1, False)])
def test_hadoop_ids_rejects_negative(args):
    with pytest.raises(ValueError):
        hadoop_ids(*args)


@pytest.mark.parametrize("stamp", ["", "lo_cal", "a b"])
def test_hadoop_ids_rejects_unparsable_stamp(stamp):
    with pytest.raises(ValueError):
        hadoop_ids(1, 0, 0, True, stamp=stamp)


def test_parse_cmdenv():
    assert parse_cmdenv(["A=1", "B=", "C=x=y", "A=2"]) == {"A": "2", "B": "", "C": "x=y"}
    assert parse_cmdenv([]) == {}


@pytest.mark.parametrize("item", ["NOVALUE", "=1", "A=\0"])
def test_parse_cmdenv_errors_name_the_item(item):
    with pytest.raises(UsageError) as err:
        parse_cmdenv(["OK=1", item])
    assert repr(item) in str(err.value)
