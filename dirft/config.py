"""Hadoop-style job configuration: one table of options, merged by small pure functions.

mrjob's lesson: every option lives in ONE table (:data:`OPTIONS`, in :mod:`dirft.options`)
with its kind, default, bounds and doc; nothing else in dirft invents a default. Layers stack as Hadoop stacks them
(``Configuration.addResource`` then ``GenericOptionsParser``): the defaults, then
configuration files in the order given (``mapred-site.xml`` format), then ``-D key=value``;
a later layer wins. Values stay strings until :func:`parse_value` types them; a bad value
is a one-line :class:`ConfigError` naming key, value, source (file path or ``-D``) and what
is allowed. Unknown keys under the prefixes dirft owns (``dirft.``, and the paper's
``mapred.map.tasks.fault.``) are errors with a did-you-mean; other unknown keys are kept as
strings, because Hadoop hands every jobconf key to the tasks. Deprecated Hadoop names
(``mapred.reduce.tasks``, ``dfs.block.size``, ...) are renamed as Hadoop's
``DeprecationDelta`` does, so ``-D mapred.reduce.tasks=0`` is not lost. Impossible
combinations are refused by :func:`check_combinations`.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from types import MappingProxyType
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from dirft.errors import ConfigError
from dirft.options import (  # noqa: F401 - the table, re-exported for callers
    DEFAULT_ONLY, DEPRECATED, KINDS, LONG_MAX, NOT_BUILT, OPTIONS, OWNED_PREFIXES, Option)
from dirft.units import parse_bytes

#: (source label, {key: value}) - one configuration layer, lowest first when merged.
Layer = Tuple[str, Mapping[str, str]]


_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOUNS = {"int": "an integer", "float": "a number", "bool": "a boolean",
          "bytes": "a byte size", "choice": "a known choice", "str": "text"}


# ---------------------------------------------------------------- reading the layers

def parse_define(text: str) -> Tuple[str, str]:
    """Split one ``-D key=value`` argument (``text`` without the ``-D``) at the first ``=``.

    Returns ``(key, value)``: the key stripped, the value as typed (Hadoop's
    ``GenericOptionsParser`` keeps it). Raises ConfigError if there is no ``=`` or the key
    is empty.
    """
    key, equals, value = str(text).partition("=")
    if not equals:
        raise ConfigError(f"-D {text!r}: expected key=value, e.g. -D dirft.nodes=8")
    if not key.strip():
        raise ConfigError(f"-D {text!r}: the key before '=' is empty; write -D key=value")
    return key.strip(), value


def read_site_xml(path: str) -> Dict[str, str]:
    """Read a Hadoop configuration file (``mapred-site.xml`` format) at ``path``.

    Returns ``{name: value}`` in file order (a later duplicate wins, as in Hadoop). Names and
    values are stripped of surrounding whitespace as Hadoop 3's ``Configuration.Parser``
    does, except that a value made only of whitespace keeps its tabs, so a tab separator
    can be written ``&#9;``. ``<final>`` and ``<description>`` are accepted and ignored.
    Parsed with defusedxml: entity declarations and external references are refused.
    Raises ConfigError (one line, naming the file) for a missing, unreadable or corrupt
    file, a root other than ``<configuration>``, or a ``<property>`` without name or value.
    """
    root = _parse_xml(os.fspath(path))
    if root.tag != "configuration":
        raise ConfigError(f"{path}: root element is <{root.tag}>, expected <configuration> "
                          "as in Hadoop's mapred-site.xml")
    return dict(_read_property(path, index, element) for index, element
                in enumerate(root, start=1))


def _parse_xml(path: str) -> Element:
    """Return the root element of the XML file ``path``; raise ConfigError on any failure."""
    try:
        return safe_xml.parse(path).getroot()
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read configuration file: {err.strerror}") from None
    except ParseError as err:
        line, column = err.position
        reason = str(err).split(":")[0]
        raise ConfigError(f"{path}: not well-formed XML at line {line}, column {column}: "
                          f"{reason}") from None
    except DefusedXmlException as err:
        raise ConfigError(f"{path}: refused by the hardened XML parser ({type(err).__name__}); "
                          "configuration files need no DTD, entities or external "
                          "references") from None


def _read_property(path: str, index: int, element: Element) -> Tuple[str, str]:
    """Return ``(name, value)`` of the ``index``-th child of ``<configuration>``.

    Accepts Hadoop's two spellings: child elements, or ``name``/``value`` attributes.
    Raises ConfigError for a child that is not ``<property>`` or lacks name or value.
    """
    if element.tag != "property":
        raise ConfigError(f"{path}: element #{index} of <configuration> is <{element.tag}>, "
                          "expected <property>")
    name = (_child_text(element, "name") or "").strip()
    if not name:
        raise ConfigError(f"{path}: <property> #{index} has no <name>")
    value = _child_text(element, "value")
    if value is None:
        raise ConfigError(f"{path}: <property> {name} has no <value>")
    return name, _strip_value(value)


def _child_text(element: Element, tag: str) -> Optional[str]:
    """Return the text of ``element``'s ``<tag>`` child, else its ``tag`` attribute, else None."""
    child = element.find(tag)
    return element.get(tag) if child is None else "".join(child.itertext())


def _strip_value(text: str) -> str:
    """Strip ``text`` as Hadoop does; whitespace-only text keeps its tabs (see read_site_xml)."""
    return text.strip() or text.strip(" \r\n")


def load_layers(conf_files: Sequence[str] = (), defines: Sequence[str] = ()) -> Tuple[Layer, ...]:
    """Return the layers of ``conf_files`` (each labelled by its path, in order) then of
    ``defines`` (``key=value`` strings, labelled ``-D``; a later define wins).

    Raises ConfigError from :func:`read_site_xml` or :func:`parse_define`.
    """
    files = tuple((os.fspath(path), read_site_xml(path)) for path in conf_files)
    pairs = dict(parse_define(text) for text in defines)
    return files + ((("-D", pairs),) if pairs else ())


# ---------------------------------------------------------------- merging

def canonical_key(key: str, source: str) -> str:
    """Return the current name of ``key`` (renaming a :data:`DEPRECATED` one).

    Raises ConfigError, with the closest known key, for an unknown key under one of the
    :data:`OWNED_PREFIXES`; other unknown keys pass through (Hadoop keeps every key).
    """
    key = DEPRECATED.get(key, key)
    if key not in OPTIONS and key.startswith(OWNED_PREFIXES):
        raise ConfigError(f"{key}: unknown key (from {source}); {_suggest(key)}every "
                          "dirft key is listed in mapred-site.example.xml")
    return key


def _suggest(key: str) -> str:
    """Return ``"did you mean K? "`` for the known key K closest to ``key``, or ``""``."""
    close = difflib.get_close_matches(key, list(OPTIONS), n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""


def merge_layers(layers: Iterable[Layer]) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Merge the :data:`OPTIONS` defaults with ``layers`` (lowest first; later wins).

    Returns ``(values, sources)``: every key's effective string, and where it came from
    (``"default"`` or the layer's label). Non-string values are turned into strings.
    Raises ConfigError for an unknown owned key (see :func:`canonical_key`).
    """
    values = {key: o.default for key, o in OPTIONS.items() if o.default is not None}
    sources = dict.fromkeys(values, "default")
    for source, pairs in layers:
        for key, value in pairs.items():
            key = canonical_key(str(key), source)
            values[key], sources[key] = str(value), source
    return values, sources


# ---------------------------------------------------------------- typing one value

def describe_allowed(option: Option) -> str:
    """Return what ``option`` accepts, e.g. ``"a whole number >= 1"`` (for error messages)."""
    if option.kind == "choice":
        return "one of " + ", ".join(option.choices)
    if option.kind in ("bool", "str"):
        return "true or false" if option.kind == "bool" else "any text"
    noun = {"int": "a whole number", "float": "a number", "bytes": "a byte size"}[option.kind]
    example = " such as 134217728, 128m or 64MiB" if option.kind == "bytes" else ""
    return noun + _bounds(option) + example


def _bounds(option: Option) -> str:
    """Return the bounds of ``option`` as text: ``" >= 1"``, ``" from 0 to 100"``, ``""``."""
    low, high = option.minimum, option.maximum
    if low is not None and high is not None:
        return f" from {_number(low)} to {_number(high)}"
    if low is not None:
        return f" {'>' if option.exclusive_minimum else '>='} {_number(low)}"
    return f" <= {_number(high)}" if high is not None else ""


def _number(value: float) -> str:
    """Return ``value`` without a useless ``.0``."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _show(text: str) -> str:
    """Return ``repr(text)`` cut to 60 characters, so an error message stays one short line."""
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:56] + "...'"


def _to_int(text: str) -> int:
    """Parse a decimal or ``0x`` hex integer as Hadoop's ``getInt``; ValueError otherwise."""
    text = text.strip()
    if not _INT.fullmatch(text):
        raise ValueError(text)
    return int(text, 16 if "x" in text.lower() else 10)


def _to_float(text: str) -> float:
    """Parse a finite decimal number (``1``, ``0.05``, ``1e3``); ValueError otherwise."""
    text = text.strip()
    if not _FLOAT.fullmatch(text) or not math.isfinite(float(text)):
        raise ValueError(text)
    return float(text)


def _to_bool(text: str) -> bool:
    """Parse ``true``/``false`` in any case, as Hadoop's ``getBoolean``; ValueError otherwise."""
    word = text.strip().lower()
    if word not in ("true", "false"):
        raise ValueError(text)
    return word == "true"


def _to_bytes(text: str) -> int:
    """Parse a byte size (``134217728``, ``128m``), exactly for integers; ValueError otherwise."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return int(text)  # parse_bytes goes through float and would round 2**63 - 1
    try:
        return parse_bytes(text)
    except ConfigError:
        raise ValueError(text) from None


_PARSERS = {"int": _to_int, "float": _to_float, "bool": _to_bool, "bytes": _to_bytes,
            "choice": str.strip, "str": str}


def parse_value(option: Option, text: str, source: str) -> Any:
    """Return ``text`` typed by ``option.kind``: int, float, bool, int bytes, or str.

    ``source`` (a file path, ``-D`` or ``default``) goes into error messages. Raises
    ConfigError naming key, value, source and what is allowed when the text does not
    parse, is out of bounds or not a choice, is refused (:data:`NOT_BUILT`), or is not
    the default of a :data:`DEFAULT_ONLY` key.
    """
    head = f"{option.key}: {_show(text)} (from {source})"
    try:
        value = _PARSERS[option.kind](text)
    except ValueError:
        raise ConfigError(f"{head} is not {_NOUNS[option.kind]}; "
                          f"expected {describe_allowed(option)}") from None
    _check_allowed(option, value, head, source)
    return value


def _check_allowed(option: Option, value: Any, head: str, source: str) -> None:
    """Raise ConfigError (message starting ``head``) if ``value`` is not allowed by ``option``."""
    reason = NOT_BUILT.get((option.key, value)) if option.kind == "choice" else None
    if reason:
        raise ConfigError(f"{option.key}={value}: {reason} (from {source})")
    if option.kind == "choice" and value not in option.choices:
        raise ConfigError(f"{head} is not a known choice; expected {describe_allowed(option)}")
    if option.kind in ("int", "float", "bytes") and not _in_bounds(option, value):
        raise ConfigError(f"{head} is out of range; expected {describe_allowed(option)}")
    if option.key in DEFAULT_ONLY and value != _PARSERS[option.kind](option.default or ""):
        raise ConfigError(f"{head} is not supported yet: only the default "
                          f"{option.default!r} is, as {DEFAULT_ONLY[option.key]}")


def _in_bounds(option: Option, value: float) -> bool:
    """Return True if the number ``value`` lies within ``option``'s bounds."""
    low, high = option.minimum, option.maximum
    above = low is None or value > low or (value == low and not option.exclusive_minimum)
    return above and (high is None or value <= high)


def parse_all(values: Mapping[str, str], sources: Mapping[str, str]) -> Dict[str, Any]:
    """Return ``{key: typed value}`` for every :data:`OPTIONS` key present in ``values``.

    Raises ConfigError for the first bad value, in table order (see :func:`parse_value`).
    """
    return {key: parse_value(option, values[key], sources[key])
            for key, option in OPTIONS.items() if key in values}


# ---------------------------------------------------------------- cross-key checks

def fault_counts(tolerance: int, nature: str) -> Tuple[int, int]:
    """Return ``(f_c, f_s)`` for ``f = tolerance`` and fault nature ``"1"``/``"2"``/``"3"``.

    Nature 1 counts crashes only, 2 silent errors only, 3 both (DIRFT paper, §2 of DESIGN).
    """
    crash = tolerance if str(nature) in ("1", "3") else 0
    silent = tolerance if str(nature) in ("2", "3") else 0
    return crash, silent


def replicas_needed(crash_faults: int, silent_faults: int) -> int:
    """Return R = f_c + 2 f_s + 1, the replicas DIRFT and FRFT start per map task (paper)."""
    return crash_faults + 2 * silent_faults + 1


def check_combinations(typed: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Refuse impossible combinations of typed values (from :func:`parse_all`).

    Checks: heartbeat timeout > interval; R <= ``dirft.nodes`` for schemes dirft and frft
    (R distinct nodes, DESIGN §1); split minsize <= maxsize. Raises ConfigError naming the
    keys, their values and sources.
    """
    _check_heartbeat(typed, sources)
    _check_replicas_fit(typed, sources)
    _check_split_sizes(typed, sources)


def _where(key: str, typed: Mapping[str, Any], sources: Mapping[str, str]) -> str:
    """Return ``"key=value (from source)"`` for a cross-key error message."""
    return f"{key}={_number(typed[key])} (from {sources[key]})"


def _check_heartbeat(typed: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Raise ConfigError unless the heartbeat timeout exceeds the heartbeat interval."""
    timeout, interval = "dirft.heartbeat.timeout", "dirft.heartbeat.interval"
    if typed[timeout] <= typed[interval]:
        raise ConfigError(f"{_where(timeout, typed, sources)} must exceed "
                          f"{_where(interval, typed, sources)}, or every live replica "
                          "would be declared dead")


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
    """Raise ConfigError if the split minsize exceeds the split maxsize."""
    low = "mapreduce.input.fileinputformat.split.minsize"
    high = "mapreduce.input.fileinputformat.split.maxsize"
    if typed[low] > typed[high]:
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

    def _known(self, key: str) -> str:
        """Return the current name of the known key ``key``; ConfigError if not in OPTIONS."""
        key = DEPRECATED.get(key, key)
        if key not in OPTIONS:
            raise ConfigError(f"{key}: not a dirft option; {_suggest(key)}read keys outside "
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
            raise ConfigError(f"{key}: not set in this job configuration; {_suggest(key)}"
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
