"""The job spec a replica process reads: what to run, on which bytes, where to commit.

The driver writes one JSON file per job (:meth:`JobSpec.save`); each replica process gets
its path and its own (task, replica) ids on its command line. Output locations derive only
from job, task, sub-split and replica ids (:func:`output_path`), so the voting service never
takes a path from a replica.
"""

import json
import os
from dataclasses import asdict, dataclass, field

#: File names of the job spec, the per-job HMAC secret and the runtime's zip, in the job's
#: scratch directory (local runner) or shipped with ``-files`` (Hadoop runner).
SPEC_NAME, SECRET_NAME, ZIP_NAME = "dirft-job.json", "dirft.secret", "dirft.zip"
SECRET_BYTES = 32  # bytes of a fresh per-job HMAC-SHA256 key


def write_secret(directory: str) -> tuple[str, bytes]:
    """Write a fresh random per-job secret to ``directory/SECRET_NAME``, mode 0600.

    Returns (path, the secret's ``SECRET_BYTES`` bytes). Raises FileExistsError if the file
    exists (``O_EXCL``: a secret is never overwritten), OSError otherwise.
    """
    secret = os.urandom(SECRET_BYTES)
    path = os.path.join(directory, SECRET_NAME)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return path, secret


@dataclass
class JobSpec:
    """Everything a replica needs. Sizes in bytes, intervals in seconds.

    ``tasks``: per map task ``{"index", "path", "start", "length", "subsplits": [[start,
    length], ...]}``; ``mapper``/``combiner``: argv lists (no shell, as Hadoop Streaming);
    ``jobconf``: every effective jobconf key (exported to the task's environment);
    ``cmdenv``: ``-cmdenv`` variables; ``files``: absolute paths linked into the task's
    working directory (``-files``); ``faults``: the fault plan's JSON form; ``fault_log``:
    where fired faults are recorded (a local file, or a directory on ``storage``);
    ``storage``: :func:`dirft.storage.open_storage`'s description of where input and map
    outputs live (empty: local files); ``mode``: ``vote`` (replicas report signatures) or
    ``direct`` (Hadoop runner, schemes se/none: the map output goes to stdout, Hadoop
    owns re-execution). ``secret_file``: the Hadoop runner's enrollment secret (empty under
    the local runner, whose replicas hand over their keys through a socket: no key is ever
    in a file there). An empty ``work_dir`` means "the process's working directory".
    """

    job_id: str
    job_number: int
    stamp: str
    service_url: str
    secret_file: str
    mapper: list
    combiner: list | None
    jobconf: dict
    cmdenv: dict
    files: list
    tasks: list
    map_output_dir: str
    work_dir: str
    heartbeat_interval: float
    sort_memory: int
    faults: dict = field(default_factory=dict)
    fault_log: str = ""
    storage: dict = field(default_factory=dict)
    mode: str = "vote"

    def save(self, path: str) -> None:
        """Write the spec as JSON to ``path`` (temp file then rename)."""
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(asdict(self), f)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> "JobSpec":
        """Read a spec written by :meth:`save`. Raises OSError/ValueError if unreadable."""
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))


def output_path(map_output_dir: str, task: int, subsplit: int, replica: int) -> str:
    """Where replica ``replica`` commits its output of (``task``, ``subsplit``)."""
    return os.path.join(map_output_dir, f"t{task:05d}", f"s{subsplit:03d}-r{replica:03d}.out")


def replica_dir(work_dir: str, task: int, replica: int) -> str:
    """The replica's working directory (its cwd, with the ``-files`` linked in)."""
    return os.path.join(work_dir, "attempts", f"t{task:05d}-r{replica:03d}")
