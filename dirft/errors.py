"""The one error tree of dirft.

Every error dirft raises on purpose derives from :class:`DirftError` and carries a
one-line message that names what failed (job, task, split, sub-split, replica, phase,
key) and suggests the next step. Two branches split the blame, as h11 does:

* :class:`InvalidTransition` is *our* bug: the core was asked to do something its state
  machine forbids. It is never caused by input data or by a peer.
* :class:`RemoteFault` is the *peer's* fault: a replica or service sent garbage, or
  answered with an error. Such faults become events or clean rejections, never crashes.

Everything else is a user-facing error about configuration, input or the job itself.
A signature mismatch is *not* an error: it is an event the core handles.
"""


class DirftError(Exception):
    """Root of every error dirft raises on purpose; ``str(err)`` is one line."""


class ConfigError(DirftError):
    """A configuration key is unknown, has a bad value, or keys contradict each other.

    The message names the key (e.g. ``dirft.nodes``) and the value seen.
    """


class InputError(DirftError):
    """An input path is missing or unreadable, or an output path already exists."""


class UsageError(DirftError):
    """The command line is wrong: unknown option, missing argument."""


class StorageError(DirftError):
    """A read, write or rename on the file system (local or HDFS) failed."""


class TaskError(DirftError):
    """A user program (mapper, combiner, reducer) failed deterministically."""


class EnvironmentFault(DirftError):
    """The machine or the job's set-up, not a fault to tolerate: scratch disk full, a
    program that cannot start, an unwritable directory, a limit the job exceeds. Every
    replica would hit it again, so the job stops with this cause (exit status 1).

    :data:`ENVIRONMENT_PREFIX` starts the ``reason`` a replica reports for it.
    """


class DataNodeUnavailable(EnvironmentFault, StorageError):
    """A WebHDFS read or write that no DataNode would do: each one the NameNode named
    refused, timed out or broke off (``dirft.webhdfs.datanode.attempts`` of them), or the
    NameNode had none left that was not excluded. Raised by :mod:`dirft.storage.hdfs`;
    the message names the path, each DataNode tried with its cause, and what to check.
    A StorageError too, so code that handles storage failures handles it."""


ENVIRONMENT_PREFIX = "environment: "
"""How a replica's ``failed`` reason marks an :class:`EnvironmentFault`."""

ENVIRONMENT_ERRNOS = frozenset({28, 122, 30, 13, 1, 24, 23, 12})
"""errno values that are the environment's doing: ENOSPC, EDQUOT, EROFS, EACCES, EPERM,
EMFILE, ENFILE, ENOMEM (Linux numbers)."""


class JobAborted(DirftError):
    """The job went beyond its fault tolerance; nothing was committed.

    The message names the task, the sub-split and the signatures seen.
    """


class InvariantViolated(DirftError):
    """*Our* bug, as :class:`InvalidTransition`: the core's state broke one of its own
    invariants (:mod:`dirft.core.invariants`), found by ``JobState.validate``. The message
    names the task, replica, sub-split or node and what is wrong."""


class RemoteFault(DirftError):
    """A peer (replica, voting service, WebHDFS) sent something invalid or refused us."""


class ProtocolError(RemoteFault):
    """A message failed authentication, sequencing, size or schema checks.

    ``status`` is the HTTP status the voting service answers with (4xx).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class InvalidTransition(DirftError):
    """A bug in dirft: an event arrived that the core's state machine does not allow.

    Raised by :mod:`dirft.core` only; the message names task, replica, state and event.
    """
