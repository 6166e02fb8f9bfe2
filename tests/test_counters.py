"""Tests of Hadoop Streaming's stderr reporter protocol: counters, status, log tail."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dirft.counters import Counters, StderrScanner, parse_reporter_line


@pytest.mark.parametrize("line, expected", [
    ("reporter:counter:Group,Name,5", ("counter", "Group", "Name", 5)),
    (b"reporter:counter:G,N,-3\n", ("counter", "G", "N", -3)),
    ("reporter:counter:G,N,+7\r\n", ("counter", "G", "N", 7)),
    ("reporter:counter: G ,N, 2 ", None),            # Long.parseLong(" 2"): not a number
    ("reporter:counter:  G,N,2  ", ("counter", "G", "N", 2)),   # the whole rest is trimmed
    ("reporter:counter:G,,1", ("counter", "G", "", 1)),
    ("reporter:counter:G,N 1,9", ("counter", "G", "N 1", 9)),
    ("reporter:counter:G,N,١٢", ("counter", "G", "N", 12)),   # Character.digit: any script
    ("reporter:status:\x01half way there\x00", ("status", "half way there")),  # String.trim
    ("reporter:status:", ("status", "")),
    (b"reporter:status: caf\xc3\xa9 \n", ("status", "café")),
])
def test_parse_reporter_line(line, expected):
    assert parse_reporter_line(line) == expected


@pytest.mark.parametrize("line", [
    "reporter:counter:G,N,x", "reporter:counter:G,N", "reporter:counter:GN5",
    "reporter:counter:G,N,1,2", "reporter:counter:G,N,", "reporter:counter:G,N,1.5",
    "reporter:counter:G,N,9223372036854775808", "reporter:counter:G,N,1_000",
    "reporter:progress:1", "reporter:", "just a log line", "", " reporter:status:x",
])
def test_malformed_or_other_lines_are_none(line):
    assert parse_reporter_line(line) is None


def test_long_limits():
    assert parse_reporter_line("reporter:counter:G,N,9223372036854775807")[3] == 2 ** 63 - 1
    assert parse_reporter_line("reporter:counter:G,N,-9223372036854775808")[3] == -2 ** 63


def test_counters_add_merge_dict():
    a = Counters()
    a.add("b", "y", 2)
    a.add("a", "z")
    a.add("b", "x", 0)
    b = Counters.from_dict({"b": {"y": 3}, "c": {"w": -1}})
    a.merge(b)
    assert a.to_dict() == {"a": {"z": 1}, "b": {"x": 0, "y": 5}, "c": {"w": -1}}
    assert list(a.to_dict()) == ["a", "b", "c"] and list(a.to_dict()["b"]) == ["x", "y"]
    assert a.get("b", "y") == 5 and a.get("nope", "y") == 0
    assert a == Counters.from_dict(a.to_dict()) and a != b and Counters() == Counters()
    assert not Counters() and a


def test_scanner_lines_split_across_chunks():
    log = io.BytesIO()
    data = (b"reporter:counter:G,N,2\nhello\r\nreporter:status:one\r"
            b"reporter:counter:G,N,3\nreporter:counter:G,M,x\n"
            b"reporter:status:two\nlast words")
    scanner = StderrScanner(log=log)
    for i in range(len(data)):
        scanner.feed(data[i:i + 1])
    scanner.close()
    assert scanner.counters.to_dict() == {"G": {"N": 5}}
    assert scanner.status == "two"
    assert scanner.tail == ["hello", "reporter:counter:G,M,x", "last words"]
    assert log.getvalue() == data


def test_scanner_cr_then_lf_in_next_chunk_is_one_terminator():
    scanner = StderrScanner()
    for chunk in (b"one\r", b"\ntwo\r", b"three\n", b"\n"):
        scanner.feed(chunk)
    scanner.close()
    assert scanner.tail == ["one", "two", "three", ""]


def test_scanner_keeps_only_the_last_lines():
    scanner = StderrScanner(tail_lines=3)
    scanner.feed(b"".join(b"line %d\n" % i for i in range(10)))
    scanner.close()
    assert scanner.tail == ["line 7", "line 8", "line 9"]
    assert scanner.status is None and not scanner.counters


def test_scanner_bad_utf8_is_replaced():
    scanner = StderrScanner()
    scanner.feed(b"caf\xff\n")
    scanner.close()
    assert scanner.tail == ["caf\ufffd"]


STDERR_LINES = st.lists(st.one_of(
    st.builds("reporter:counter:{},{},{}".format, st.sampled_from("GH"), st.sampled_from("NM"),
              st.integers(-5, 5)),
    st.builds("reporter:status:{}".format, st.sampled_from(["a", "b c"])),
    st.text(alphabet="xy ,:", max_size=5)), max_size=20)


@given(STDERR_LINES, st.sampled_from(["\n", "\r\n", "\r"]), st.lists(st.integers(0, 400)))
def test_scanner_does_not_depend_on_chunking(lines, eol, cuts):
    data = "".join(line + eol for line in lines).encode()
    whole, pieces = StderrScanner(), StderrScanner()
    whole.feed(data)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    for start, stop in zip(bounds, bounds[1:]):
        pieces.feed(data[start:stop])
    whole.close()
    pieces.close()
    assert (whole.counters, whole.status, whole.tail) == (pieces.counters, pieces.status,
                                                          pieces.tail)
    expected = Counters()
    for parsed in filter(None, map(parse_reporter_line, lines)):
        if parsed[0] == "counter":
            expected.add(*parsed[1:])
    assert whole.counters == expected
