"""Which bytes of a map output line are the key, how keys are partitioned and ordered.

Hadoop Streaming splits each map output line into key and value at the
``stream.num.map.output.key.fields``-th ``stream.map.output.field.separator`` (a line with
fewer separators is all key); dirft's map-side normalizer has already made every line
``key\\tvalue`` in that sense, so the key is the line up to its N-th tab. Then:

* **partition** — ``mapreduce.job.partitioner.class``: Hadoop's ``HashPartitioner`` (the
  default, over ``Text.hashCode`` of the whole key) or ``KeyFieldBasedPartitioner`` with
  ``mapreduce.partition.keypartitioner.options`` (or the deprecated
  ``num.key.fields.for.partition``);
* **sort** — ``mapreduce.job.output.key.comparator.class``: raw key bytes (``Text``'s
  comparator, the default) or ``KeyFieldBasedComparator`` with
  ``mapreduce.partition.keycomparator.options``; both split key fields at
  ``mapreduce.map.output.key.field.separator``.

Classes are accepted under their old-API (``org.apache.hadoop.mapred.lib``) and new-API
(``org.apache.hadoop.mapreduce.lib.partition``) names; any other Java class is refused with
one line, since the local reduce stage cannot run Java code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from dirft.errors import ConfigError
from dirft.keyfields import KeyComparator, KeyFieldError, KeyPartitioner

_LIB, _NEW = "org.apache.hadoop.mapred.lib.", "org.apache.hadoop.mapreduce.lib.partition."
HASH_PARTITIONERS = ("", _LIB + "HashPartitioner", _NEW + "HashPartitioner",
                     "org.apache.hadoop.mapred.lib.HashPartitioner")
KEYFIELD_PARTITIONERS = (_LIB + "KeyFieldBasedPartitioner", _NEW + "KeyFieldBasedPartitioner")
KEYFIELD_COMPARATORS = (_LIB + "KeyFieldBasedComparator", _NEW + "KeyFieldBasedComparator")
TEXT_COMPARATORS = ("", "org.apache.hadoop.io.Text$Comparator")


@dataclass(frozen=True)
class KeyRules:
    """How the reduce stage finds, partitions and orders keys.

    ``num_fields`` >= 1: tab-separated fields that form the key; ``comparator``: None for
    raw bytes, else Hadoop's ``KeyFieldBasedComparator``; ``partitioner``: None for
    ``HashPartitioner``, else ``KeyFieldBasedPartitioner``.
    """

    num_fields: int = 1
    comparator: Optional[KeyComparator] = None
    partitioner: Optional[KeyPartitioner] = None

    def key_of(self, line: bytes) -> bytes:
        """The key of one normalized line (without its ``\\n``): the bytes before its
        ``num_fields``-th tab; a line with fewer tabs was all key when the map wrote it and
        got one tab appended by the normalizer, so its key is the bytes before its last
        tab (a line with no tab at all is all key)."""
        end = -1
        for _ in range(self.num_fields):
            found = line.find(b"\t", end + 1)
            if found < 0:
                return line[:end] if end >= 0 else line
            end = found
        return line[:end]

    @property
    def gnu_sort(self) -> bool:
        """True when GNU sort's ``-k1,1`` gives this order (one key field, byte order)."""
        return self.num_fields == 1 and self.comparator is None

    def partition_function(self, hash_partition: Callable[[bytes, int], int]):
        """``f(key, n) -> partition``: the KeyFieldBasedPartitioner's, else
        ``hash_partition`` (Hadoop's HashPartitioner)."""
        return self.partitioner.partition if self.partitioner else hash_partition


DEFAULT_RULES = KeyRules()


def _text(conf: Mapping[str, str], key: str) -> str:
    value = conf.get(key)
    return "" if value is None else str(value)


def _check_class(conf: Mapping[str, str], key: str, allowed: tuple, also: tuple) -> bool:
    """True if ``conf[key]`` names one of ``allowed`` (the key-field class), False if one of
    ``also`` (the default); ConfigError naming the key otherwise."""
    name = _text(conf, key)
    if name in allowed:
        return True
    if name in also:
        return False
    raise ConfigError(f"{key}={name}: the local reduce stage follows only "
                      f"{allowed[0].rsplit('.', 1)[-1]} and Hadoop's default, not other Java "
                      "classes; leave the key out or run on a Hadoop cluster (--runner hadoop)")


def key_rules(conf: Mapping[str, str]) -> KeyRules:
    """The :class:`KeyRules` a jobconf (``{key: value}``, current key names) asks for.

    Raises :class:`ConfigError` naming the key for an unsupported class, a malformed
    ``-k`` option, or an empty key field separator.
    """
    sep = (_text(conf, "mapreduce.map.output.key.field.separator") or "\t").encode()
    comparator = partitioner = None
    if _check_class(conf, "mapreduce.job.output.key.comparator.class",
                    KEYFIELD_COMPARATORS, TEXT_COMPARATORS):
        comparator = _built(KeyComparator, "mapreduce.partition.keycomparator.options",
                            _text(conf, "mapreduce.partition.keycomparator.options"), sep)
    if _check_class(conf, "mapreduce.job.partitioner.class", KEYFIELD_PARTITIONERS,
                    HASH_PARTITIONERS):
        partitioner = _built(KeyPartitioner, "mapreduce.partition.keypartitioner.options",
                             _partitioner_options(conf), sep)
    fields = int(_text(conf, "stream.num.map.output.key.fields") or 1)
    return KeyRules(fields, comparator, partitioner)


def _built(cls, key: str, options: Optional[str], sep: bytes):
    """``cls(options, sep)``, a KeyFieldError turned into ConfigError naming ``key``."""
    try:
        return cls(options or None, sep)
    except KeyFieldError as err:
        raise ConfigError(f"{key}={options}: {err}") from None


def _partitioner_options(conf: Mapping[str, str]) -> Optional[str]:
    """``KeyFieldBasedPartitioner.setConf``: the deprecated ``num.key.fields.for.partition``
    N, if set, means ``-k1,N``; else the partitioner options."""
    legacy = _text(conf, "num.key.fields.for.partition")
    if legacy:
        return f"-k1,{int(legacy)}" if int(legacy) >= 1 else None
    return _text(conf, "mapreduce.partition.keypartitioner.options") or None
