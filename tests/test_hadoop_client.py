"""The Hadoop client's configuration as a layer under dirft's (dirft.config.hadoop_client)."""

import pytest

from dirft.config import JobConf
from dirft.config.hadoop_client import client_settings, conf_dir, with_client_conf
from dirft.errors import ConfigError
from dirft.runners.hadoop_cluster import hdfs_storage


def site(folder, name, **props):
    """Write ``folder/name`` (a Hadoop configuration file) with ``props`` (in each name,
    ``___`` stands for ``-`` and ``__`` for ``.``)."""
    body = "".join(f"<property><name>{k.replace('___', '-').replace('__', '.')}</name><value>{v}</value>"
                   "</property>" for k, v in props.items())
    (folder / name).write_text(f"<?xml version='1.0'?><configuration>{body}</configuration>")


@pytest.fixture
def client(tmp_path, monkeypatch):
    """A HADOOP_CONF_DIR whose core-site names hdfs://nn.example:8020 and whose
    hdfs-site and yarn-site are filled by each test."""
    folder = tmp_path / "etc-hadoop"
    folder.mkdir()
    site(folder, "core-site.xml", fs__defaultFS="hdfs://nn.example:8020")
    monkeypatch.setenv("HADOOP_CONF_DIR", str(folder))
    monkeypatch.delenv("HADOOP_USER_NAME", raising=False)
    monkeypatch.delenv("HADOOP_HOME", raising=False)
    return folder


def test_an_any_address_http_host_means_the_namenode_of_fs_default_fs(client):
    site(client, "hdfs-site.xml", dfs__namenode__http___address="0.0.0.0:50070")
    conf = with_client_conf(JobConf.from_layers({}))
    assert conf.get("dirft.webhdfs.url") == "http://nn.example:50070"
    assert conf.source("dirft.webhdfs.url") == f"Hadoop client conf {client}"


def test_a_missing_http_address_is_hadoops_default_port_on_the_namenode(client):
    site(client, "hdfs-site.xml", dfs__replication="1")
    assert client_settings(str(client), {}) == {"dirft.webhdfs.url": "http://nn.example:9870"}


def test_an_explicit_http_host_is_kept(client):
    site(client, "hdfs-site.xml", dfs__namenode__http___address="web.example:9871")
    assert client_settings(str(client), {})["dirft.webhdfs.url"] == "http://web.example:9871"


def test_an_ha_nameservice_lists_each_namenodes_http_address(client):
    site(client, "core-site.xml", fs__defaultFS="hdfs://prod")
    site(client, "hdfs-site.xml", dfs__ha__namenodes__prod="nn1,nn2",
         dfs__namenode__http___address__prod__nn1="a.example:9870",
         dfs__namenode__http___address__prod__nn2="b.example:9870")
    assert client_settings(str(client), {})["dirft.webhdfs.url"] == \
        "http://a.example:9870;http://b.example:9870"


def test_https_only_is_refused_naming_the_file_and_the_key(client):
    site(client, "hdfs-site.xml", dfs__http__policy="HTTPS_ONLY")
    with pytest.raises(ConfigError) as err:
        with_client_conf(JobConf.from_layers({}))
    message = str(err.value)
    assert "HTTPS_ONLY" in message and "hdfs-site.xml" in message
    assert "dirft.webhdfs.url" in message and "\n" not in message


def test_https_only_does_not_matter_when_the_url_is_given(client):
    site(client, "hdfs-site.xml", dfs__http__policy="HTTPS_ONLY")
    conf = with_client_conf(JobConf.load([], ["dirft.webhdfs.url=http://nn:9870"]))
    assert conf.get("dirft.webhdfs.url") == "http://nn:9870"


def test_d_and_conf_files_win_over_the_client_conf(client, tmp_path):
    site(client, "hdfs-site.xml", dfs__namenode__http___address="0.0.0.0:9870")
    site(client, "yarn-site.xml", yarn__resourcemanager__hostname="rm.example")
    mapred = tmp_path / "mapred-site.xml"
    site(tmp_path, "mapred-site.xml", dirft__yarn__rm__url="http://from-conf:8088",
         dirft__webhdfs__url="http://from-conf:9870")
    conf = with_client_conf(JobConf.load([str(mapred)], ["dirft.webhdfs.url=http://d:1"]))
    assert conf.get("dirft.webhdfs.url") == "http://d:1"
    assert conf.get("dirft.yarn.rm.url") == "http://from-conf:8088"
    alone = with_client_conf(JobConf.from_layers({}))
    assert alone.get("dirft.yarn.rm.url") == "http://rm.example:8088"


def test_the_resourcemanager_address_expands_its_hostname(client):
    site(client, "yarn-site.xml", yarn__resourcemanager__hostname="rm.example",
         yarn__resourcemanager__webapp__address="${yarn.resourcemanager.hostname}:8089")
    assert client_settings(str(client), {})["dirft.yarn.rm.url"] == "http://rm.example:8089"


def test_the_hdfs_user_is_hadoop_user_name(client, monkeypatch):
    monkeypatch.setenv("HADOOP_USER_NAME", "alice")
    assert with_client_conf(JobConf.from_layers({})).get("dirft.webhdfs.user") == "alice"
    given = JobConf.load([], ["dirft.webhdfs.user=bob"])
    assert with_client_conf(given).get("dirft.webhdfs.user") == "bob"


def test_the_conf_dir_defaults_to_the_homes_etc_hadoop(tmp_path, monkeypatch):
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    (tmp_path / "etc" / "hadoop").mkdir(parents=True)
    assert conf_dir(str(tmp_path), {}) == str(tmp_path / "etc" / "hadoop")
    assert conf_dir("", {"HADOOP_HOME": str(tmp_path)}) == str(tmp_path / "etc" / "hadoop")
    assert conf_dir("", {}) == ""


def test_a_local_default_fs_gives_no_address_and_the_error_names_the_key_and_dir(client):
    site(client, "core-site.xml", fs__defaultFS="file:///")
    conf = with_client_conf(JobConf.from_layers({}))
    with pytest.raises(ConfigError) as err:
        hdfs_storage(conf)
    message = str(err.value)
    assert "dirft.webhdfs.url" in message and "HADOOP_CONF_DIR" in message
    assert "\n" not in message


def test_no_client_conf_at_all_names_the_key_and_hadoop_conf_dir(monkeypatch):
    for name in ("HADOOP_CONF_DIR", "HADOOP_HOME", "HADOOP_USER_NAME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="dirft.webhdfs.url is not set and HADOOP_CONF_DIR"):
        hdfs_storage(with_client_conf(JobConf.from_layers({})))


def test_dirft_run_finds_the_namenode_in_the_client_configuration(client):
    """``dirft run -r hadoop`` keeps its step outputs on the HDFS the client configuration
    names, as each step's Hadoop runner does (found on the real single node: it said
    "dirft.webhdfs.url is not set" with HADOOP_CONF_DIR set)."""
    from types import SimpleNamespace

    from dirft.mrjob_cli import _storage

    site(client, "hdfs-site.xml", dfs__namenode__http___address="web.example:9871")
    options = SimpleNamespace(conf_files=[], jobconf=[], defines=[])
    storage = _storage(SimpleNamespace(runner="hadoop"), options)
    assert "web.example:9871" in repr(vars(storage))
