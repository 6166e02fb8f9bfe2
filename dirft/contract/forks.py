"""The local runner's fork server protocol (issue 22), shared by its two sides: the driver's
handle (:class:`dirft.runners.forkserver.ForkServer`) and the server
(:mod:`dirft.runtime.forkserver`), which fork the replicas.

Protocol over a ``SOCK_SEQPACKET`` pair, one JSON object per message:

* server to driver, once: ``{"ready": pid, "locked": bool, "subreaper": bool}``;
* driver to server: ``{"task", "replica", "node"}`` with two descriptors (``SCM_RIGHTS``):
  the replica's end of its handshake socket and its log file; answered
  ``{"started": [task, replica, node], "pid": pid}``;
* server to driver, as each replica is reaped: ``{"exited": [task, replica, node], "pid",
  "code", "killed"}``: its exit status (negative: killed by that signal, as
  :attr:`subprocess.Popen.returncode`) and how many processes its mappers left behind were
  killed (by the replica, :mod:`dirft.runtime.reaper`, as each mapper exited and when its
  attempt ended, and by the server for those its death orphaned);
* when the driver shuts its end: the server SIGKILLs every replica's process group, reaps
  them (``exited`` messages), kills every process left under it, sends
  ``{"swept": n}`` and exits.
"""

from __future__ import annotations

import json
import socket

MAX_MESSAGE = 4096
"""Bytes of the longest message (one JSON object)."""


def send(sock: socket.socket, message: dict, fds=()) -> None:
    """Send ``message`` (a JSON-ready dict) as one packet on ``sock``, with descriptors
    ``fds`` (``SCM_RIGHTS``) if any. Raises OSError."""
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)
