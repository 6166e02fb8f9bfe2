"""The runners: one :class:`~dirft.runners.base.Runner` per backend, by name.

``local`` (:mod:`dirft.runners.local`, an emulated cluster on this machine) and ``hadoop``
(:mod:`dirft.runners.hadoop`, a real YARN/HDFS cluster), both behind the one job pipeline;
the simulator (:mod:`dirft.runners.sim`) is driven by ``dirft simulate`` instead, as its
input is a cluster description rather than a streaming job.
"""

from dirft.errors import UsageError

#: Names ``--runner`` accepts, for ``dirft streaming`` and ``dirft run``.
RUNNER_NAMES = ("hadoop", "local")


def runner_class(name: str):
    """Return the Runner class named ``name`` (``local`` or ``hadoop``), imported on demand
    (the Hadoop runner pulls in HdfsCLI). Raises :class:`UsageError` for another name."""
    if name == "local":
        from dirft.runners.local import LocalRunner
        return LocalRunner
    if name == "hadoop":
        from dirft.runners.hadoop import HadoopRunner
        return HadoopRunner
    raise UsageError(f"--runner {name}: unknown runner; use one of {', '.join(RUNNER_NAMES)}")
