"""``dirft gridmix run``: run an experiment spec's grid and record one row per run.

For each job and number of splits the runner generates the job's data set once (one part
file per split, :func:`dirft.gridmix.generate.generate_splits`, seed ``spec.seed``) and runs
the job once fault-free under scheme ``none`` for the **reference output**. Every run of the
grid is then compared with it, part file by part file (SHA-256 of the bytes): ``verified``
is ``yes`` only when every part matches; a run that aborted or failed is ``no``, with the
one-line error in ``error``. Simulated runs (``runner: sim``) have no output: ``n/a``.
With ``runner: hadoop`` the data sets are generated here and put into HDFS (under
``dirft.hadoop.tmp.dir``), every run reads and writes HDFS, and the part files are hashed
as they are read back over WebHDFS; everything the grid wrote there is removed at the end.

Each run gets the jobconf of :func:`dirft.gridmix.spec.grid_conf` on top of the spec's
``jobconf``: its scheme, nature, f, fault percentage (injection on when > 0), fault and
placement seed ``seed + repetition``, the cluster, and dirft.split.maxsize = block size = the
largest part file, so each part is one map task.
"""

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from dirft.errors import DirftError, JobAborted
from dirft.gridmix import sim_cells
from dirft.gridmix.generate import generate_splits
from dirft.gridmix.jobs import GRIDMIX_JOBS
from dirft.gridmix.cell import NATURES, Cell
from dirft.gridmix.spec import Spec, grid_conf
from dirft.mrjob_steps import summarize
from dirft.units import CHUNK

#: The columns of ``results.csv``, in order (sizes in bytes, times in seconds).
COLUMNS = (
    "spec", "runner", "job", "dataset", "scheme", "nature", "f", "fault_percent", "splits",
    "split_size_bytes", "input_bytes", "repetition", "seed", "nodes", "slots", "outcome",
    "verified", "makespan_s", "map_s", "reduce_s", "steps", "tasks", "replicas_launched",
    "phases", "extra_work_bytes", "faults_injected_crash", "faults_injected_silent",
    "faults_detected_crash", "faults_detected_silent", "faults_corrected_crash",
    "faults_corrected_silent", "error")
_NATURE_NAMES = {v: k for k, v in NATURES.items()}


@dataclass
class _Data:
    """One generated data set: its directory, total and largest part in bytes."""

    path: str
    input_bytes: int
    largest: int


@dataclass
class Experiment:
    """Runs ``spec``'s grid in ``work`` (scratch: data, references, run outputs).

    ``progress(label)`` is called before each step (a reference or a run) with a short
    description; ``runner_class`` is the local runner class (injected for tests).
    """

    spec: Spec
    work: str
    runner_class: type
    progress: object = None
    storage: object = None      # None: local files; HDFS storage for runner hadoop
    hdfs_root: str = ""         # where runner hadoop puts data and outputs
    _data: dict = field(default_factory=dict)
    _references: dict = field(default_factory=dict)

    def steps(self) -> int:
        """How many progress steps :meth:`run` makes: runs, plus references when local."""
        refs = 0 if self.spec.runner == "sim" else len(self.spec.jobs) * len(self.spec.splits)
        return len(self.spec.cells()) + refs

    def run(self) -> list[dict]:
        """Run every cell; return the rows (dicts over :data:`COLUMNS`), in grid order."""
        model = sim_cells.cost_model(self.spec) if self.spec.runner == "sim" else None
        rows = []
        for cell in self.spec.cells():
            if model is not None:
                rows.append(self._sim_row(cell, model))
            else:
                rows.append(self._local_row(cell))
        return rows

    def _say(self, label: str) -> None:
        if self.progress:
            self.progress(label)

    def _sim_row(self, cell: Cell, model) -> dict:
        self._say(cell.label())
        report, aborted = sim_cells.run(self.spec, cell, model)
        input_bytes = cell.splits * self.spec.split_size
        row = base_row(self.spec, cell, input_bytes, report["cluster"])
        row.update(summary_columns(summarize([report])), verified="n/a")
        if aborted:
            row.update(outcome="aborted", error=aborted)
        return row

    def _local_row(self, cell: Cell) -> dict:
        data = self._dataset(cell)
        reference = self._reference(cell, data)
        self._say(cell.label())
        out = self._place("run")
        row = base_row(self.spec, cell, data.input_bytes, self._cluster())
        try:
            summary = GRIDMIX_JOBS[cell.job].run([data.path], out, self._defines(cell, data),
                                                 self.runner_class, self.storage)
            row.update(summary_columns(summary))
            row["verified"] = "yes" if part_digests(out, self.storage) == reference else "no"
        except JobAborted as err:
            row.update(outcome="aborted", verified="no", error=str(err))
        except DirftError as err:
            row.update(outcome="failed", verified="no", error=str(err))
        finally:
            self._remove(out)
        return row

    def _place(self, name: str) -> str:
        """Path of ``name`` in the grid's scratch: local, or in HDFS for runner hadoop."""
        return f"{self.hdfs_root}/{name}" if self.storage else os.path.join(self.work, name)

    def _remove(self, path: str) -> None:
        if self.storage:
            self.storage.delete(path, recursive=True)
        else:
            shutil.rmtree(path, ignore_errors=True)

    def _cluster(self) -> dict:
        from dirft.config import JobConf

        if self.storage is not None:  # a real cluster: YARN decides, nothing emulated
            return {"nodes": "", "slots_per_node": ""}
        conf = JobConf.from_layers(grid_conf(self.spec, "none", 1, 0, 0, 1))
        return {"nodes": conf.get("dirft.nodes"), "slots_per_node": conf.get("dirft.slots.per.node")}

    def _defines(self, cell: Cell, data: _Data) -> list[str]:
        conf = {**self.spec.jobconf, **grid_conf(self.spec, cell.scheme, cell.nature,
                                                 cell.fault_percent, cell.repetition,
                                                 data.largest)}
        if self.storage is not None:
            # HDFS refuses blocks under dfs.namenode.fs-limits.min-block-size (1 MiB), and
            # the planner takes each file's real block size there anyway
            conf.pop("dfs.blocksize")
        return [f"{k}={v}" for k, v in conf.items()]

    def _dataset(self, cell: Cell) -> _Data:
        dataset = GRIDMIX_JOBS[cell.job].dataset
        key = (dataset, cell.splits)
        if key not in self._data:
            path = os.path.join(self.work, f"data-{dataset}-{cell.splits}")
            sizes = generate_splits(path, cell.splits, self.spec.split_size, self.spec.seed,
                                    dataset)
            if self.storage:
                path = self._upload(path)
            self._data[key] = _Data(path, sum(sizes), max(sizes))
        return self._data[key]

    def _upload(self, local_dir: str) -> str:
        """Put the part files of ``local_dir`` into HDFS; return the HDFS directory."""
        remote = self._place(os.path.basename(local_dir))
        self.storage.makedirs(remote)
        for name in sorted(os.listdir(local_dir)):
            with open(os.path.join(local_dir, name), "rb") as f, \
                    self.storage.commit(f"{remote}/{name}") as out:
                shutil.copyfileobj(f, out)
        return remote

    def _reference(self, cell: Cell, data: _Data) -> dict:
        key = (cell.job, cell.splits)
        if key not in self._references:
            self._say(f"reference {cell.job} {cell.splits} splits (scheme none, no fault)")
            out = self._place(f"reference-{cell.job}-{cell.splits}")
            ref = Cell(cell.job, cell.splits, 0, 1, "none", 0.0)
            try:
                GRIDMIX_JOBS[cell.job].run([data.path], out, self._defines(ref, data),
                                           self.runner_class, self.storage)
            except DirftError as err:
                err.args = (f"the fault-free reference run of {cell.job} on {cell.splits} "
                            f"splits failed, so nothing can be verified: {err}",)
                raise
            self._references[key] = part_digests(out, self.storage)
            self._remove(out)
        return self._references[key]


def part_digests(directory: str, storage=None) -> dict:
    """``{part file name: SHA-256 hex}`` of the ``part-*`` files of an output directory
    (on ``storage``, e.g. HDFS, when given)."""
    if storage is not None:
        return {name: hashlib.sha256(storage.read_bytes(f"{directory}/{name}")).hexdigest()
                for name, _, is_dir in sorted(storage.list_dir(directory))
                if name.startswith("part-") and not is_dir}
    out = {}
    for name in sorted(os.listdir(directory)):
        if name.startswith("part-"):
            digest = hashlib.sha256()
            with open(os.path.join(directory, name), "rb") as f:
                for chunk in iter(lambda: f.read(CHUNK), b""):
                    digest.update(chunk)
            out[name] = digest.hexdigest()
    return out


def base_row(spec: Spec, cell: Cell, input_bytes: int, cluster: dict) -> dict:
    """A row with the run's parameters filled in and every measurement empty."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(spec=spec.name, runner=spec.runner, job=cell.job,
               dataset=GRIDMIX_JOBS[cell.job].dataset, scheme=cell.scheme,
               nature=_NATURE_NAMES[cell.nature], f=spec.f,
               fault_percent=f"{cell.fault_percent:g}", splits=cell.splits,
               split_size_bytes=spec.split_size, input_bytes=input_bytes,
               repetition=cell.repetition, seed=spec.seed, nodes=cluster["nodes"],
               slots=cluster["slots_per_node"], outcome="succeeded")
    return row


def summary_columns(summary: dict) -> dict:
    """The measured columns of a run from its :func:`~dirft.mrjob_steps.summarize` dict:
    seconds, counts, ``phases`` as ``PHASES:TASKS`` pairs (``1:6 2:2``), fault counts."""
    faults = summary["faults"]
    cols = {"makespan_s": summary["makespan_seconds"], "map_s": summary["map_seconds"],
            "reduce_s": summary["reduce_seconds"], "steps": summary["steps"],
            "tasks": summary["tasks"], "replicas_launched": summary["replicas_launched"],
            "extra_work_bytes": summary["extra_work_bytes"],
            "phases": " ".join(f"{p}:{n}" for p, n in summary["phases_per_task"].items())}
    for what in ("injected", "detected", "corrected"):
        for kind in ("crash", "silent"):
            cols[f"faults_{what}_{kind}"] = faults[what][kind]
    return cols


def make_work_dir(base: str | None) -> str:
    """A new scratch directory inside ``base`` (created if needed), else in the system's
    temp; the caller removes it."""
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="dirft-gridmix-", dir=base or None)
