"""Hadoop's Aggregate package as a streaming program: ``-reducer aggregate`` on the local runner.

``hadoop jar hadoop-streaming.jar … -reducer aggregate`` makes ``StreamJob`` set the reducer
to ``org.apache.hadoop.mapred.lib.aggregate.ValueAggregatorReducer`` *and* the combiner to
``ValueAggregatorCombiner`` (a ``-combiner`` of the command line is overridden). The mapper
writes ``TYPE:id<TAB>value`` lines; each key names its aggregator by the type before the first
``:`` (matched ignoring case, ``ValueAggregatorBaseDescriptor.generateValueAggregator``):

============== ======================================== =====================================
type           reduce output (``getReport``)            combiner output (``getCombinerOutput``)
============== ======================================== =====================================
LongValueSum   sum of ``Long.parseLong`` values (wraps) the sum
LongValueMax   largest value                            the largest value
LongValueMin   smallest value                           the smallest value
DoubleValueSum sum of ``Double.parseDouble`` values     the sum
StringValueMax largest string (``String.compareTo``)    the largest string
StringValueMin smallest string                          the smallest string
UniqValueCount number of distinct values                each distinct value, one record each
ValueHistogram ``n min median max mean stddev`` of the  ``value<TAB>count`` per distinct value
               per-value counts, tab-separated
============== ======================================== =====================================

A ValueHistogram value ``v<TAB>c`` counts ``v`` ``c`` times (split at its last tab). The reduce
output key is the id after ``TYPE:``; the combiner keeps the key. UniqValueCount keeps adding
values while it holds at most ``aggregate.max.num.unique.values`` (so it reports at most that
plus one); only the reducer reads that key (the combiner's ``configure`` is empty in Hadoop
3.3.6). Numbers print as Java's ``Long.toString`` / ``Double.toString``; keys and strings go
through ``Text.toString`` (UTF-8, malformed bytes become U+FFFD) and back to UTF-8, and
strings order by UTF-16 code units, as Java's. A key without ``:``, an unknown type or a
value that does not parse fails the program (exit 1, one line on stderr), as the Java task
fails.

Run as ``python -m dirft.aggregate reduce|combine [--key-fields N] [--max-items N]``: it
reads the reduce stage's sorted ``key<TAB>value`` lines (the key being the first N tab
fields, ``stream.num.map.output.key.fields``) and groups equal keys, as the reduce stage
feeds any streaming reducer.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
MAX_ITEMS_KEY = "aggregate.max.num.unique.values"
#: The words ``-reducer`` takes for the Aggregate package (``StreamJob``: ignoring case).
COMMAND = "aggregate"
_LONG = re.compile(r"[+-]?\d+")
_DOUBLE = re.compile(r"[+-]?(?:NaN|Infinity|(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)"
                     r"[fFdD]?)")


class AggregateError(Exception):
    """A record the Java aggregator would have thrown on (the task fails)."""


# ---------------------------------------------------------------- Java's numbers and strings

def wrap_long(value: int) -> int:
    """``value`` as a Java ``long`` (two's complement, 64 bits: arithmetic wraps)."""
    return (value - LONG_MIN) % (1 << 64) + LONG_MIN


def parse_long(text: str) -> int:
    """``Long.parseLong(text)``: optional sign, decimal digits, in the long range.

    Raises :class:`AggregateError` (Java's NumberFormatException) otherwise."""
    if not _LONG.fullmatch(text) or not LONG_MIN <= int(text) <= LONG_MAX:
        raise AggregateError(f'For input string: "{text}" (not a Java long)')
    return int(text)


def parse_double(text: str) -> float:
    """``Double.parseDouble(text)``: trimmed of characters <= U+0020, then Java's grammar
    (``NaN``, ``Infinity``, decimal with an optional exponent, hex ``0x1.8p1``, an
    ``f``/``d`` suffix), correctly rounded. Raises :class:`AggregateError` otherwise."""
    body = text.strip("".join(map(chr, range(33))))
    if not _DOUBLE.fullmatch(body):
        raise AggregateError(f'For input string: "{text}" (not a Java double)')
    body = body[:-1] if body[-1] in "fFdD" else body  # a hex float ends in exponent digits
    return float.fromhex(body) if "x" in body.lower() else float(body)


def format_double(value: float) -> str:
    """``Double.toString(value)`` as Java 17 prints it: ``NaN``, ``Infinity``, ``-0.0``;
    ``d.ddd`` when the decimal point falls within 7 digits left of the first digit or 2
    right of it (``49382.5``, ``0.0123``), else ``d.dddE±n`` (``4.93825E7``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    digits, point = _java_digits(abs(value))
    if 0 < point < 8:
        whole = digits[:point] + "0" * max(0, point - len(digits))
        return f"{sign}{whole}.{digits[point:] or '0'}"
    if -3 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{point - 1}"


def _java_digits(value: float) -> tuple[str, int]:
    """``(digits, point)`` of ``value`` > 0 as Java 17's ``FloatingDecimal`` develops them:
    ``value == 0.digits * 10**point``, no trailing zero.

    A whole number below 2**63 is Java's "easy case": its exact digits, the low ones
    rounded off only beyond 2**57 (as many as 2**(binary exponent - 54) has, less one),
    which is longer than the shortest form for most whole doubles above 2**53. Any
    other value gets the shortest digits that read back as ``value`` (Python's ``repr``);
    Java's general loop agrees with them but in rare cases (3 of the 4,017 doubles of
    ``tests/fixtures/aggregate/``: ``2e23`` printed ``1.9999999999999998E23``).
    """
    if value == int(value) and value < 2.0 ** 63:
        whole = int(value)
        binary_exponent = whole.bit_length() - 1
        drop = _insignificant_digits(binary_exponent - 54) if binary_exponent > 53 else 0
        if drop:
            whole, residue = divmod(whole, 10 ** drop)
            whole += residue >= 5 * 10 ** (drop - 1)
        text_ = str(whole)
        stripped = text_.rstrip("0")
        return stripped, len(text_) + drop
    _, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    return digits, len(digits) + exponent


def _insignificant_digits(power_of_two: int) -> int:
    """Decimal digits of ``2**power_of_two`` less one, for 1 < power < 64, else 0
    (``FloatingDecimal.insignificantDigitsForPow2``)."""
    return len(str(1 << power_of_two)) - 1 if 1 < power_of_two < 64 else 0


def java_order(text: str) -> bytes:
    """A sort key giving ``String.compareTo``'s order (UTF-16 code units)."""
    return text.encode("utf-16-be", "surrogatepass")


def text(data: bytes) -> str:
    """``Text.toString``: UTF-8, each malformed sequence becoming U+FFFD."""
    return data.decode("utf-8", "replace")


def _same_ignoring_case(a: str, b: str) -> bool:
    """``String.compareToIgnoreCase(a, b) == 0``: per UTF-16 unit, upper then lower case."""
    def up(c: str) -> str:
        return c.upper() if len(c.upper()) == 1 else c

    def low(c: str) -> str:
        return c.lower() if len(c.lower()) == 1 else c
    return len(a) == len(b) and all(x == y or up(x) == up(y) or low(up(x)) == low(up(y))
                                    for x, y in zip(a, b))


# ---------------------------------------------------------------- the aggregators

class LongValueSum:
    """Sum of longs, wrapping as Java's ``long`` does."""

    def __init__(self) -> None:
        self.sum = 0

    def add(self, value: str) -> None:
        self.sum = wrap_long(self.sum + parse_long(value))

    def report(self) -> str:
        return str(self.sum)

    def combined(self) -> list[str]:
        return [str(self.sum)]


class LongValueMax:
    """Largest long (starts at ``Long.MIN_VALUE``)."""

    pick: Callable[[int, int], int] = max
    start = LONG_MIN

    def __init__(self) -> None:
        self.value = self.start

    def add(self, value: str) -> None:
        self.value = type(self).pick(self.value, parse_long(value))

    def report(self) -> str:
        return str(self.value)

    def combined(self) -> list[str]:
        return [str(self.value)]


class LongValueMin(LongValueMax):
    """Smallest long (starts at ``Long.MAX_VALUE``)."""

    pick = min
    start = LONG_MAX


class DoubleValueSum:
    """Sum of doubles in the order the values arrive."""

    def __init__(self) -> None:
        self.sum = 0.0

    def add(self, value: str) -> None:
        self.sum += parse_double(value)

    def report(self) -> str:
        return format_double(self.sum)

    def combined(self) -> list[str]:
        return [format_double(self.sum)]


class StringValueMax:
    """Largest string by ``String.compareTo``."""

    larger = True

    def __init__(self) -> None:
        self.value: str | None = None

    def add(self, value: str) -> None:
        if self.value is None or (java_order(self.value) < java_order(value)) == self.larger \
                and java_order(self.value) != java_order(value):
            self.value = value

    def report(self) -> str:
        return "null" if self.value is None else self.value

    def combined(self) -> list[str]:
        return [self.report()]


class StringValueMin(StringValueMax):
    """Smallest string by ``String.compareTo``."""

    larger = False


class UniqValueCount:
    """Distinct values; adds while it holds at most ``max_items`` (<= 0: no limit)."""

    def __init__(self, max_items: int = LONG_MAX) -> None:
        self.items: set[str] = set()
        self.max_items = max_items if max_items > 0 else LONG_MAX

    def add(self, value: str) -> None:
        if len(self.items) <= self.max_items:
            self.items.add(value)

    def report(self) -> str:
        return str(len(self.items))

    def combined(self) -> list[str]:
        return sorted(self.items, key=java_order)


class ValueHistogram:
    """Count per distinct value; ``v<TAB>c`` adds ``c`` (``Long.parseLong``) to ``v``."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def add(self, value: str) -> None:
        cut = value.rfind("\t")
        name, count = (value, "1") if cut < 0 else (value[:cut], value[cut + 1:])
        self.items[name] = wrap_long(self.items.get(name, 0) + parse_long(count))

    def report(self) -> str:
        counts = sorted(self.items.values())
        if not counts:
            return "0"
        total = wrap_long(sum(counts))
        mean = float(total) / len(counts)
        spread = 0.0
        for count in counts:
            spread += (float(count) - mean) * (float(count) - mean)
        fields = [len(counts), counts[0], counts[len(counts) // 2], counts[-1]]
        return "\t".join([*map(str, fields), format_double(mean),
                          format_double(math.sqrt(spread / len(counts)))])

    def combined(self) -> list[str]:
        return [f"{name}\t{self.items[name]}" for name in sorted(self.items, key=java_order)]


AGGREGATORS = {cls.__name__: cls for cls in (
    LongValueSum, LongValueMax, LongValueMin, DoubleValueSum, StringValueMax, StringValueMin,
    UniqValueCount, ValueHistogram)}


def aggregator_for(kind: str, max_items: int):
    """A new aggregator for the type name ``kind`` (any case); AggregateError if unknown."""
    for name, cls in AGGREGATORS.items():
        if _same_ignoring_case(kind, name):
            return cls(max_items) if cls is UniqValueCount else cls()
    raise AggregateError(f"unknown aggregator type {kind!r} (Hadoop: NullPointerException); "
                         f"known: {', '.join(AGGREGATORS)}")


# ---------------------------------------------------------------- the program

def groups(lines: Iterable[bytes], key_fields: int) -> Iterator[tuple[bytes, list[bytes]]]:
    """``(key, [value, ...])`` for each run of equal keys in sorted ``key<TAB>value\\n``
    lines; the key is the first ``key_fields`` tab-separated fields (a line with fewer is
    all key, its value empty, as the normalizer wrote it)."""
    key, values = None, []
    for line in lines:
        line = line[:-1] if line.endswith(b"\n") else line
        here, value = split_key(line, key_fields)
        if here != key and key is not None:
            yield key, values
            values = []
        key = here
        values.append(value)
    if key is not None:
        yield key, values


def split_key(line: bytes, key_fields: int) -> tuple[bytes, bytes]:
    """``(key, value)`` of one normalized line: the key ends at its ``key_fields``-th tab
    (at its last tab when it has fewer)."""
    end = -1
    for _ in range(key_fields):
        found = line.find(b"\t", end + 1)
        if found < 0:
            break
        end = found
    return (line, b"") if end < 0 else (line[:end], line[end + 1:])


def reduce_group(key: bytes, values: list[bytes], max_items: int) -> bytes:
    """``ValueAggregatorReducer.reduce``: the output line ``id<TAB>report\\n``."""
    name = text(key)
    kind, colon, rest = name.partition(":")
    if not colon:
        raise AggregateError(f"key {name!r} has no ':' before its aggregator type")
    aggregator = aggregator_for(kind, max_items)
    for value in values:
        aggregator.add(text(value))
    return f"{rest}\t{aggregator.report()}\n".encode()


def combine_group(key: bytes, values: list[bytes]) -> bytes:
    """``ValueAggregatorCombiner.reduce``: one ``key<TAB>partial\\n`` per combiner output
    (the key's bytes kept as they are); the combiner ignores the unique-values limit."""
    kind, colon, _ = text(key).partition(":")
    if not colon:
        raise AggregateError(f"key {text(key)!r} has no ':' before its aggregator type")
    aggregator = aggregator_for(kind, LONG_MAX)
    for value in values:
        aggregator.add(text(value))
    return b"".join(key + b"\t" + part.encode() + b"\n" for part in aggregator.combined())


def run(role: str, source, sink, key_fields: int = 1, max_items: int = LONG_MAX) -> None:
    """Aggregate the sorted lines of binary stream ``source`` into ``sink`` as the reducer
    (``role`` ``reduce``) or the combiner (``combine``). Raises AggregateError."""
    for key, values in groups(source, key_fields):
        sink.write(reduce_group(key, values, max_items) if role == "reduce"
                   else combine_group(key, values))


def reducer_argv(key_fields: int, max_items: int) -> list[str]:
    """The command the local reduce stage runs for ``-reducer aggregate``."""
    return ["python", "-m", "dirft.aggregate", "reduce", "--key-fields", str(key_fields),
            "--max-items", str(max_items)]


def combiner_argv(key_fields: int) -> list[str]:
    """The combiner command the replicas run for ``-reducer aggregate``."""
    return ["python", "-m", "dirft.aggregate", "combine", "--key-fields", str(key_fields)]


def combiner_beside_hadoop(combiner: list | None, reducer: list | None,
                           reduces: int) -> list | None:
    """The replicas' combiner when Hadoop runs the reducer: none under ``-reducer
    aggregate`` with reduces, where ``StreamJob`` replaces any ``-combiner`` by
    ``ValueAggregatorCombiner``, which Hadoop runs on the map output the replicas emit."""
    return None if is_aggregate(reducer) and reduces else combiner


def is_aggregate(reducer: list | None) -> bool:
    """True for ``-reducer aggregate`` (any case, as ``StreamJob`` compares it)."""
    return reducer is not None and len(reducer) == 1 and reducer[0].lower() == COMMAND


def main(argv: list[str] | None = None) -> int:
    """``python -m dirft.aggregate reduce|combine``: stdin to stdout; 0, or 1 with one
    line on stderr for a record the Java aggregator rejects."""
    parser = argparse.ArgumentParser(prog="python -m dirft.aggregate")
    parser.add_argument("role", choices=("reduce", "combine"))
    parser.add_argument("--key-fields", type=int, default=1)
    parser.add_argument("--max-items", type=int, default=LONG_MAX)
    args = parser.parse_args(argv)
    try:
        run(args.role, sys.stdin.buffer, sys.stdout.buffer, args.key_fields, args.max_items)
    except AggregateError as err:
        print(f"dirft aggregate {args.role}: {err}", file=sys.stderr)
        return 1
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
