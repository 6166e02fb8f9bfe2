"""A loopback WebHDFS server for tests: aiohttp.web serving a temp directory as HDFS.

It answers the documented REST operations dirft uses (Hadoop 3 WebHDFS.md), with their
status codes and JSON bodies: ``OPEN`` (offset/length; the NameNode answers 307 and the
"DataNode" — this same server, ``datanode=true`` — sends the bytes), ``CREATE`` in two
steps (307 redirect, then ``PUT`` of the data, 201), ``RENAME``, ``GETFILESTATUS``,
``LISTSTATUS``, ``SETREPLICATION``, ``GETFILEBLOCKLOCATIONS`` (blocks of ``block_size`` bytes on rotating
fake hosts; switch it off to play a pre-3.2 NameNode), ``GET_BLOCK_LOCATIONS`` (the same
blocks as ``LocatedBlocks``, each fake host's DataNode at 127.0.0.1 and the port of its own
web server), ``DELETE``, ``MKDIRS`` and ``GETHOMEDIRECTORY``. Each fake host has a DataNode
web port of its own (:attr:`WebHdfsServer.host_ports`): a ``CREATE`` sent there with
``replication=1`` puts the file's one block on that host (:attr:`WebHdfsServer.placed`), as
a real DataNode writing for itself does. Errors are ``{"RemoteException": {"exception", "javaClassName",
"message"}}`` with WebHDFS's statuses (404 FileNotFoundException, 403 for other
IOExceptions and AccessControlException, 400 IllegalArgumentException). Paths under
``/forbidden`` are refused with AccessControlException. Every request is logged in
:attr:`WebHdfsServer.requests` as ``(method, op, path)``.

With ``datanodes`` (loopback addresses such as ``127.0.0.2``) the NameNode side redirects
``OPEN`` and ``CREATE`` to those DataNodes instead, each its own listening socket, as the
NameNode's ``chooseDatanode`` does: the first one (in the given order) that the request's
``excludedatanodes`` does not name, by IP address or ``IP:9866`` (host names match
nothing), else an ``IOException`` ("No active nodes contain this block", "Failed to find
datanode, …"). A ``dead`` DataNode is a bound socket that never listens (connections are
refused, as to a killed DataNode the NameNode still names); a ``breaking`` one sends half
of an ``OPEN``'s bytes or reads part of a ``CREATE``'s body and then closes the connection.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import threading

from aiohttp import ClientPayloadError, web
from yarl import URL

PREFIX = "/webhdfs/v1"
_JAVA = {"FileNotFoundException": "java.io.FileNotFoundException",
         "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
         "AccessControlException": "org.apache.hadoop.security.AccessControlException",
         "IllegalArgumentException": "java.lang.IllegalArgumentException",
         "PathIsNotEmptyDirectoryException":
             "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
         "IOException": "java.io.IOException"}
DATANODE = web.RequestKey("datanode", str)  # the fake host whose DataNode port it came to
_STATUS = {"FileNotFoundException": 404, "IllegalArgumentException": 400}


class RemoteError(Exception):
    """Raised by a handler to answer with a RemoteException."""

    def __init__(self, exception: str, message: str) -> None:
        super().__init__(message)
        self.exception = exception


class WebHdfsServer:
    """Serve ``root`` as an HDFS namespace on 127.0.0.1 (``with WebHdfsServer(...) as s``).

    ``block_size`` (bytes), ``hosts`` and ``copies`` shape GETFILEBLOCKLOCATIONS (3
    copies per block by default, on hosts rotating by block); ``block_locations=False`` refuses that op as Hadoop before 3.2 did.
    ``datanodes``, ``dead``, ``breaking``: see the module doc. :attr:`choices` logs each
    redirect as ``(op, excludedatanodes, chosen DataNode or None)``, :attr:`served` each
    DataNode request as ``(op, DataNode)``.
    """

    def __init__(self, root: str, block_size: int = 1 << 20,
                 hosts=("dn1", "dn2", "dn3"), block_locations: bool = True,
                 datanodes=(), dead=(), breaking=(), located_blocks: bool = True,
                 copies: int = 3) -> None:
        self.root, self.block_size, self.hosts = root, block_size, tuple(hosts)
        self.block_locations, self.located_blocks = block_locations, located_blocks
        self.copies = copies
        self.placed: dict[str, str] = {}  # HDFS path -> the one fake host holding its block
        self.copied: dict[str, list] = {}  # a placed path -> its hosts after SETREPLICATION
        self.host_ports: dict[str, int] = {}  # fake host -> port of its DataNode web server
        self.datanodes, self.dead, self.breaking = tuple(datanodes), set(dead), set(breaking)
        self.requests: list[tuple[str, str, str]] = []
        self.choices: list[tuple[str, str, str | None]] = []
        self.served: list[tuple[str, str]] = []
        self._datanode_urls: dict[str, str] = {}
        self._sockets: list[socket.socket] = []
        self.url = ""
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ----------------------------------------------------------------
    def __enter__(self) -> "WebHdfsServer":
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("WebHDFS test server did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", PREFIX + "{path:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = "http://127.0.0.1:%d" % runner.addresses[0][1]
        for address in self.datanodes:
            await self._start_datanode(runner, address)
        hosts = [await self._host_site(host) for host in self.hosts]
        self._ready.set()
        await self._stop.wait()
        for site in hosts:
            await site.cleanup()
        await runner.cleanup()
        for sock in self._sockets:
            sock.close()

    async def _start_datanode(self, runner: web.AppRunner, address: str) -> None:
        """Listen on ``address`` (a dead DataNode: bind only, so connections are refused)."""
        sock = socket.socket()
        sock.bind((address, 0))
        self._sockets.append(sock)
        if address not in self.dead:
            await web.SockSite(runner, sock).start()
        self._datanode_urls[address] = "http://%s:%d" % (address, sock.getsockname()[1])

    async def _host_site(self, host: str) -> web.AppRunner:
        """A port of its own for fake host ``host``'s DataNode (:attr:`host_ports`)."""
        app = web.Application(client_max_size=1 << 30)

        async def handle(request: web.Request) -> web.Response:
            return await self._handle(request, host)
        app.router.add_route("*", PREFIX + "{path:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.host_ports[host] = runner.addresses[0][1]
        return runner

    # -- dispatch -----------------------------------------------------------------
    async def _handle(self, request: web.Request, host: str = "") -> web.Response:
        op = request.query.get("op", "").upper()
        path = "/" + request.match_info["path"].lstrip("/")
        request[DATANODE] = host
        self.requests.append((request.method, op, path))
        handler = getattr(self, f"_{request.method.lower()}_{op.lower()}", None)
        try:
            if handler is None:
                raise RemoteError("IllegalArgumentException",
                                  f'Invalid value for webhdfs parameter "op": No enum '
                                  f"constant for {request.method} {op}")
            if path.startswith("/forbidden"):
                raise RemoteError("AccessControlException", f"Permission denied: user="
                                  f"{request.query.get('user.name')}, inode=\"{path}\"")
            return await handler(request, path)
        except RemoteError as err:
            return web.json_response({"RemoteException": {
                "exception": err.exception, "javaClassName": _JAVA[err.exception],
                "message": str(err)}}, status=_STATUS.get(err.exception, 403))

    def local(self, path: str) -> str:
        """The local file behind HDFS ``path``."""
        parts = [p for p in path.split("/") if p]
        if ".." in parts:
            raise RemoteError("IllegalArgumentException", f"Invalid path name {path}")
        return os.path.join(self.root, *parts)

    def _redirect(self, request: web.Request, op: str) -> web.Response:
        if not self.datanodes:
            location = str(request.url.update_query(datanode="true"))
        else:
            query = {k: v for k, v in request.query.items() if k != "excludedatanodes"}
            base = URL(self._datanode_urls[self._choose(request, op)])
            location = str(base.with_path(request.rel_url.path).with_query(
                {**query, "datanode": "true", "namenoderpcaddress": "localhost:8020"}))
        return web.Response(status=307, headers={"Location": location})

    def _choose(self, request: web.Request, op: str) -> str:
        """The first DataNode ``excludedatanodes`` does not name (by IP or IP:9866)."""
        named = request.query.get("excludedatanodes", "")
        excluded = {ip for ip, _, port in (e.strip().partition(":") for e in named.split(","))
                    if port in ("", "9866")}
        left = [dn for dn in self.datanodes if dn not in excluded]
        self.choices.append((op, named, left[0] if left else None))
        if not left:
            raise RemoteError("IOException", "No active nodes contain this block" if op == "OPEN"
                              else "Failed to find datanode, suggest to check cluster "
                                   f"health. excludeDatanodes={named}")
        return left[0]

    def _datanode(self, request: web.Request, op: str) -> str | None:
        """The DataNode address this DataNode-side request came to (logged), else None."""
        address = request.transport.get_extra_info("sockname")[0] if self.datanodes else None
        self.served.append((op, address))
        return address

    def _status(self, path: str, suffix: str = "") -> dict:
        local = self.local(path)
        if not os.path.exists(local):
            raise RemoteError("FileNotFoundException", f"File does not exist: {path}")
        is_dir = os.path.isdir(local)
        return {"accessTime": 0, "blockSize": 0 if is_dir else self.block_size,
                "childrenNum": len(os.listdir(local)) if is_dir else 0, "fileId": 16386,
                "group": "supergroup", "length": 0 if is_dir else os.path.getsize(local),
                "modificationTime": int(os.path.getmtime(local) * 1000), "owner": "dirft",
                "pathSuffix": suffix, "permission": "755" if is_dir else "644",
                "replication": 0 if is_dir else 3, "storagePolicy": 0,
                "type": "DIRECTORY" if is_dir else "FILE"}

    # -- GET ------------------------------------------------------------------------
    async def _get_open(self, request, path):
        if request.query.get("datanode") != "true" and not request[DATANODE]:
            self._status(path)
            return self._redirect(request, "OPEN")
        breaking = self._datanode(request, "OPEN") in self.breaking
        local = self.local(path)
        if not os.path.isfile(local):
            raise RemoteError("FileNotFoundException", f"File does not exist: {path}")
        offset = int(request.query.get("offset", 0))
        size = os.path.getsize(local)
        if offset > size:
            raise RemoteError("IOException", f"Offset={offset} out of the range [0, {size}]")
        length = int(request.query["length"]) if "length" in request.query else size - offset
        with open(local, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        if breaking:
            return await self._break_off(request, data)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _break_off(self, request: web.Request, data: bytes) -> web.StreamResponse:
        """Promise ``data`` (Content-Length), send half of it, close the connection."""
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(data)
        await response.prepare(request)
        await response.write(data[:len(data) // 2])
        request.transport.close()
        return response

    async def _get_getfilestatus(self, request, path):
        return web.json_response({"FileStatus": self._status(path)})

    async def _get_liststatus(self, request, path):
        local = self.local(path)
        if os.path.isdir(local):
            entries = [self._status(f"{path.rstrip('/')}/{n}", n) for n in sorted(os.listdir(local))]
        else:
            entries = [self._status(path)]
        return web.json_response({"FileStatuses": {"FileStatus": entries}})

    async def _get_gethomedirectory(self, request, path):
        return web.json_response({"Path": f"/user/{request.query.get('user.name', 'dirft')}"})

    async def _get_getfileblocklocations(self, request, path):
        if not self.block_locations:
            raise RemoteError("IllegalArgumentException",
                              'Invalid value for webhdfs parameter "op": No enum constant '
                              "org.apache.hadoop.hdfs.web.resources.GetOpParam.Op."
                              "GETFILEBLOCKLOCATIONS")
        size = self._status(path)["length"]
        start = int(request.query.get("offset", 0))
        end = start + int(request.query.get("length", size))
        return web.json_response({"BlockLocations": {"BlockLocation": [
            self._block(i, off, min(self.block_size, size - off), path)
            for i, off in enumerate(range(0, size, self.block_size))
            if off < end and off + self.block_size > start]}})

    async def _get_get_block_locations(self, request, path):
        if not self.located_blocks:
            raise RemoteError("IllegalArgumentException",
                              'Invalid value for webhdfs parameter "op": No enum constant '
                              "GET_BLOCK_LOCATIONS")
        blocks = (await self._get_getfileblocklocations(request, path)).text
        return web.json_response({"LocatedBlocks": {"locatedBlocks": [
            {"startOffset": b["offset"], "block": {"numBytes": b["length"]},
             "locations": [{"hostName": h, "ipAddr": "127.0.0.1", "xferPort": 9866,
                            "infoPort": self.host_ports[h]} for h in b["hosts"]]}
            for b in json.loads(blocks)["BlockLocations"]["BlockLocation"]]}})

    def _block(self, index: int, offset: int, length: int, path: str = "") -> dict:
        hosts = self.copied[path] if path in self.copied else \
            [self.placed[path]] if path in self.placed else \
            [self.hosts[(index + j) % len(self.hosts)]
             for j in range(min(self.copies, len(self.hosts)))]
        return {"cachedHosts": [], "corrupt": False, "hosts": hosts, "length": length,
                "names": [f"{h}:9866" for h in hosts], "offset": offset,
                "storageTypes": ["DISK"] * len(hosts),
                "topologyPaths": [f"/default-rack/{h}:9866" for h in hosts]}

    # -- PUT ------------------------------------------------------------------------
    async def _put_create(self, request, path):
        local = self.local(path)
        if os.path.isdir(local) or (os.path.exists(local) and
                                    request.query.get("overwrite", "").lower() != "true"):
            raise RemoteError("FileAlreadyExistsException", f"{path} already exists")
        if request.query.get("datanode") != "true" and not request[DATANODE]:
            return self._redirect(request, "CREATE")
        if self._datanode(request, "CREATE") in self.breaking:
            await request.content.read(1)
            request.transport.close()
            return web.Response(status=500)
        os.makedirs(os.path.dirname(local), exist_ok=True)
        self.placed.pop(path, None)
        self.copied.pop(path, None)
        if request[DATANODE] and request.query.get("replication") == "1":
            self.placed[path] = request[DATANODE]  # the writer's node holds the only copy
        try:
            with open(local, "wb") as f:
                async for chunk in request.content.iter_chunked(1 << 16):
                    f.write(chunk)
        except (ConnectionError, ClientPayloadError):  # the writer was killed mid-upload
            return web.Response(status=400)
        return web.Response(status=201, headers={"Location": f"hdfs://localhost:8020{path}"})

    async def _put_setreplication(self, request, path):
        """``SETREPLICATION``: a file placed on one host (:attr:`placed`) gets copies on
        the next hosts too (the NameNode's re-replication, at once here), kept in
        :attr:`copied`; ``{"boolean": false}`` for a missing file, as HDFS answers."""
        if not os.path.isfile(self.local(path)):
            return web.json_response({"boolean": False})
        if path in self.placed and self.hosts:
            first = self.hosts.index(self.placed[path])
            wanted = min(int(request.query.get("replication", "3")), len(self.hosts))
            self.copied[path] = [self.hosts[(first + j) % len(self.hosts)]
                                 for j in range(wanted)]
        return web.json_response({"boolean": True})

    async def _put_mkdirs(self, request, path):
        local = self.local(path)
        if os.path.isfile(local):
            raise RemoteError("FileAlreadyExistsException", f"Path is not a directory: {path}")
        os.makedirs(local, exist_ok=True)
        return web.json_response({"boolean": True})

    async def _put_rename(self, request, path):
        src, dst = self.local(path), self.local(request.query.get("destination", ""))
        if os.path.isdir(dst):
            dst = os.path.join(dst, os.path.basename(src))
        if not os.path.exists(src) or os.path.exists(dst) or \
                not os.path.isdir(os.path.dirname(dst)):
            return web.json_response({"boolean": False})
        os.rename(src, dst)
        if path in self.placed:
            self.placed[request.query.get("destination", "")] = self.placed.pop(path)
        if path in self.copied:
            self.copied[request.query.get("destination", "")] = self.copied.pop(path)
        return web.json_response({"boolean": True})

    # -- DELETE ---------------------------------------------------------------------
    async def _delete_delete(self, request, path):
        local = self.local(path)
        if not os.path.exists(local):
            return web.json_response({"boolean": False})
        if os.path.isdir(local):
            if os.listdir(local) and request.query.get("recursive", "").lower() != "true":
                raise RemoteError("PathIsNotEmptyDirectoryException",
                                  f"`{path} is non empty': Directory is not empty")
            shutil.rmtree(local)
        else:
            os.unlink(local)
        return web.json_response({"boolean": True})
