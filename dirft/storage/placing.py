"""A small HDFS file written straight to one DataNode, and where the DataNodes listen.

WebHDFS's ``CREATE`` has two steps: the NameNode answers ``307`` with a DataNode URL
(``http://dn:9864/webhdfs/v1/PATH?op=CREATE&namenoderpcaddress=…&user.name=…``) and the
client ``PUT``s the bytes there. The DataNode's own ``DFSClient`` then writes the file, and
HDFS's default block placement (``BlockPlacementPolicyDefault``) puts the first copy on
the writer's node. :func:`create_on` keeps every parameter of the NameNode's URL but sends
the ``PUT`` to a chosen DataNode, with replication 1: that DataNode holds the file's only
copy (measured on a 3-worker Hadoop 3.3.6 cluster, 6 of 6 files in every round:
``tests/fixtures/locality/RECORDED.md``).

A DataNode's web address is the ``ipAddr`` and ``infoPort`` the NameNode gives for it in
``GET_BLOCK_LOCATIONS`` (the ``LocatedBlocks`` Hadoop's own client reads: the public
``GETFILEBLOCKLOCATIONS`` names the hosts and their data ports only). The address, not
the host name, as Hadoop's client connects to a DataNode unless
``dfs.client.use.datanode.hostname`` is set.
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

import requests
from hdfs.util import HdfsError

from dirft.errors import StorageError
from dirft.storage.hdfs import hdfs_path, remote_error


def datanode_addresses(storage, files: list, wanted: set) -> tuple[dict, str]:
    """``({host name: "ip:infoPort"}, why)``: the web addresses of the DataNodes holding
    the blocks of ``files`` (``[(path, size in bytes), ...]``), asked file by file
    (``GET_BLOCK_LOCATIONS``) until every host of ``wanted`` is known. ``why`` is "" when
    the NameNode answered, else the one-line reason it did not (a NameNode or proxy
    without that operation): hosts not found then have no address. Never raises."""
    found: dict = {}
    for path, size in files:
        if set(wanted) <= found.keys():
            break
        try:
            blocks = _located_blocks(storage, path, size)
        except (HdfsError, requests.RequestException, KeyError, ValueError, TypeError) as err:
            return found, f"GET_BLOCK_LOCATIONS of {path}: {type(err).__name__}: " \
                          f"{' '.join(str(err).split())[:200]}"
        for block in blocks:
            for node in block.get("locations", ()):
                found.setdefault(node["hostName"], f"{node['ipAddr']}:{node['infoPort']}")
    return found, ""


def _located_blocks(storage, path: str, size: int) -> list:
    url = f"{storage.url.rstrip('/')}/webhdfs/v1{quote(hdfs_path(path), '/')}"
    res = storage.client._request("GET", url, params={
        "op": "GET_BLOCK_LOCATIONS", "offset": 0, "length": max(size, 1)})
    if not res.ok:
        raise remote_error(res)
    return res.json()["LocatedBlocks"]["locatedBlocks"]


def create_on(storage, path: str, data: bytes, address: str) -> None:
    """Write ``data`` as HDFS file ``path`` (replacing it) through the DataNode at
    ``address`` (``"ip:port"``, :func:`datanode_addresses`), replication 1: its one block
    is on that DataNode (module doc). Raises :class:`StorageError` naming the DataNode when
    the NameNode or the DataNode refuses."""
    target = hdfs_path(path)
    try:
        first = storage.client._create(target, overwrite=True, replication=1)
        location = urlparse(first.headers["location"])._replace(netloc=address).geturl()
        put = storage.client._request("PUT", location, data=data)
        if not put.ok:
            raise remote_error(put)
    except (HdfsError, requests.RequestException, KeyError) as err:
        what = "no Location in the NameNode's answer" if isinstance(err, KeyError) else \
            f"{getattr(err, 'exception', None) or type(err).__name__}: " \
            f"{' '.join(str(err).split())[:200]}"
        raise StorageError(f"cannot create {path} through the DataNode at {address}: "
                           f"{what}") from None
