"""An emulated cluster on this machine: N nodes × S map slots, one OS process per replica.

The map stage's shell for the local runner. It executes the core's actions — launch a
replica in a free slot of its node, kill a replica's process group — and reports back
what the operating system says: a process started, a process exited with a code. Replicas
wait in a per-node queue until a slot on their node frees, as map tasks wait for a slot on
a TaskTracker (:class:`~dirft.core.nodeslots.NodeSlots`, the simulator's model too).
Heartbeat timeouts are checked by ticking the core's clock.
"""

import os
import signal
import threading
from dataclasses import dataclass

from dirft.core import events as E
from dirft.core.nodeslots import LossSchedule, NodeSlots
from dirft.errors import EnvironmentFault, ProtocolError
from dirft.runners.shell import MapStageShell
from dirft.runners.forkserver import ForkServer
from dirft.service import keys
from fault_injector.plan import Fault, record_fired

_NODE_FAULT = Fault("crash", "node", 0)  # how a node loss is recorded in the fault log


@dataclass(frozen=True)
class ProcessExited:
    """Internal notice from a waiter thread: replica (task, replica) ended with ``code``."""

    task: int
    replica: int
    node: str
    code: int


@dataclass(frozen=True)
class ForkServerLost:
    """Internal notice from the fork server's reader: the server ended unasked."""

    pid: int


class LocalCluster(MapStageShell):
    """Runs the map stage of one job until every task is decided or the job aborts.

    ``driver``: the :class:`~dirft.runners.driver.Driver`; ``spec_path``: the job spec the
    replicas read; ``nodes``: node names; ``slots``: map slots per node; ``tick``: seconds
    between heartbeat-timeout checks; ``log_dir``: where each replica's stderr goes;
    ``grace``: seconds to wait for replicas to exit on their own after the job is decided;
    ``node_losses``: the fault plan's :class:`~fault_injector.plan.NodeLoss` list, carried
    out here (``fault_log`` records them); ``keyring``: the voting service's
    :class:`~dirft.service.keys.Keyring`, where each replica's key is installed after its
    handshake (none: replicas get no key socket, for tests of the cluster alone);
    ``handshake_timeout``: seconds a replica has to offer its key before it is killed;
    ``heard``: the voting service's listening clock (:class:`MapStageShell`).

    Replicas are forked by a fork server started here, before any replica
    (:mod:`dirft.runtime.forkserver`: undumpable from their first instruction, and every
    process a mapper starts ends with its attempt); :meth:`close` stops it.
    :attr:`processes_killed` counts the processes killed when attempts ended. Raises
    :class:`EnvironmentFault` if the fork server does not start.
    """

    def __init__(self, driver, spec_path: str, nodes, slots: int, tick: float,
                 log_dir: str, grace: float = 30.0, node_losses=(), fault_log: str = "",
                 keyring=None, handshake_timeout: float = 60.0,
                 heard=lambda: None) -> None:
        super().__init__(driver, tick, grace, heard)
        self.spec_path, self.log_dir = spec_path, log_dir
        self.node_losses, self.fault_log = LossSchedule(node_losses), fault_log
        self.cluster = NodeSlots(nodes, slots)
        self.running: dict[tuple[int, int], int] = {}  # pid of each replica started
        self.nodes_of: dict[tuple[int, int], str] = {}
        self.exit_codes: list[tuple[int, int, int]] = []
        self.keyring, self.handshake_timeout = keyring, handshake_timeout
        self.forkserver = ForkServer(
            spec_path, lambda t, r, node, code: driver.notify(ProcessExited(t, r, node, code)),
            lambda: driver.notify(ForkServerLost(self.forkserver.pid)),
            timeout=handshake_timeout)

    @property
    def processes_killed(self) -> int:
        """Processes killed when attempts ended (descendants of the replicas' mappers)."""
        return self.forkserver.killed

    def close(self) -> None:
        """Stop the fork server: it kills what is left of the replicas and their
        descendants, and exits."""
        self.forkserver.close()

    # -- the shell's hooks (see MapStageShell) ---------------------------------------
    def launch(self, task: int, replica: int, node: str) -> None:
        """Queue the replica until a slot on ``node`` frees (:meth:`step` starts it)."""
        self.cluster.queue(task, replica, node)

    def observe(self, notice) -> None:
        """A replica's process ended: free its slot, tell the core. Raises
        :class:`EnvironmentFault` if the fork server ended unasked."""
        if isinstance(notice, ForkServerLost):
            raise EnvironmentFault(f"the replicas' fork server (pid {notice.pid}) ended while "
                                   f"the job ran (killed?); nothing was committed, rerun "
                                   f"the job")
        self._exited(notice)

    def idle(self) -> bool:
        """True when no replica process runs."""
        return not self.running

    def step(self, now: float) -> None:
        """Carry out due node losses, then start waiting replicas in free slots."""
        self._lose_nodes()
        self._fill()

    def _fill(self) -> None:
        """Start replicas in free slots (:meth:`NodeSlots.take`). The core hears of every
        start in one batch, before any of these processes can talk to the service, so
        siblings started together are known to be running when the first of them asks for
        more work."""
        starts = [] if self.aborted else self.cluster.take()
        if not starts:
            return
        now = self.driver.now()
        self.driver.handle(*(E.ReplicaStarted(now, t, r, node) for t, r, node in starts))
        for task, replica, node in starts:
            self._spawn(task, replica, node)

    def _lose_nodes(self) -> None:
        """Carry out planned node losses whose moment (reports received) has come."""
        for node in self.node_losses.due(len(self.driver.reports)):
            self.lose_node(node)

    def lose_node(self, node: str) -> None:
        """Lose ``node`` for real: kill its replicas' process groups, drop its queue, tell
        the core (which moves the work to nodes holding other block copies)."""
        self.cluster.lose(node)
        for (task, replica), pid in list(self.running.items()):
            if self.nodes_of.get((task, replica)) == node:
                _kill_group(pid)
        if self.fault_log:
            record_fired(self.fault_log, -1, -1, _NODE_FAULT, node=node)
        self.driver.handle(E.NodeLost(self.driver.now(), node))

    def _spawn(self, task: int, replica: int, node: str) -> None:
        """Fork replica (task, replica) in its own session, with its key socket."""
        ours, theirs = keys.handshake_pair()
        log_path = os.path.join(self.log_dir, f"t{task:05d}-r{replica:03d}.log")
        with open(log_path, "ab") as log, theirs:
            pid = self.forkserver.spawn(task, replica, node, theirs.fileno(), log.fileno())
        self.running[(task, replica)] = pid
        self.nodes_of[(task, replica)] = node
        threading.Thread(target=self._handshake, args=(pid, ours, task, replica, log_path),
                         daemon=True).start()

    def _handshake(self, pid: int, sock, task: int, replica: int, log_path: str) -> None:
        """Take the replica's key; kill it if the handshake fails (its exit comes from the
        fork server)."""
        try:
            install = (lambda key: None) if self.keyring is None else (
                lambda key: self.keyring.install(task, replica, key))
            keys.accept_key(sock, pid, self.handshake_timeout, install)
        except ProtocolError as err:
            _kill_group(pid)
            _log_line(log_path, f"dirft: driver: task {task} replica {replica}: {err}; killed\n")

    def _exited(self, notice: ProcessExited) -> None:
        self.running.pop((notice.task, notice.replica), None)
        self.cluster.release(notice.node)
        self.exit_codes.append((notice.task, notice.replica, notice.code))
        self.driver.handle(E.ReplicaExited(self.driver.now(), notice.task, notice.replica,
                                           notice.code))

    def kill(self, task: int, replica: int) -> None:
        """Drop the replica from its node's queue, or kill its process group."""
        self.cluster.drop(task, replica)
        pid = self.running.get((task, replica))
        if pid is not None:
            _kill_group(pid)

    def kill_all(self, why: str) -> None:
        """Kill every running replica's process group and drop pending launches."""
        self.cluster.drop_all()
        for pid in list(self.running.values()):
            _kill_group(pid)


def _log_line(log_path: str, line: str) -> None:
    """Append ``line`` to a replica's log; a log already removed by shutdown is no error."""
    try:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(line)
    except OSError:
        pass  # shutdown removed the scratch directory that held the log


def _kill_group(pid: int) -> None:
    """SIGKILL replica ``pid`` and its mapper (its own session's process group; what left
    the group is killed when the fork server reaps the replica), and the replica itself
    (forked a moment ago, it may not lead its own session yet)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

