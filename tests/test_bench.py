"""Smoke tests of the benchmark's own arithmetic and command line (no timing: speed is
measured by ``bench/run`` only, never asserted here)."""

import os
import subprocess
import sys

import pytest

from dirft.service import messages

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # bench/ is not installed: import it from the checkout

from bench.common import Figure, alternate, format_table, median, paired_ratio  # noqa: E402
from bench.service import ROUTE, _Connection, _header, _percentile, http_request  # noqa: E402


def test_median_and_paired_ratio():
    assert median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
    # pairs (A_i, B_i): ratios 0.5, 0.25, 2.0 -> median 0.5, whatever the medians of A and B
    assert paired_ratio([1, 1, 8], [2, 4, 4]) == 0.5
    with pytest.raises(ValueError):
        paired_ratio([1, 2], [1])
    with pytest.raises(ValueError):
        median([])


def test_alternate_runs_variants_in_turn():
    order = []
    results = alternate({"a": lambda: order.append("a") or 1.0,
                         "b": lambda: order.append("b") or 2.0}, reps=3)
    assert order == ["a", "b"] * 3 and results == {"a": [1.0] * 3, "b": [2.0] * 3}


def test_alternate_stops_at_the_budget_after_one_repetition():
    results = alternate({"a": lambda: 1.0}, reps=5, budget_s=-1.0)
    assert results == {"a": [1.0]}


def test_percentile_is_nearest_rank():
    ordered = list(range(1, 101))
    assert (_percentile(ordered, 0.5), _percentile(ordered, 0.99)) == (50, 99)
    assert _percentile([7], 0.99) == 7


def test_table_marks_targets_and_missing_values():
    table = format_table([Figure("x", 0.5, "{:.2f}", "<= 0.53", True, "2 cores"),
                          Figure("y", None, "{:.2f}", "—", None, "—", "not built yet")])
    lines = table.splitlines()
    assert lines[2] == "| x | 0.50 | <= 0.53 | yes | 2 cores |  |"
    assert lines[3] == "| y | — | — | — | — | not built yet |"


def test_prepared_request_is_accepted_by_the_real_service():
    """The load generator's hand-written HTTP is what the service expects (200, signed)."""
    from dirft.service.keys import replica_key
    from dirft.service.server import VotingService
    secret = b"0123456789abcdef-bench"
    message = {"job": "j", "task": 0, "replica": 0, "seq": 1, "kind": "request"}
    with VotingService(secret, "j", lambda m: {"action": "wait"}) as service:
        port = int(service.url.rsplit(":", 1)[1])
        conn = _Connection(port)
        status, head, body = conn.exchange(http_request(port, secret, message))
        conn.close()
    assert status == 200 and messages.decode(body) == {"action": "wait"}
    messages.check_mac(replica_key(secret, 0, 0), body, _header(head, b"x-dirft-mac").decode())
    assert ROUTE == "/v1/message"


def test_bench_run_help():
    done = subprocess.run([os.path.join(ROOT, "bench", "run"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--quick" in done.stdout
