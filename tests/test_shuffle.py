"""Tests of the reduce stage: Hadoop's partitioner, the sort order, reducers, verification."""

import hashlib
import os
import random
import sys
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirft.counters import Counters
from dirft.errors import JobAborted, StorageError, TaskError, UsageError
from dirft import shuffle
from dirft.records import LineNormalizer
from dirft.shuffle import (MapOutput, hadoop_text_hash, partition_of, run_reduce_stage,
                           verified_chunks, write_map_only_output)

FACTS_INPUT = b"b line without tab\na\tone\r\nc\tx\ty\n\nb\tzz\nlast no newline"
FACTS_OUTPUT = (b"\t\n" b"a\tone\n" b"b\tzz\n" b"b line without tab\t\n" b"c\tx\ty\n"
                b"last no newline\t\n")


def py(code):
    """Return the argv that runs Python ``code`` with this interpreter."""
    return [sys.executable, "-c", code]


def normalized(data):
    """Return ``data`` as LineNormalizer makes it, fed in small chunks."""
    norm = LineNormalizer()
    out = b"".join(norm.feed(data[i:i + 7]) for i in range(0, len(data), 7))
    return out + norm.close()


def write_output(directory, name, data, sign=True):
    """Write a map output file; return its MapOutput (with its true SHA-256 if ``sign``)."""
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    return MapOutput(path, hashlib.sha256(data).hexdigest() if sign else None)


def key(line):
    """Return the key of a normalized line."""
    return line.split(b"\t", 1)[0]


def reduce(tmp, outputs, n, reducer=None, **kw):
    """Run the reduce stage into ``tmp/out``; return (result, [part bytes])."""
    out = os.path.join(tmp, "out")
    result = run_reduce_stage(outputs, n, reducer, out, os.path.join(tmp, "work"),
                              lambda p: dict(os.environ, PART=str(p)), **kw)
    parts = []
    for p in range(n):
        with open(os.path.join(out, f"part-{p:05d}"), "rb") as f:
            parts.append(f.read())
    return result, parts


def order(line):
    """Sort key of GNU sort ``-k1,1`` in the C locale: key bytes, then the line without ``\\n``."""
    return (key(line), line[:-1])


def listing(directory):
    """Return the sorted names in ``directory`` (hidden ones too)."""
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


# --- hash and partitioner ---------------------------------------------------------------

def reference_hash(data):
    """Text.hashCode by its closed form: 31**n + sum(signed b_i * 31**(n-1-i)), Java int."""
    n = len(data)
    total = 31 ** n + sum((b - 256 if b >= 128 else b) * 31 ** (n - 1 - i)
                          for i, b in enumerate(data))
    total %= 2 ** 32
    return total - 2 ** 32 if total >= 2 ** 31 else total


def test_hash_known_values():
    assert hadoop_text_hash(b"") == 1
    assert hadoop_text_hash(b"a") == 31 + 97
    assert hadoop_text_hash(b"ab") == 31 * 128 + 98
    assert hadoop_text_hash(b"\x80") == 31 - 128           # signed byte: -128
    assert hadoop_text_hash(b"\xff\xfe") == 31 * (31 - 1) - 2
    # "été" in UTF-8, by hand: 1 -> -30 -> -1017 -> -31411 -> -973802 -> -30187949
    assert hadoop_text_hash("été".encode()) == -30187949
    # Java: "hello world".hashCode() == 1794106052; Text starts at 1, adding 31**11.
    assert hadoop_text_hash(b"hello world") == reference_hash(b"hello world") == 1923188771


def test_partition_of_masks_the_sign_bit():
    assert partition_of(b"", 3) == 1
    assert partition_of(b"a", 3) == 128 % 3
    assert partition_of("été".encode(), 7) == (-30187949 & 0x7FFFFFFF) % 7
    assert all(partition_of(bytes([b]), 1) == 0 for b in range(256))
    with pytest.raises(ValueError):
        partition_of(b"a", 0)


@given(st.binary(max_size=40))
def test_hash_matches_closed_form(data):
    h = hadoop_text_hash(data)
    assert h == reference_hash(data)
    assert -2 ** 31 <= h < 2 ** 31


# --- verification -----------------------------------------------------------------------

def test_verified_chunks_streams_and_checks(tmp_path):
    good = write_output(tmp_path, "a", b"k\tv\n" * 1000)
    unsigned = write_output(tmp_path, "b", b"x\t\n", sign=False)
    streamed = b"".join(verified_chunks([good, unsigned], chunk_size=100))
    assert streamed == b"k\tv\n" * 1000 + b"x\t\n"
    bad = MapOutput(good.path, "0" * 64)
    with pytest.raises(JobAborted, match="does not match the signature") as err:
        list(verified_chunks([bad]))
    assert "000000000000…" in str(err.value) and good.sha256[:12] in str(err.value)


def test_verified_chunks_missing_file_is_storage_error(tmp_path):
    with pytest.raises(StorageError, match="cannot read map output"):
        list(verified_chunks([MapOutput(str(tmp_path / "gone"), None)]))


# --- the reduce stage -------------------------------------------------------------------

@pytest.mark.parametrize("reducer", [["cat"], None])
def test_facts_example_end_to_end(tmp_path, reducer):
    output = write_output(tmp_path, "map-0", normalized(FACTS_INPUT))
    result, parts = reduce(tmp_path, [output], 1, reducer)
    assert parts == [FACTS_OUTPUT]
    assert result.input_records == 6 and result.output_records == [6]
    assert result.output_bytes == [len(FACTS_OUTPUT)]
    assert listing(tmp_path / "out") == ["part-00000"]
    assert listing(tmp_path / "work") == []


def random_lines(rng, count, keys):
    """Return ``count`` normalized lines with keys from ``keys`` and random values."""
    return [rng.choice(keys) + b"\t" + str(rng.randrange(10 ** 6)).encode() + b"\n"
            for _ in range(count)]


def test_three_reduces_partition_by_hash(tmp_path):
    rng = random.Random(7)
    keys = [f"key{i}".encode() for i in range(50)] + [b"", b"\x80\xff", "é".encode()]
    lines = random_lines(rng, 3000, keys)
    outputs = [write_output(tmp_path, f"map-{i}", b"".join(lines[i::3])) for i in range(3)]
    result, parts = reduce(tmp_path, outputs, 3)
    for p, part in enumerate(parts):
        assert {partition_of(key(line), 3) for line in part.splitlines(True)} <= {p}
    assert sorted(b"".join(parts).splitlines(True)) == sorted(lines)
    for part in parts:
        got = part.splitlines(True)
        assert got == sorted(got, key=order)
    assert result.input_records == 3000 == sum(result.partition_records)
    assert result.output_records == [part.count(b"\n") for part in parts]


def test_values_of_one_key_come_out_in_byte_order(tmp_path):
    output = write_output(tmp_path, "m", b"k\tb\nk\ta\nj\tz\nk\t\x00\nk\t\n")
    _, parts = reduce(tmp_path, [output], 1)
    # The line without its newline is compared: "k\t" < "k\t\x00" (prefix first).
    assert parts == [b"j\tz\nk\t\nk\t\x00\nk\ta\nk\tb\n"]


def test_key_order_is_unsigned_bytes_and_prefix_first(tmp_path):
    lines = [b"\x80\t1\n", b"a\t2\n", b"ab\t3\n", b"\x01\t4\n", b"a b\t5\n", b"\t6\n"]
    output = write_output(tmp_path, "m", b"".join(lines))
    _, parts = reduce(tmp_path, [output], 1)
    assert parts == [b"\t6\n\x01\t4\na\t2\na b\t5\nab\t3\n\x80\t1\n"]


def test_last_line_without_newline_does_not_merge_with_next_file(tmp_path):
    first = write_output(tmp_path, "m0", b"b\t1")
    second = write_output(tmp_path, "m1", b"a\t2\n")
    for n in (1, 2):
        _, parts = reduce(tmp_path / str(n), [first, second], n)
        assert sorted(b"".join(parts).splitlines(True)) == [b"a\t2\n", b"b\t1\n"]


def test_reducer_output_is_normalized_and_gets_env(tmp_path):
    code = ("import os, sys; data = sys.stdin.buffer.read();"
            "sys.stdout.buffer.write(b'lines ' + str(data.count(b'\\n')).encode() + b'\\r\\n'"
            " + os.environ['PART'].encode() + b'\\tpart')")
    output = write_output(tmp_path, "m", b"a\t1\nb\t2\nc\t3\n")
    result, parts = reduce(tmp_path, [output], 2, py(code))
    counts = [sum(partition_of(k, 2) == p for k in (b"a", b"b", b"c")) for p in range(2)]
    assert parts == [f"lines {counts[p]}\t\n{p}\tpart\n".encode() for p in range(2)]
    assert result.output_records == [2, 2]


def test_empty_partitions_still_run_the_reducer(tmp_path):
    output = write_output(tmp_path, "m", b"only\tkey\n" * 5)
    code = "import sys; print(len(sys.stdin.readlines()))"
    _, parts = reduce(tmp_path, [output], 4, py(code))
    full = partition_of(b"only", 4)
    assert parts == [b"5\t\n" if p == full else b"0\t\n" for p in range(4)]


def test_empty_input_gives_empty_parts(tmp_path):
    _, parts = reduce(tmp_path, [], 3)
    assert parts == [b"", b"", b""]


def test_reducer_counters_status_and_log(tmp_path):
    code = ("import sys\n"
            "for line in sys.stdin:\n"
            "    sys.stderr.write('reporter:counter:G,lines,1\\n')\n"
            "sys.stderr.write('reporter:status:done\\nplain log line\\n')\n")
    output = write_output(tmp_path, "m", b"a\t1\nb\t2\nc\t3\n")
    result, _ = reduce(tmp_path, [output], 2, py(code), log_dir=str(tmp_path / "logs"))
    assert result.counters == Counters.from_dict({"G": {"lines": 3}})
    assert result.statuses == ["done", "done"]
    log = (tmp_path / "logs" / "reduce-00000.log").read_bytes()
    assert log.endswith(b"reporter:status:done\nplain log line\n")


def test_failing_reducer_is_task_error_with_tail(tmp_path):
    code = ("import sys; sys.stdin.read();"
            "sys.stderr.write('first\\nboom: bad record\\n'); sys.exit(1)")
    output = write_output(tmp_path, "m", b"a\t1\n")
    with pytest.raises(TaskError) as err:
        reduce(tmp_path, [output], 1, py(code))
    message = str(err.value)
    assert "of partition 0 exited with code 1" in message
    assert "boom: bad record" in message and "first" in message
    assert "fix the reducer" in message and sys.executable in message
    assert listing(tmp_path / "out") == [] and listing(tmp_path / "work") == []


def test_failure_in_a_later_partition_leaves_no_part(tmp_path):
    code = "import os, sys; sys.stdin.read(); sys.exit(int(os.environ['PART']) == 2)"
    output = write_output(tmp_path, "m", b"a\t1\nb\t2\n")
    with pytest.raises(TaskError, match="partition 2 exited with code 1"):
        reduce(tmp_path, [output], 3, py(code))
    assert listing(tmp_path / "out") == [] and listing(tmp_path / "work") == []


def test_reducer_not_found_is_task_error(tmp_path):
    output = write_output(tmp_path, "m", b"a\t1\n")
    with pytest.raises(TaskError, match="could not be started"):
        reduce(tmp_path, [output], 2, ["/nonexistent/dirft-reducer", "--x"])
    assert listing(tmp_path / "out") == [] and listing(tmp_path / "work") == []


def test_reducer_that_stops_reading_early_keeps_its_output(tmp_path):
    output = write_output(tmp_path, "m", b"".join(b"k%06d\tv\n" % i for i in range(100000)))
    _, parts = reduce(tmp_path, [output], 1, ["head", "-n", "2"])
    assert parts == [b"k000000\tv\nk000001\tv\n"]


def test_empty_reducer_argv_is_usage_error(tmp_path):
    with pytest.raises(UsageError):
        reduce(tmp_path, [], 1, [])


def test_signature_mismatch_aborts_and_leaves_no_part(tmp_path):
    good = write_output(tmp_path, "m0", b"a\t1\n")
    tampered = MapOutput(write_output(tmp_path, "m1", b"b\t2\n").path,
                         hashlib.sha256(b"b\t3\n").hexdigest())
    for n in (1, 3):
        with pytest.raises(JobAborted, match="m1 does not match the signature"):
            reduce(tmp_path / str(n), [good, tampered], n, ["cat"])
        assert listing(tmp_path / str(n) / "out") == []
        assert listing(tmp_path / str(n) / "work") == []


def test_larger_than_sort_memory(tmp_path):
    rng = random.Random(11)
    keys = [bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 6))).replace(b"\t", b"")
            .replace(b"\n", b"").replace(b"\r", b"") for _ in range(500)]
    lines = random_lines(rng, 200000, keys)   # about 2.5 MB
    outputs = [write_output(tmp_path, f"m{i}", b"".join(lines[i::4])) for i in range(4)]
    for n in (1, 2):
        _, parts = reduce(tmp_path / str(n), outputs, n, sort_memory=64 * 1024)
        got = [part.splitlines(True) for part in parts]
        expected = [sorted((line for line in lines if partition_of(key(line), n) == p),
                           key=order) for p in range(n)]
        assert got == expected


def test_write_map_only_output(tmp_path):
    a0 = write_output(tmp_path, "a0", b"x\t1\n")
    a1 = write_output(tmp_path, "a1", b"y\t2")
    b0 = write_output(tmp_path, "b0", b"z\t3\n")
    out = tmp_path / "out"
    stats = write_map_only_output([[a0, a1], [b0], []], str(out))
    assert listing(out) == ["part-00000", "part-00001", "part-00002"]
    assert (out / "part-00000").read_bytes() == b"x\t1\ny\t2\n"
    assert (out / "part-00001").read_bytes() == b"z\t3\n"
    assert (out / "part-00002").read_bytes() == b""
    assert stats == {"records": 3, "bytes": 12, "part_records": [2, 1, 0],
                     "part_bytes": [8, 4, 0]}


def test_write_map_only_output_mismatch_leaves_nothing(tmp_path):
    a0 = write_output(tmp_path, "a0", b"x\t1\n")
    bad = MapOutput(write_output(tmp_path, "b0", b"z\t3\n").path, "f" * 64)
    with pytest.raises(JobAborted):
        write_map_only_output([[a0], [bad]], str(tmp_path / "out"))
    assert listing(tmp_path / "out") == []


# --- property: identity reduce == sort by (key, line), each key in its hash partition ----

KEY_BYTES = st.sampled_from([b"a", b"b", b"ab", b"\x80", b"\xff", b"\x01", b"\x08", b" ", b""])
KEYS = st.lists(KEY_BYTES, max_size=3).map(b"".join)
VALUES = st.binary(max_size=8).map(lambda v: v.replace(b"\n", b"").replace(b"\r", b""))
LINES = st.lists(st.tuples(KEYS, VALUES).map(lambda kv: kv[0] + b"\t" + kv[1] + b"\n"),
                 max_size=40)


@settings(max_examples=25)
@given(st.lists(LINES, min_size=1, max_size=3), st.integers(1, 4))
def test_identity_reduce_sorts_and_partitions(files, n):
    with tempfile.TemporaryDirectory() as tmp:
        outputs = [write_output(tmp, f"m{i}", b"".join(lines)) for i, lines in enumerate(files)]
        result, parts = reduce(tmp, outputs, n)
    everything = [line for lines in files for line in lines]
    for p, part in enumerate(parts):
        assert all(partition_of(key(line), n) == p for line in part.splitlines(True))
    by_key = sorted(b"".join(parts).splitlines(True), key=order)
    assert by_key == sorted(everything, key=order)
    for part in parts:
        assert part.splitlines(True) == sorted(part.splitlines(True),
                                               key=order)
    assert result.input_records == len(everything)


def test_reducer_killed_by_signal_is_task_error(tmp_path):
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    output = write_output(tmp_path, "m", b"a\t1\n")
    with pytest.raises(TaskError, match="partition 0 was killed by signal 9"):
        reduce(tmp_path, [output], 1, py(code))
    assert listing(tmp_path / "out") == []


def test_sort_failure_is_task_error(tmp_path, monkeypatch):
    monkeypatch.setattr(shuffle.reduce, "_sort_argv", lambda *args: ["sort", "--no-such-dirft-option"])
    output = write_output(tmp_path, "m", b"a\t1\n")
    for reducer in (None, ["cat"]):
        with pytest.raises(TaskError, match="GNU sort of partition 0 exited with code 2: .*"
                                            "no-such-dirft-option.*free space"):
            reduce(tmp_path, [output], 1, reducer)
        assert listing(tmp_path / "out") == [] and listing(tmp_path / "work") == []


def test_an_output_directory_that_cannot_be_made_is_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a directory")
    output = write_output(str(tmp_path), "m0", b"a\t1\n")
    with pytest.raises(StorageError, match="reduce stage: file operation failed"):
        run_reduce_stage([output], 1, None, str(blocker / "out"), str(tmp_path / "work"),
                         lambda p: dict(os.environ))
