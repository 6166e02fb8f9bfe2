"""What every runner shares: the job description, the runner interface, output checks, the plan.

mrjob's lesson: one runner per backend behind one interface. A runner takes a
:class:`StreamingJob` and returns the job's report (a dict, also written to
``_dirft_report.json``) through the one pipeline, :class:`dirft.runners.job.Job`; it raises
a :class:`~dirft.errors.DirftError` with a one-line message otherwise, leaving no output
directory behind.
"""

import json
import os
import posixpath
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from dirft.config import JobConf
from dirft.core.adaptive import Adaptive, Quarantine
from dirft.core.jobplan import JobPlan, build_plan, node_names
from dirft.core.planner import InputFile
from dirft.core.scheme import Scheme, Speculation, Tolerance, make_scheme
from dirft.errors import InputError, StorageError
from dirft.runners.inputs import split_rule, stored_lengths
from dirft.shutdown import held_signals
from dirft.storage.local import LOCAL


@dataclass
class StreamingJob:
    """A Hadoop Streaming job as its command line describes it.

    ``inputs``: paths, directories or globs (``-input``, repeatable); ``output``: the output
    directory, which must not exist; ``mapper``/``combiner``/``reducer``: argv lists (None:
    no combiner / identity reducer); ``conf``: the merged jobconf; ``files``: ``-files``
    entries (``path`` or ``path#name``); ``archives``: ``-archives`` entries, unpacked for
    the tasks (:mod:`dirft.runners.distcache`); ``cmdenv``: ``-cmdenv`` variables;
    ``lazy_output``: ``-lazyOutput``, no empty part file (Hadoop's ``LazyOutputFormat``). The number of reduces is
    ``mapreduce.job.reduces`` in ``conf`` (0 = map-only, one part per map task).
    """

    inputs: list
    output: str
    mapper: list
    conf: JobConf
    combiner: list | None = None
    reducer: list | None = None
    files: list = field(default_factory=list)
    cmdenv: dict = field(default_factory=dict)
    archives: list = field(default_factory=list)
    lazy_output: bool = False

    @property
    def num_reduces(self) -> int:
        """``mapreduce.job.reduces`` (>= 0)."""
        return self.conf.get("mapreduce.job.reduces")


class Runner(ABC):
    """One backend (local, hadoop, sim) behind the one pipeline, :class:`dirft.runners.job.Job`.

    ``job``: the :class:`StreamingJob` (None for the simulator); ``clock`` gives seconds
    (monotonic, injected). The pipeline calls, in order: :meth:`open`, :meth:`plan`,
    :meth:`check_faults`, :meth:`fault_settings`, :meth:`prepare`, then either
    (:meth:`new_driver`, :meth:`credentials`, :meth:`dispatcher`, :meth:`run_map_stage`,
    :meth:`finish`) when :meth:`votes`, or
    :meth:`run_unvoted`; then :meth:`publish`, and :meth:`close` in every case. A runner
    says how its replicas are started, killed and observed; the rest is shared.
    """

    def __init__(self, job: StreamingJob | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.job, self.clock = job, clock
        self.job_id = ""
        self.storage = None  # a dirft.storage.base.Storage
        self.output = ""     # the output directory, absolute, on self.storage
        self.work = ""       # local scratch directory (the secret file goes here)
        self.driver = None   # the Driver of a voting run: its decisions, commits, core state
        self.keyring = None  # the voting service's Keyring (dirft.service.keys)
        self.committed: str | None = None  # the output, once renamed into place

    def run(self) -> dict:
        """Run the job through the pipeline; return the report. Raises DirftError subclasses."""
        from dirft.runners.job import Job

        return Job(self).run()

    # -- the steps ------------------------------------------------------------------
    def open(self) -> None:
        """Find what the runner needs (tools, storage); default: nothing."""

    @abstractmethod
    def plan(self):
        """List the input, check the output, plan the map stage; return the JobPlan."""

    def check_faults(self) -> None:
        """Refuse fault settings this runner cannot carry out (ConfigError); default: none."""

    def fault_settings(self):
        """The :class:`~dirft.runners.job.FaultSettings` of this job (from its jobconf)."""
        from dirft.runners.job import FaultSettings

        return FaultSettings.from_conf(self.job.conf)

    def prepare(self, plan, faults) -> None:
        """Make scratch directories (``self.work``) once the plan stands; default: none."""

    def votes(self, plan) -> bool:
        """True if replicas report signatures to a voting service (default: always)."""
        return True

    def new_driver(self, plan, faults=None):
        """Step 4's core behind its lock: a :class:`~dirft.runners.driver.Driver` on
        ``plan`` with this runner's clock and ``dirft.poll.interval``, whose assignments
        carry the fault plan ``faults``' faults (None: none), kept as
        :attr:`driver` (the report and the console's progress read it); returns it."""
        from dirft.runners.driver import Driver

        from fault_injector.plan import NO_FAULTS

        self.driver = Driver(plan, self.clock, self.job.conf.get("dirft.poll.interval"),
                             NO_FAULTS if faults is None else faults)
        return self.driver

    def credentials(self) -> str:
        """Step 3, the secret: make ``self.keyring`` for the voting service; return the path
        of the secret file the replicas get ("" for none). Default (Hadoop's way): a fresh
        enrollment secret in ``work/SECRET_NAME``, shipped to the tasks, under which each
        replica enrolls its own key (:class:`dirft.service.keys.Keyring`)."""
        from dirft.contract.spec import write_secret
        from dirft.service.keys import Keyring

        secret_file, secret = write_secret(self.work)
        self.keyring = Keyring(enrollment=secret)
        return secret_file

    def guard(self):
        """A context manager held while the voting service runs; default: none."""
        return nullcontext()

    def environment_fault(self, err: OSError) -> Exception | None:
        """The error to raise for an OSError of the driver's own (disk full, read-only), or
        None to let it through; default: None."""
        return None

    def dispatcher(self, driver) -> Callable[[dict], dict]:
        """The voting service's dispatcher; default: the driver's."""
        return driver.dispatch

    def run_map_stage(self, plan, faults, driver, service, secret_file: str) -> None:
        """Start, kill and observe replicas until the core decides every task; raise
        JobAborted beyond tolerance. ``service``: the running
        :class:`~dirft.service.server.VotingService` (its ``url``, its ``heard_until``).
        Only for runners that vote."""
        raise NotImplementedError(f"{type(self).__name__} does not vote")

    def finish(self, plan, faults, started: float, mapped: float):
        """After a voted map stage: reduce or commit into the staging directory; return the
        :class:`~dirft.report.RunRecord` (``started``/``mapped``: clock readings)."""
        raise NotImplementedError(f"{type(self).__name__} does not vote")

    def run_unvoted(self, plan, faults, started: float):
        """Run the whole job without a voting service; return the RunRecord."""
        raise NotImplementedError(f"{type(self).__name__} always votes")

    def staging(self) -> str:
        """The hidden directory beside the output the job is built in (on ``storage``)."""
        parent, name = posixpath.split(self.output)
        return posixpath.join(parent, f".{name}.{self.job_id}.staging")

    def publish(self, report: dict) -> None:
        """Write ``_dirft_report.json`` and ``_SUCCESS`` into the staging directory and
        rename it into place (``FileOutputCommitter``'s job commit). Raises StorageError."""
        staging = self.staging()
        data = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
        self.storage.write_bytes(posixpath.join(staging, "_dirft_report.json"), data)
        if not self.storage.exists(posixpath.join(staging, "_SUCCESS")):
            self.storage.write_bytes(posixpath.join(staging, "_SUCCESS"), b"")
        with held_signals():  # the rename and the record of it are one step
            self.commit_output(staging)
            self.committed = self.output

    def commit_output(self, staging: str) -> None:
        """Rename the finished ``staging`` directory to the output (default: on storage)."""
        self.storage.rename(staging, self.output)

    def close(self) -> None:
        """Stop what the run started and remove its scratch; must not raise. Default: none."""


def cluster_of(conf: JobConf) -> dict:
    """The report's ``cluster`` section: ``dirft.nodes`` and ``dirft.slots.per.node``."""
    return {"nodes": conf.get("dirft.nodes"), "slots_per_node": conf.get("dirft.slots.per.node")}


def resolve_inputs(inputs: list) -> list[InputFile]:
    """The local files ``-input`` names, listed as every runner lists them
    (:meth:`dirft.storage.base.Storage.resolve_inputs`). Raises :class:`InputError`."""
    return LOCAL.resolve_inputs(inputs)


def check_output(storage, output: str) -> None:
    """Raise :class:`InputError` if ``output`` exists on ``storage`` (Hadoop's
    FileAlreadyExistsException); else create its missing parent directories, as Hadoop's
    ``FileOutputCommitter`` does (``mkdirs``); InputError if that fails (a parent is a file).
    """
    where = storage.where
    if storage.exists(output):
        raise InputError(f"output directory {output} already exists{where}; "
                         f"remove it or choose another -output")
    make_parents(storage, output, "-output")


def make_parents(storage, path: str, option: str) -> None:
    """Create the missing parent directories of ``path`` on ``storage`` (``option`` names
    the command-line option in the message). Raises :class:`InputError` if one cannot be
    made (a parent is a file, no permission)."""
    parent = posixpath.dirname(path)
    if storage.is_dir(parent):
        return
    try:
        storage.makedirs(parent)
    except (OSError, StorageError) as err:
        raise InputError(f"cannot create {parent}, the parent of {option}{storage.where}: "
                         f"{getattr(err, 'strerror', None) or err}; choose another "
                         f"{option}") from None


def drop_empty_parts(out_dir: str) -> list[str]:
    """``-lazyOutput``: remove the empty ``part-*`` files of ``out_dir`` (Hadoop's
    ``LazyOutputFormat`` creates a part file only on its first record). Returns the names
    removed, sorted."""
    empty = sorted(n for n in os.listdir(out_dir) if n.startswith("part-")
                   and os.path.getsize(os.path.join(out_dir, n)) == 0)
    for name in empty:
        os.unlink(os.path.join(out_dir, name))
    return empty


def check_output_absent(output: str) -> None:
    """:func:`check_output` for a local ``output`` path (made absolute)."""
    check_output(LOCAL, os.path.abspath(output))


def scheme_of(conf: JobConf) -> Scheme:
    """The :class:`Scheme` the jobconf selects (``dirft.scheme`` and the paper's keys)."""
    tolerance = Tolerance(conf.crash_faults, conf.silent_faults)
    return make_scheme(conf.scheme, tolerance, conf.get("mapreduce.map.maxattempts"),
                       conf.get("dirft.replicas.extra.max"), speculation_of(conf),
                       adaptive_of(conf))


def adaptive_of(conf: JobConf) -> Adaptive | None:
    """Adaptive DIRFT's parameters from ``dirft.adaptive.*`` (None: plain DIRFT)."""
    if not conf.get("dirft.adaptive"):
        return None
    return Adaptive(widen_max=conf.get("dirft.adaptive.widen.max"),
                    eager_above=conf.get("dirft.adaptive.eager.percent") / 100)


def quarantine_of(conf: JobConf) -> Quarantine:
    """The quarantine rule from ``dirft.quarantine.*``."""
    return Quarantine(conf.get("dirft.quarantine.lost.votes"),
                      conf.get("dirft.quarantine.crashes"),
                      conf.get("dirft.quarantine.max.nodes.percent") / 100)


def speculation_of(conf: JobConf) -> Speculation:
    """Scheme se's straggler rule from Hadoop's ``mapreduce.job.speculative.*`` keys."""
    key = "mapreduce.job.speculative."
    return Speculation(
        slow_task_threshold=conf.get(key + "slowtaskthreshold"),
        cap_running=conf.get(key + "speculative-cap-running-tasks"),
        cap_total=conf.get(key + "speculative-cap-total-tasks"),
        minimum_allowed=conf.get(key + "minimum-allowed-tasks"),
        min_runtime=conf.get("dirft.se.min.runtime"),
        retry_after_speculate=conf.get(key + "retry-after-speculate") / 1000,
        retry_after_no_speculate=conf.get(key + "retry-after-no-speculate") / 1000)


def plan_job(files: list[InputFile], conf: JobConf, stored: dict | None = None) -> JobPlan:
    """Plan the map stage on the emulated cluster (``dirft.nodes`` nodes) from the jobconf;
    splits as :func:`~dirft.runners.inputs.split_rule` says (``stored``: ``{path: Stored}``
    of the compressed inputs, :func:`~dirft.runners.inputs.readable_inputs`)."""
    stored = stored or {}
    max_size, old_api = split_rule(conf, files, stored)
    return build_plan(files, scheme_of(conf), node_names(conf.get("dirft.nodes")),
                      conf.get("dfs.blocksize"),
                      conf.get("mapreduce.input.fileinputformat.split.minsize"), max_size,
                      conf.get("dirft.placement.seed"), conf.get("dirft.heartbeat.timeout"),
                      conf.get("dirft.startup.timeout"), conf.get("dirft.slots.per.node"),
                      quarantine_of(conf), old_api, stored_lengths(stored),
                      conf.get("dirft.stall.timeout"))
