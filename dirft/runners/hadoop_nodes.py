"""Lost hosts on a Hadoop cluster: found by the ResourceManager or by silence (issue 20).

A node lost mid-map takes its containers (replicas) and its DataNode. dirft learns of it
by whichever comes first:

* **the ResourceManager's node state** — :class:`NodeWatch` polls ``GET
  <rm>/ws/v1/cluster/nodes`` (YARN's ``RMWebServices``) every ``interval`` seconds; a node
  whose state turns ``LOST`` (its NodeManager silent for
  ``yarn.nm.liveness-monitor.expiry-interval-ms``, 10 min by default), ``UNHEALTHY``,
  ``DECOMMISSIONED`` or ``SHUTDOWN`` during the job is lost. Nodes already down at the
  first poll ran nothing of the job and are not reported;
* **the replicas' silence** — a replica declared dead by the heartbeat timeout makes its
  host a suspect (:meth:`NodeWatch.suspect`): its NodeManager's web address (from the
  same node list) is asked ``GET /ws/v1/node/info``; a host whose NodeManager answers
  none of ``tries`` requests is lost, long before the ResourceManager says so.

Either way the host is reported once (:class:`NodeDown`), and :class:`HostLosses` tells the
core (``NodeLost``, for the host name the replicas registered with): its live replicas are
dead, their work goes to the survivors, nothing new is started there (a replica that
starts there is replaced, :mod:`dirft.core.hosts`), and the report names it. If a
running replica job's ApplicationMaster ran there, YARN ends every container of that
application attempt and the next attempt's re-runs end at once: that job's live replicas
are lost through no fault of their own (``ReplicaLost``) and replaced.
``dirft.fault.crash.mode=node`` on the Hadoop runner is :meth:`HostLosses.step`: once the
planned number of signature reports came, every replica on one host is failed (``hadoop
job -fail-task`` of each attempt that registered from it) and the host is lost the same
way (the machine itself stays up: YARN may still start containers there).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import requests

from dirft.contract.manifest import same_host
from dirft.core import events as E
from dirft.core.nodeslots import LossSchedule

DOWN_STATES = ("LOST", "UNHEALTHY", "DECOMMISSIONED", "SHUTDOWN")
"""YARN ``NodeState`` values of a node that runs no containers of the job any more."""


@dataclass(frozen=True)
class NodeDown:
    """A notice (queued with ``Driver.notify``): ``host`` is lost, ``how`` says who found it."""

    host: str
    how: str


def cluster_nodes(rm_url: str, timeout: float = 5.0, session=None) -> list[dict]:
    """The ResourceManager's node list (``/ws/v1/cluster/nodes``): one dict per node with
    ``nodeHostName``, ``state`` and ``nodeHTTPAddress``. Raises ``requests`` errors."""
    get = (session or requests).get
    reply = get(f"{rm_url.rstrip('/')}/ws/v1/cluster/nodes", timeout=timeout,
                headers={"Accept": "application/json"})
    reply.raise_for_status()
    return list(((reply.json() or {}).get("nodes") or {}).get("node") or [])


def am_hosts(rm_url: str, job_id: str, timeout: float = 5.0) -> set[str]:
    """The hosts every ApplicationMaster attempt of the YARN application of MapReduce job
    ``job_id`` ran on (``/ws/v1/cluster/apps/<app>/appattempts``, ``nodeHttpAddress``);
    empty without an address or an answer (never raises)."""
    if not rm_url or not job_id.startswith("job_"):
        return set()
    app = "application_" + job_id[len("job_"):]
    try:
        reply = requests.get(f"{rm_url.rstrip('/')}/ws/v1/cluster/apps/{app}/appattempts",
                             timeout=timeout, headers={"Accept": "application/json"})
        reply.raise_for_status()
        attempts = ((reply.json() or {}).get("appAttempts") or {}).get("appAttempt") or []
        return {str(a.get("nodeHttpAddress", "")).rsplit(":", 1)[0] for a in attempts} - {""}
    except (requests.RequestException, ValueError, AttributeError):
        return set()


def usable_hosts(rm_url: str, timeout: float = 5.0) -> int | None:
    """How many NodeManagers the ResourceManager at ``rm_url`` lists ``RUNNING``; None
    without an address or an answer (never raises)."""
    if not rm_url:
        return None
    try:
        return sum(1 for n in cluster_nodes(rm_url, timeout) if n.get("state") == "RUNNING")
    except (requests.RequestException, ValueError, AttributeError):
        return None


class NodeWatch:
    """Watches the cluster's nodes in a daemon thread; see module doc.

    ``rm_url``: the ResourceManager's web address; ``notify(NodeDown)``: called once per
    lost host, from the watch thread; ``interval``: seconds between polls; ``timeout``:
    seconds per request; ``tries``: NodeManager requests before a suspect host is lost.
    """

    def __init__(self, rm_url: str, notify, interval: float = 2.0, timeout: float = 5.0,
                 tries: int = 3) -> None:
        self.rm_url, self.notify = rm_url, notify
        self.interval, self.timeout, self.tries = interval, timeout, tries
        self.session = requests.Session()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._suspects: set[str] = set()
        self._known: dict[str, dict] = {}  # host -> the RM's last entry for it
        self._reported: set[str] = set()
        self._baseline: set[str] | None = None  # hosts down at the first poll
        self._thread = threading.Thread(target=self._run, name="dirft-node-watch",
                                        daemon=True)

    def start(self) -> "NodeWatch":
        """Start polling; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling (waits for the thread at most ``timeout`` seconds)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(self.timeout)

    def suspect(self, host: str) -> None:
        """A replica on ``host`` went silent: ask its NodeManager at the next turn."""
        with self._lock:
            self._suspects.add(host)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._wake.wait(self.interval)
            self._wake.clear()

    def poll(self) -> None:
        """One turn: read the node list, report hosts that went down, probe suspects."""
        try:
            nodes = cluster_nodes(self.rm_url, self.timeout, self.session)
        except (requests.RequestException, ValueError, AttributeError):
            nodes = None  # the RM did not answer: keep the last list, probe suspects
        if nodes is not None:
            self._read(nodes)
        with self._lock:
            suspects, self._suspects = self._suspects, set()
        for host in sorted(suspects):
            self._probe(host)

    def _read(self, nodes: list[dict]) -> None:
        down = {}
        for node in nodes:
            host = str(node.get("nodeHostName") or str(node.get("id", "")).split(":")[0])
            self._known[host] = node
            if node.get("state") in DOWN_STATES:
                down[host] = node["state"]
        if self._baseline is None:
            self._baseline = set(down)
        for host, state in sorted(down.items()):
            if host not in self._baseline:
                self._report(host, f"ResourceManager: node {state}")

    def _probe(self, host: str) -> None:
        """Ask the NodeManager of ``host`` whether it lives; report it lost if no request
        of ``tries`` is answered at all (any HTTP answer means it lives)."""
        entry = next((n for h, n in self._known.items() if same_host(h, host)), None)
        address = entry.get("nodeHTTPAddress") if entry else None
        if not address or any(same_host(host, h) for h in self._reported):
            return
        for _ in range(self.tries):
            try:
                self.session.get(f"http://{address}/ws/v1/node/info", timeout=self.timeout)
                return
            except requests.RequestException:
                if self._stop.wait(min(1.0, self.interval)):
                    return
        self._report(host, f"replicas silent and its NodeManager ({address}) does not "
                           f"answer")

    def _report(self, host: str, how: str) -> None:
        if host in self._reported:
            return
        self._reported.add(host)
        self.notify(NodeDown(host, how))


class HostLosses:
    """The map stage's side of lost hosts (module doc): tells the core, fails the
    attempts of an emulated loss, keeps what the report says.

    ``driver``: the :class:`~dirft.runners.driver.Driver`; ``book``: the
    :class:`~dirft.runners.hadoop_replicas.ReplicaBook` (hosts and attempts of the
    replicas); ``kill_task(attempt)``: fails one attempt on the cluster; ``losses``: the
    fault plan's planned node losses (``dirft.fault.crash.mode=node``); ``record(fault)``:
    stores one fired-fault dict (the runner writes it to the job's HDFS fault folder);
    ``watch``: the :class:`NodeWatch`, or None without a ResourceManager address.
    """

    def __init__(self, driver, book, kill_task, losses=(), record=None,
                 watch: NodeWatch | None = None) -> None:
        self.driver, self.book, self.kill_task = driver, book, kill_task
        self.schedule, self.record, self.watch = LossSchedule(losses), record, watch
        self.lost: dict[str, str] = {}  # host -> how it was found, in order
        self.scheduler = None  # the WaveScheduler, which binds itself (its waves)

    def step(self) -> None:
        """Carry out the planned (emulated) host losses that are due."""
        for planned in self.schedule.due(len(self.driver.reports)):
            host = self._victim(planned)
            if host is None:
                continue
            for attempt in self._attempts_on(host):
                self.kill_task(attempt)
            if self.record is not None:
                self.record({"task": -1, "replica": -1, "kind": "crash", "mode": "node",
                             "phase": 0, "at": 1.0, "bit": 0, "node": host})
            self.lose(host, f"emulated: dirft.fault.crash.mode=node (planned {planned})")

    def lose(self, host: str, how: str) -> None:
        """``host`` is lost: tell the core for every name it knows the host by (the names
        replicas registered with, the plan's node names); noted once for the report."""
        if any(same_host(host, h) for h in self.lost):
            return
        self.lost[host] = how
        names = {h for h in self.book.hosts().values() if same_host(h, host)}
        names |= {n for n in self.driver.plan.nodes if same_host(n, host)}
        now, why = self.driver.now(), f"its replica job's ApplicationMaster ran on lost {host}"
        self.driver.handle(*(E.NodeLost(now, name) for name in sorted(names or {host})),
                           *(E.ReplicaLost(now, t, r, why) for t, r in self._orphans(host)))

    def _orphans(self, host: str) -> list[tuple[int, int]]:
        """The live replicas of every running wave whose ApplicationMaster ran on ``host``:
        YARN ends every container of a failed application attempt, and the attempts the
        next ApplicationMaster re-runs end at once (a replica job's second attempt), so
        they are lost through no fault of their own."""
        waves = self.scheduler.waves if self.scheduler is not None else []
        rm_url = self.watch.rm_url if self.watch is not None else ""
        return [(t, r) for w in waves if not w.ended and w.running.job_id
                and any(same_host(h, host) for h in am_hosts(rm_url, w.running.job_id))
                for t, r in w.replicas
                if self.driver.replica_live(t, r) and not self.book.gone(t, r)]

    def suspect(self, task: int, replica: int) -> None:
        """Replica (task, replica) was declared dead: have its host's NodeManager asked."""
        host = self.book.hosts().get((task, replica))
        if host and self.watch is not None:
            self.watch.suspect(host)

    def section(self) -> dict:
        """The report's ``lost_hosts``: ``{host: how it was found}``."""
        return dict(self.lost)

    def _victim(self, planned: str) -> str | None:
        """The host an emulated loss hits: the planned node if a live replica registered
        from it, else the host running the most live replicas (ties by name); None if no
        replica runs anywhere."""
        live: dict[str, int] = {}
        for (task, replica), host in self.book.hosts().items():
            if self.driver.replica_live(task, replica) and not self.book.gone(task, replica):
                live[host] = live.get(host, 0) + 1
        for host in live:
            if same_host(host, planned):
                return host
        return min(live, key=lambda h: (-live[h], h)) if live else None

    def _attempts_on(self, host: str) -> list[str]:
        """The attempts of replicas that registered from ``host`` and are not known ended."""
        return sorted({a for key, h in self.book.hosts().items()
                       if h == host and not self.book.gone(*key)
                       and (a := self.book.attempt(*key))})


def fault_json(fault: dict) -> bytes:
    """One fired fault as the Hadoop runner's fault folder stores it (a JSON object)."""
    return json.dumps(fault, sort_keys=True).encode()


def with_host_retries(plan, conf, usable: int | None = None):
    """``plan`` with :attr:`~dirft.core.jobplan.JobPlan.host_retries` set: the cluster
    (YARN) places the replicas. ``dirft.hadoop.host.retries`` when the ResourceManager
    lists at least R usable (``RUNNING``) hosts, else 0: with fewer hosts than R, replicas
    of a task must share one, and replacing them would only cost follow-up jobs (the
    report counts them in ``replicas_sharing_a_host``). ``usable``: the count if already
    known (default: asked of ``dirft.yarn.rm.url``; unknown counts as too few)."""
    import dataclasses

    usable = usable_hosts(conf.get("dirft.yarn.rm.url")) if usable is None else usable
    enough = usable is not None and usable >= plan.scheme.initial_replicas
    retries = conf.get("dirft.hadoop.host.retries") if enough else 0
    return dataclasses.replace(plan, host_retries=retries)


def host_losses(driver, book, kill_task, faults, storage, folder: str, rm_url: str,
                interval: float = 2.0) -> HostLosses:
    """The :class:`HostLosses` of one job's map stage: its planned node losses, fired
    faults written as JSON files into the HDFS ``folder``, and a started
    :class:`NodeWatch` of ``rm_url`` (none without one: stop it with :meth:`close_losses`)."""
    def record(fault: dict) -> None:
        storage.write_bytes(f"{folder}/node-{fault['node']}.json", fault_json(fault))

    losses = HostLosses(driver, book, kill_task, faults.node_losses, record)
    if rm_url:
        losses.watch = NodeWatch(rm_url, driver.notify, interval).start()
    return losses


def close_losses(losses: HostLosses | None) -> None:
    """Stop the :class:`NodeWatch` of ``losses``, if any, after one last poll: a host lost
    so late that the map stage ended before a poll saw it (its replicas' work was done or
    taken over) is still named in the report, as found after the map stage (the core,
    done, is not told)."""
    if losses is None or losses.watch is None:
        return
    losses.watch.stop()
    losses.watch.notify = lambda down: losses.lost.setdefault(
        down.host, f"{down.how}, found after the map stage")
    losses.watch.poll()
