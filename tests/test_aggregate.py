"""Hadoop's Aggregate package (``-reducer aggregate``): each aggregator, Java's number
formats, and the program the local reduce stage runs."""

import io
import pathlib
import struct

import pytest
from hypothesis import given, strategies as st

from dirft.aggregate import (LONG_MAX, LONG_MIN, AggregateError, format_double, main,
                             parse_double, parse_long, run)

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "aggregate"
#: Java 17's general dtoa loop prints these otherwise than the shortest form (1e23, 2e23,
#: the smallest subnormal), which dirft prints.
DIFFERENT_IN_JAVA_17 = {"44b52d02c7e14af6", "44c52d02c7e14af6", "0000000000000001"}


def aggregate(role: str, lines: list[bytes], **kw) -> list[bytes]:
    out = io.BytesIO()
    run(role, io.BytesIO(b"".join(line + b"\n" for line in lines)), out, **kw)
    return out.getvalue().splitlines()


def test_double_to_string_matches_java_17_apart_from_three():
    differ = set()
    for line in (FIXTURES / "java-17.tsv").read_text().splitlines():
        bits, java = line.split("\t")
        value = struct.unpack("<d", struct.pack("<Q", int(bits, 16)))[0]
        if format_double(value) != java:
            differ.add(bits)
    assert differ == DIFFERENT_IN_JAVA_17  # 4,014 of 4,017 equal, whole numbers above 2**53 too


@pytest.mark.parametrize("value, text", [
    (49382500.0, "4.93825E7"), (0.048828125, "0.048828125"), (3.0, "3.0"), (-0.0, "-0.0"),
    (1e-3, "0.001"), (9.5367431640625e-07, "9.5367431640625E-7"), (1e7, "1.0E7"),
    (68021081680132544.0, "6.8021081680132544E16"), (float("nan"), "NaN")])
def test_double_to_string_examples(value, text):
    assert format_double(value) == text


@pytest.mark.parametrize("text, value", [
    ("12", 12), ("+7", 7), ("-9223372036854775808", LONG_MIN), ("9223372036854775807", LONG_MAX)])
def test_parse_long_takes_what_java_takes(text, value):
    assert parse_long(text) == value


@pytest.mark.parametrize("text", ["", " 1", "1 ", "1_0", "9223372036854775808", "0x1", "1.0"])
def test_parse_long_refuses_what_java_refuses(text):
    with pytest.raises(AggregateError, match="not a Java long"):
        parse_long(text)


@pytest.mark.parametrize("text, value", [
    (" 1.5 ", 1.5), ("1e3", 1000.0), (".5f", 0.5), ("2d", 2.0), ("0x1.8p1", 3.0),
    ("-Infinity", float("-inf")), ("1.", 1.0)])
def test_parse_double_takes_java_grammar(text, value):
    assert parse_double(text) == value


@pytest.mark.parametrize("text", ["inf", "nan", "1_0", "0x1.8", "", "1e", "--1"])
def test_parse_double_refuses_what_java_refuses(text):
    with pytest.raises(AggregateError, match="not a Java double"):
        parse_double(text)


def test_each_aggregator_reduces_as_hadoop_3_3_6():
    lines = [b"DoubleValueSum:d\t0.5", b"DoubleValueSum:d\t2", b"LongValueMax:m\t-4",
             b"LongValueMax:m\t-3", b"LongValueMin:n\t5", b"LongValueMin:n\t-5",
             b"LongValueSum:s\t9223372036854775807", b"LongValueSum:s\t1",
             b"StringValueMax:x\tb", b"StringValueMax:x\t\xef\xbd\x81", b"StringValueMax:x\t\xf0\x9f\x98\x80",
             b"StringValueMin:y\tb", b"StringValueMin:y\tB", b"UniqValueCount:u\ta",
             b"UniqValueCount:u\tb", b"UniqValueCount:u\ta", b"ValueHistogram:h\ta",
             b"ValueHistogram:h\tb\t3", b"ValueHistogram:h\ta", b"longvaluesum:case\t2"]
    assert aggregate("reduce", lines) == [
        b"d\t2.5", b"m\t-3", b"n\t-5", b"s\t-9223372036854775808",
        "x\t\uff41".encode(),  # UTF-16 order: U+FF41 > U+1F600 (a surrogate pair)
        b"y\tB", b"u\t2", b"h\t2\t2\t3\t3\t2.5\t0.5", b"case\t2"]


def test_the_combiner_keeps_keys_and_emits_partials():
    lines = [b"UniqValueCount:u\tb", b"UniqValueCount:u\ta", b"UniqValueCount:u\tb",
             b"ValueHistogram:h\tz", b"ValueHistogram:h\ty\t4", b"LongValueSum:s\t3"]
    assert aggregate("combine", lines) == [
        b"UniqValueCount:u\ta", b"UniqValueCount:u\tb", b"ValueHistogram:h\ty\t4",
        b"ValueHistogram:h\tz\t1", b"LongValueSum:s\t3"]


def test_uniq_value_count_keeps_adding_while_it_holds_at_most_the_limit():
    lines = [b"UniqValueCount:u\t%d" % i for i in range(10)]
    assert aggregate("reduce", lines, max_items=2) == [b"u\t3"]
    assert aggregate("reduce", lines, max_items=0) == [b"u\t10"]  # <= 0: no limit
    assert len(aggregate("combine", lines)) == 10


def test_several_key_fields_make_the_key():
    lines = [b"LongValueSum:a\tb\t1", b"LongValueSum:a\tb\t2", b"LongValueSum:a\tc\t5"]
    assert aggregate("reduce", lines, key_fields=2) == [b"a\tb\t3", b"a\tc\t5"]


def test_malformed_utf8_in_a_key_becomes_the_replacement_character():
    assert aggregate("reduce", [b"LongValueSum:\xff\t1"]) == ["\ufffd\t1".encode()]


@pytest.mark.parametrize("line, needle", [
    (b"nocolon\t1", "no ':'"), (b"Median:x\t1", "unknown aggregator type 'Median'"),
    (b"LongValueSum:x\tone", "not a Java long")])
def test_a_record_java_rejects_fails_the_program(line, needle, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(line + b"\n")))
    assert main(["reduce"]) == 1
    err = capsys.readouterr().err
    assert needle in err and len(err.splitlines()) == 1


@given(st.lists(st.integers(LONG_MIN, LONG_MAX), min_size=1, max_size=30), st.integers(1, 5))
def test_combining_first_never_changes_a_long_sum(values, pieces):
    lines = [b"LongValueSum:k\t%d" % v for v in values]
    whole = aggregate("reduce", lines)
    step = -(-len(lines) // pieces)
    partial = [p for i in range(0, len(lines), step)
               for p in aggregate("combine", lines[i:i + step])]
    assert aggregate("reduce", partial) == whole
