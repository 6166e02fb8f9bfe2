"""What the opt-in real-cluster tests share: the cluster the environment names, the keys
that point dirft's Hadoop runner at it, and a scratch folder on its HDFS.

* ``DIRFT_TEST_HADOOP_HOME`` — a Hadoop 3.x installation on this machine whose
  configuration reaches the cluster (``bin/hadoop``, the streaming jar under ``share/``);
* ``DIRFT_TEST_WEBHDFS_URL`` — the NameNode's WebHDFS address, e.g. ``http://nn:9870``;
* optional: ``DIRFT_TEST_WEBHDFS_USER`` (HDFS user), ``DIRFT_TEST_ADVERTISE_HOST`` (the
  name the cluster's nodes use to reach this machine; default: its FQDN),
  ``DIRFT_TEST_HADOOP_PYTHON`` (python on the nodes; default ``python3``),
  ``DIRFT_TEST_KILLED_DATANODE`` (the host of a DataNode just killed, e.g. ``w2`` after
  the mini cluster's ``kill-node w2``; ``tests/test_hdfs_lost_datanode.py``).
"""

import os
import uuid

import pytest

HOME, URL = os.environ.get("DIRFT_TEST_HADOOP_HOME"), os.environ.get("DIRFT_TEST_WEBHDFS_URL")


def cluster_defines() -> list[str]:
    """``-D key=value`` arguments that point dirft's Hadoop runner at the test cluster."""
    pairs = {"dirft.hadoop.home": HOME, "dirft.webhdfs.url": URL,
             "dirft.webhdfs.user": os.environ.get("DIRFT_TEST_WEBHDFS_USER", ""),
             "dirft.service.bind.host": "0.0.0.0",
             "dirft.service.advertise.host": os.environ.get("DIRFT_TEST_ADVERTISE_HOST", ""),
             "dirft.hadoop.python": os.environ.get("DIRFT_TEST_HADOOP_PYTHON", "python3")}
    return [arg for k, v in pairs.items() for arg in ("-D", f"{k}={v}")]


def put_generated(storage, hdfs_path: str, local, size: int, seed: int) -> None:
    """Write ``size`` bytes of seeded GridMix text to the local file ``local`` and copy it
    to ``hdfs_path`` through ``storage``, a MiB at a time."""
    from dirft.gridmix.generate import generate_file

    generate_file(str(local), size, seed=seed)
    with open(local, "rb") as src, storage.commit(hdfs_path) as out:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            out.write(chunk)


@pytest.fixture
def hdfs_dir():
    """``(storage, folder)``: a fresh ``/tmp/dirft-it-*`` folder on the cluster's HDFS,
    removed with everything in it afterwards."""
    from dirft.storage.hdfs import HdfsStorage

    storage = HdfsStorage(URL, os.environ.get("DIRFT_TEST_WEBHDFS_USER"))
    folder = f"/tmp/dirft-it-{uuid.uuid4().hex[:12]}"
    storage.makedirs(folder)
    yield storage, folder
    storage.delete(folder, recursive=True)
