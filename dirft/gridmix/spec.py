"""Experiment specs for ``dirft gridmix run``: a YAML grid, checked line by line before
anything runs.

A spec is a YAML mapping (see ``gridmix_runs/README.md``)::

    description: streamSort makespan against the share of tasks hit by crashes
    runner: local                # local (real runs here), sim (dirft.runners.sim) or hadoop
    jobs: [streamsort]           # streamsort javasort combiner webdatascan webdatasort monsterquery
    schemes: [se, frft, dirft]   # none se bft frft dirft
    natures: [crash]             # crash silent both (mapred.map.tasks.fault.nature 1 2 3)
    f: 1                         # mapred.map.tasks.fault.tolerance
    fault_percent: [0, 25, 50, 75, 100]
    splits: [4, 8]               # input splits (one generated part file each)
    split_size: 1MiB             # bytes per split: 1048576, 1MiB, 1m
    repetitions: 1
    seed: 1                      # data seed; run r uses fault and placement seed seed + r
    cluster: {nodes: 6, slots: 4}  # dirft.nodes, dirft.slots.per.node
    jobconf: {dirft.fault.crash.mode: exception}
    cost_model: cost-models/paper-cluster.yaml   # runner sim only; relative to the spec

Lists may be given as one scalar (``splits: 8``). :func:`load_spec` composes the document
with PyYAML and checks every key and value against its node, so a typo is refused as
``SPEC line N: …`` naming the offending line, and the whole grid (each scheme × nature on
the cluster) is checked with the same rules the runs use before the first one starts.
"""

import difflib
import itertools
import os
from dataclasses import dataclass, field

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from dirft.config import JobConf
from dirft.core.scheme import SCHEMES as CORE_SCHEMES
from dirft.errors import ConfigError
from dirft.gridmix import sim_cells
from dirft.gridmix.cell import NATURES, PLAIN, Cell
from dirft.gridmix.jobs import GRIDMIX_JOBS
from dirft.units import parse_bytes

SCHEMES = (*CORE_SCHEMES, PLAIN)  # dirft is adaptive DIRFT
RUNNERS = ("local", "sim", "hadoop")
#: jobconf keys the grid itself sets; a spec names them through its own keys instead.
GRID_KEYS = {
    "dirft.scheme": "schemes", "mapred.map.tasks.fault.nature": "natures",
    "mapred.map.tasks.fault.tolerance": "f", "mapred.map.tasks.fault.percent": "fault_percent",
    "mapred.map.tasks.fault.inject": "fault_percent", "dirft.nodes": "cluster.nodes",
    "dirft.slots.per.node": "cluster.slots", "dirft.fault.seed": "seed",
    "dirft.placement.seed": "seed", "dfs.blocksize": "split_size",
    "dirft.split.maxsize": "split_size",
    "mapreduce.input.fileinputformat.split.maxsize": "split_size",
}


@dataclass(frozen=True)
class Spec:
    """A checked experiment spec; sizes in bytes. ``nodes``/``slots`` None: the runner's
    default. ``jobconf``: extra ``key: value`` strings. ``cost_model``: a path (sim)."""

    name: str
    path: str
    runner: str
    jobs: tuple
    schemes: tuple
    natures: tuple
    f: int
    fault_percent: tuple
    splits: tuple
    split_size: int
    repetitions: int = 1
    seed: int = 1
    nodes: int | None = None
    slots: int | None = None
    jobconf: dict = field(default_factory=dict)
    cost_model: str | None = None
    description: str = ""

    def cells(self) -> list[Cell]:
        """Every run, grouped by job and split count (one data set each), repetitions
        outermost within a group so slow drifts of the machine hit every scheme alike."""
        return [Cell(job, splits, rep, nature, scheme, float(percent))
                for job, splits, rep, nature, scheme, percent in itertools.product(
                    self.jobs, self.splits, range(1, self.repetitions + 1), self.natures,
                    self.schemes, self.fault_percent)]


class _Node:
    """A YAML node with the spec's path, to name ``line N`` in errors."""

    _constructor = SafeConstructor()

    def __init__(self, node, source: str) -> None:
        self.node, self.source = node, source

    @property
    def line(self) -> int:
        """1-based line where the node starts."""
        return self.node.start_mark.line + 1

    def error(self, message: str) -> ConfigError:
        """A :class:`ConfigError` ``SOURCE line N: message``."""
        return ConfigError(f"{self.source} line {self.line}: {message}")

    def value(self):
        """The node as Python data (safe types only). Raises ConfigError on a bad tag."""
        try:
            return self._constructor.construct_object(self.node, deep=True)
        except ConstructorError as err:
            raise self.error(f"cannot read this value ({err.problem})") from None

    def items(self) -> list:
        """``[_Node]`` of a sequence (a scalar counts as a list of itself)."""
        if isinstance(self.node, yaml.SequenceNode):
            return [_Node(n, self.source) for n in self.node.value]
        if isinstance(self.node, yaml.ScalarNode):
            return [self]
        raise self.error("expected a list or a single value")

    def mapping(self, what: str) -> dict:
        """``{key: (key _Node, value _Node)}`` of a mapping; duplicate keys are errors."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error(f"{what} must be a mapping of key: value")
        out = {}
        for key_node, value_node in self.node.value:
            key = _Node(key_node, self.source)
            name = key.value()
            if not isinstance(name, str) or name in out:
                raise key.error(f"key {name!r} is {'repeated' if name in out else 'not text'}")
            out[name] = (key, _Node(value_node, self.source))
        return out


def _suggest(word, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _choices(node: _Node, allowed, what: str) -> tuple:
    values = []
    for item in node.items():
        value = item.value()
        if value not in allowed or isinstance(value, bool):
            raise item.error(f"unknown {what} {value!r}{_suggest(value, allowed)} "
                             f"({what}s: {', '.join(map(str, allowed))})")
        values.append(value)
    return _nonempty(node, tuple(values), what)


def _one_choice(node: _Node, allowed, what: str):
    if not isinstance(node.node, yaml.ScalarNode):
        raise node.error(f"{what} must be one value ({', '.join(allowed)})")
    return _choices(node, allowed, what)[0]


def _nonempty(node: _Node, values: tuple, what: str) -> tuple:
    if not values:
        raise node.error(f"the list of {what}s is empty")
    if len(set(values)) != len(values):
        raise node.error(f"a {what} is listed twice")
    return values


def _number(item: _Node, what: str, low, high=None, integer=True):
    value = item.value()
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise item.error(f"{what} {value!r} is not {'an integer' if integer else 'a number'}")
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise item.error(f"{what} {value!r} is out of range: it must be {bound}")
    return value


def _numbers(node: _Node, what: str, low, high=None, integer=True) -> tuple:
    values = tuple(_number(i, what, low, high, integer) for i in node.items())
    return _nonempty(node, values, what)


def _split_size(node: _Node) -> int:
    value = node.value()
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise node.error(f"split_size {value!r} is not a byte size such as 1MiB")
    try:
        size = parse_bytes(str(value), "split_size")
    except ConfigError as err:
        raise node.error(str(err)) from None
    if size < 1024:
        raise node.error(f"split_size {value!r} is out of range: use at least 1KiB")
    return size


def _text(node: _Node, what: str) -> str:
    value = node.value()
    if not isinstance(value, str):
        raise node.error(f"{what} {value!r} is not text")
    return value


def _cluster(node: _Node) -> dict:
    out = {}
    for key, (key_node, value) in node.mapping("cluster").items():
        if key not in ("nodes", "slots"):
            raise key_node.error(f"unknown cluster key {key!r}{_suggest(key, ('nodes', 'slots'))}"
                                 " (keys: nodes, slots)")
        out[key] = _number(value, f"cluster {key}", 1)
    return out


def _jobconf(node: _Node) -> dict:
    out = {}
    for key, (key_node, value_node) in node.mapping("jobconf").items():
        if key in GRID_KEYS:
            raise key_node.error(f"jobconf {key} is set by the grid; use the spec's "
                                 f"{GRID_KEYS[key]} instead")
        value = value_node.value()
        if isinstance(value, (dict, list)) or value is None:
            raise value_node.error(f"jobconf {key}: {value!r} is not a single value")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            JobConf.from_layers({key: text}, sources=["the spec's jobconf"])
        except ConfigError as err:
            raise key_node.error(str(err)) from None
        out[key] = text
    return out


#: key -> (required?, reader(node) -> value for Spec's field of the same name).
FIELDS = {
    "description": (False, lambda n: _text(n, "description")),
    "runner": (False, lambda n: _one_choice(n, RUNNERS, "runner")),
    "jobs": (True, lambda n: _choices(n, tuple(GRIDMIX_JOBS), "job")),
    "schemes": (True, lambda n: _choices(n, SCHEMES, "scheme")),
    "natures": (False, lambda n: tuple(NATURES[x] for x in _choices(n, tuple(NATURES), "nature"))),
    "f": (False, lambda n: _number(n, "f", 0, 3)),
    "fault_percent": (False, lambda n: _numbers(n, "fault_percent", 0, 100, integer=False)),
    "splits": (True, lambda n: _numbers(n, "splits", 1, 100000)),
    "split_size": (True, _split_size),
    "repetitions": (False, lambda n: _number(n, "repetitions", 1, 100)),
    "seed": (False, lambda n: _number(n, "seed", 0)),
    "cluster": (False, _cluster),
    "jobconf": (False, _jobconf),
    "cost_model": (False, lambda n: _text(n, "cost_model")),
}


def load_spec(path: str) -> Spec:
    """Read and check the experiment spec at ``path``; return a :class:`Spec`.

    Raises :class:`ConfigError` ``PATH line N: …`` for YAML errors, unknown or repeated
    keys, unknown jobs, schemes, natures or runners, numbers of the wrong type or out of
    range (a percentage outside 0–100), bad jobconf keys, and grid cells the cluster cannot
    run (e.g. R replicas on fewer nodes); ``PATH: …`` for a missing key or file.
    """
    root = _Node(_compose(path), path)
    fields = root.mapping("the spec")
    for key, (key_node, _) in fields.items():
        if key not in FIELDS:
            raise key_node.error(f"unknown key {key!r}{_suggest(key, FIELDS)} "
                                 f"(keys: {', '.join(FIELDS)})")
    missing = [k for k, (required, _) in FIELDS.items() if required and k not in fields]
    if missing:
        raise ConfigError(f"{path}: key {missing[0]!r} is missing")
    values = {k: FIELDS[k][1](value) for k, (_, value) in fields.items()}
    spec = _build(path, values)
    check_grid(spec, fields)
    return spec


def _compose(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            node = yaml.compose(f, Loader=yaml.SafeLoader)
    except OSError as err:
        raise ConfigError(f"experiment spec {path}: cannot read it ({err.strerror})") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise ConfigError(f"{path} line {mark.line + 1}: not valid YAML ({err.problem})") \
            from None
    if node is None:
        raise ConfigError(f"{path}: the spec is empty; see gridmix_runs/README.md")
    return node


def _build(path: str, values: dict) -> Spec:
    cluster = values.pop("cluster", {})
    values.setdefault("natures", (1,))
    values.setdefault("fault_percent", (0,))
    values.setdefault("f", 1)
    if values.get("cost_model"):
        values["cost_model"] = os.path.join(os.path.dirname(os.path.abspath(path)),
                                            values["cost_model"])
    name = os.path.splitext(os.path.basename(path))[0]
    return Spec(name=name, path=path, runner=values.pop("runner", "local"),
                nodes=cluster.get("nodes"), slots=cluster.get("slots"), **values)


def check_grid(spec: Spec, fields: dict) -> None:
    """Refuse grid cells that could not run, naming the line of the scheme (or job, or
    cost model) at fault. Raises ConfigError."""
    schemes = dict(zip(spec.schemes, fields["schemes"][1].items()))
    if spec.runner == "sim":
        sim_cells.check(spec, fields, schemes)
        return
    if "cost_model" in fields:
        raise fields["cost_model"][0].error("cost_model is for runner: sim only")
    for scheme, nature in itertools.product(spec.schemes, spec.natures):
        try:
            JobConf.from_layers(spec.jobconf, grid_conf(spec, scheme, nature, 0.0, 1, 1 << 20),
                                sources=["the spec's jobconf", "the grid"])
        except ConfigError as err:
            raise schemes[scheme].error(f"scheme {scheme} with nature {nature}: {err}") from None


def grid_conf(spec: Spec, scheme: str, nature: int, percent: float, repetition: int,
              split_bytes: int) -> dict:
    """The jobconf keys the grid sets for one run (strings), ``split_bytes`` the largest
    part file: ``dirft.split.maxsize`` and block size, so each part file is one split."""
    conf = {"dirft.scheme": "dirft" if scheme == PLAIN else scheme,
            "mapred.map.tasks.fault.nature": str(nature),
            "mapred.map.tasks.fault.tolerance": str(spec.f),
            "mapred.map.tasks.fault.inject": "true" if percent > 0 else "false",
            "mapred.map.tasks.fault.percent": f"{percent:g}",
            "dirft.fault.seed": str(spec.seed + repetition),
            "dirft.placement.seed": str(spec.seed + repetition),
            "dirft.split.maxsize": str(split_bytes),
            "dfs.blocksize": str(split_bytes)}
    if scheme == PLAIN:
        conf["dirft.adaptive"] = "false"
    if spec.nodes:
        conf["dirft.nodes"] = str(spec.nodes)
    if spec.slots:
        conf["dirft.slots.per.node"] = str(spec.slots)
    return conf
