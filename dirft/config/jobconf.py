"""The validated job configuration (:class:`JobConf`) and the checks across keys.

See :mod:`dirft.config` for how layers stack. The fault rule (R = f_c + 2 f_s + 1 and the
nature -> (f_c, f_s) mapping) is :class:`dirft.core.scheme.Tolerance`; this module only asks it.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from dirft.config.layers import Layer, load_layers, merge_layers, suggest_key
from dirft.config.values import format_number, parse_all
from dirft.core.scheme import Tolerance
from dirft.errors import ConfigError
from dirft.options import DEPRECATED, OPTIONS

# ---------------------------------------------------------------- cross-key checks

def fault_counts(tolerance: int, nature: str) -> Tuple[int, int]:
    """Return ``(f_c, f_s)`` for ``f = tolerance`` and fault nature ``"1"``/``"2"``/``"3"``.

    The rule is :meth:`dirft.core.scheme.Tolerance.from_paper_keys` (nature 1 counts crashes
    only, 2 silent errors only, 3 both; DIRFT paper; docs/design.md, "Tolerance and
    replicas"). Raises ConfigError for a negative ``tolerance`` or another nature.
    """
    rule = Tolerance.from_paper_keys(int(tolerance), int(nature))
    return rule.crash, rule.silent


def replicas_needed(crash_faults: int, silent_faults: int) -> int:
    """Return R = f_c + 2 f_s + 1 (:attr:`dirft.core.scheme.Tolerance.replicas`, paper)."""
    return Tolerance(crash_faults, silent_faults).replicas


def check_combinations(typed: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Refuse impossible combinations of typed values (from :func:`parse_all`).

    Checks: heartbeat timeout > interval, stall timeout 0 or > interval; R <=
    ``dirft.nodes`` for schemes dirft and frft
    (R distinct nodes, docs/design.md, "Tolerance and replicas"); split minsize <=
    ``dirft.split.maxsize`` when set. Raises ConfigError naming the keys, their values and
    sources.
    """
    _check_heartbeat(typed, sources)
    _check_replicas_fit(typed, sources)
    _check_split_sizes(typed, sources)


def _where(key: str, typed: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    """Return ``"key=value (from source)"`` for a cross-key error message."""
    return f"{key}={format_number(typed[key])} (from {sources[key]})"


def _check_heartbeat(typed: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Raise ConfigError unless the heartbeat timeout and a stall limit that is on (not 0)
    exceed the heartbeat interval."""
    timeout, interval = "dirft.heartbeat.timeout", "dirft.heartbeat.interval"
    if typed[timeout] <= typed[interval]:
        raise ConfigError(f"{_where(timeout, typed, sources)} must exceed "
                          f"{_where(interval, typed, sources)}, or every live replica "
                          "would be declared dead")
    stall = "dirft.stall.timeout"
    if 0 < typed[stall] <= typed[interval]:
        raise ConfigError(f"{_where(stall, typed, sources)} must exceed "
                          f"{_where(interval, typed, sources)} (or be 0, off), or every "
                          "working replica's sub-split would be duplicated")


def _check_replicas_fit(typed: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Raise ConfigError if dirft/frft needs more replicas per task than there are nodes."""
    f, nature = "mapred.map.tasks.fault.tolerance", "mapred.map.tasks.fault.nature"
    needed = replicas_needed(*fault_counts(typed[f], typed[nature]))
    if typed["dirft.scheme"] in ("dirft", "frft") and needed > typed["dirft.nodes"]:
        raise ConfigError(f"{_where('dirft.nodes', typed, sources)} is fewer than the "
                          f"{needed} replicas (R = f_c + 2 f_s + 1) that "
                          f"{_where(f, typed, sources)} with {nature}={typed[nature]} needs "
                          f"under dirft.scheme={typed['dirft.scheme']}; raise dirft.nodes "
                          f"or lower {f}")


def _check_split_sizes(typed: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Raise ConfigError if the split minsize exceeds ``dirft.split.maxsize`` when that is
    set (Hadoop Streaming ignores ``split.maxsize``, so that pair is never checked)."""
    low, high = "mapreduce.input.fileinputformat.split.minsize", "dirft.split.maxsize"
    if typed[high] and typed[low] > typed[high]:
        raise ConfigError(f"{_where(low, typed, sources)} exceeds "
                          f"{_where(high, typed, sources)}")


# ---------------------------------------------------------------- the job configuration

class JobConf:
    """An immutable, validated job configuration.

    Build it with :meth:`load` (files and ``-D`` defines) or :meth:`from_layers` (dicts);
    the constructor is internal. Every value was typed and every combination checked when
    it was built, so reading never fails for a known key.
    """

    __slots__ = ("_layers", "_values", "_sources", "_typed")

    def __init__(self, layers: Tuple[Layer, ...], values: Dict[str, str],
                 sources: Dict[str, str], typed: Dict[str, Any]) -> None:
        object.__setattr__(self, "_layers", layers)
        for name, mapping in (("_values", values), ("_sources", sources), ("_typed", typed)):
            object.__setattr__(self, name, MappingProxyType(mapping))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("JobConf is immutable; use with_overrides()")

    @classmethod
    def _build(cls, layers: Iterable[Layer]) -> "JobConf":
        """Merge, type and cross-check ``layers``; raise ConfigError on the first problem."""
        layers = tuple((source, dict(pairs)) for source, pairs in layers)
        values, sources = merge_layers(layers)
        typed = parse_all(values, sources)
        check_combinations(typed, sources)
        return cls(layers, values, sources, typed)

    @classmethod
    def load(cls, conf_files: Sequence[str] = (), defines: Sequence[str] = ()) -> "JobConf":
        """Return the configuration of defaults < ``conf_files`` (in order) < ``defines``.

        ``defines`` are ``key=value`` strings from ``-D``. Raises ConfigError for a bad
        file, define, key, value or combination.
        """
        return cls._build(load_layers(conf_files, defines))

    @classmethod
    def from_layers(cls, *layers: Mapping[str, Any], sources: Sequence[str] = ()) -> "JobConf":
        """Return the configuration of defaults < ``layers`` (dicts, lowest first).

        ``sources`` labels the layers in error messages and :meth:`source`; by default
        ``"layer 1"``, ``"layer 2"``, ... Raises ConfigError as :meth:`load` does.
        """
        labels = list(sources) + [f"layer {n}" for n in range(len(sources) + 1, len(layers) + 1)]
        return cls._build(zip(labels, layers))

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "override") -> "JobConf":
        """Return a new JobConf with ``overrides`` on top, labelled ``source``.

        The result is validated again as a whole. Raises ConfigError; ``self`` is unchanged.
        """
        return JobConf._build(self._layers + ((source, dict(overrides)),))

    def under(self, pairs: Mapping[str, Any], source: str) -> "JobConf":
        """Return a new JobConf with ``pairs`` as a layer labelled ``source`` just above the
        defaults, under every layer of ``self`` (the Hadoop client's configuration,
        :mod:`dirft.config.hadoop_client`). Raises ConfigError; ``self`` is unchanged."""
        return JobConf._build(((source, dict(pairs)),) + self._layers)

    def _known(self, key: str) -> str:
        """Return the current name of the known key ``key``; ConfigError if not in OPTIONS."""
        key = DEPRECATED.get(key, key)
        if key not in OPTIONS:
            raise ConfigError(f"{key}: not a dirft option; {suggest_key(key)}read keys outside "
                              "the table with JobConf.raw()")
        return key

    def get(self, key: str) -> Any:
        """Return the typed value of the known ``key``: int, float, bool, str (choice keys
        too), or int bytes; None for an unset key without default. Raises ConfigError for a
        key outside :data:`OPTIONS`."""
        return self._typed.get(self._known(key))

    def raw(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """Return the effective string of any ``key`` as given (``"128m"``), else ``default``."""
        return self._values.get(DEPRECATED.get(key, key), default)

    def source(self, key: str) -> str:
        """Return where ``key``'s value came from: ``"default"``, a file path, ``"-D"`` or a
        layer label. Raises ConfigError for a key that is not set at all."""
        key = DEPRECATED.get(key, key)
        if key not in self._sources:
            raise ConfigError(f"{key}: not set in this job configuration; {suggest_key(key)}"
                              "keys come from OPTIONS, the files and -D")
        return self._sources[key]

    def items(self) -> Dict[str, str]:
        """Return a new dict of every key with its effective string: known keys (defaults
        included) and unknown non-dirft keys. This becomes the task environment."""
        return dict(self._values)

    @property
    def fault_tolerance(self) -> int:
        """f, faults tolerated per map task (``mapred.map.tasks.fault.tolerance``)."""
        return self._typed["mapred.map.tasks.fault.tolerance"]

    @property
    def fault_nature(self) -> int:
        """1 crash, 2 silent, 3 both (``mapred.map.tasks.fault.nature``), as an int."""
        return int(self._typed["mapred.map.tasks.fault.nature"])

    @property
    def crash_faults(self) -> int:
        """f_c: crash faults tolerated per map task (f for nature 1 or 3, else 0)."""
        return fault_counts(self.fault_tolerance, str(self.fault_nature))[0]

    @property
    def silent_faults(self) -> int:
        """f_s: silent errors tolerated per map task (f for nature 2 or 3, else 0)."""
        return fault_counts(self.fault_tolerance, str(self.fault_nature))[1]

    @property
    def replicas(self) -> int:
        """R = f_c + 2 f_s + 1, the replicas per map task of dirft and frft (paper)."""
        return replicas_needed(self.crash_faults, self.silent_faults)

    @property
    def scheme(self) -> str:
        """The fault-tolerance scheme: ``dirft``, ``frft``, ``bft`` or ``none``."""
        return self._typed["dirft.scheme"]

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._values.items() if self._sources[k] != "default"}
        return f"JobConf({changed!r})"
