"""Attack the voting service as issue 12 did: fuzzed requests, slow clients, fd exhaustion.

``python -m bench.fuzz [--inputs 100000] [--seed 12] [--slow 20] [--timeout 2]
[--fd-limit 256]`` runs a real :class:`~dirft.service.server.VotingService` in a child
process (its stderr to a file, so log lines can be counted) and prints one Markdown table:

1. **fuzz**: ``--inputs`` requests on keep-alive connections, drawn with a seeded RNG from
   random bodies under random MACs and identities, valid messages signed with a sibling's
   key (forgery), valid messages with one byte flipped after signing (tampering), replays
   of accepted messages, and fresh correctly signed messages (the only ones that may get
   200). Counts forged/tampered/replayed requests accepted (must be 0), 5xx answers (0),
   and the child's resident memory before and after (KiB).
2. **slow clients**: ``--slow`` connections that send half their headers and ``--slow`` that
   send headers and half a body, then stall; reports how long the service took to cut the
   last of each (it should be about ``--timeout``) and that every one was cut.
3. **fd exhaustion**: the child's open-files limit is ``--fd-limit``; 3 x that many
   connections are opened and held, then one legitimate replica makes 100 calls. Run twice:
   with the default connection cap (half the limit) and with the cap above the limit (what
   the service did before issue 12). Reports the replica's successful calls and the lines
   and bytes the child wrote to stderr (the traceback flood of issue 12 was 119,216 lines).

Bounded: every part has a fixed size and every wait a timeout; the whole script took 610 s
on the shared 2-core machine while five test suites ran (most of it the 100,000 requests).
Nothing is asserted here (``tests/test_service.py`` asserts the behaviour); it prints
figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import random
import resource
import socket
import sys
import tempfile
import time

from bench.service import HOST, _Connection
from dirft.service import keys, messages
from dirft.service.client import VotingClient
from dirft.service.messages import ROUTE

JOB = "job_fuzz_0001"
MASTER = b"fuzz-master-secret-0123456789abcdef"


# --------------------------------------------------------------------------- the child

def _serve(ready, timeout: float, fd_limit: int, max_connections: int | None,
           stderr_path: str) -> None:
    """Child process: the service, its log on ``stderr_path``, until terminated."""
    from dirft.service.server import VotingService
    fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    if fd_limit:
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
    service = VotingService(MASTER, JOB, lambda m: {"action": "wait", "retry_after": 0.05},
                            timeout=timeout, max_connections=max_connections)
    ready.put(int(service.start().rsplit(":", 1)[1]))
    while True:
        time.sleep(3600)


class Child:
    """A service child process: ``port``, ``rss_kib()``, ``log_lines()``; a context manager."""

    def __init__(self, timeout: float = 30.0, fd_limit: int = 0,
                 max_connections: int | None = None) -> None:
        self.log_path = tempfile.mktemp(prefix="dirft-fuzz-", suffix=".log")
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(ready, timeout, fd_limit,
                                                     max_connections, self.log_path))
        self.proc.start()
        self.port = ready.get(timeout=60)

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    def log_lines(self) -> tuple[int, int]:
        """(lines, bytes) the child wrote to stderr."""
        with open(self.log_path, "rb") as f:
            data = f.read()
        return data.count(b"\n"), len(data)

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.join(10)
        os.unlink(self.log_path)


# --------------------------------------------------------------------------- 1. fuzz

def _request(port: int, body: bytes, sender: str, mac: str) -> bytes:
    head = (f"POST {ROUTE} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json"
            f"\r\n{keys.IDENTITY_HEADER}: {sender}\r\n{messages.MAC_HEADER}: {mac}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1") + body


def _valid(rng: random.Random, task: int, replica: int, seq: int) -> dict:
    kind = rng.choice(["heartbeat", "request", "failed", "register"])
    extra = {"heartbeat": {"phase": rng.randrange(5), "progress": rng.random()},
             "request": {}, "failed": {"reason": "x" * rng.randrange(50)},
             "register": {"host": "node1", "pid": rng.randrange(1 << 16)}}[kind]
    return {"job": JOB, "task": task, "replica": replica, "seq": seq, "kind": kind, **extra}


def _draw(rng: random.Random, port: int, seqs: dict, accepted: list) -> tuple[str, bytes]:
    """One fuzzed request: (its class, its bytes)."""
    task, replica = rng.randrange(50), rng.randrange(3)
    roll = rng.random()
    if roll < 0.3:
        body = rng.randbytes(rng.randrange(300))
        mac = rng.randbytes(32).hex()
        return "random", _request(port, body, f"{task}/{replica}", mac)
    seq = seqs[(task, replica)] = seqs.get((task, replica), 0) + 1
    body = messages.encode(_valid(rng, task, replica, seq))
    if roll < 0.5:  # signed with a sibling's key, claiming this identity
        other = keys.replica_key(MASTER, task, (replica + 1) % 3)
        return "forged", _request(port, body, f"{task}/{replica}", messages.mac(other, body))
    own = messages.mac(keys.replica_key(MASTER, task, replica), body)
    if roll < 0.7:
        flipped = bytearray(body)
        flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return "tampered", _request(port, bytes(flipped), f"{task}/{replica}", own)
    if roll < 0.85 and accepted:
        return "replayed", rng.choice(accepted)
    return "fresh", _request(port, body, f"{task}/{replica}", own)


def fuzz(inputs: int, seed: int) -> dict:
    """Part 1; returns its figures."""
    rng = random.Random(seed)
    counts: dict = {}
    with Child() as child:
        conn, seqs, accepted = _Connection(child.port), {}, []
        rss_before = None
        for i in range(inputs):
            if i == 1000:
                rss_before = child.rss_kib()
            kind, raw = _draw(rng, child.port, seqs, accepted)
            try:
                status, _, _ = conn.exchange(raw)
            except (ConnectionError, OSError):
                conn.close()
                conn = _Connection(child.port)
                status = -1
            counts.setdefault(kind, {}).setdefault(status, 0)
            counts[kind][status] += 1
            if kind == "fresh" and status == 200 and len(accepted) < 1000:
                accepted.append(raw)
        conn.close()
        rss_after = child.rss_kib()
        lines, size = child.log_lines()
    wrongly = sum(n for k in ("forged", "tampered", "replayed", "random")
                  for s, n in counts.get(k, {}).items() if s == 200)
    server_errors = sum(n for c in counts.values() for s, n in c.items() if s >= 500)
    return {"inputs": inputs, "by_class": counts, "accepted_wrongly": wrongly,
            "5xx": server_errors, "rss_kib_after_1000": rss_before, "rss_kib_end": rss_after,
            "log_lines": lines, "log_bytes": size}


# --------------------------------------------------------------------------- 2. slow

def _stall(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection((HOST, port))
    sock.sendall(data)
    return sock


def slow_clients(count: int, timeout: float) -> dict:
    """Part 2; returns its figures."""
    with Child(timeout=timeout) as child:
        started = time.monotonic()
        heads = [_stall(child.port, b"POST /v1/message HTTP/1.1\r\nHost: x\r\n")
                 for _ in range(count)]
        bodies = [_stall(child.port, b"POST /v1/message HTTP/1.1\r\nHost: x\r\n"
                                     b"Content-Length: 200\r\n\r\n{\"job\":")
                  for _ in range(count)]
        cut = {"headers": _wait_cut(heads, started, 10 * timeout + 30),
               "bodies": _wait_cut(bodies, started, 10 * timeout + 30)}
    return {"connections": count, "timeout_s": timeout, **cut}


def _wait_cut(socks: list, started: float, limit: float) -> dict:
    """Seconds until each socket was answered or closed; how many were cut at all."""
    times = []
    for sock in socks:
        sock.settimeout(max(0.1, limit - (time.monotonic() - started)))
        try:
            sock.recv(4096)
            times.append(time.monotonic() - started)
        except socket.timeout:
            pass
        sock.close()
    return {"cut": len(times), "last_cut_s": round(max(times), 2) if times else None}


# --------------------------------------------------------------------------- 3. fds

def fd_exhaustion(fd_limit: int, capped: bool) -> dict:
    """Part 3 (one variant); returns its figures."""
    cap = None if capped else fd_limit * 10
    with Child(fd_limit=fd_limit, max_connections=cap) as child:
        flood = []
        for _ in range(3 * fd_limit):
            try:
                flood.append(socket.create_connection((HOST, child.port), timeout=5))
            except OSError:
                break
        ok = 0
        with VotingClient(f"http://{HOST}:{child.port}", keys.replica_key(MASTER, 1, 0),
                          JOB, 1, 0, timeout=2.0, retries=1) as client:
            for _ in range(100):
                try:
                    client.call("heartbeat", phase=0, progress=0.0)
                    ok += 1
                except Exception:  # noqa: BLE001 - counted, not raised
                    pass
        for sock in flood:
            sock.close()
        lines, size = child.log_lines()
    return {"fd_limit": fd_limit, "cap": "default (half the limit)" if capped else cap,
            "flood_connections": len(flood), "replica_calls_ok": ok, "log_lines": lines,
            "log_bytes": size}


def main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--inputs", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--slow", type=int, default=20)
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--fd-limit", type=int, default=256)
    args = p.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8 * args.fd_limit)), hard))
    started = time.monotonic()
    result = {"fuzz": fuzz(args.inputs, args.seed),
              "slow": slow_clients(args.slow, args.timeout),
              "fds_capped": fd_exhaustion(args.fd_limit, True),
              "fds_uncapped": fd_exhaustion(args.fd_limit, False)}
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
