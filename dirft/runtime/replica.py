"""The replica task runtime: the program Hadoop Streaming (or the local runner) runs.

One process per replica (docs/design.md, 'Replica task runtime'): it registers with the voting
service, then loops — ask for work, run the assigned sub-split through the user's mapper
(:func:`~dirft.runtime.mapphase.run_map_phase`), commit, report the SHA-256 — until told to
exit, heartbeating from a second thread meanwhile. Emulated faults of the job's fault plan
strike here, in the phase whose assignment carries them (:mod:`fault_injector.strike`):
a crash raises before the report (or kills or stops the replica inside the phase), a
silent error tampers the reported signature or flips a bit of the output (the paper's
fault injector).
"""

import json
import os
import posixpath
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict
from functools import partial

from dirft.config.values import read_value
from dirft.contract.env import hadoop_ids, streaming_env
from dirft.contract.spec import JobSpec, output_path, replica_dir
from dirft.core.units import unit_span
from dirft.errors import (ENVIRONMENT_ERRNOS, ENVIRONMENT_PREFIX, DirftError,
                          EnvironmentFault, RemoteFault, StorageError, TaskError)
from dirft.service.messages import MAX_COUNTER_GROUPS, MAX_COUNTER_NAMES
from dirft.runtime.mapphase import run_map_phase
from dirft.runtime.reaper import end_descendants
from dirft.service.client import VotingClient
from dirft.service.keys import offer_key
from dirft.storage.base import Storage
from dirft.storage.local import LOCAL
from fault_injector.plan import EMULATED_CRASH_EXIT, Fault, FaultPlan, record_fired, tamper


class EmulatedCrash(Exception):
    """Raised at the end of a phase by an emulated crash fault (paper mode)."""


class Heartbeat(threading.Thread):
    """Sends a heartbeat every ``interval`` seconds until :meth:`stop` (daemon thread).

    ``on_reply(reply, beat)``, if given, sees each answer (the Hadoop entry mode uses it to
    report progress to Hadoop and to exit when the driver says the replica is not needed).
    The replica leaves (SIGKILL to itself and its mapper, :func:`_signal_own_group`) when
    the driver is gone: its parent process ``parent`` (a pid: the local runner's fork
    server, or Hadoop's task JVM) is no longer its parent, or no heartbeat was answered for
    ``give_up_after`` seconds (the driver's heartbeat timeout: by then it counts this
    replica dead anyway). None disables either check. ``ended``: an
    :class:`~dirft.runtime.neighbours.EndedNeighbours` whose entries each heartbeat names
    (field ``ended``), or None.
    """

    def __init__(self, client: VotingClient, interval: float, on_reply=None,
                 give_up_after: float | None = None, parent: int | None = None,
                 ended=None) -> None:
        super().__init__(name="dirft-heartbeat", daemon=True)
        self.client, self.interval, self.phase, self.progress = client, interval, 0, 0.0
        self.on_reply, self.give_up_after, self.parent = on_reply, give_up_after, parent
        self.ended = ended
        self._stopped = threading.Event()

    def run(self) -> None:
        last_ok = time.monotonic()
        while not self._stopped.wait(self.interval):
            if self.parent is not None and os.getppid() != self.parent:
                _leave(f"the driver (parent process {self.parent}) is gone")
            try:
                reply = self._beat()
            except DirftError as err:
                print(f"dirft: heartbeat failed: {err}", file=sys.stderr)
                silent = time.monotonic() - last_ok
                if self.give_up_after is not None and silent > self.give_up_after:
                    self._give_up(f"no heartbeat answered for {silent:.0f} s")
                continue
            last_ok = time.monotonic()
            if self.on_reply is not None:
                self.on_reply(reply, self)

    def _give_up(self, why: str) -> None:
        """The driver is gone: a replica lingering with its work over just stops waiting
        (it ends with status 0, what it emitted kept); any other leaves (:func:`_leave`)."""
        if self.ended is not None and self.ended.lingering:
            print(f"dirft: {why}; this replica's work is over: it stops lingering",
                  file=sys.stderr, flush=True)
            self.ended.released.set()
            self.stop()
        else:
            _leave(why)

    def _beat(self) -> dict:
        """Send one heartbeat, naming the ended replicas not yet named (and telling the
        supervisor's watchdog it went out); pass on to the supervisor the answer's ``end``
        (neighbours the driver holds dead); return the answer."""
        ended = self.ended.poll() if self.ended is not None else []
        if self.ended is not None:
            self.ended.beat()
        reply = self.client.call("heartbeat", phase=self.phase, progress=self.progress,
                                 **({"ended": ended} if ended else {}))
        if ended:
            self.ended.sent(ended)
        if self.ended is not None and reply.get("end"):
            self.ended.ask_end(reply["end"])
        return reply

    def flush_ended(self) -> None:
        """Name the ended replicas not yet named in one last heartbeat (before this
        replica's process ends); a failure is only printed."""
        if self.ended is not None and self.ended.poll():
            try:
                self._beat()
            except DirftError as err:
                print(f"dirft: last heartbeat failed: {err}", file=sys.stderr)

    def stop(self) -> None:
        self._stopped.set()


def _leave(why: str) -> None:
    """The driver is gone: say so, SIGKILL every process the mapper started (those it
    orphaned were reparented here, :mod:`dirft.runtime.reaper`), then this replica and its
    mapper."""
    print(f"dirft: {why}; this replica and its mapper exit", file=sys.stderr, flush=True)
    end_descendants()
    _signal_own_group(signal.SIGKILL)


class Replica:
    """Replica ``replica`` of map task ``task`` of the job in ``spec``.

    ``client`` talks to the voting service (None in direct mode); ``node`` is the host name
    it reports. ``split`` overrides the spec's task entry (the Hadoop runner's manifest line
    carries it); ``storage`` holds the input and the map outputs (default: local files);
    ``on_reply(reply, beat, replica)``, if given, sees each heartbeat's answer with this
    replica (the Hadoop entry mode reports status and leaves a phase no longer needed);
    ``ended``: the :class:`EndedNeighbours` of a replica under a Hadoop container supervisor
    (None elsewhere). ``attempt``: the Hadoop task attempt id
    it runs as (sent at registration, so kills go to that attempt); ``on_emit(reply)``: what
    to do when the voting service answers ``emit`` instead of ``exit`` (the Hadoop runner's
    one-application mode: this replica writes its task's decided outputs to stdout).
    """

    def __init__(self, spec: JobSpec, task: int, replica: int, client: VotingClient | None,
                 node: str, split: dict | None = None, storage: Storage | None = None,
                 on_reply=None, attempt: str = "", on_emit=None, ended=None) -> None:
        self.spec, self.task, self.replica, self.client, self.node = (
            spec, task, replica, client, node)
        self.attempt, self.on_emit = attempt, on_emit
        self.ended = ended
        self._phase_lock, self._in_phase = threading.Lock(), False
        self.split = split or spec.tasks[task]
        self.storage, self.on_reply = storage or LOCAL, on_reply
        self.faults = FaultPlan.from_json(spec.faults)
        self.cwd = replica_dir(spec.work_dir, task, replica) if spec.work_dir else os.getcwd()

    def run(self) -> None:
        """Register, then work until told to exit (or to emit, then emit); under a Hadoop
        container supervisor (``ended``), then linger until it lets this replica go
        (:mod:`dirft.runtime.container`). Raises EmulatedCrash, TaskError, RemoteFault."""
        self._prepare_cwd()
        self.client.call("register", host=self.node, pid=os.getpid(), attempt=self.attempt)
        if self.ended is not None:  # the driver's heartbeat clock starts: so does the watchdog's
            self.ended.beat()
        timeout = read_value(self.spec.jobconf, "dirft.heartbeat.timeout")
        on_reply = self.on_reply
        seen = None if on_reply is None else (lambda reply, b: on_reply(reply, b, self))
        beat = Heartbeat(self.client, self.spec.heartbeat_interval, seen,
                         give_up_after=timeout, parent=os.getppid(), ended=self.ended)
        beat.start()
        try:
            reply = self.client.call("request")
            while reply.get("action") not in ("exit", "emit"):
                if reply.get("action") == "wait":
                    time.sleep(float(reply.get("retry_after", self._poll_interval())))
                    reply = self.client.call("request")
                    continue
                beat.phase, beat.progress = reply["phase"], 0.0
                self._set_in_phase(True)
                report = self._phase(reply, beat)
                self._set_in_phase(False)
                reply = self.client.call("request", report=report)
            if reply.get("action") == "emit" and self.on_emit is not None:
                self.on_emit(reply)  # heartbeating on: the supervisor's watchdog listens
            if self.ended is not None:  # under a supervisor: linger (container module doc)
                self.ended.linger(self.spec.heartbeat_interval)
        finally:
            beat.stop()
        beat.flush_ended()

    def _poll_interval(self) -> float:
        """Seconds to wait when the driver says ``wait`` without saying how long: the job's
        ``dirft.poll.interval`` (the driver's own answer carries that value)."""
        return read_value(self.spec.jobconf, "dirft.poll.interval")

    def _set_in_phase(self, value: bool) -> None:
        with self._phase_lock:
            self._in_phase = value

    def leave_if_in_phase(self, code: int = 0) -> None:
        """End the process with ``code`` now if it is inside a map phase (a heartbeat
        answer said the work is not needed). Between phases the main loop hears the same
        answer to its own request; it may then be emitting, which must not be cut short."""
        with self._phase_lock:
            if self._in_phase:
                os._exit(code)  # the mapper child sees its stdin close and ends too

    def _phase(self, assignment: dict, beat: Heartbeat) -> dict:
        s, phase = assignment["subsplit"], assignment["phase"]
        start, length = unit_span(self.split["subsplits"], s)
        final = output_path(self.spec.map_output_dir, self.task, s, self.replica)
        fault, note = carried_fault(assignment), {}
        if fault is not None:
            note = {"planned_replica": assignment["fault"]["planned_replica"]}
        else:
            fault = self.faults.bad_node_fault(self.node, self.task, self.replica, s, phase)
            note = {"bad_node": self.node} if fault is not None else {}
        with open(os.path.join(self.cwd, "stderr"), "ab") as log:
            result, signature = self._map(start, length, phase, beat, final, log,
                                          slowdown=self.faults.stragglers.get(self.node, 1.0),
                                          fault=fault, note=note)
        return {"subsplit": s, "signature": signature, "output_bytes": result.output_bytes,
                "counters": _within_limits(result.counters.to_dict())}

    def _map(self, start: int, length: int, phase: int, beat: Heartbeat, final: str, log,
             commit=None, slowdown: float = 1.0, fault=None, note=None):
        """Map bytes ``(start, start+length]`` of the split's file as phase ``phase``,
        carrying out ``fault`` (the planned fault its assignment carries, or a bad node's;
        None: none); return (PhaseResult, the signature to report). ``note``: fields added
        to the fault's fired record.

        Raises EmulatedCrash (a crash fault at the phase's end), TaskError, StorageError.
        """
        fired = partial(self._fired, fault, phase, **(note or {}))
        data_fault = fault is not None and fault.mode == "data"
        result = run_map_phase(
            self.split["path"], start, length, self.spec.mapper, self.spec.combiner,
            final, self._env(), self.cwd, log, self.spec.sort_memory,
            on_progress=self._progress(beat, length, fault, fired),
            corrupt_bit=fault.bit if data_fault else None, slowdown=slowdown,
            storage=self.storage, commit=commit,
            key_fields=read_value(self.spec.jobconf, "stream.num.map.output.key.fields"),
            codec=self.split.get("codec"), stored_length=self.split.get("stored_length", 0),
            exit_ok=not read_value(self.spec.jobconf, "stream.non.zero.exit.is.failure"),
            separator=read_value(self.spec.jobconf, "stream.map.output.field.separator").encode(),
            text_output=self._map_only_here())
        if result.corrupted:
            fired()
        return result, self._at_phase_end(fault, result.signature, phase, fired)

    def _map_only_here(self) -> bool:
        """True when this output is a map-only job's part as it is: the local runner's (on
        Hadoop the emitted lines pass through Hadoop's own output reader)."""
        reduces = read_value(self.spec.jobconf, "mapreduce.job.reduces")
        return reduces == 0 and self.storage.kind == "local"

    def run_direct(self, out, log) -> None:
        """Map the whole split once, its output to the binary stream ``out`` (direct mode).

        The Hadoop runner's schemes se and none: no votes, Hadoop re-executes failed
        attempts and speculates; this replica id is the Hadoop attempt number, so a fault
        planned for replica 0 strikes the first attempt only. ``log`` receives the user
        programs' stderr (Hadoop reads counters and status from it). Raises EmulatedCrash,
        TaskError, StorageError.
        """
        self._prepare_cwd()
        beat = Heartbeat(None, 0)  # progress holder only; never started
        fault = self.faults.for_replica(self.task, self.replica)  # its one phase comes
        self._map(self.split["start"], self.split["length"], 1, beat, "-", log,
                  commit=lambda _: nullcontext(out), fault=fault,
                  note={"planned_replica": self.replica})

    def _progress(self, beat: Heartbeat, length: int, fault, fired):
        """Progress callback: feeds heartbeats; a kill or hang fault strikes at its point
        (``fired()`` records it first)."""
        armed = [fault is not None and fault.mode in ("kill", "hang")]

        def on_progress(fed: int) -> None:
            beat.progress = min(1.0, fed / length) if length else 1.0
            if armed[0] and fed >= fault.at * length:
                armed[0] = False  # strikes once, even if the signal lands a chunk later
                fired()
                _signal_own_group(signal.SIGKILL if fault.mode == "kill" else signal.SIGSTOP)
        return on_progress

    def _at_phase_end(self, fault, signature: str, phase: int, fired) -> str:
        """The paper's faults strike at the end of a phase (``phase``), before the report
        (``fired()`` records it first)."""
        if fault is None or fault.mode not in ("exception", "signature"):
            return signature
        fired()
        if fault.kind == "crash":
            raise EmulatedCrash(f"emulated crash fault at the end of phase {phase}")
        return tamper(signature)

    def _fired(self, fault, phase: int, **note) -> None:
        """Record that ``fault`` fired here in this replica's phase ``phase`` (``note``:
        ``planned_replica`` of a planned fault, ``bad_node`` of a bad node's): a line of
        the local fault log, or one HDFS file per fault in the fault-log folder (the
        runner lists them)."""
        if not self.spec.fault_log:
            return
        note = {**note, "fired_phase": phase}
        if self.storage.kind == "local":
            record_fired(self.spec.fault_log, self.task, self.replica, fault, **note)
            return
        name = f"t{self.task:05d}-r{self.replica:03d}-{fault.kind}-p{phase}.json"
        line = json.dumps({"task": self.task, "replica": self.replica, **asdict(fault),
                           **note})
        self.storage.write_bytes(posixpath.join(self.spec.fault_log, name), line.encode())

    def _env(self) -> dict:
        """The task environment: Hadoop's ``FileSplit`` of the task's split (its start and
        length, whichever sub-split this mapper maps, as every mapper of the task sees in
        Hadoop); a compressed split shows the whole stored file (start 0, its stored
        length), as Hadoop 3.3.6 gives it."""
        start, length = self.split["start"], self.split["length"]
        if "codec" in self.split:
            start, length = 0, self.split["stored_length"]
        ids = hadoop_ids(self.spec.job_number, self.task, self.replica, True, self.spec.stamp)
        scheme = "file:" if self.storage.kind == "local" else "hdfs://"
        task_vars = {**ids, "mapreduce.map.input.file": scheme + self.split["path"],
                     "mapreduce.map.input.start": str(start),
                     "mapreduce.map.input.length": str(length)}
        return streaming_env(self.spec.jobconf, task_vars, self.spec.cmdenv)

    def _prepare_cwd(self) -> None:
        os.makedirs(self.cwd, exist_ok=True)
        for path in self.spec.files:
            link = os.path.join(self.cwd, os.path.basename(path))
            if not os.path.lexists(link):
                os.symlink(path, link)


def carried_fault(assignment: dict) -> Fault | None:
    """The planned fault an ``assign`` answer carries (field ``fault``: the
    :class:`~fault_injector.plan.Fault`'s fields and ``planned_replica``; the rule of
    :mod:`fault_injector.strike`), or None."""
    fields = assignment.get("fault")
    if not fields:
        return None
    return Fault(**{k: v for k, v in fields.items() if k != "planned_replica"})


def _within_limits(counters: dict) -> dict:
    """Return ``counters`` if the voting service accepts them; else raise
    :class:`EnvironmentFault` (a limit of the job, as Hadoop's own counter limits)."""
    groups = len(counters)
    names = max((len(n) for n in counters.values()), default=0)
    if groups > MAX_COUNTER_GROUPS or names > MAX_COUNTER_NAMES:
        raise EnvironmentFault(
            f"the map phase reported {groups} counter groups (largest: {names} counters); at "
            f"most {MAX_COUNTER_GROUPS} groups of {MAX_COUNTER_NAMES} are accepted (Hadoop "
            f"fails such a job too: mapreduce.job.counters.groups.max, default 50)")
    return counters


def environment_reason(err: BaseException) -> str | None:
    """The ``failed`` reason of an error that is the environment's doing, else None."""
    if isinstance(err, EnvironmentFault):
        return ENVIRONMENT_PREFIX + str(err)
    cause = err if isinstance(err, OSError) else err.__cause__ or err.__context__
    if isinstance(cause, OSError) and cause.errno in ENVIRONMENT_ERRNOS:
        where = f" ({cause.filename})" if cause.filename else ""
        also = f": {err}" if err is not cause else ""
        return f"{ENVIRONMENT_PREFIX}{cause.strerror}{where}{also}"
    return None


def _signal_own_group(signum: int) -> None:
    """Send ``signum`` to this replica and its mapper: its process group if it leads one
    (the local runner starts each replica in its own session), else to itself only."""
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signum)
    else:
        os.kill(os.getpid(), signum)


def run_forked(spec: JobSpec, task: int, replica: int, node: str, key_fd: int) -> int:
    """Run replica ``replica`` of ``task`` on ``node`` in a process the fork server forked.

    ``key_fd``: the Unix socket over which this replica hands the driver its fresh key
    (:func:`dirft.service.keys.offer_key`) before anything else runs. Returns the exit
    status: 0 done, 1 the user's program failed, 2 the voting service could not be reached
    or refused us (or the key handshake failed), 75 an emulated crash fault.
    """
    try:
        key = offer_key(key_fd)
    except TaskError as err:
        print(f"dirft: task {task} replica {replica}: {err}", file=sys.stderr)
        return 2
    with VotingClient(spec.service_url, key, spec.job_id, task, replica) as client:
        return run_replica(Replica(spec, task, replica, client, node), client)


def run_replica(replica: Replica, client: VotingClient,
                reported_failure_code: int = 1) -> int:
    """Run ``replica``; return its exit status (see :func:`main`). A user program's failure
    that the voting service was told of exits ``reported_failure_code``."""
    where = f"task {replica.task} replica {replica.replica}"
    try:
        replica.run()
        return 0
    except EmulatedCrash as err:
        print(f"dirft: {where}: {err}", file=sys.stderr)
        return EMULATED_CRASH_EXIT
    except (TaskError, EnvironmentFault, StorageError, OSError) as err:
        env = environment_reason(err)
        if env is None and not isinstance(err, TaskError):
            raise
        print(f"dirft: {where}: {err}", file=sys.stderr)
        try:
            client.call("failed", reason=(env or str(err))[:2000])
        except DirftError:
            return 1
        return reported_failure_code
    except RemoteFault as err:
        print(f"dirft: {where}: voting service: {err}", file=sys.stderr)
        return 2
