"""One map phase with a combiner: sort's output goes straight into the combiner."""

import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirft.errors import TaskError
from dirft.records import LineNormalizer
from dirft.runtime.mapphase import FRAMEWORK, normalize_file, run_map_phase


def _phase(tmp_path, data: bytes, combiner: list):
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    final = tmp_path / "out"
    with open(tmp_path / "log", "wb") as log:
        result = run_map_phase(str(src), 0, len(data), ["cat"], combiner, str(final),
                               dict(os.environ), str(tmp_path), log, 1 << 20)
    return result, final


def test_combiner_reads_the_key_sorted_map_output_and_counts_its_records(tmp_path):
    data = b"".join(b"k%d\t%d\n" % (i % 7, i) for i in range(1000))
    result, final = _phase(tmp_path, data, ["uniq", "-c"])
    expected = subprocess.run("LC_ALL=C sort -t '\t' -k1,1 | uniq -c", shell=True, input=data,
                              capture_output=True, check=True).stdout
    out = final.read_bytes()
    assert out == expected and out.startswith(b"      1 k0\t0\n")
    assert result.counters.get(FRAMEWORK, "Map output records") == out.count(b"\n") == 1000
    assert result.counters.get(FRAMEWORK, "Map input records") == 1000


def test_a_combiner_that_stops_reading_fails_the_phase_and_commits_nothing(tmp_path):
    data = b"".join(b"key%06d\t%s\n" % (i, b"v" * 60) for i in range(40_000))  # ~3 MB
    with pytest.raises(TaskError, match="broken pipe"):
        _phase(tmp_path, data, ["head", "-n", "1"])
    assert not (tmp_path / "out").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".combine-")]


def test_combiner_input_is_the_normalized_map_output_written_by_the_mapper_to_a_file(tmp_path):
    # the mapper's stdout goes to a file, not through this process: line ends and
    # tab-less lines must still reach the combiner as Hadoop's key\tvalue lines
    data = b"b\tx\r\na no tab\rc\t1\t2\n\nlast"
    result, final = _phase(tmp_path, data, ["cat"])
    assert final.read_bytes() == b"\t\na no tab\t\nb\tx\nc\t1\t2\nlast\t\n"
    assert result.counters.get(FRAMEWORK, "Map output records") == 5
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".combine-")]


def test_a_failing_mapper_before_the_combiner_leaves_no_scratch(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"a\tb\n" * 100)
    with open(tmp_path / "log", "wb") as log, pytest.raises(TaskError, match="mapper"):
        run_map_phase(str(src), 0, 400, ["sh", "-c", "cat; exit 3"], ["cat"],
                      str(tmp_path / "out"), dict(os.environ), str(tmp_path), log, 1 << 20)
    assert not (tmp_path / "out").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".combine-")]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"k\tv\n", b"key\t1\n", b"no tab\n", b"a\tb\r\n", b"\n",
                                 b"x\ry\t\n", b"z\t"]), max_size=30), st.integers(1, 9))
def test_normalize_file_writes_what_the_normalizer_returns_and_removes_the_raw_file(
        tmp_path_factory, pieces, chunk_size):
    """Clean output (renamed), output that needs a change at the start, in the middle or
    only at its end (copied prefix, then normalized): always the normalizer's bytes."""
    where = tmp_path_factory.mktemp("norm")
    data = b"".join(pieces)
    (where / "raw").write_bytes(data)
    normalize_file(str(where / "raw"), str(where / "out"), chunk_size)
    norm = LineNormalizer()
    assert (where / "out").read_bytes() == norm.feed(data) + norm.close()
    assert os.listdir(where) == ["out"]


def test_clean_map_output_is_renamed_not_rewritten(tmp_path):
    raw = tmp_path / "raw"
    raw.write_bytes(b"k\t1\n" * 1000)
    inode = os.stat(raw).st_ino
    normalize_file(str(raw), str(tmp_path / "out"), 64)
    assert os.stat(tmp_path / "out").st_ino == inode
    assert (tmp_path / "out").read_bytes() == b"k\t1\n" * 1000
