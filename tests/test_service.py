"""Tests of the voting service (docs/design.md, 'Voting service'): messages, server, client.

One real server on 127.0.0.1 (port 0) serves the whole module; each test uses its own task
ids so sequence numbers never interfere. The recording dispatcher answers
``{"action": "wait"}``, except for a ``failed`` message whose reason is one of the magic
strings below, which makes it raise (to test how the service survives its dispatcher).
"""

import itertools
import json
import logging
import threading

import pytest
import requests
from hypothesis import event, given, settings
from hypothesis import strategies as st

from dirft.errors import ProtocolError, RemoteFault
from dirft.service import keys, messages
from dirft.service.client import VotingClient
from dirft.service.guard import LogLimiter
from dirft.service.server import VotingService

SECRET = b"0123456789abcdef-test-secret"
JOB = "job_20260101_0001"
SIG = "ab" * 32
RAISE_404 = "magic: dispatcher raises ProtocolError 404"
RAISE_VALUE = "magic: dispatcher raises ValueError"


class Recorder:
    """A dispatcher that records every message it receives and answers ``wait``."""

    def __init__(self):
        self.seen = []

    def __call__(self, message):
        self.seen.append(message)
        if message.get("reason") == RAISE_404:
            raise ProtocolError(f"task {message['task']} is unknown to the driver", 404)
        if message.get("reason") == RAISE_VALUE:
            raise ValueError("dispatcher bug")
        return {"action": "wait", "seq": message["seq"]}


@pytest.fixture(scope="module")
def recorder():
    """The module's recording dispatcher."""
    return Recorder()


@pytest.fixture(scope="module")
def service(recorder):
    """One real VotingService on 127.0.0.1 (any port) for the whole module."""
    with VotingService(SECRET, JOB, recorder) as svc:
        yield svc


@pytest.fixture(scope="module")
def http():
    """A raw keep-alive requests session, to post hand-made bodies."""
    with requests.Session() as session:
        yield session


_TASKS = itertools.count(1000)


@pytest.fixture
def task():
    """A task id no other test uses, so its sequence numbers start fresh."""
    return next(_TASKS)


def message(task, seq=1, kind="heartbeat", replica=0, **fields):
    """A valid message of ``kind`` (defaults filled in), with ``fields`` overriding."""
    base = {"job": JOB, "task": task, "replica": replica, "seq": seq, "kind": kind}
    defaults = {"heartbeat": {"phase": 1, "progress": 0.5},
                "register": {"host": "node-3", "pid": 4242},
                "request": {}, "failed": {"reason": "mapper exited 1"}}
    return {**base, **defaults[kind], **fields}


def sender_of(body):
    """(task, replica) a body names, where both are natural ints; else (0, 0)."""
    try:
        data = json.loads(body)
        ids = (data["task"], data["replica"])
    except (ValueError, TypeError, KeyError, RecursionError):
        return 0, 0
    return ids if all(type(i) is int and 0 <= i < 10**18 for i in ids) else (0, 0)


def key_of(task, replica=0):
    """The key the module's service expects from (task, replica)."""
    return keys.replica_key(SECRET, task, replica)


def post(http, service, body, mac=None, sender=None):
    """POST raw ``body`` bytes as ``sender`` (default: the ids the body names); sign it
    with that replica's key unless ``mac`` is given."""
    if isinstance(body, dict):
        body = messages.encode(body)
    task, replica = sender or sender_of(body)
    headers = {messages.MAC_HEADER: messages.mac(key_of(task, replica), body)
               if mac is None else mac, keys.IDENTITY_HEADER: f"{task}/{replica}"}
    return http.post(service.url + "/v1/message", data=body, headers=headers)


def logs(caplog):
    """The records the service logged (other libraries' records left out)."""
    return [r for r in caplog.records if r.name == "dirft.service"]


def error_of(response):
    """The one-line ``error`` of a JSON rejection."""
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


# ---------------------------------------------------------------------- messages (pure)

def test_mac_is_hmac_sha256_and_check_mac_refuses_wrong_or_malformed():
    import hashlib
    import hmac as std_hmac
    body = b'{"a":1}'
    assert messages.mac(SECRET, body) == std_hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    messages.check_mac(SECRET, body, messages.mac(SECRET, body).upper())
    for bad in [None, "", "zz" * 32, messages.mac(SECRET, body)[:-1],
                messages.mac(b"x" * 16, body)]:
        with pytest.raises(ProtocolError) as err:
            messages.check_mac(SECRET, body, bad)
        assert err.value.status == 401


def test_encode_is_compact_sorted_utf8_and_decode_round_trips():
    assert messages.encode({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    assert messages.decode(messages.encode({"x": [1, 2]})) == {"x": [1, 2]}


@pytest.mark.parametrize("body", [b"\xff\xfe", b"{", b"[1]", b'"s"', b"NaN",
                                  b'{"a":NaN}', b'{"a":1,"a":2}', b"[" * 100000])
def test_decode_refuses_non_objects_with_400(body):
    with pytest.raises(ProtocolError) as err:
        messages.decode(body)
    assert err.value.status == 400


def test_validate_normalises_progress_report_and_counters():
    out = messages.validate(message(1, progress=1), JOB)
    assert out["progress"] == 1.0 and isinstance(out["progress"], float)
    assert messages.validate(message(1, kind="request"), JOB)["report"] is None
    report = {"subsplit": 0, "signature": SIG, "output_bytes": 10}
    out = messages.validate(message(1, kind="request", report=report), JOB)
    assert out["report"] == {**report, "counters": {}}
    out = messages.validate(message(1, ended=[[3, 1, -9], [4, 0, 0]]), JOB)
    assert out["ended"] == [(3, 1, -9), (4, 0, 0)]  # replicas of the sender's map task


@pytest.mark.parametrize("change, status, field", [
    ({"task": -1}, 422, "task"), ({"task": True}, 400, "task"), ({"seq": 0}, 422, "seq"),
    ({"replica": "0"}, 400, "replica"), ({"progress": 1.5}, 422, "progress"),
    ({"progress": False}, 400, "progress"), ({"phase": 2.0}, 400, "phase"),
    ({"extra": 1}, 400, "extra"), ({"kind": "vote"}, 400, "vote"),
    ({"job": "other"}, 403, "other"), ({"task": 2**63}, 422, "task"),
    ({"ended": "0 1 0"}, 400, "ended"), ({"ended": [[0, 1]]}, 400, "ended"),
    ({"ended": [[0, -1, 0]]}, 422, "ended"), ({"ended": [[0, 1, 256]]}, 422, "ended"),
    ({"ended": [[0, 1, 0.0]]}, 400, "ended"), ({"ended": [[0, 1, 0]] * 9}, 422, "ended"),
])
def test_validate_refuses_bad_fields_naming_them(change, status, field):
    with pytest.raises(ProtocolError) as err:
        messages.validate({**message(1), **change}, JOB)
    assert err.value.status == status and field in str(err.value)


@pytest.mark.parametrize("report, status", [
    ({"subsplit": 0, "signature": SIG.upper(), "output_bytes": 1}, 422),
    ({"subsplit": 0, "signature": SIG[:-1], "output_bytes": 1}, 422),
    ({"subsplit": 0, "signature": SIG + "\n", "output_bytes": 1}, 422),
    ({"subsplit": 0, "signature": 7, "output_bytes": 1}, 400),
    ({"subsplit": 0, "output_bytes": 1}, 400),
    ({"subsplit": 0, "signature": SIG, "output_bytes": 1, "path": "/etc"}, 400),
    ({"subsplit": 0, "signature": SIG, "output_bytes": 1, "counters": {"g": {"n": 1.0}}}, 400),
    ({"subsplit": 0, "signature": SIG, "output_bytes": 1,
      "counters": {str(i): {} for i in range(101)}}, 422),
    ({"subsplit": 0, "signature": SIG, "output_bytes": 1,
      "counters": {"g": {str(i): 1 for i in range(101)}}}, 422),
    ([], 400),
])
def test_validate_refuses_bad_reports(report, status):
    with pytest.raises(ProtocolError) as err:
        messages.validate(message(1, kind="request", report=report), JOB)
    assert err.value.status == status


def test_validate_bounds_strings():
    with pytest.raises(ProtocolError) as err:
        messages.validate(message(1, kind="register", host="h" * 256), JOB)
    assert err.value.status == 422
    messages.validate(message(1, kind="failed", reason="r" * 2000), JOB)
    with pytest.raises(ProtocolError):
        messages.validate(message(1, kind="failed", reason="r" * 2001), JOB)


def test_sequence_tracker_refuses_replay_and_reordering_per_replica():
    tracker = messages.SequenceTracker()
    tracker.check_and_record(1, 0, 1)
    tracker.check_and_record(1, 0, 5)
    tracker.check_and_record(1, 1, 1)  # another replica has its own numbering
    for seq in (5, 3):
        with pytest.raises(ProtocolError) as err:
            tracker.check_and_record(1, 0, seq)
        assert err.value.status == 409
    assert tracker.last(1, 0) == 5


# ---------------------------------------------------------------------- service over HTTP

def test_good_message_reaches_dispatcher_and_answer_is_signed(service, recorder, http, task):
    response = post(http, service, message(task, kind="register"))
    assert response.status_code == 200
    messages.check_mac(key_of(task), response.content, response.headers[messages.MAC_HEADER])
    assert messages.decode(response.content) == {"action": "wait", "seq": 1}
    assert recorder.seen[-1] == messages.validate(message(task, kind="register"), JOB)


def test_bad_mac_is_401_and_never_dispatched(service, recorder, http, task, caplog):
    before = len(recorder.seen)
    with caplog.at_level(logging.WARNING, logger="dirft.service"):
        response = post(http, service, message(task), mac=messages.mac(b"w" * 16, b"x"))
    assert response.status_code == 401 and "X-Dirft-MAC" in error_of(response)
    assert len(recorder.seen) == before
    assert [r.levelno for r in logs(caplog)] == [logging.WARNING]
    assert "401" in logs(caplog)[0].getMessage()
    assert "127.0.0.1" in logs(caplog)[0].getMessage()


def test_replayed_and_out_of_order_seq_are_409(service, recorder, http, task, caplog):
    assert post(http, service, message(task, seq=1)).status_code == 200
    assert post(http, service, message(task, seq=3)).status_code == 200
    before = len(recorder.seen)
    with caplog.at_level(logging.WARNING, logger="dirft.service"):
        replay = post(http, service, message(task, seq=3))
        late = post(http, service, message(task, seq=2))
    assert (replay.status_code, late.status_code) == (409, 409)
    assert "seq 2" in error_of(late) and len(recorder.seen) == before
    assert len(logs(caplog)) == 2
    assert f"task={task} replica=0" in logs(caplog)[0].getMessage()


def test_rejected_message_does_not_consume_its_seq(service, http, task):
    assert post(http, service, message(task, seq=1, progress=9)).status_code == 422
    assert post(http, service, message(task, seq=1), mac="00" * 32).status_code == 401
    assert post(http, service, message(task, seq=1)).status_code == 200


def test_oversized_body_is_413_by_header_and_by_reading(service, recorder, http, caplog):
    before = len(recorder.seen)
    with caplog.at_level(logging.WARNING, logger="dirft.service"):
        declared = post(http, service, b"x" * 70000)
        chunked = http.post(service.url + "/v1/message",
                            data=iter([b"x" * 40000, b"y" * 40000]))
    assert (declared.status_code, chunked.status_code) == (413, 413)
    assert len(recorder.seen) == before and len(logs(caplog)) == 2
    assert messages.MAC_HEADER not in chunked.headers  # nothing authenticated: unsigned


@pytest.mark.parametrize("body", [b"{not json", b"\xff", b"[1,2]", b"NaN"])
def test_malformed_body_with_good_mac_is_400(service, recorder, http, body, caplog):
    before = len(recorder.seen)
    with caplog.at_level(logging.WARNING, logger="dirft.service"):
        response = post(http, service, body)
    assert response.status_code == 400 and len(recorder.seen) == before
    assert len(logs(caplog)) == 1 and "400" in logs(caplog)[0].getMessage()


@pytest.mark.parametrize("drop, add, status", [
    ("phase", {}, 400), (None, {"extra": 1}, 400), (None, {"pid": True}, 400),
    (None, {"task": "7"}, 400), (None, {"progress": -0.1}, 422),
    (None, {"kind": "request", "report": {"subsplit": 1, "signature": "g" * 64,
                                          "output_bytes": 2}}, 422),
    (None, {"job": "job_other"}, 403),
])
def test_schema_violations_are_rejected(service, recorder, http, task, drop, add, status):
    body = message(task)
    body.pop(drop, None)
    if add.get("kind") == "request":
        body.pop("phase"), body.pop("progress")
    body.update(add)
    before = len(recorder.seen)
    response = post(http, service, body)
    assert response.status_code == status and len(recorder.seen) == before
    assert error_of(response)


def test_dispatcher_protocol_error_keeps_its_status(service, http, task, caplog):
    with caplog.at_level(logging.WARNING, logger="dirft.service"):
        response = post(http, service, message(task, kind="failed", reason=RAISE_404))
    assert response.status_code == 404 and "unknown to the driver" in error_of(response)
    assert len(logs(caplog)) == 1


def test_dispatcher_crash_is_500_and_service_goes_on(service, http, task, caplog):
    with caplog.at_level(logging.WARNING, logger="dirft.service"):
        crash = post(http, service, message(task, kind="failed", reason=RAISE_VALUE))
    assert crash.status_code == 500 and "ValueError" in error_of(crash)
    assert logs(caplog)[-1].levelno == logging.ERROR
    assert post(http, service, message(task, seq=2)).status_code == 200


def test_rejections_are_counted_by_status(service, http, task):
    before = service.rejections
    post(http, service, message(task), mac="11" * 32)
    post(http, service, b"[]")
    after = service.rejections
    assert after[401] == before.get(401, 0) + 1 and after[400] == before.get(400, 0) + 1


def test_wrong_route_and_method_do_not_reach_dispatcher(service, recorder, http):
    before = len(recorder.seen)
    assert http.get(service.url + "/v1/message").status_code == 405
    assert http.post(service.url + "/v2/message", data=b"{}").status_code == 404
    assert len(recorder.seen) == before


def test_start_stop_is_idempotent_and_port_is_real():
    svc = VotingService(SECRET, JOB, Recorder())
    url = svc.start()
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    svc.stop()
    svc.stop()
    with pytest.raises(requests.ConnectionError):
        requests.post(url + "/v1/message", data=b"{}")


def test_short_secret_is_refused():
    with pytest.raises(ValueError):
        VotingService(b"short", JOB, Recorder())


# ---------------------------------------------------------------------- client

def test_client_round_trip(service, recorder, task):
    with VotingClient(service.url, key_of(task, 2), JOB, task, 2) as client:
        assert client.call("register", host="node-1", pid=7) == {"action": "wait", "seq": 1}
        report = {"subsplit": 0, "signature": SIG, "output_bytes": 12,
                  "counters": {"dirft": {"records": 3}}}
        assert client.call("request", report=report)["seq"] == 2
    assert recorder.seen[-1]["report"] == report and recorder.seen[-1]["replica"] == 2


def test_client_threads_share_one_client_in_order(service, recorder, task):
    client = VotingClient(service.url, key_of(task), JOB, task, 0)
    answers = {name: [] for name in ("main", "heartbeat")}
    rejected_before = service.rejections.get(409, 0)

    def work(name, kind, fields):
        for _ in range(40):
            answers[name].append(client.call(kind, **fields))

    beat = threading.Thread(target=work, args=("heartbeat", "heartbeat",
                                               {"phase": 1, "progress": 0.1}))
    beat.start()
    work("main", "request", {})
    beat.join()
    client.close()
    seqs = [m["seq"] for m in recorder.seen if m["task"] == task]
    assert seqs == sorted(seqs) and len(set(seqs)) == 80
    assert service.rejections.get(409, 0) == rejected_before
    mine = {m["seq"]: m["kind"] for m in recorder.seen if m["task"] == task}
    assert all(mine[a["seq"]] == "request" for a in answers["main"])
    assert all(mine[a["seq"]] == "heartbeat" for a in answers["heartbeat"])


def test_client_raises_remote_fault_with_server_line_on_4xx(service, task):
    with VotingClient(service.url, key_of(task), JOB, task, 0) as client:
        with pytest.raises(RemoteFault) as err:
            client.call("failed", reason=RAISE_404)
    assert err.value.status == 404 and "unknown to the driver" in str(err.value)


def test_client_wrong_secret_is_401_not_retried(service, task):
    with VotingClient(service.url, b"z" * 16, JOB, task, 0, retries=3) as client:
        with pytest.raises(ProtocolError) as err:
            client.call("heartbeat", phase=0, progress=0.0)
        assert err.value.status == 401 and client.seq == 1


def test_client_rejects_answer_signed_with_another_secret(task):
    with VotingService(b"q" * 16, JOB, Recorder()) as other:
        with VotingClient(other.url, key_of(task), JOB, task, 0) as client:
            with pytest.raises(RemoteFault):
                client.call("heartbeat", phase=0, progress=0.0)


def test_client_retries_5xx_with_new_seq_then_gives_up(service, recorder, task):
    with VotingClient(service.url, key_of(task), JOB, task, 0, retries=2) as client:
        with pytest.raises(RemoteFault) as err:
            client.call("failed", reason=RAISE_VALUE)
    assert "3 times" in str(err.value) and not isinstance(err.value, ProtocolError)
    assert [m["seq"] for m in recorder.seen if m["task"] == task] == [1, 2, 3]


def test_client_connection_refused_is_remote_fault():
    svc = VotingService(SECRET, JOB, Recorder())
    url = svc.start()
    svc.stop()
    with VotingClient(url, key_of(1), JOB, 1, 0, retries=1, timeout=2.0) as client:
        with pytest.raises(RemoteFault):
            client.call("heartbeat", phase=0, progress=0.0)


# ---------------------------------------------------------------------- properties

@settings(max_examples=150)
@given(body=st.binary(max_size=300), mac=st.text("0123456789abcdef", min_size=64,
                                                 max_size=64))
def test_random_bytes_with_random_mac_are_rejected(service, recorder, http, body, mac):
    before = len(recorder.seen)
    response = post(http, service, body, mac=mac)
    assert 400 <= response.status_code <= 499
    assert len(recorder.seen) == before


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8)

_valid = st.sampled_from(["register", "heartbeat", "request", "failed"]).map(
    lambda kind: message(0, kind=kind))


@st.composite
def jsonish_messages(draw):
    """A valid message mutated (fields dropped, replaced, added) or a random object."""
    if draw(st.booleans()):
        return draw(st.dictionaries(st.text(max_size=10), _json, max_size=6))
    body = dict(draw(_valid))
    body["task"] = draw(st.integers(0, 50))
    body["seq"] = draw(st.integers(-1, 10**6))
    body["job"] = draw(st.sampled_from([JOB, JOB, JOB, "job_other", ""]))
    for key in draw(st.lists(st.sampled_from(sorted(body)), max_size=2)):
        if draw(st.booleans()):
            body.pop(key, None)
        else:
            body[key] = draw(_json)
    body.update(draw(st.dictionaries(st.sampled_from(["report", "x", "pid"]), _json,
                                     max_size=1)))
    return body


@settings(max_examples=200)
@given(body=jsonish_messages())
def test_signed_random_json_never_causes_500(service, recorder, http, body):
    before = len(recorder.seen)
    response = post(http, service, json.dumps(body).encode())
    event(f"HTTP {response.status_code}")
    assert response.status_code in (200, 400, 403, 409, 422)
    assert len(recorder.seen) == before + (response.status_code == 200)
    messages.check_mac(key_of(*sender_of(json.dumps(body).encode())), response.content,
                       response.headers[messages.MAC_HEADER])


def test_a_replica_killed_mid_request_is_logged_in_one_line_not_as_a_crash():
    """A client that sends headers promising a body, then vanishes (a killed replica)."""
    import logging
    import socket
    import threading

    from dirft.service.server import VotingService

    records, answered = [], threading.Event()

    class Catch(logging.Handler):
        def emit(self, record):
            records.append(record)
            answered.set()

    log = logging.getLogger("dirft.test.killed-peer")
    log.setLevel(logging.INFO)
    log.addHandler(Catch())
    service = VotingService(b"k" * 32, "job", lambda m: {"action": "wait"}, logger=log)
    host, port = service.start().rsplit("/", 1)[-1].split(":")
    try:
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /v1/message HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 100\r\n\r\n{\"job\"")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        assert answered.wait(10), "the server never noticed the reset"
    finally:
        service.stop()
    assert [r.levelno for r in records] == [logging.INFO]
    assert "closed mid-request" in records[0].getMessage()


# ---------------------------------------------------------------------- slow clients

def _raw(url):
    import socket
    host, port = url.rsplit("/", 1)[-1].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(60)
    return sock


def test_slow_headers_and_slow_bodies_are_cut():
    with VotingService(SECRET, JOB, Recorder(), timeout=0.5) as svc:
        headers, body = _raw(svc.url), _raw(svc.url)
        headers.sendall(b"POST /v1/message HTTP/1.1\r\nHost: x\r\n")  # never ends
        body.sendall(b"POST /v1/message HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert headers.recv(100) == b""  # cut by the guard, no answer
        answer = body.recv(1000)  # 408, or cut before its headers were even parsed
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408") and b"within" in answer
        assert svc.guard.cut["timeout"] + svc.rejections.get(408, 0) == 2
        headers.close(), body.close()


def test_beyond_the_connection_cap_the_longest_idle_connection_makes_room():
    with VotingService(SECRET, JOB, Recorder(), max_connections=3) as svc:
        idle = [_raw(svc.url) for _ in range(3)]
        with VotingClient(svc.url, key_of(7), JOB, 7, 0) as client:
            assert client.call("heartbeat", phase=0, progress=0.0)["action"] == "wait"
        assert idle[0].recv(10) == b"" and svc.guard.cut["evicted"] >= 1
        assert svc.guard.open_connections <= 3
        for sock in idle:
            sock.close()


def test_log_limiter_keeps_a_burst_per_window_then_sums_up():
    now = [0.0]
    log = logging.getLogger("dirft.test.limiter")
    records = []
    log.addHandler(type("H", (logging.Handler,), {"emit": lambda self, r:
                                                   records.append(r.getMessage())})())
    limiter = LogLimiter(log, lambda: now[0], burst=2, window=10.0)
    for i in range(5):
        limiter.log("a", logging.WARNING, "line %d", i)
    limiter.log("b", logging.WARNING, "other kind")
    now[0] = 10.0
    limiter.log("a", logging.WARNING, "line %d", 5)
    assert records == ["line 0", "line 1", "other kind",
                       "3 more a line(s) suppressed in 10 s", "line 5"]
    assert limiter.suppressed == 3


def test_rejection_logs_are_rate_limited(caplog):
    with VotingService(SECRET, JOB, Recorder()) as svc, requests.Session() as http:
        svc.limiter = LogLimiter(logging.getLogger("dirft.service"), lambda: 0.0)  # 1 window
        with caplog.at_level(logging.WARNING, logger="dirft.service"):
            for _ in range(60):
                assert post(http, svc, message(1), mac="00" * 32).status_code == 401
    assert svc.rejections == {401: 60}
    assert len(logs(caplog)) == 20 and svc.limiter.suppressed == 40


# ---------------------------------------------------------------------- listening clock

class ProbedClock:
    """A settable clock (``now``, seconds) that counts its readings: the service reads it
    once as it starts and then once per probe of its loop, so a test can wait for probes."""

    def __init__(self, now: float) -> None:
        self.now, self.readings = now, 0
        self._turned = threading.Condition()

    def __call__(self) -> float:
        with self._turned:
            self.readings += 1
            self._turned.notify_all()
            return self.now

    def wait_readings(self, count: int) -> bool:
        """Wait until the clock has been read ``count`` times in all; False after 30 s."""
        with self._turned:
            return self._turned.wait_for(lambda: self.readings >= count, timeout=30)


def test_heard_until_stays_behind_while_the_loop_cannot_read():
    """The loop reads the driver's clock into heard_until as it turns; a loop held in its
    dispatcher (as in a driver starved of CPU) leaves it behind until it turns again, so
    the core never blames the replicas for the stall (ClockTicked.heard)."""
    from dirft.service.server import LISTEN_TURNS
    clock, entered, release = ProbedClock(1.0), threading.Event(), threading.Event()

    def dispatcher(message):
        entered.set()
        assert release.wait(30)
        return {"action": "wait"}

    svc = VotingService(SECRET, JOB, dispatcher, clock=clock)
    assert svc.heard_until() is None
    with svc, VotingClient(svc.url, key_of(3), JOB, 3, 0) as client:
        assert svc.heard_until() == 1.0
        caller = threading.Thread(target=client.call, args=("heartbeat",),
                                  kwargs={"phase": 1, "progress": 0.5})
        caller.start()
        assert entered.wait(30)
        clock.now = 50.0  # time passes while the loop is held in the dispatcher
        assert svc.heard_until() == 1.0
        release.set()
        caller.join(30)
        # LISTEN_TURNS + 1 readings of 50 fill the probe history; one reading more means
        # the last of them has been stored (the loop stores a reading before it reads again)
        assert clock.wait_readings(clock.readings + LISTEN_TURNS + 2)
        assert svc.heard_until() == 50.0
