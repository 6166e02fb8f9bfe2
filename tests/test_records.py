"""Tests of dirft.records: LineRecordReader ranges, split_records, LineNormalizer, key_of.

The headline invariant (docs/design.md, 'Sub-splits'): the records of a split's sub-splits,
read range by range and concatenated, are exactly the split's records, each once; and the
splits of a file together give every record of the file.
"""

import io
import re

import pytest
from hypothesis import given, strategies as st

from dirft.core.planner import InputSplit, make_subsplits
from dirft.errors import DirftError, InputError, TaskError
from dirft.records import LineNormalizer, key_of, read_records, split_records
# One model of Hadoop's TextOutputReader.splitKeyVal: the fake hadoop's, which it splits by.
from fake_hadoop.fake_hadoop import split_key as hadoop_split

FACTS_INPUT = (b"b line without tab\n" b"a\tone\r\n" b"c\tx\ty\n" b"\n" b"b\tzz\n"
               b"last no newline")
FACTS_RECORDS = [b"b line without tab", b"a\tone", b"c\tx\ty", b"", b"b\tzz",
                 b"last no newline"]
FACTS_NORMALIZED = [b"b line without tab\t\n", b"a\tone\n", b"c\tx\ty\n", b"\t\n",
                    b"b\tzz\n", b"last no newline\t\n"]

# File content: an alphabet rich in the bytes that matter, plus long lines.
PIECES = st.one_of(
    st.sampled_from([b"a", b"a", b"a", b"\t", b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r\n"]),
    st.binary(max_size=3),
    st.integers(5, 60).map(lambda n: b"a" * n),
)
FILES = st.lists(PIECES, max_size=40).map(b"".join)
CHUNK_SIZES = st.one_of(st.integers(1, 7), st.integers(8, 64), st.just(1 << 20))


def records_of(f, start, end, chunk_size=1 << 20):
    """Return the records read_records yields for ``(start, end]``, checking chunk shape."""
    chunks = list(read_records(f, start, end, chunk_size))
    for chunk in chunks:
        assert chunk and chunk.endswith(b"\n")
        assert b"\r" not in chunk
    return b"".join(chunks).split(b"\n")[:-1]


def reference_range(data, start, end):
    """Return the records starting in ``(start, end]`` (``[0, end]`` if start is 0), brute force.

    Walks every line with its start offset, independently of the code under test.
    """
    lines, pos = [], 0
    for m in re.finditer(rb"[^\r\n]*(\r\n|\r|\n|$)", data):
        if m.start() == len(data) and m.end() == m.start():
            break  # nothing after a trailing terminator (or in an empty file)
        lines.append((m.start(), m.group(0).rstrip(b"\r\n")))
    low = -1 if start == 0 else start
    return [rec for p, rec in lines if low < p <= end]


def split_ranges(data, cuts):
    """Return split ``(start, end)`` pairs of ``data`` from cut offsets; no empty split at 0."""
    inner = sorted(c for c in cuts if 0 < c < len(data))
    bounds = [0] + inner + [len(data)]
    return list(zip(bounds, bounds[1:]))


def test_facts_example_records():
    """docs/hadoop.md, 'Records': the cluster's input gives its six records; ``\\r\\n`` is gone."""
    assert split_records(FACTS_INPUT) == FACTS_RECORDS
    assert records_of(io.BytesIO(FACTS_INPUT), 0, len(FACTS_INPUT)) == FACTS_RECORDS
    for chunk_size in range(1, 9):
        got = records_of(io.BytesIO(FACTS_INPUT), 0, len(FACTS_INPUT), chunk_size)
        assert got == FACTS_RECORDS


def test_facts_example_normalized_cat_output():
    """``cat`` output of the FACTS input normalizes to Hadoop's stored lines."""
    norm = LineNormalizer()
    out = norm.feed(FACTS_INPUT) + norm.close()
    assert out.splitlines(keepends=True) == FACTS_NORMALIZED
    assert [key_of(line) for line in FACTS_NORMALIZED] == [
        b"b line without tab", b"a", b"c", b"", b"b", b"last no newline"]


def test_facts_example_split_in_the_middle_of_crlf():
    """A boundary between ``\\r`` and ``\\n`` does not make an empty record."""
    cut = FACTS_INPUT.index(b"\r\n") + 1
    first = records_of(io.BytesIO(FACTS_INPUT), 0, cut)
    second = records_of(io.BytesIO(FACTS_INPUT), cut, len(FACTS_INPUT))
    assert first == FACTS_RECORDS[:2]
    assert first + second == FACTS_RECORDS


@pytest.mark.parametrize("data, expected", [
    (b"", []),
    (b"\n", [b""]),
    (b"\r\n", [b""]),
    (b"\r", [b""]),
    (b"\n\n", [b"", b""]),
    (b"\r\r\n", [b"", b""]),
    (b"\n\r", [b"", b""]),
    (b"x", [b"x"]),
    (b"x\ny\n", [b"x", b"y"]),
    (b"x\ry", [b"x", b"y"]),
])
def test_split_records_edges(data, expected):
    """Terminators ``\\n``, ``\\r\\n``, lone ``\\r``; no empty record at EOF."""
    assert split_records(data) == expected
    assert records_of(io.BytesIO(data), 0, len(data), 1) == expected


def test_range_ownership_rules():
    """A line starting at ``end`` is read; one starting at ``start > 0`` is not."""
    data = b"aa\nbb\ncc\n"
    assert records_of(io.BytesIO(data), 0, 3) == [b"aa", b"bb"]
    assert records_of(io.BytesIO(data), 3, 6) == [b"cc"]
    assert records_of(io.BytesIO(data), 6, 9) == []
    assert records_of(io.BytesIO(data), 0, 0) == [b"aa"]
    assert records_of(io.BytesIO(data), 1, 1) == []


def test_line_longer_than_the_range_is_finished():
    """The line straddling ``end`` is read to its terminator, however far."""
    data = b"x\n" + b"y" * 5000 + b"\r\nz"
    assert records_of(io.BytesIO(data), 0, 3, 4) == [b"x", b"y" * 5000]
    assert records_of(io.BytesIO(data), 3, 10, 4) == []
    assert records_of(io.BytesIO(data), 10, len(data) - 1, 4) == [b"z"]
    assert records_of(io.BytesIO(data), 2, 4, 4) == []


def test_bad_range_raises_input_error():
    """A negative start, end before start or chunk size 0 is an InputError."""
    for start, end, chunk in [(-1, 3, 1), (5, 4, 1), (0, 4, 0)]:
        with pytest.raises(InputError):
            list(read_records(io.BytesIO(b"abc\n"), start, end, chunk))


@given(data=FILES, cuts=st.lists(st.integers(0, 400), max_size=4),
       counts=st.lists(st.integers(1, 5), min_size=5, max_size=5), chunk_size=CHUNK_SIZES)
def test_subsplits_partition_split_records(data, cuts, counts, chunk_size):
    """Headline invariant: sub-split records concatenate to the split's, each once.

    And the splits of the file together give exactly ``split_records(data)``.
    """
    f = io.BytesIO(data)
    everything = []
    for i, (start, end) in enumerate(split_ranges(data, cuts)):
        split = InputSplit(i, "f", start, end - start, ())
        expected = records_of(f, start, end, chunk_size)
        assert expected == reference_range(data, start, end)
        got = []
        for sub in make_subsplits(split, counts[i % len(counts)]):
            got += records_of(f, sub.start, sub.end, chunk_size)
        assert got == expected
        everything += expected
    assert everything == split_records(data)


@given(data=FILES, start=st.integers(0, 300), length=st.integers(0, 300),
       chunk_size=CHUNK_SIZES)
def test_read_records_matches_brute_force(data, start, length, chunk_size):
    """Any range, even past EOF, gives the records a brute-force walk assigns to it."""
    got = records_of(io.BytesIO(data), start, start + length, chunk_size)
    assert got == reference_range(data, start, start + length)


@given(data=FILES)
def test_split_records_matches_byte_walk(data):
    """split_records agrees with a byte-by-byte state machine."""
    records, line, i = [], b"", 0
    while i < len(data):
        c = data[i:i + 1]
        if c in (b"\r", b"\n"):
            records.append(line)
            line = b""
            i += 2 if data[i:i + 2] == b"\r\n" else 1
        else:
            line += c
            i += 1
    if line:
        records.append(line)
    assert split_records(data) == records


def normalize_all(stream, cuts):
    """Feed ``stream`` to a LineNormalizer cut at offsets ``cuts``; return all output."""
    norm = LineNormalizer()
    bounds = [0] + sorted(c for c in cuts if c <= len(stream)) + [len(stream)]
    out = [norm.feed(stream[a:b]) for a, b in zip(bounds, bounds[1:])]
    return b"".join(out) + norm.close()


@given(stream=FILES, cuts=st.lists(st.integers(0, 400), max_size=12))
def test_normalizer_output_does_not_depend_on_chunking(stream, cuts):
    """Any chunking gives the same output: each record, with a tab added if it had none."""
    expected = b"".join(r + (b"\n" if b"\t" in r else b"\t\n") for r in split_records(stream))
    assert normalize_all(stream, cuts) == expected
    assert normalize_all(stream, range(len(stream))) == expected


@given(stream=FILES, cuts=st.lists(st.integers(0, 400), max_size=12))
def test_normalizer_says_unchanged_exactly_when_its_output_is_its_input(stream, cuts):
    norm = LineNormalizer()
    bounds = [0] + sorted(c for c in cuts if c <= len(stream)) + [len(stream)]
    out = b"".join(norm.feed(stream[a:b]) for a, b in zip(bounds, bounds[1:])) + norm.close()
    assert norm.unchanged == (out == stream)


def test_normalizer_crlf_split_across_chunks():
    """A ``\\r`` ending one chunk and the ``\\n`` starting the next are one terminator."""
    norm = LineNormalizer()
    out = norm.feed(b"a\tb\r") + norm.feed(b"") + norm.feed(b"\nc\r") + norm.feed(b"d")
    assert out + norm.close() == b"a\tb\nc\t\nd\t\n"


def test_normalizer_lone_cr_then_text():
    """A lone ``\\r`` followed by text in the same chunk does not eat the next ``\\n``."""
    norm = LineNormalizer()
    out = norm.feed(b"a\rb") + norm.feed(b"\nc")
    assert out + norm.close() == b"a\t\nb\t\nc\t\n"


def test_normalizer_fast_path_returns_input_unchanged():
    """Lines that already have a tab and end in ``\\n`` pass through as they are."""
    norm = LineNormalizer()
    assert norm.feed(b"k\tv\nk2\tv\tw\n") == b"k\tv\nk2\tv\tw\n"
    assert norm.close() == b""


def test_normalizer_feed_after_close_raises():
    """feed() after close() is a DirftError; close() twice is harmless."""
    norm = LineNormalizer()
    assert norm.close() == b""
    assert norm.close() == b""
    with pytest.raises(DirftError):
        norm.feed(b"x\n")


def test_key_of():
    """The key is the bytes before the first tab; a line without tab is all key."""
    assert key_of(b"k\tv\tw\n") == b"k"
    assert key_of(b"\t\n") == b""
    assert key_of(b"no tab\n") == b"no tab"


@given(st.lists(st.sampled_from([b"a", b".", b"\t", b":", b"b"]), max_size=12).map(b"".join),
       st.sampled_from([b".", b":", b"\t", b".:"]), st.integers(1, 4))
def test_a_stored_map_output_line_keeps_hadoops_key_and_value(line, sep, fields):
    from dirft.records import key_end, split_line
    key, value = hadoop_split(line, sep, fields)
    assert split_line(line, sep, fields, True) == key + b"\t" + value
    try:
        stored = split_line(line, sep, fields, False)
    except TaskError:
        assert len(sep) > 1  # only a multi-byte separator can overlap the line's end
        return
    end = key_end(stored, sep, fields)
    assert (stored[:end], stored[end + len(sep):]) == (key, value)


LINES = st.lists(st.lists(st.sampled_from([b"a", b".", b"\t", b":", b"b"]), max_size=10)
                 .map(b"".join), min_size=1, max_size=6)


@given(LINES, st.sampled_from([b".", b":", b"\t", b".:"]), st.integers(1, 4),
       st.lists(st.integers(0, 80), max_size=4))
def test_hadoop_splits_the_emitted_lines_as_it_splits_the_mappers_own(lines, sep, fields, cuts):
    """The Hadoop runner's emitters write the stored (signed) lines through
    hadoop_stream: Hadoop's split of what they write is its split of the mapper's lines."""
    from dirft.records import hadoop_stream
    normalizer = LineNormalizer(fields, sep)
    try:
        stored = normalizer.feed(b"\n".join(lines) + b"\n") + normalizer.close()
    except TaskError:
        assert len(sep) > 1  # a multi-byte separator overlapping a line's end is refused
        return
    out = io.BytesIO()
    stream = hadoop_stream(out, sep, fields)
    for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(stored)]):
        stream.write(stored[a:max(a, b)])
    stream.flush()
    emitted = out.getvalue().split(b"\n")
    assert emitted.pop() == b""
    assert [hadoop_split(e, sep, fields) for e in emitted] == \
        [hadoop_split(line, sep, fields) for line in lines]


def test_a_line_with_too_few_separators_is_emitted_as_the_mapper_wrote_it():
    from dirft.records import UnmarkingWriter, unmarked
    assert unmarked(b"1\tv0.", b".", 2) == b"1\tv0"  # stored form of "1\tv0": all key
    assert unmarked(b"a.b.", b".", 2) == b"a.b."      # key a.b, empty value either way
    assert unmarked(b"a\tb\t", b"\t", 3) == b"a\tb"
    assert unmarked(b"x.", b".", 1) == b"x."          # one key field: read back right
    out = io.BytesIO()
    writer = UnmarkingWriter(out, b".", 3)
    writer.write(b"a.b.c.d\nx.")
    assert out.getvalue() == b"a.b.c.d\n"
    writer.write(b"\ny")
    writer.flush()
    assert out.getvalue() == b"a.b.c.d\nx\ny"
