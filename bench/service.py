"""Voting service throughput and latency, from several client processes on loopback.

The service under test is a real :class:`~dirft.service.server.VotingService` on
127.0.0.1, in this process, whose dispatcher is either a real
:class:`~dirft.runners.driver.Driver` (the core decides every message) or a trivial one
(answers ``wait``, to see the shell alone). Load comes from ``clients`` worker processes
(``spawn``), one keep-alive connection each, each sending its share of messages one at a
time (a closed loop, as replicas do) and timing every round trip. Every message is real:
the schema of :mod:`dirft.service.messages`, a fresh sequence number, an HMAC-SHA256 under
the job secret, and the answer's MAC is checked. Messages are built and signed before the
clock starts and sent by a minimal HTTP/1.1 writer, so the clients cost little CPU and the
service is what is measured. Loops are bounded by a message count and a deadline.

With the Driver, each replica speaks the real protocol: ``register``, ``request`` (gets a
sub-split), ``request`` with the report of that sub-split; so one message in three carries
a report. With the trivial dispatcher every message is a ``request`` with a report.

:func:`client_cost` measures the production client, :class:`dirft.service.client.
VotingClient`, in this one process: calls per second and client CPU per call.
"""

from __future__ import annotations

import cProfile
import io
import multiprocessing
import os
import pstats
import socket
import threading
import time
from dataclasses import dataclass

from dirft.core import events as E
from dirft.core.jobplan import build_plan, node_names
from dirft.core.planner import InputFile
from dirft.core.scheme import Tolerance, make_scheme
from dirft.runners.driver import Driver
from dirft.service import keys, messages
from dirft.service.client import VotingClient
from dirft.service.messages import ROUTE
from dirft.service.server import VotingService

JOB = "job_bench_0001"
SIGNATURE = "5f" * 32
COUNTERS = {"Map-Reduce Framework": {"Map input records": 41234, "Map output records": 9876}}
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0


# --------------------------------------------------------------------------- messages

def _report(subsplit: int) -> dict:
    """A sub-split's report as a replica sends it (signature, bytes, counters)."""
    return {"subsplit": subsplit, "signature": SIGNATURE, "output_bytes": 33554432,
            "counters": COUNTERS}


def protocol_messages(task: int, replica: int) -> list[dict]:
    """The messages of one DIRFT replica (f_c = 1) that works one phase: seq 1, 2, 3."""
    ids = {"job": JOB, "task": task, "replica": replica}
    return [{**ids, "seq": 1, "kind": "register", "host": f"node{replica}", "pid": 4242},
            {**ids, "seq": 2, "kind": "request"},
            {**ids, "seq": 3, "kind": "request", "report": _report(replica)}]


def report_messages(task: int, count: int) -> list[dict]:
    """``count`` ``request`` messages with a report from replica 0 of ``task``, seq 1…"""
    return [{"job": JOB, "task": task, "replica": 0, "seq": seq, "kind": "request",
             "report": _report(0)} for seq in range(1, count + 1)]


def http_request(port: int, secret: bytes, message: dict) -> bytes:
    """The bytes of one ``POST`` of ``message`` (HTTP/1.1, keep-alive) signed under its
    sender's key derived from the master ``secret`` (:func:`dirft.service.keys.replica_key`)."""
    body = messages.encode(message)
    task, replica = message["task"], message["replica"]
    head = (f"POST {ROUTE} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\n{keys.IDENTITY_HEADER}: {task}/{replica}"
            f"\r\n{messages.MAC_HEADER}: {messages.mac(sender_key(secret, message), body)}"
            f"\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


def sender_key(secret: bytes, message: dict) -> bytes:
    """The key of ``message``'s sender, derived from the master ``secret``."""
    return keys.replica_key(secret, message["task"], message["replica"])


def prepared(port: int, secret: bytes, message: dict) -> tuple[bytes, bytes]:
    """``(request bytes, key that signs the answer)`` of ``message``."""
    return http_request(port, secret, message), sender_key(secret, message)


# --------------------------------------------------------------------------- client side

class _Connection:
    """A keep-alive HTTP/1.1 connection that sends prepared requests and reads answers."""

    def __init__(self, port: int) -> None:
        """Connect to 127.0.0.1:``port``. Raises OSError."""
        self.sock = socket.create_connection((HOST, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def exchange(self, request: bytes) -> tuple[int, bytes, bytes]:
        """Send ``request``; return (status, raw header block, body). Raises OSError."""
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        length = int(_header(head, b"content-length") or 0)
        while len(self.buf) < length:
            self._recv()
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(head[9:12]), head, body

    def close(self) -> None:
        """Close the connection."""
        self.sock.close()

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the service closed the connection")
        self.buf += data


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lower case) in a raw header block, or None."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


@dataclass
class ClientResult:
    """What one client process saw: answers by status, round trips in seconds, its clock
    span (``perf_counter``, comparable across processes on Linux), CPU seconds, and the
    error that stopped it early (``""`` if none)."""

    statuses: dict
    latencies: list
    started: float
    ended: float
    cpu: float
    error: str = ""


def client_process(port: int, secret: bytes, requests: list, deadline_s: float,
                   barrier, results) -> None:
    """Worker: wait at ``barrier``, send ``requests`` one by one, put a ClientResult."""
    result = ClientResult({}, [], 0.0, 0.0, 0.0)
    try:
        conn = _Connection(port)
        barrier.wait()
        cpu, result.started = time.process_time(), time.perf_counter()
        _send_all(conn, secret, requests, deadline_s, result)
        result.cpu = time.process_time() - cpu
        conn.close()
    except Exception as err:  # noqa: BLE001 - reported to the parent, which raises
        result.error = f"{type(err).__name__}: {err}"
    result.ended = time.perf_counter()
    results.put(result)


def _send_all(conn: _Connection, secret: bytes, requests: list, deadline_s: float,
              result: ClientResult) -> None:
    """Send ``requests`` (:func:`prepared` pairs) in order (until ``deadline_s``),
    checking each answer's MAC under its sender's key."""
    for request, key in requests:
        sent = time.perf_counter()
        status, head, body = conn.exchange(request)
        result.latencies.append(time.perf_counter() - sent)
        messages.check_mac(key, body, (_header(head, b"x-dirft-mac") or b"").decode())
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if sent - result.started > deadline_s:
            break


# --------------------------------------------------------------------------- service side

def driver_dispatcher(replicas: int):
    """A real Driver for a DIRFT job (f_c = 1, R = 2) with ``replicas`` // 2 map tasks,
    every replica already started; return its ``dispatch``."""
    scheme = make_scheme("dirft", Tolerance(1, 0))
    files = [InputFile(f"/bench/part-{i:06d}", 64 << 20) for i in range(replicas // 2)]
    plan = build_plan(files, scheme, node_names(2), 128 << 20, 1, 2**63 - 1, 0, 600.0)
    driver = Driver(plan)
    driver.handle(E.JobStarted(driver.now()))
    driver.handle(*(E.ReplicaStarted(driver.now(), t.index, r, node)
                    for t in plan.tasks for r, node in enumerate(t.nodes)))
    return driver.dispatch


def trivial_dispatcher(message: dict) -> dict:
    """Answer every message ``wait`` (what the Driver answers a replica with no work)."""
    return {"action": "wait", "retry_after": 0.05}


def _workload(kind: str, clients: int, per_client: int, port: int, secret: bytes):
    """Return (dispatcher, per-client lists of prepared requests) for ``kind``."""
    if kind == "driver":
        replicas = (per_client // 3) * clients
        shares = [[prepared(port, secret, m)
                   for i in range(c, replicas, clients)
                   for m in protocol_messages(i // 2, i % 2)] for c in range(clients)]
        return driver_dispatcher(replicas), shares
    shares = [[prepared(port, secret, m) for m in report_messages(c, per_client)]
              for c in range(clients)]
    return trivial_dispatcher, shares


@dataclass
class ServiceResult:
    """Throughput (answers per second over the common span), latency percentiles in
    seconds, answers by status, server CPU seconds per answer, and an optional profile."""

    rate: float
    p50: float
    p99: float
    statuses: dict
    server_cpu_per_msg: float
    clients: int
    profile: str = ""


def measure(kind: str = "driver", clients: int = 3, per_client: int = 6000,
            deadline_s: float = 20.0, profile: bool = False) -> ServiceResult:
    """Run one load test of the service with the ``kind`` dispatcher (driver|trivial).

    ``clients`` processes each send ``per_client`` messages (fewer if ``deadline_s`` is
    reached). With ``profile`` the service's loop thread runs under cProfile and the
    result carries its top functions. Raises RuntimeError if a client fails.
    """
    secret = os.urandom(32)
    holder: dict = {}
    service = VotingService(secret, JOB, lambda m: holder["dispatch"](m))
    service.start()
    try:
        port = int(service.url.rsplit(":", 1)[1])
        holder["dispatch"], shares = _workload(kind, clients, per_client, port, secret)
        return _load(service, port, secret, shares, deadline_s, profile)
    finally:
        service.stop()


def _load(service, port: int, secret: bytes, shares: list, deadline_s: float,
          profile: bool) -> ServiceResult:
    """Start the client processes on the prepared ``shares``; gather a ServiceResult."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(shares) + 1), ctx.Queue()
    procs = [ctx.Process(target=client_process, args=(port, secret, share, deadline_s,
                                                       barrier, results), daemon=True)
             for share in shares]
    for proc in procs:
        proc.start()
    profiler = _start_profile(service) if profile else None
    barrier.wait(START_TIMEOUT_S)
    before = os.times()
    gathered = [results.get(timeout=deadline_s + START_TIMEOUT_S) for _ in procs]
    after = os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    for proc in procs:
        proc.join(START_TIMEOUT_S)
    text = _stop_profile(service, profiler) if profiler else ""
    return _summarise(gathered, cpu, text)


def _summarise(gathered: list, server_cpu: float, profile: str) -> ServiceResult:
    """Combine the clients' results into one ServiceResult. RuntimeError if one failed."""
    errors = [r.error for r in gathered if r.error]
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed; first: {errors[0]}")
    latencies = sorted(x for r in gathered for x in r.latencies)
    statuses: dict[int, int] = {}
    for r in gathered:
        for status, count in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    span = max(r.ended for r in gathered) - min(r.started for r in gathered)
    return ServiceResult(rate=len(latencies) / span, p50=_percentile(latencies, 0.50),
                         p99=_percentile(latencies, 0.99), statuses=statuses,
                         server_cpu_per_msg=server_cpu / max(1, len(latencies)),
                         clients=len(gathered), profile=profile)


def _percentile(ordered: list, q: float) -> float:
    """The ``q`` quantile (0..1) of an ascending list, nearest rank. ValueError if empty."""
    if not ordered:
        raise ValueError("no samples")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _start_profile(service) -> cProfile.Profile:
    """Enable cProfile in the service's loop thread (cProfile profiles one thread)."""
    profiler = cProfile.Profile(time.thread_time)
    service._loop.call_soon_threadsafe(profiler.enable)  # noqa: SLF001 - bench only
    return profiler


def _stop_profile(service, profiler: cProfile.Profile, top: int = 25) -> str:
    """Disable the profiler in the loop thread; return its top functions by own time."""
    stopped = threading.Event()
    service._loop.call_soon_threadsafe(lambda: (profiler.disable(), stopped.set()))  # noqa: SLF001
    stopped.wait(10)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------- production client

def client_cost(calls: int = 2000, deadline_s: float = 10.0) -> tuple[float, float]:
    """Time :class:`VotingClient` (``requests``) against a trivial service in this process.

    Sends up to ``calls`` ``request`` messages with a report (stops after ``deadline_s``
    seconds) from this thread. Returns (calls per second, client CPU seconds per call);
    the CPU is this thread's alone (``time.thread_time``), the service runs in another.
    """
    secret = os.urandom(32)
    with VotingService(secret, JOB, trivial_dispatcher) as service:
        with VotingClient(service.url, keys.replica_key(secret, 0, 0), JOB, 0, 0) as client:
            client.call("request", report=_report(0))  # connect, warm up
            done, cpu, start = 0, time.thread_time(), time.perf_counter()
            while done < calls and time.perf_counter() - start < deadline_s:
                client.call("request", report=_report(0))
                done += 1
            wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
    return done / wall, cpu / done
