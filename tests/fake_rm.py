"""A loopback ResourceManager for tests: the YARN REST calls the Hadoop runner makes.

:class:`FakeRM` answers ``/ws/v1/cluster/nodes`` (each host's state), each node's
``/ws/v1/node/info`` (a NodeManager that answers, or a closed port: a dead one),
``/ws/v1/cluster/apps/APP/appattempts`` (the hosts of an application's AppMasters) and, with
a fake ``hadoop``'s state folder, the MapReduce AppMaster's attempt lookup through the RM's
proxy (``/proxy/APP/ws/v1/mapreduce/jobs/JOB/tasks/TASK/attempts/ATTEMPT``, which the voting
service asks before it accepts a ``register``, :mod:`dirft.runners.hadoop_attempts`).
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeRM:
    """``states``: host -> YARN node state (``RUNNING``, ``LOST``, …), changed in place by a
    test; :attr:`answering`: hosts whose NodeManager answers. ``fake_state``: the fake
    ``hadoop``'s ``$FAKE_HADOOP_STATE`` folder, or None: then a host it lost
    (``lost/HOST``) is ``LOST`` with its NodeManager silent, and an attempt it started is
    ``RUNNING`` until it ended (``SUCCEEDED``), on this machine (``127.0.0.1``), else 404."""

    def __init__(self, states: dict, fake_state: str | None = None) -> None:
        self.states, self.answering, self.asked = dict(states), set(states), []
        self.fake_state = fake_state
        self.am: dict = {}  # application id -> hosts of its ApplicationMaster attempts
        self.free: dict = {}  # host -> (free MB, free vcores) its node entry says, if any
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        self.dead_port = closed.server_port  # nobody listens there once closed
        closed.server_close()

    def lost(self, host: str) -> bool:
        """True if the fake ``hadoop`` lost ``host``."""
        return bool(self.fake_state) and os.path.exists(
            os.path.join(self.fake_state, "lost", host))

    def node(self, host: str, state: str) -> dict:
        """One entry of ``/ws/v1/cluster/nodes``."""
        lost = self.lost(host)
        port = self.server.server_port if host in self.answering and not lost \
            else self.dead_port
        entry = {"id": f"{host}:8041", "nodeHostName": host, "state": "LOST" if lost else state,
                 "nodeHTTPAddress": f"127.0.0.1:{port}"}
        if host in self.free:
            entry["availMemoryMB"], entry["availableVirtualCores"] = self.free[host]
        return entry

    def answer(self, path: str) -> tuple[int, dict]:
        """``(HTTP status, JSON body)`` for a GET of ``path``."""
        if path == "/ws/v1/cluster/nodes":
            return 200, {"nodes": {"node": [self.node(h, s) for h, s in self.states.items()]}}
        if path.endswith("/appattempts"):
            app = path.split("/")[-2]
            return 200, {"appAttempts": {"appAttempt": [
                {"id": i + 1, "nodeHttpAddress": f"{h}:8042"}
                for i, h in enumerate(self.am.get(app, []))]}}
        if "/ws/v1/mapreduce/jobs/" in path and "/attempts/" in path:
            return self.attempt(path.rsplit("/", 1)[1])
        return 200, {"nodeInfo": {}}

    def attempt(self, name: str) -> tuple[int, dict]:
        """The AppMaster's ``taskAttempt`` of ``name`` from the fake's state folder."""
        folder = self.fake_state or ""
        if not folder or not os.path.exists(os.path.join(folder, f"{name}.pid")):
            return 404, {"RemoteException": {"message": f"attempt {name} not found"}}
        done = os.path.exists(os.path.join(folder, f"{name}.done"))
        return 200, {"taskAttempt": {"id": name, "state": "SUCCEEDED" if done else "RUNNING",
                                     "nodeHttpAddress": "127.0.0.1:8042"}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(fake: FakeRM):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            fake.asked.append(self.path)
            status, body = fake.answer(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler
