"""Issue 22: a mapper that hunts the other replicas' keys through /proc, and leaves daemons.

The job runs as an unprivileged user (``nobody`` when the tests run as root, who may read
any process's memory), driver, replicas and mappers alike (:mod:`hostile`).
"""

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from hostile import hostile_job, how_to_run


@pytest.fixture(scope="module")
def base():
    """A scratch directory the unprivileged user may write in."""
    path = tempfile.mkdtemp(prefix="dirft-hostile-")
    os.chmod(path, 0o1777)
    yield path
    subprocess.run(["rm", "-rf", path], check=False)


def test_a_mapper_watching_proc_finds_no_key_and_leaves_no_process(base):
    try:
        how_to_run()
    except RuntimeError as err:
        pytest.skip(str(err))
    run = hostile_job(base, seed=22)
    assert run["code"] == 0, run["stderr"][-2000:]
    # the thief examines the first wave's replicas before any mapper may finish (a gate),
    # so it sees at least those (replicas started after it are counted by
    # scripts/hostile_runs.py: how many there are depends on the scheduling)
    assert sum(not t["new"] and t["replica_image"] for t in run["targets"]) >= 3, \
        "the thief examined no replica"
    for target in run["targets"]:  # each replica was closed to it from its first instruction
        if target["replica_image"]:  # (not a replica's child that exec'd its mapper meanwhile)
            assert target["mem"] == "Permission denied" and target["ptrace"] != "attached"
    assert run["keys_found"] == 0 and run["forged_lines"] == 0
    assert run["processes_left"] == [], "a process of the job outlived it"
    security = run["report"]["security"]
    assert security["undumpable"] and security["subreaper"] and not security["warnings"]
    # every mapper run started a sleeper; each was killed (the thief ended by itself)
    assert security["processes_killed"] >= run["daemons"] - 1 > 0


_DAEMONS = textwrap.dedent("""
    import os, signal, sys
    from dirft.runtime.reaper import become_subreaper, end_descendants
    become_subreaper()
    r, w = os.pipe()
    if os.fork() == 0:            # a child that double-forks a setsid daemon, then exits
        os.setsid()
        if os.fork() == 0:
            os.close(r)
            if os.fork() == 0:    # the daemon's own child
                os.write(w, b"%d\\n" % os.getpid())
                signal.pause()
            os.write(w, b"%d\\n" % os.getpid())
            signal.pause()
        os._exit(0)
    os.close(w)
    data = b""
    while data.count(b"\\n") < 2:
        data += os.read(r, 64)
    pids = [int(p) for p in data.split()]
    killed = end_descendants()
    alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
    print(killed, len(pids), alive)
""")


def test_a_subreaper_kills_a_double_forked_setsid_daemon_and_its_child():
    done = subprocess.run([sys.executable, "-c", _DAEMONS], capture_output=True, text=True,
                          timeout=60, check=True)
    killed, count, alive = done.stdout.split(" ", 2)
    assert (int(killed), int(count), alive.strip()) == (2, 2, "[]")


_TRACKED = textwrap.dedent("""
    import os, subprocess
    from dirft.runtime import reaper
    kept, other = subprocess.Popen(["sleep", "60"]), subprocess.Popen(["sleep", "60"])
    spared = reaper.end_left_behind()  # not a subreaper yet: its children are not its own
    reaper.become_subreaper()
    with reaper.tracked(kept.pid):
        killed = spared + reaper.end_left_behind()
    print(killed, kept.poll(), os.path.exists(f"/proc/{other.pid}"))
    kept.kill()
""")


def test_end_left_behind_spares_tracked_children():
    done = subprocess.run([sys.executable, "-c", _TRACKED], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == ["1", "None", "False"]
