"""Hadoop's key-field rules: ``KeyFieldBasedComparator`` and ``KeyFieldBasedPartitioner``.

A port of ``org.apache.hadoop.mapreduce.lib.partition.KeyFieldHelper``,
``KeyFieldBasedComparator`` and ``KeyFieldBasedPartitioner`` (Hadoop 3.3.6; the old-API
classes in ``org.apache.hadoop.mapred.lib`` extend them), quirks included, so that the local
reduce stage orders and partitions keys exactly as a Hadoop cluster does:

* options look like sort(1)'s: ``-k pos1[,pos2]`` where ``pos`` is ``f[.c][nr]`` (field and
  character, from 1; ``.0`` in pos2 is the field's last character), plus global ``-n``,
  ``-r``, ``-nr`` applied to every ``-k`` that has neither; no ``-k`` at all means the
  whole key with the global flags;
* fields are split at ``mapreduce.map.output.key.field.separator`` (default tab);
* a key that lacks a spec's start field sorts first (last with ``r``); ``n`` is Hadoop's own
  numerical comparison of digit strings (``-`` sign, leading zeros, one ``.``), not
  ``strtod``: ``-k1,1nr`` orders ``100, 10, 9``;
* the partitioner hashes the bytes the specs select, ``h = 31 * h + b`` over signed bytes
  from 0, then ``(h & Integer.MAX_VALUE) % numReduceTasks``; with no options it is
  ``String.hashCode`` of the key, as Hadoop's is.

Pure: bytes in, ints out. Keys are the bytes Hadoop's ``Text`` holds (no length prefix).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

_NEG, _ZERO, _DOT = ord("-"), ord("0"), ord(".")
_INT_MASK = 0xFFFFFFFF


@dataclass(frozen=True)
class KeySpec:
    """One ``-k`` of the options: begin/end field and character (1-based; end field 0 is
    "to the end of the key", end character 0 "to the end of the field") and the flags."""

    begin_field: int = 1
    begin_char: int = 1
    end_field: int = 0
    end_char: int = 0
    numeric: bool = False
    reverse: bool = False


class KeyFieldError(ValueError):
    """A malformed ``-k`` option (Hadoop throws IllegalArgumentException or
    NumberFormatException at job set-up)."""


def _tokens(text: str) -> list[str]:
    """Split ``text`` as ``StringTokenizer(text, "nr.,", true)`` does (delimiters kept)."""
    out, cur = [], ""
    for ch in text:
        if ch in "nr.,":
            out += [cur] if cur else []
            out.append(ch)
            cur = ""
        else:
            cur += ch
    return out + ([cur] if cur else [])


def _int(token: str, arg: str) -> int:
    """``Integer.parseInt`` of ``token``, or KeyFieldError naming the whole ``-k`` arg."""
    try:
        return int(token, 10)
    except ValueError:
        raise KeyFieldError(f"-k{arg}: {token!r} is not a number; expected -k "
                            "pos1[,pos2] with pos f[.c][nr], e.g. -k1,1nr") from None


def _flags(tokens: list[str], spec: dict, strict: bool, arg: str) -> list[str]:
    """Take ``n``/``r`` tokens off ``tokens`` into ``spec``; stop at anything else (an
    error when ``strict``, as after pos2 in ``KeyFieldHelper.parseKey``)."""
    while tokens and tokens[0] in ("n", "r"):
        spec["numeric" if tokens.pop(0) == "n" else "reverse"] = True
    if strict and tokens:
        raise KeyFieldError(f"-k{arg}: invalid -k argument; must be of the form -k "
                            "pos1,[pos2], where pos is of the form f[.c]nr")
    return tokens


def _position(tokens: list[str], spec: dict, field: str, char: str, arg: str) -> None:
    """Take ``f[.c]`` off ``tokens`` into ``spec[field]``/``spec[char]``."""
    spec[field] = _int(tokens.pop(0), arg)
    if tokens and tokens[0] == ".":
        tokens.pop(0)
        if not tokens:
            raise KeyFieldError(f"-k{arg}: a character position must follow '.'")
        spec[char] = _int(tokens.pop(0), arg)


def parse_key(arg: str) -> KeySpec | None:
    """Parse the text after ``-k`` (``1,1nr``, ``2.3n,2.5``); None when it is empty.

    ``KeyFieldHelper.parseKey``: flags after pos1 may be followed by ``,pos2``; anything
    else after pos1's flags ends the spec there; after pos2 only flags may follow.
    Raises :class:`KeyFieldError` for a non-number position or junk after pos2.
    """
    tokens = _tokens(arg)
    if not tokens:
        return None
    spec: dict = {}
    _position(tokens, spec, "begin_field", "begin_char", arg)
    tokens = _flags(tokens, spec, False, arg)
    if tokens and tokens[0] == ",":
        tokens.pop(0)
        if not tokens:
            raise KeyFieldError(f"-k{arg}: a field number must follow ','")
        _position(tokens, spec, "end_field", "end_char", arg)
        _flags(tokens, spec, True, arg)
    elif tokens:
        raise KeyFieldError(f"-k{arg}: invalid -k argument; must be of the form -k "
                            "pos1,[pos2], where pos is of the form f[.c]nr")
    return KeySpec(**spec)


def parse_options(option: str | None) -> list[KeySpec]:
    """Parse ``mapreduce.partition.keycomparator.options`` (or the partitioner's).

    Returns the key specs in order (``KeyFieldHelper.parseOption``): empty for None or
    ``""`` (plain comparison); the global flags go to each spec with neither flag; with no
    ``-k`` the one spec is the whole key with the global flags. Raises KeyFieldError.
    """
    if not option:
        return []
    specs, glob, words = [], KeySpec(), option.split()
    while words:
        word = words.pop(0)
        if word in ("-n", "-r", "-nr"):
            glob = replace(glob, numeric=glob.numeric or "n" in word,
                           reverse=glob.reverse or "r" in word)
        elif word.startswith("-k"):
            text = word[2:] if len(word) > 2 else (words.pop(0) if words else "")
            spec = parse_key(text)
            specs += [spec] if spec is not None else []
    specs = [s if (s.numeric or s.reverse) else replace(s, numeric=glob.numeric,
                                                        reverse=glob.reverse) for s in specs]
    return specs or [glob]


def word_lengths(key: bytes, sep: bytes) -> list[int]:
    """``KeyFieldHelper.getWordLengths``: ``[count, len1, len2, …]`` of the fields of
    ``key`` split at ``sep`` (non-empty). As in Hadoop the search resumes one byte after
    each separator found, and a trailing empty field has length 0."""
    lengths, start = [1], 0
    while (pos := key.find(sep, start)) != -1:
        lengths.append(pos - start)
        start = pos + 1
    lengths.append(len(key) - start)
    lengths[0] = len(lengths) - 1
    return lengths


def start_offset(key: bytes, lengths: list[int], spec: KeySpec, sep_len: int) -> int:
    """Index in ``key`` of the spec's first byte, or -1 when the key lacks it
    (``KeyFieldHelper.getStartOffset``)."""
    if lengths[0] < spec.begin_field:
        return -1
    position = sum(lengths[i] + sep_len for i in range(1, spec.begin_field))
    return position + spec.begin_char - 1 if position + spec.begin_char <= len(key) else -1


def end_offset(key: bytes, lengths: list[int], spec: KeySpec, sep_len: int) -> int:
    """Index in ``key`` of the spec's last byte (``KeyFieldHelper.getEndOffset``); may be
    one before the start for an empty field."""
    if spec.end_field == 0 or lengths[0] < spec.end_field:
        return len(key) - 1
    position = sum(lengths[i] + sep_len for i in range(1, spec.end_field))
    if spec.end_char == 0:
        position += lengths[spec.end_field]
    return position + spec.end_char - 1 if position + spec.end_char <= len(key) else len(key) - 1


def _cmp(a: int, b: int) -> int:
    return (a > b) - (a < b)


def _bytes_cmp(a: bytes, b: bytes) -> int:
    """``WritableComparator.compareBytes``: unsigned lexicographic, shorter first."""
    return _cmp(a, b)


def _isdigit(b: int) -> bool:
    return 48 <= b <= 57


def _sbyte(b: int) -> int:
    """A byte as Java's signed ``byte``."""
    return b - 256 if b >= 128 else b


def _is_zero(a: bytes, i: int, end: int) -> bool:
    """``KeyFieldBasedComparator.isZero``: ``a[i..end]`` has no non-zero digit before its
    first other character, nor after a ``.`` that follows the zeros."""
    while i <= end and a[i] == _ZERO:
        i += 1
    if i <= end and a[i] != _DOT and _isdigit(a[i]):
        return False
    if i <= end and a[i] == _DOT:
        i += 1
        while i <= end and a[i] == _ZERO:
            i += 1
        if i <= end and _isdigit(a[i]):
            return False
    return True


def _one_negative(a: bytes, s1: int, e1: int, b: bytes, s2: int, e2: int) -> int:
    """``oneNegativeCompare``: ``a`` negative, ``b`` not; equal only when both are zero."""
    if not _is_zero(a, s1, e1) or not _is_zero(b, s2, e2):
        return -1
    return 0


def _decimal1(a: bytes, i: int, end: int) -> int:
    """``decimalCompare1``: 1 when a non-zero digit comes before any other character."""
    while i <= end:
        if a[i] != _ZERO:
            return 1 if _isdigit(a[i]) else 0
        i += 1
    return 0


def _decimal(a: bytes, i: int, e1: int, b: bytes, j: int, e2: int) -> int:
    """``decimalCompare``: compare the fractional parts starting at ``a[i]``/``b[j]``."""
    if i > e1:
        return -_decimal1(b, j + 1, e2)
    if j > e2:
        return _decimal1(a, i + 1, e1)
    if a[i] == _DOT and b[j] == _DOT:
        while i <= e1 and j <= e2:
            if a[i] != b[j]:
                if _isdigit(a[i]) and _isdigit(b[j]):
                    return a[i] - b[j]
                return 1 if _isdigit(a[i]) else (-1 if _isdigit(b[j]) else 0)
            i, j = i + 1, j + 1
        if i > e1 and j > e2:
            return 0
        return -_decimal1(b, j, e2) if i > e1 else _decimal1(a, i, e1)
    if a[i] == _DOT:
        return _decimal1(a, i + 1, e1)
    if b[j] == _DOT:
        return -_decimal1(b, j + 1, e2)
    return 0


def _numerical(a: bytes, s1: int, e1: int, b: bytes, s2: int, e2: int) -> int:
    """``KeyFieldBasedComparator.numericalCompare`` of ``a[s1..e1]`` and ``b[s2..e2]``."""
    i, j, mul = s1, s2, 1
    first_a, first_b = a[i], b[j]
    if first_a == _NEG:
        if first_b != _NEG:
            return _one_negative(a, s1 + 1, e1, b, s2, e2)
        i += 1
    if first_b == _NEG:
        if first_a != _NEG:
            return -_one_negative(b, s2 + 1, e2, a, s1, e1)
        j += 1
    if first_a == _NEG and first_b == _NEG:
        mul = -1
    while i <= e1 and a[i] == _ZERO:
        i += 1
    while j <= e2 and b[j] == _ZERO:
        j += 1
    while i <= e1 and j <= e2 and _isdigit(a[i]) and a[i] == b[j]:
        i, j = i + 1, j + 1
    first_a = a[i] if i <= e1 else first_a
    first_b = b[j] if j <= e2 else first_b
    first = _sbyte(first_a) - _sbyte(first_b)
    if ((first_a == _DOT and (not _isdigit(first_b) or j > e2))
            or (first_b == _DOT and (not _isdigit(first_a) or i > e1))):
        return mul * _decimal(a, i, e1, b, j, e2)
    ret = _digits_left(a, i, e1) - _digits_left(b, j, e2)
    return mul * (first if ret == 0 else ret)


def _digits_left(a: bytes, i: int, end: int) -> int:
    """How many digits follow in a row from ``a[i]`` (Hadoop's mantissa length count)."""
    count = 0
    while i <= end:
        if not _isdigit(a[i]):
            break
        count, i = count + 1, i + 1
    return count


def _compare_spec(a: bytes, s1: int, e1: int, b: bytes, s2: int, e2: int,
                  spec: KeySpec) -> int:
    """``compareByteSequence``: one spec's ranges; a missing start sorts first."""
    if s1 == -1:
        return 1 if spec.reverse else -1
    if s2 == -1:
        return -1 if spec.reverse else 1
    if spec.numeric:
        result = _numerical(a, s1, e1, b, s2, e2)
    else:
        result = _bytes_cmp(a[s1:e1 + 1], b[s2:e2 + 1])
    return -result if spec.reverse else result


@dataclass(frozen=True)
class KeyComparator:
    """``KeyFieldBasedComparator`` configured by its options and key field separator.

    ``compare(a, b)`` returns <0, 0 or >0 for two keys (bytes); ``sort_key`` is
    ``functools.cmp_to_key(compare)``. Raises KeyFieldError at construction for bad options.
    """

    options: str | None = None
    separator: bytes = b"\t"

    def __post_init__(self) -> None:
        if not self.separator:
            raise KeyFieldError("map output key field separator is empty; Hadoop's "
                                "KeyFieldHelper needs at least one byte")
        object.__setattr__(self, "specs", parse_options(self.options))

    def compare(self, a: bytes, b: bytes) -> int:
        """Hadoop's ``KeyFieldBasedComparator.compare`` of keys ``a`` and ``b``."""
        if not self.specs:
            return _bytes_cmp(a, b)
        sep, n = self.separator, len(self.separator)
        la, lb = word_lengths(a, sep), word_lengths(b, sep)
        for spec in self.specs:
            result = _compare_spec(a, start_offset(a, la, spec, n), end_offset(a, la, spec, n),
                                   b, start_offset(b, lb, spec, n), end_offset(b, lb, spec, n),
                                   spec)
            if result:
                return result
        return 0

    @property
    def sort_key(self):
        """A ``key=`` function for ``sorted`` over key bytes."""
        return functools.cmp_to_key(self.compare)


def java_string_hash(key: bytes) -> int:
    """``new Text(key).toString().hashCode()``: Java's String hash over the UTF-16 code
    units of the key decoded as UTF-8 (malformed bytes become U+FFFD), a signed 32-bit int."""
    h = 0
    data = key.decode("utf-8", "replace").encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + (data[i] << 8 | data[i + 1])) & _INT_MASK
    return h - (1 << 32) if h & 0x80000000 else h


@dataclass(frozen=True)
class KeyPartitioner:
    """``KeyFieldBasedPartitioner`` configured by its options and key field separator
    (``num.key.fields.for.partition``, deprecated, becomes ``-k1,N``)."""

    options: str | None = None
    separator: bytes = b"\t"

    def __post_init__(self) -> None:
        if not self.separator:
            raise KeyFieldError("map output key field separator is empty")
        object.__setattr__(self, "specs", parse_options(self.options))

    def partition(self, key: bytes, num_partitions: int) -> int:
        """The reduce partition (0 .. num_partitions-1) of ``key``, as Hadoop computes it."""
        if not self.specs:
            return (java_string_hash(key) & 0x7FFFFFFF) % num_partitions
        data = key.decode("utf-8", "replace").encode("utf-8")
        if not data:
            return 0
        sep, n, h = self.separator, len(self.separator), 0
        lengths = word_lengths(data, sep)
        for spec in self.specs:
            start = start_offset(data, lengths, spec, n)
            if start < 0:
                continue
            for i in range(start, end_offset(data, lengths, spec, n) + 1):
                h = (31 * h + _sbyte(data[i])) & _INT_MASK
        return (h & 0x7FFFFFFF) % num_partitions
