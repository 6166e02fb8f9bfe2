"""Which bytes of a map output line are the key, how keys are partitioned and ordered.

Hadoop Streaming splits each map output line into key and value at the
``stream.num.map.output.key.fields``-th ``stream.map.output.field.separator`` (a line with
fewer separators is all key); dirft's map-side normalizer has already appended a separator
to each line with fewer (:func:`dirft.records.split_line`), so the key is the line up to
its N-th separator (or its last). Then:

* **partition** — ``mapreduce.job.partitioner.class``: Hadoop's ``HashPartitioner`` (the
  default, over ``Text.hashCode`` of the whole key) or ``KeyFieldBasedPartitioner`` with
  ``mapreduce.partition.keypartitioner.options`` (or the deprecated
  ``num.key.fields.for.partition``);
* **sort** — ``mapreduce.job.output.key.comparator.class``: raw key bytes (``Text``'s
  comparator, the default) or ``KeyFieldBasedComparator`` with
  ``mapreduce.partition.keycomparator.options``; both split key fields at
  ``mapreduce.map.output.key.field.separator``.

The reducer reads ``key`` + ``stream.reduce.input.field.separator`` + ``value`` per line
(``TextInputWriter``); its output is split at the ``stream.num.reduce.output.key.fields``-th
``stream.reduce.output.field.separator`` and written ``key\\tvalue`` (``TextOutputFormat``),
as is the identity reducer's.

Classes are accepted under their old-API (``org.apache.hadoop.mapred.lib``) and new-API
(``org.apache.hadoop.mapreduce.lib.partition``) names; any other Java class is refused with
one line, since the local reduce stage cannot run Java code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from dirft.errors import ConfigError
from dirft.keyfields import KeyComparator, KeyFieldError, KeyPartitioner
from dirft.records import key_end

_LIB, _NEW = "org.apache.hadoop.mapred.lib.", "org.apache.hadoop.mapreduce.lib.partition."
HASH_PARTITIONERS = ("", _LIB + "HashPartitioner", _NEW + "HashPartitioner",
                     "org.apache.hadoop.mapred.lib.HashPartitioner")
KEYFIELD_PARTITIONERS = (_LIB + "KeyFieldBasedPartitioner", _NEW + "KeyFieldBasedPartitioner")
KEYFIELD_COMPARATORS = (_LIB + "KeyFieldBasedComparator", _NEW + "KeyFieldBasedComparator")
TEXT_COMPARATORS = ("", "org.apache.hadoop.io.Text$Comparator")


@dataclass(frozen=True)
class KeyRules:
    """How the reduce stage finds, partitions and orders keys.

    ``num_fields`` >= 1: fields, split at ``separator``, that form the key; ``comparator``:
    None for raw bytes, else Hadoop's ``KeyFieldBasedComparator``; ``partitioner``: None
    for ``HashPartitioner``, else ``KeyFieldBasedPartitioner``; ``reduce_input_separator``
    goes between key and value on the reducer's stdin; ``reduce_output_separator`` and
    ``reduce_output_fields`` split the reducer's output lines (Hadoop Streaming's
    ``stream.*`` keys, all separators bytes).
    """

    num_fields: int = 1
    comparator: Optional[KeyComparator] = None
    partitioner: Optional[KeyPartitioner] = None
    separator: bytes = b"\t"
    reduce_input_separator: bytes = b"\t"
    reduce_output_separator: bytes = b"\t"
    reduce_output_fields: int = 1

    def key_of(self, line: bytes) -> bytes:
        """The key of one stored map output line (without its ``\\n``): the bytes before its
        ``num_fields``-th separator; a line with fewer was all key when the map wrote it and
        got one separator appended by the normalizer, so its key is the bytes before its
        last separator (a line with none at all is all key)."""
        return line[:key_end(line, self.separator, self.num_fields)]

    @property
    def gnu_sort(self) -> bool:
        """True when GNU sort's ``-k1,1`` gives this order (one tab-ended key field, byte
        order)."""
        return self.num_fields == 1 and self.comparator is None and self.separator == b"\t"

    def rewrite_for(self, reducer: bool) -> Optional[Callable[[bytes], bytes]]:
        """``f(line) -> line`` giving what a reducer (``reducer``) or the identity reducer
        writes reads: ``key`` + ``stream.reduce.input.field.separator`` (or a tab) +
        ``value``; None when that is the stored line itself."""
        between = self.reduce_input_separator if reducer else b"\t"
        if between == self.separator:
            return None

        def rewrite(line: bytes) -> bytes:
            end = key_end(line, self.separator, self.num_fields)
            return line[:end] + between + line[end + len(self.separator):]
        return rewrite

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
    return KeyRules(fields, comparator, partitioner, *stream_separators(conf))


SEPARATOR_KEYS = ("stream.map.output.field.separator", "stream.reduce.input.field.separator",
                  "stream.reduce.output.field.separator")


def stream_separators(conf: Mapping[str, str]) -> tuple[bytes, bytes, bytes, int]:
    """(map output, reduce input, reduce output separator as UTF-8 bytes, reduce output
    key fields) from Hadoop Streaming's keys (``PipeMapper``, ``PipeReducer``; tab and 1
    when unset). Raises ConfigError naming an empty separator (Hadoop would split every
    line at its first byte)."""
    found = []
    for key in SEPARATOR_KEYS:
        value = conf.get(key)
        if value is not None and str(value) == "":
            raise ConfigError(f"{key} is empty; give a separator such as . or :")
        found.append(("\t" if value is None else str(value)).encode())
    return (*found, int(_text(conf, "stream.num.reduce.output.key.fields") or 1))


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
