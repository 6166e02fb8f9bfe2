"""Issue 22: on Hadoop a ``register`` counts only for an attempt the cluster runs, from its
host; checked against a loopback fake of the ApplicationMaster's REST API (behind the
ResourceManager's proxy). The real cluster: ``tests/test_hadoop_integration.py``."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dirft.errors import ProtocolError
from dirft.runners.hadoop_attempts import AttemptCheck, attempt_url
from dirft.service import keys
from dirft.service.client import VotingClient
from dirft.service.server import VotingService

JOB = "job_sec_0001"
RUNNING = "attempt_1733000000000_0007_m_000003_0"
ENROLLMENT = b"e" * 32


class FakeAM(ThreadingHTTPServer):
    """Answers the AM's ``taskAttempt`` for the attempts in ``attempts`` (id -> (state,
    nodeHttpAddress)); 404 for any other path, as the proxy does for an unknown one."""

    def __init__(self, attempts: dict) -> None:
        self.attempts, self.asked = attempts, []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.asked.append(self.path)
        for attempt, (state, node) in self.server.attempts.items():
            if self.path == attempt_url("", attempt):
                body = json.dumps({"taskAttempt": {"id": attempt, "state": state,
                                                   "nodeHttpAddress": node}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        self.send_error(404)

    def log_message(self, *args) -> None:
        pass


def _register(service, task: int, replica: int, attempt: str, key: bytes) -> dict:
    with VotingClient(service.url, key, JOB, task, replica, enrollment=ENROLLMENT) as client:
        return client.call("register", host="n1", pid=1, attempt=attempt)


def _resolve(host: str) -> set:
    return {"localhost": {"127.0.0.1"}, "far": {"10.9.9.9"}}.get(host, set())


@pytest.mark.parametrize("attempt, why", [
    ("attempt_1733000000000_0007_m_000099_0", "does not run"),
    ("attempt_1733000000000_0007_m_000004_0", "reports FAILED"),
    ("attempt_1733000000000_0007_m_000005_0", "runs on far"),
    ("not-an-attempt", "not a Hadoop task attempt id"),
])
def test_a_register_for_an_attempt_the_cluster_does_not_run_here_is_refused(attempt, why):
    attempts = {RUNNING: ("RUNNING", "localhost:8042"),
                "attempt_1733000000000_0007_m_000004_0": ("FAILED", "localhost:8042"),
                "attempt_1733000000000_0007_m_000005_0": ("RUNNING", "far:8042")}
    with FakeAM(attempts) as am:
        ring = keys.Keyring(enrollment=ENROLLMENT, verify=AttemptCheck(am.url, tries=1,
                                                                      resolve=_resolve))
        with VotingService(ring, JOB, lambda m: {"action": "ok"}) as service:
            with pytest.raises(ProtocolError) as err:
                _register(service, 3, 1, attempt, b"f" * 32)
            assert err.value.status == 403 and why in str(err.value)
            # nothing was bound and nothing aborts: the real replica then registers
            assert ring.key(3, 1) is None and ring.conflicts == []
            assert _register(service, 3, 1, RUNNING, b"r" * 32) == {"action": "ok"}
    assert ring.holders == {(3, 1): (RUNNING, "n1")} and ring.conflicts == []


def test_an_attempt_in_a_live_state_on_the_peer_host_is_accepted():
    attempts = {f"attempt_1733000000000_0007_m_00000{i}_0": (state, "localhost:8042")
                for i, state in enumerate(("NEW", "STARTING", "RUNNING"))}
    with FakeAM(attempts) as am:
        check = AttemptCheck(am.url, tries=1, resolve=_resolve)
        for attempt in attempts:
            check(attempt, "127.0.0.1")
    assert len(am.asked) == 3 and all("/proxy/application_1733000000000_0007/ws/v1/"
                                      "mapreduce/jobs/job_1733000000000_0007/tasks/"
                                      "task_1733000000000_0007_m_00000" in p for p in am.asked)


def test_an_application_master_that_cannot_be_asked_refuses_for_now():
    with FakeAM({}) as am:
        url = am.url
    with pytest.raises(ProtocolError) as err:
        AttemptCheck(url, timeout=2.0, tries=2)(RUNNING, "127.0.0.1")
    assert err.value.status == 503 and "retry" in str(err.value)
