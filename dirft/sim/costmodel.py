"""The simulator's task cost model: how long starting a replica and running a phase take.

A replica of a map task costs, in virtual seconds (docs/design.md, 'Runners'):

* ``startup_s`` once, from the moment it gets a map slot until it registers with the voting
  service and asks for work (JVM / interpreter start, localisation, registration);
* per phase, ``phase_overhead_s + MiB × seconds_per_mib × slowdown``, plus
  ``network_penalty_s_per_mib × MiB`` when its node holds no copy of the split's HDFS
  block (the bytes come over the network); ``slowdown`` is the node's straggler factor;
* ``poll_interval_s`` between two requests of a replica told to wait for work (the real
  runtime's ``dirft.poll.interval``).

The reduce stage costs ``reduce_seconds_per_mib × MiB of map output`` after the last map task
is decided (shuffle, sort and reduce as one rate; for streamSort the map output is about the
size of the input).

A cost model is a YAML mapping of these six numbers (plus optional ``notes``), written by
``dirft calibrate`` for this machine or by hand for a real cluster; the defaults are the
paper cluster's (``gridmix_runs/cost-models/paper-cluster.yaml``, which says how they were
chosen; a test keeps the two equal).
"""

import os
from dataclasses import asdict, dataclass, fields

import yaml

from dirft.errors import ConfigError

MIB = 1 << 20


@dataclass(frozen=True)
class CostModel:
    """Seconds a simulated replica spends, by cause; see the module doc. All values >= 0."""

    startup_s: float = 2.0
    seconds_per_mib: float = 0.84
    phase_overhead_s: float = 1.0
    network_penalty_s_per_mib: float = 0.05
    reduce_seconds_per_mib: float = 0.0012
    poll_interval_s: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"cost model {f.name}: {value!r} is not a number >= 0")

    def phase_seconds(self, nbytes: int, local: bool = True, slowdown: float = 1.0) -> float:
        """Virtual seconds one phase over ``nbytes`` of input takes on a node.

        ``local``: the node holds a copy of the split's block (no network penalty);
        ``slowdown``: the node's straggler factor (1 = normal speed), scaling the per-MiB
        compute time only.
        """
        mib = nbytes / MIB
        penalty = 0.0 if local else self.network_penalty_s_per_mib * mib
        return self.phase_overhead_s + mib * self.seconds_per_mib * slowdown + penalty

    def break_even(self, split_bytes: int, replicas: int, quorum: int) -> float:
        """Share of map tasks hit by one fault above which DIRFT costs more map-slot seconds
        than full replication (FRFT) for splits of ``split_bytes``, R = ``replicas``,
        f_s + 1 = ``quorum``; > 1 means never (adaptive DIRFT's eager switch).

        Per task, fault-free DIRFT holds R slots for ``startup + quorum`` phases of a
        sub-split, FRFT holds R slots for ``startup +`` one phase of the whole split; a
        fault costs DIRFT one more sub-split phase and a poll. Slot seconds, not response
        time: with more tasks than slots the makespan follows them.
        """
        sub = self.phase_seconds(split_bytes // replicas)
        dirft = replicas * (self.startup_s + quorum * sub)
        frft = replicas * (self.startup_s + self.phase_seconds(split_bytes))
        return (frft - dirft) / (sub + self.poll_interval_s)

    def reduce_seconds(self, output_bytes: int) -> float:
        """Virtual seconds of the reduce stage over ``output_bytes`` of map output."""
        return self.reduce_seconds_per_mib * output_bytes / MIB

    def to_dict(self) -> dict:
        """The six numbers by field name (seconds, seconds per MiB)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data, source: str = "cost model") -> "CostModel":
        """Build from a mapping of the six fields (``notes`` and ``name`` are ignored).

        Raises :class:`ConfigError` naming ``source`` and the key for an unknown or missing
        key or a value that is not a number >= 0.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a YAML mapping of cost-model fields")
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names) - {"notes", "name"})
        if unknown:
            raise ConfigError(f"{source}: unknown key {unknown[0]!r}; keys are {', '.join(names)}")
        missing = [n for n in names if n not in data]
        if missing:
            raise ConfigError(f"{source}: missing key {missing[0]!r} (seconds; see "
                              f"gridmix_runs/cost-models/paper-cluster.yaml)")
        try:
            return cls(**{n: data[n] for n in names})
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None


def load_cost_model(path: str) -> CostModel:
    """Read a cost model from the YAML file at ``path``.

    Raises :class:`ConfigError` naming the file when it cannot be read or parsed or holds
    a bad value.
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as err:
        raise ConfigError(f"cost model {path}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"cost model {path}: not valid YAML ({_first_line(err)})") from None
    return CostModel.from_dict(data, f"cost model {path}")


def save_cost_model(model: CostModel, path: str, notes: str = "") -> None:
    """Write ``model`` to ``path`` as YAML, ``notes`` (free text) as a leading comment block.

    Written to a temporary name first and renamed into place.
    """
    header = "".join(f"# {line}".rstrip() + "\n" for line in notes.splitlines())
    body = yaml.safe_dump(model.to_dict(), sort_keys=False, default_flow_style=False)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(header + body)
    os.replace(tmp, path)


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
