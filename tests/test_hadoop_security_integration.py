"""Issue 22 on a real Hadoop 3 cluster (opt-in, like ``tests/test_hadoop_integration.py``):
a mapper that reads the enrollment secret and registers as its sibling for an attempt the
cluster does not run is refused (403), and the job commits the fault-free output.

Runs only when ``DIRFT_TEST_HADOOP_HOME`` and ``DIRFT_TEST_WEBHDFS_URL`` name a cluster
(see that module for the optional variables); the ResourceManager's address comes from
the Hadoop client's ``yarn-site.xml``, or ``DIRFT_TEST_YARN_RM_URL``.
"""

import json
import os

import pytest

from dirft.gridmix.generate import generate_file
from dirft.runners.hadoop_attempts import AttemptCheck
from dirft.config import JobConf
from dirft.config.hadoop_client import with_client_conf
from dirft.runners.hadoop_cluster import rm_address
from e2e import ROOT, assert_sorted_by_key, run_cli
from real_cluster import HOME, URL, cluster_defines, hdfs_dir  # noqa: F401

pytestmark = pytest.mark.skipif(
    not (HOME and URL),
    reason="no Hadoop cluster: set DIRFT_TEST_HADOOP_HOME=/path/to/hadoop-3.x and "
           "DIRFT_TEST_WEBHDFS_URL=http://namenode:9870 to run this suite")

MAPPER = ROOT / "tests" / "fixtures" / "forge_register_mapper.py"


def _rm() -> str:
    return os.environ.get("DIRFT_TEST_YARN_RM_URL") or rm_address(
        with_client_conf(JobConf.from_layers({}), HOME))


def test_the_cluster_refuses_an_attempt_it_does_not_run():
    from dirft.errors import ProtocolError

    with pytest.raises(ProtocolError) as err:
        AttemptCheck(_rm(), tries=1)("attempt_1_0001_m_000999_0", "127.0.0.1")
    assert err.value.status == 403 and "does not run" in str(err.value)


def test_a_mapper_registering_as_its_sibling_for_a_made_up_attempt_is_refused(
        hdfs_dir, tmp_path, capsys):  # noqa: F811 - the imported fixture
    storage, folder = hdfs_dir
    data = tmp_path / "input.txt"
    generate_file(str(data), 4 << 20, seed=22)
    with open(data, "rb") as src, storage.commit(f"{folder}/input.txt") as out:
        out.write(src.read())
    python = os.environ.get("DIRFT_TEST_HADOOP_PYTHON", "python3")
    code, stdout, err = run_cli(
        capsys, "streaming", "--runner", "hadoop", *cluster_defines(),
        "-D", f"dirft.yarn.rm.url={_rm()}", "-files", str(MAPPER),
        "-input", f"{folder}/input.txt", "-output", f"{folder}/out",
        "-mapper", f"{python} {MAPPER.name}", "-reducer", "cat", "--json",
        "-D", "dirft.split.maxsize=2m")
    assert code == 0, err
    assert_sorted_by_key(storage.read_bytes(f"{folder}/out/part-00000"), data)
    report = json.loads(storage.read_bytes(f"{folder}/out/_dirft_report.json"))
    assert report["security"]["registrations_checked_against"] == _rm()
    assert set(report["counters"]["dirft-hostile"]) == {"register-403"}
