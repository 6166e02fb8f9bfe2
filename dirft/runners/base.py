"""What every runner shares: the job description, input and output checks, the plan.

mrjob's lesson: one runner per backend behind one interface. A runner takes a
:class:`StreamingJob` and returns the job's report (a dict, also written to
``_dirft_report.json``); it raises a :class:`~dirft.errors.DirftError` with a one-line
message otherwise, leaving no output directory behind.
"""

import glob
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from dirft.config import JobConf
from dirft.core.adaptive import Adaptive, Quarantine
from dirft.core.jobplan import JobPlan, build_plan, node_names
from dirft.core.planner import InputFile
from dirft.core.scheme import Scheme, Speculation, Tolerance, make_scheme
from dirft.errors import InputError


@dataclass
class StreamingJob:
    """A Hadoop Streaming job as its command line describes it.

    ``inputs``: paths, directories or globs (``-input``, repeatable); ``output``: the output
    directory, which must not exist; ``mapper``/``combiner``/``reducer``: argv lists (None:
    no combiner / identity reducer); ``conf``: the merged jobconf; ``files``: ``-files``
    paths; ``cmdenv``: ``-cmdenv`` variables. The number of reduces is
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

    @property
    def num_reduces(self) -> int:
        """``mapreduce.job.reduces`` (>= 0)."""
        return self.conf.get("mapreduce.job.reduces")


class Runner(ABC):
    """One backend (local, hadoop, sim). ``clock`` gives seconds (monotonic), injected."""

    def __init__(self, job: StreamingJob, clock: Callable[[], float] = time.monotonic) -> None:
        self.job, self.clock = job, clock

    @abstractmethod
    def run(self) -> dict:
        """Run the job to its end; return the report. Raises DirftError subclasses."""


def resolve_inputs(inputs: list) -> list[InputFile]:
    """Expand ``-input`` paths as Hadoop's FileInputFormat lists them; return files with sizes.

    A directory contributes its files (not recursively), skipping names that start with
    ``_`` or ``.`` (Hadoop's hidden-file filter); a glob matches as a shell would. Raises
    :class:`InputError` naming a path that does not exist or matches nothing.
    """
    if not inputs:
        raise InputError("no -input given; name at least one input file or directory")
    files = []
    for pattern in inputs:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches or not all(os.path.exists(m) for m in matches):
            raise InputError(f"input path does not exist: {os.path.abspath(pattern)}")
        for path in matches:
            files.extend(_listing(path))
    return [InputFile(os.path.abspath(p), os.path.getsize(p)) for p in files]


def _listing(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    names = sorted(n for n in os.listdir(path) if not n.startswith(("_", ".")))
    return [os.path.join(path, n) for n in names if os.path.isfile(os.path.join(path, n))]


def check_output_absent(output: str) -> None:
    """Raise :class:`InputError` if ``output`` exists (Hadoop's FileAlreadyExistsException)
    or its parent directory does not."""
    if os.path.lexists(output):
        raise InputError(f"output directory {os.path.abspath(output)} already exists; "
                         f"remove it or choose another -output")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise InputError(f"the parent of -output, {parent}, does not exist")


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


def plan_job(files: list[InputFile], conf: JobConf) -> JobPlan:
    """Plan the map stage on the emulated cluster (``dirft.nodes`` nodes) from the jobconf."""
    return build_plan(files, scheme_of(conf), node_names(conf.get("dirft.nodes")),
                      conf.get("dfs.blocksize"),
                      conf.get("mapreduce.input.fileinputformat.split.minsize"),
                      conf.get("mapreduce.input.fileinputformat.split.maxsize"),
                      conf.get("dirft.placement.seed"), conf.get("dirft.heartbeat.timeout"),
                      conf.get("dirft.startup.timeout"), conf.get("dirft.slots.per.node"),
                      quarantine_of(conf))
