"""The six GridMix2 job types, as ``dirft gridmix run`` runs them.

GridMix2's definitions (its ``gridmix_config.xml`` and job creators), each with the data set
GridMix2 feeds it (:data:`dirft.gridmix.generate.DATASETS`); scripts are in ``jobs/``:

* ``streamsort`` (streamSort, text): streaming ``-mapper cat -reducer cat`` (streamsort.sh);
* ``javasort`` (javaSort, kv): identity map and reduce (javasort.py);
* ``combiner`` (combiner, text): word count, the reducer also the combiner (combiner.py);
* ``webdatascan`` (webdataScan, kv): GenericMRLoad keepmap 0.2%, keepred 5%;
* ``webdatasort`` (webdataSort, kv): GenericMRLoad keepmap 100%, keepred 100%;
* ``monsterquery`` (monsterQuery, fixkv): three chained GenericMRLoad jobs, keepmap 10%,
  keepred 40% (monsterquery.py; genericmrload.py holds the GenericMRLoad base class).

The MRJob scripts import nothing of dirft; here they run through :mod:`dirft.mrjob_steps`,
streamSort as a :class:`~dirft.runners.base.StreamingJob`. Either way a run returns the
summary of :func:`dirft.mrjob_steps.summarize`.
"""

import os
from dataclasses import dataclass

from dirft.config import JobConf
from dirft.errors import ConfigError
from dirft.mrjob_steps import RunOptions, run_mrjob, summarize
from dirft.runners.base import StreamingJob

#: The repository's ``jobs/`` directory (beside the ``dirft`` package).
JOBS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "jobs")


@dataclass(frozen=True)
class GridmixJob:
    """One GridMix2 job type: its data set and either an MRJob ``script`` (a file name in
    ``jobs/``) or a streaming ``mapper``/``reducer`` (argv lists)."""

    name: str
    gridmix_name: str
    dataset: str
    script: str | None = None
    mapper: tuple = ()
    reducer: tuple = ()

    def script_path(self) -> str:
        """Absolute path of the MRJob script. Raises ConfigError when ``jobs/`` is absent."""
        path = os.path.join(JOBS_DIR, self.script)
        if not os.path.isfile(path):
            raise ConfigError(f"GridMix job {self.name}: {path} is missing; run dirft "
                              "gridmix from a source checkout (jobs/ is not installed)")
        return path

    def run(self, inputs: list, output: str, defines: list, runner_class,
            storage=None) -> dict:
        """Run the job over ``inputs`` into the new directory ``output`` with jobconf
        ``defines`` (``key=value``); return the run summary. ``storage`` holds the paths
        (default local files; HDFS for the Hadoop runner). Raises DirftError subclasses
        (JobAborted beyond tolerance), leaving no output behind."""
        if self.script:
            return run_mrjob(self.script_path(), list(inputs), output, runner_class,
                             RunOptions(defines=tuple(defines)), storage=storage)["summary"]
        job = StreamingJob(inputs=list(inputs), output=output, mapper=list(self.mapper),
                           reducer=list(self.reducer), conf=JobConf.load([], defines))
        return summarize([runner_class(job).run()])


#: The six jobs by name.
GRIDMIX_JOBS = {j.name: j for j in (
    GridmixJob("streamsort", "streamSort", "text", mapper=("cat",), reducer=("cat",)),
    GridmixJob("javasort", "javaSort", "kv", script="javasort.py"),
    GridmixJob("combiner", "combiner", "text", script="combiner.py"),
    GridmixJob("webdatascan", "webdataScan", "kv", script="webdatascan.py"),
    GridmixJob("webdatasort", "webdataSort", "kv", script="webdatasort.py"),
    GridmixJob("monsterquery", "monsterQuery", "fixkv", script="monsterquery.py"),
)}
