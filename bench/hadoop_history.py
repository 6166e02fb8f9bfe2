"""What Hadoop did in a job, from its JobHistory server and ResourceManager (REST, read only).

:func:`job_summary` fetches a finished job's counters and every task's attempts from the
JobHistory REST API (``/ws/v1/history/mapreduce/jobs/<job>``, Hadoop's ``HsWebServices``)
and :func:`summarize` says what recovery Hadoop ran: map attempts launched, failed and
killed, **speculative** attempts (an attempt started while an earlier attempt of its task
still ran: Hadoop's speculator), **re-runs** (started after the earlier attempt had ended:
re-execution after a failure), attempts lost with their node (diagnostics naming a lost
node) and the hosts the maps ran on. :func:`lost_nodes` reads the ResourceManager's nodes
in state ``LOST``. :func:`node_hit` says whether a node killed at a given moment ran an
attempt of the job then (the lost-worker case's proof that its fault hit the job).
"""

from __future__ import annotations

import re
import time

import requests

from dirft.config.hadoop_client import read_site, rm_url

#: Hadoop's diagnostics of an attempt whose node was lost ("Container released on a *lost*
#: node", RMContainerImpl / the AppMaster's ContainerAllocator).
LOST = re.compile(r"\blost\W+node", re.I)
JOB_COUNTERS = ("TOTAL_LAUNCHED_MAPS", "NUM_FAILED_MAPS", "NUM_KILLED_MAPS",
                "DATA_LOCAL_MAPS", "OTHER_LOCAL_MAPS", "TOTAL_LAUNCHED_REDUCES")


def service_urls(conf_dir: str) -> tuple[str, str]:
    """(JobHistory web URL, ResourceManager web URL) from the client's ``mapred-site.xml``
    (``mapreduce.jobhistory.webapp.address``, default ``0.0.0.0:19888`` read as localhost)
    and ``yarn-site.xml``."""
    mapred = read_site(conf_dir, "mapred-site.xml")
    address = mapred.get("mapreduce.jobhistory.webapp.address", "localhost:19888")
    address = address.replace("0.0.0.0", "localhost")
    return f"http://{address}", rm_url(read_site(conf_dir, "yarn-site.xml"))


def _get(url: str) -> dict:
    res = requests.get(url, headers={"Accept": "application/json"}, timeout=30)
    res.raise_for_status()
    return res.json()


def fetch_job(history: str, job_id: str, wait_s: float = 60.0) -> dict:
    """``{"counters": {name: value}, "tasks": [{"id", "type", "state", "attempts": [...]}]}``
    of ``job_id`` (attempts as JobHistory gives them). Retries every 2 s for ``wait_s``
    seconds while the job is not yet in the history (it appears once its AppMaster has
    moved the history file). Raises ``requests.RequestException`` after that."""
    base = f"{history}/ws/v1/history/mapreduce/jobs/{job_id}"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            groups = _get(f"{base}/counters")["jobCounters"].get("counterGroup", [])
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)  # polling a remote server for a file it has not moved yet
    counters = {c["name"]: c["totalCounterValue"] for g in groups for c in g["counter"]}
    tasks = _get(f"{base}/tasks")["tasks"]["task"] or []
    for task in tasks:
        task["attempts"] = _get(f"{base}/tasks/{task['id']}/attempts")[
            "taskAttempts"]["taskAttempt"] or []
    return {"counters": counters, "tasks": tasks}


def summarize(job: dict) -> dict:
    """What Hadoop did in a job fetched by :func:`fetch_job` (module doc): counts of map
    attempts by kind and state, the hosts maps ran on, and the chosen job counters."""
    spec = reruns = lost = 0
    states, hosts = {}, set()
    for task in (t for t in job["tasks"] if t.get("type") == "MAP"):
        attempts = sorted(task["attempts"], key=lambda a: a["startTime"])
        for i, a in enumerate(attempts):
            states[a["state"]] = states.get(a["state"], 0) + 1
            hosts.add(_host(a))
            lost += bool(LOST.search(a.get("diagnostics") or ""))
            if i:
                overlapping = any(b["finishTime"] <= 0 or b["finishTime"] > a["startTime"]
                                  for b in attempts[:i])
                spec, reruns = spec + overlapping, reruns + (not overlapping)
    counters = {k: job["counters"].get(k, 0) for k in JOB_COUNTERS}
    return {"map_attempts_by_state": dict(sorted(states.items())), "speculative": spec,
            "reruns": reruns, "attempts_on_lost_node": lost, "hosts": sorted(hosts),
            "counters": counters}


def _host(attempt: dict) -> str:
    return (attempt.get("nodeHttpAddress") or "").split(":")[0]


def node_hit(job: dict, node: str, when_ms: int) -> bool:
    """True if an attempt of ``job`` (any task) ran on host ``node`` at ``when_ms`` (epoch
    milliseconds): started by then and not finished before (finish 0 = never finished)."""
    for task in job["tasks"]:
        for a in task["attempts"]:
            if _host(a).split(".")[0] == node and a["startTime"] <= when_ms and (
                    a["finishTime"] <= 0 or a["finishTime"] >= when_ms):
                return True
    return False


def lost_nodes(rm: str) -> list[str]:
    """Host names of the ResourceManager's nodes in state ``LOST`` (``/ws/v1/cluster/nodes``)."""
    nodes = _get(f"{rm}/ws/v1/cluster/nodes?states=LOST").get("nodes") or {}
    return sorted(n["nodeHostName"] for n in nodes.get("node", []))


def job_summary(history: str, job_ids: list) -> dict:
    """``{job_id: summarize(...)}`` for every id; a job the history cannot give is
    ``{"error": text}`` (the run still counts: its time and output do not depend on it)."""
    out = {}
    for job_id in job_ids:
        try:
            out[job_id] = summarize(fetch_job(history, job_id))
        except (requests.RequestException, KeyError, TypeError) as err:
            out[job_id] = {"error": f"{type(err).__name__}: {err}"[:300]}
    return out


def application_end(rm: str, job_id: str) -> dict:
    """The ResourceManager's word on the application of ``job_id`` (``job_C_N`` runs as
    ``application_C_N``): ``{"state", "finalStatus", "finishedTime"}`` (epoch ms) from
    ``/ws/v1/cluster/apps/{id}``. Raises ``requests.RequestException``."""
    app = _get(f"{rm}/ws/v1/cluster/apps/application_{job_id[len('job_'):]}")["app"]
    return {k: app.get(k) for k in ("state", "finalStatus", "finishedTime")}


def wait_idle(rm: str, timeout_s: float = 30.0, get=None, sleep=time.sleep,
              clock=time.monotonic) -> float:
    """Wait until the ResourceManager reports no container allocated
    (``/ws/v1/cluster/metrics``, ``containersAllocated`` = 0), polling each second, at most
    ``timeout_s`` seconds; return the seconds waited. A job's client returns once the job
    has SUCCEEDED, while its ApplicationMaster's container still runs a few seconds
    (moving the job's history, unregistering): the next run would otherwise start on a
    cluster still holding it, and dirft's ``replicas.per.map=auto`` sizes its map tasks
    from what the ResourceManager says is free. ``get``, ``sleep``, ``clock``: for tests.
    An unanswered request counts as busy (the wait ends at ``timeout_s``)."""
    get = get or _get
    start = clock()
    while clock() - start < timeout_s:
        try:
            if not get(f"{rm}/ws/v1/cluster/metrics")["clusterMetrics"]["containersAllocated"]:
                break
        except (requests.RequestException, KeyError, TypeError, ValueError):
            pass
        sleep(1.0)
    return clock() - start
