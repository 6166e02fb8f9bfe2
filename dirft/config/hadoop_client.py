"""The Hadoop client's own configuration as a layer under dirft's (Hadoop runner).

``hadoop jar`` needs only ``HADOOP_HOME`` and ``HADOOP_CONF_DIR``; so does the Hadoop runner.
From the client's configuration directory (``$HADOOP_CONF_DIR``, else ``etc/hadoop`` of
the Hadoop home, as ``bin/hadoop`` sets it) it reads, with
:func:`dirft.config.layers.read_site_xml`:

* ``core-site.xml`` ``fs.defaultFS`` (``hdfs://host:port``: the NameNode's host) and
  ``hdfs-site.xml`` ``dfs.namenode.http-address`` (Hadoop's default ``0.0.0.0:9870``;
  ``0.0.0.0`` means the ``fs.defaultFS`` host; an HA nameservice lists
  ``dfs.namenode.http-address.NS.NN`` for each of ``dfs.ha.namenodes.NS``) →
  ``dirft.webhdfs.url``. ``dfs.http.policy=HTTPS_ONLY`` is refused: dirft speaks no TLS.
* ``yarn-site.xml`` ``yarn.resourcemanager.webapp.address`` (default
  ``${yarn.resourcemanager.hostname}:8088``) → ``dirft.yarn.rm.url``.
* ``HADOOP_USER_NAME`` (as Hadoop's ``UserGroupInformation`` reads it) →
  ``dirft.webhdfs.user``; without it the login name, the key's own default.

:func:`with_client_conf` puts these under the ``-conf`` files and ``-D`` defines, so the
precedence is dirft defaults < Hadoop client conf < ``-conf`` < ``-D``.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from dirft.config.layers import read_site_xml
from dirft.errors import ConfigError

WEBHDFS_KEY, USER_KEY, RM_KEY = "dirft.webhdfs.url", "dirft.webhdfs.user", "dirft.yarn.rm.url"
HTTP_ADDRESS = "dfs.namenode.http-address"
DEFAULT_HTTP_PORT = "9870"  # hdfs-default.xml of Hadoop 3
DEFAULT_RM_PORT = "8088"  # yarn-default.xml
ANY_ADDRESS = "0.0.0.0"
_VARIABLE = re.compile(r"\$\{([^}$\s]+)\}")


def conf_dir(hadoop_home: str = "", env: Mapping[str, str] = os.environ) -> str:
    """The client's configuration directory: ``$HADOOP_CONF_DIR``, else
    ``HOME/etc/hadoop`` for ``hadoop_home`` (else ``$HADOOP_HOME``); "" when none is
    given or the directory does not exist. Never raises."""
    home = hadoop_home or env.get("HADOOP_HOME", "")
    folder = env.get("HADOOP_CONF_DIR") or (os.path.join(home, "etc", "hadoop") if home else "")
    return folder if folder and os.path.isdir(folder) else ""


def read_site(folder: str, name: str) -> Dict[str, str]:
    """``{name: value}`` of ``folder/name`` with ``${key}`` expanded from the same file
    (Hadoop's ``Configuration`` does this); ``{}`` if the file does not exist. Raises
    ConfigError (from read_site_xml) for a corrupt file."""
    path = os.path.join(folder, name)
    props = read_site_xml(path) if folder and os.path.exists(path) else {}
    return {key: expand(value, props) for key, value in props.items()}


def expand(value: str, props: Mapping[str, str]) -> str:
    """``value`` with each ``${key}`` found in ``props`` replaced (unknown ones kept)."""
    return _VARIABLE.sub(lambda m: props.get(m.group(1), m.group(0)), value)


def webhdfs_url(core: Mapping[str, str], hdfs: Mapping[str, str], where: str) -> str:
    """The WebHDFS address(es) (``http://host:port``, HA ones joined by ``;``) from
    ``core-site.xml`` and ``hdfs-site.xml`` properties; "" when ``fs.defaultFS`` names no
    HDFS. ``where``: the directory, for messages. Raises ConfigError for
    ``dfs.http.policy=HTTPS_ONLY`` or ``dfs.webhdfs.enabled=false``."""
    parts = urlsplit(core.get("fs.defaultFS", ""))
    if parts.scheme != "hdfs" or not parts.hostname:
        return ""
    _check_http(hdfs, where)
    host = parts.hostname
    namenodes = [n.strip() for n in hdfs.get(f"dfs.ha.namenodes.{host}", "").split(",")
                 if n.strip()]
    if namenodes:  # fs.defaultFS names an HA nameservice, not a host
        addresses = [hdfs.get(f"{HTTP_ADDRESS}.{host}.{n}", "") for n in namenodes]
        return ";".join(f"http://{a}" for a in addresses if a)
    return "http://" + _http_address(hdfs.get(HTTP_ADDRESS, ""), host)


def _http_address(address: str, namenode_host: str) -> str:
    """``host:port`` of ``dfs.namenode.http-address`` (empty: the default port on the
    NameNode's host; host ``0.0.0.0``: the NameNode's host, where a client finds it)."""
    host, _, port = (address or f"{ANY_ADDRESS}:{DEFAULT_HTTP_PORT}").rpartition(":")
    host = namenode_host if host in ("", ANY_ADDRESS) else host
    return f"{host}:{port or DEFAULT_HTTP_PORT}"


def _check_http(hdfs: Mapping[str, str], where: str) -> None:
    """Raise ConfigError if the NameNode serves WebHDFS only over TLS, or not at all."""
    if hdfs.get("dfs.http.policy", "HTTP_ONLY").upper() == "HTTPS_ONLY":
        raise ConfigError(f"{where}/hdfs-site.xml sets dfs.http.policy=HTTPS_ONLY; dirft "
                          f"speaks plain-HTTP WebHDFS only: set -D {WEBHDFS_KEY}=http://... "
                          "to a NameNode's HTTP address, or run the job with hadoop jar")
    if hdfs.get("dfs.webhdfs.enabled", "true").lower() == "false":
        raise ConfigError(f"{where}/hdfs-site.xml sets dfs.webhdfs.enabled=false; the Hadoop "
                          "runner reads HDFS through WebHDFS: enable it on the NameNode")


def rm_url(yarn: Mapping[str, str]) -> str:
    """``http://`` + ``yarn.resourcemanager.webapp.address`` of ``yarn-site.xml``
    properties (default ``${yarn.resourcemanager.hostname}:8088``; host ``0.0.0.0``:
    ``localhost``), or "" without a ``yarn-site.xml`` (empty ``yarn``)."""
    if not yarn:
        return ""
    host = yarn.get("yarn.resourcemanager.hostname", ANY_ADDRESS)
    address = yarn.get("yarn.resourcemanager.webapp.address") or f"{host}:{DEFAULT_RM_PORT}"
    address = address.replace("${yarn.resourcemanager.hostname}", host)
    return "http://" + address.replace(ANY_ADDRESS, "localhost")


def client_settings(folder: str, env: Mapping[str, str] = os.environ,
                    skip: Tuple[str, ...] = ()) -> Dict[str, str]:
    """The dirft keys the Hadoop client's configuration in ``folder`` ("" for none) and
    ``env`` give: a subset of ``{dirft.webhdfs.url, dirft.webhdfs.user,
    dirft.yarn.rm.url}``, leaving out ``skip`` (keys set explicitly, which are not even
    derived). Raises ConfigError as :func:`webhdfs_url` and :func:`read_site` do."""
    found: Dict[str, str] = {}
    if folder and WEBHDFS_KEY not in skip:
        found[WEBHDFS_KEY] = webhdfs_url(read_site(folder, "core-site.xml"),
                                         read_site(folder, "hdfs-site.xml"), folder)
    if folder and RM_KEY not in skip:
        found[RM_KEY] = rm_url(read_site(folder, "yarn-site.xml"))
    if USER_KEY not in skip:
        found[USER_KEY] = env.get("HADOOP_USER_NAME", "")
    return {key: value for key, value in found.items() if value}


def with_client_conf(conf, hadoop_home: str = "", env: Mapping[str, str] = os.environ):
    """``conf`` (a :class:`~dirft.config.JobConf`) with the client's settings
    (:func:`client_settings`) as a layer under all of its own, for the keys still at their
    defaults; ``conf`` itself when there are none. ``hadoop_home``: the Hadoop home the
    runner uses (``etc/hadoop`` there when ``HADOOP_CONF_DIR`` is unset). Raises
    ConfigError as client_settings does."""
    folder = conf_dir(hadoop_home, env)
    explicit = tuple(k for k in (WEBHDFS_KEY, USER_KEY, RM_KEY) if conf.source(k) != "default")
    found = client_settings(folder, env, explicit)
    label = f"Hadoop client conf {folder}" if folder else "HADOOP_USER_NAME"
    return conf.under(found, label) if found else conf


def require_webhdfs(conf, env: Mapping[str, str] = os.environ) -> str:
    """``dirft.webhdfs.url`` of ``conf``; raises ConfigError in one line naming the key
    and ``HADOOP_CONF_DIR`` when it is empty."""
    url: Optional[str] = conf.get(WEBHDFS_KEY)
    if url:
        return url
    where = env.get("HADOOP_CONF_DIR")
    found = (f"HADOOP_CONF_DIR={where} names no hdfs:// fs.defaultFS" if where else
             "HADOOP_CONF_DIR is not set")
    raise ConfigError(f"{WEBHDFS_KEY} is not set and {found}; the Hadoop runner needs the "
                      f"NameNode's WebHDFS address: set HADOOP_CONF_DIR to the Hadoop "
                      f"client's configuration or -D {WEBHDFS_KEY}=http://namenode:9870")
