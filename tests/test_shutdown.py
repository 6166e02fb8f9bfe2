"""Issue 12: SIGTERM, Ctrl-C and a killed driver leave no process, scratch or output."""

import os
import select
import signal
import subprocess
import sys

import pytest

from dirft.chaos import live_replicas
from dirft.gridmix.generate import generate_file
from dirft.shutdown import Terminated, describe, exit_status, held_signals
from e2e import EXAMPLE, ROOT, SMALL, leftovers, streaming

MAPPER = ROOT / "tests" / "fixtures" / "blocking_mapper.sh"
CLI = "import sys; from dirft.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """512 KiB of GridMix text: 2 map tasks."""
    path = tmp_path_factory.mktemp("input") / "data.txt"
    generate_file(str(path), 512 * 1024, seed=4)
    return path


def _start_blocked_job(data, where):
    """Start ``dirft streaming`` in a child process; return (driver, pids of a replica
    and the mapper it runs) once a mapper has started (it writes its pid on a FIFO)."""
    fifo = where / "fifo"
    os.mkfifo(fifo)
    driver = subprocess.Popen(
        [sys.executable, "-c", CLI, "streaming", "-input", str(data), "-output",
         str(where / "out"), "-conf", str(EXAMPLE), *SMALL, "-mapper", str(MAPPER),
         "-reducer", "cat", "-cmdenv", f"BLOCK_FIFO={fifo}"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    with open(fifo) as f:  # blocks until a mapper opens it: no sleep
        mapper = int(f.readline())
    replicas = [int(p.split()[1]) for p in live_replicas(where)]
    assert replicas, "a mapper runs, so its replica must"
    return driver, [mapper, *replicas]


def _all_gone(pids, within: float = 60.0) -> bool:
    """Wait (pidfd, no polling) until every process in ``pids`` has ended."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except ProcessLookupError:
            continue
    try:
        waiting = list(fds)
        while waiting:
            ready, _, _ = select.select(waiting, [], [], within)
            if not ready:
                return False
            waiting = [fd for fd in waiting if fd not in ready]
        return True
    finally:
        for fd in fds:
            os.close(fd)


def test_sigterm_kills_replicas_and_mappers_removes_scratch_and_exits_143(data, tmp_path):
    driver, pids = _start_blocked_job(data, tmp_path)
    driver.send_signal(signal.SIGTERM)
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 143, err
    assert "interrupted by SIGTERM; nothing was committed" in err and "Traceback" not in err
    assert _all_gone(pids)
    assert not (tmp_path / "out").exists()
    assert [p for p in leftovers(tmp_path) if p != "fifo"] == []


def test_a_killed_driver_s_replicas_leave_and_the_next_run_removes_its_scratch(
        data, tmp_path, capsys):
    driver, pids = _start_blocked_job(data, tmp_path)
    driver.kill()
    driver.communicate(timeout=120)
    assert _all_gone(pids), "replicas must notice their driver is gone"
    stale = [p for p in leftovers(tmp_path) if p.startswith(".dirft-")]
    assert len(stale) == 1
    code, _, err = streaming(capsys, data, tmp_path / "out2", "-mapper", "cat")
    assert code == 0, err
    assert [p for p in leftovers(tmp_path) if p.startswith(".")] == []


def test_a_signal_during_a_held_block_is_raised_after_it():
    done = []
    with pytest.raises(Terminated) as err:
        with held_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("cleanup finished")
    assert done == ["cleanup finished"] and exit_status(err.value) == 143


def test_the_message_says_whether_the_output_was_committed():
    err = Terminated(signal.SIGTERM)
    assert "nothing was committed" in describe(err)
    err.committed = "/data/out"
    assert "after the output /data/out was committed" in describe(err)
    assert "nothing" not in describe(err)
    assert exit_status(KeyboardInterrupt()) == 130
