"""Run a job whose mapper attacks the other replicas (issue 22), as an unprivileged user.

Shared by ``tests/test_hostile_mapper.py`` and ``scripts/hostile_runs.py`` (the 50-run
loop). The mapper is ``tests/fixtures/proc_thief_mapper.py``. Under root (which may read
any process's memory) the driver, its replicas and the mapper run as ``nobody`` with the
system's ``/usr/bin/python3`` and this checkout plus the venv's site-packages on
``PYTHONPATH`` (an interpreter under ``/root`` is not executable by ``nobody``); otherwise
as the current user with this interpreter.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import tempfile
from collections import Counter

from dirft.chaos import live_replicas
from dirft.gridmix.generate import generate_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAPPER = ROOT / "tests" / "fixtures" / "proc_thief_mapper.py"
UNPRIVILEGED = 65534  # nobody
SYSTEM_PYTHON = "/usr/bin/python3"


def how_to_run() -> tuple[list, dict, dict]:
    """``(python argv prefix, environment, subprocess user kwargs)`` for the job, or raise
    RuntimeError naming why no unprivileged user can run dirft here."""
    if os.geteuid() != 0:
        return [sys.executable], dict(os.environ), {}
    site = sysconfig.get_paths()["purelib"]
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/tmp",
           "PYTHONPATH": f"{ROOT}:{site}", "PYTHONDONTWRITEBYTECODE": "1"}
    user = {"user": UNPRIVILEGED, "group": UNPRIVILEGED, "extra_groups": []}
    try:
        check = subprocess.run([SYSTEM_PYTHON, "-c", "import dirft.cli, aiohttp"], env=env,
                               capture_output=True, text=True, timeout=120, cwd="/", **user)
    except OSError as err:
        raise RuntimeError(f"{SYSTEM_PYTHON} cannot run as uid {UNPRIVILEGED}: {err}") from None
    if check.returncode != 0:
        raise RuntimeError(f"uid {UNPRIVILEGED} cannot import dirft with {SYSTEM_PYTHON} and "
                           f"PYTHONPATH={env['PYTHONPATH']} (is the checkout or the venv "
                           f"unreadable to it?): {check.stderr.strip()[-300:]}")
    return [SYSTEM_PYTHON], env, user


def hostile_job(base: str, seed: int, input_bytes: int = 2 << 20,
                sleepers: bool = True) -> dict:
    """Run streamSort of ``input_bytes`` of GridMix text (seed ``seed``) in 4 map tasks
    under the hostile mapper, in a fresh directory under ``base``; return what happened:
    ``code``, ``stderr``, ``targets`` (the thief's lines), ``keys_found``, ``mem_opened``
    (replicas whose memory opened or which the thief attached to), ``left_image``
    (targets that exec'd their mapper or ended during the attack),
    ``forged_lines`` (output lines not in the input), ``processes_left`` (pids).
    ``sleepers``: whether every mapper run also leaves a ``setsid`` sleeper behind."""
    python, env, user = how_to_run()
    work = pathlib.Path(tempfile.mkdtemp(prefix="dirft-hostile-", dir=base))
    data, thief, out = work / "data.txt", work / "thief", work / "out"
    generate_file(str(data), input_bytes, seed=seed)
    thief.mkdir()
    if user:
        for path in (work, data, thief):
            os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
    before = _pids_of(UNPRIVILEGED) if user else set()
    argv = [*python, "-m", "dirft.cli", "streaming", "-input", str(data), "-output",
            str(out), "-mapper", f"{python[0]} {MAPPER}", "-reducer", "cat",
            "-D", "mapred.map.tasks.fault.tolerance=1", "-D", "mapred.map.tasks.fault.nature=2",
            "-D", "dirft.split.maxsize=524288",
            "-D", "dfs.blocksize=524288", "-D", "dirft.nodes=3", "-D", "dirft.slots.per.node=2",
            "-cmdenv", f"THIEF_DIR={thief}", "-cmdenv", "THIEF_SECONDS=40",
            "-cmdenv", f"THIEF_SLEEPERS={int(sleepers)}"]
    done = subprocess.run(argv, env={**env, "TMPDIR": str(work)}, capture_output=True,
                          text=True, timeout=900, cwd=str(work), **user)
    targets = [json.loads(line) for line in _lines(thief / "thief.jsonl")]
    daemons = [int(p.read_text()) for p in thief.glob("daemon-*") if p.read_text().strip()]
    left = {p for p in daemons if _alive(p)}
    if user:  # every process of the user started since, that belongs to this job
        left |= {p for p in _pids_of(UNPRIVILEGED) - before
                 if _alive(p) and _of_job(p, str(work).encode())}
    left |= {int(p.split()[1]) for p in live_replicas(work)}
    return {"code": done.returncode, "stderr": done.stderr, "work": str(work),
            "targets": targets, "daemons": len(daemons),
            "keys_found": sum(t["keys_found"] for t in targets),
            "mem_opened": sum(t["mem"] == "opened" or t["ptrace"] == "attached"
                              for t in targets if t["replica_image"]),
            "left_image": sum(not t["replica_image"] for t in targets),
            "forged_lines": _forged(data, out), "processes_left": sorted(left),
            "report": _report(out)}


def _forged(data: pathlib.Path, out: pathlib.Path) -> int:
    """Lines of the committed output that the input does not hold (as a multiset)."""
    if not (out / "part-00000").exists():
        return 0
    extra = Counter((out / "part-00000").read_bytes().splitlines())
    extra.subtract(data.read_bytes().splitlines())
    return sum(n for n in extra.values() if n > 0)


def _report(out: pathlib.Path) -> dict:
    path = out / "_dirft_report.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _lines(path: pathlib.Path) -> list:
    return path.read_text().splitlines() if path.exists() else []


def _pids_of(uid: int) -> set:
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    found.add(int(name))
            except OSError:
                continue
    return found


def _of_job(pid: int, work: bytes) -> bool:
    """True if process ``pid`` names ``work`` in its command line, environment (the
    mappers' ``THIEF_DIR``, which their children inherit) or working directory."""
    for name in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                if work in f.read():
                    return True
        except OSError:
            continue
    try:
        return os.readlink(f"/proc/{pid}/cwd").encode().startswith(work)
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False
