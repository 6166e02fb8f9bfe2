"""Tests for dirft.gridmix.generate: the VARINFLTEXT-style random text generator."""

import hashlib
import io
import os

import pytest
from hypothesis import given, strategies as st

from dirft.errors import ConfigError, InputError, StorageError
from dirft.gridmix.generate import (
    BATCH_RECORDS, KEY_WORDS, VALUE_WORDS, WORDS, generate_file, generate_text)

WORD_SET = frozenset(w.encode("ascii") for w in WORDS)


def _text(size, seed):
    """Return generate_text's bytes for (size, seed), checking its return value."""
    buf = io.BytesIO()
    written = generate_text(buf, size, seed)
    assert written == len(buf.getvalue())
    return buf.getvalue()


def _parse(line):
    """Return (key_words, value_words) of one line, asserting the exact record format."""
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line.count(b"\t") == 1
    key, value = line[:-1].split(b"\t")
    key_words = key.split(b" ")
    value_words = value.split(b" ") if value else []
    for word in key_words + value_words:
        assert word in WORD_SET, word
    return key_words, value_words


def _records(data):
    """Return the lines of ``data`` with their newlines kept."""
    return data.splitlines(keepends=True)


def _check_format(data):
    """Assert every line of ``data`` is a record; return the (key, value) word counts."""
    shapes = []
    for line in _records(data):
        key_words, value_words = _parse(line)
        assert KEY_WORDS[0] <= len(key_words) <= KEY_WORDS[1]
        assert VALUE_WORDS[0] <= len(value_words) <= VALUE_WORDS[1]
        shapes.append((len(key_words), len(value_words)))
    return shapes


def _check_size_rule(data, size):
    """Assert ``data`` stops right after the first record that reaches ``size`` bytes."""
    if size <= 0:
        assert data == b""
        return
    assert len(data) >= size
    assert len(data) - len(_records(data)[-1]) < size


def test_words_are_fixed_distinct_lowercase_ascii():
    assert len(WORDS) == 1024
    assert len(set(WORDS)) == len(WORDS)
    assert list(WORDS) == sorted(WORDS)
    assert all(w.isascii() and w.isalpha() and w.islower() for w in WORDS)


def test_words_are_pinned():
    # Same list on every machine and Python >= 3.9; a change here changes every data set.
    digest = hashlib.sha256("\n".join(WORDS).encode("ascii")).hexdigest()
    assert digest == "089e0181977ca9b710fd0df6e2118f155228d133ee182bad8c88ee360d86bce1"


def test_output_is_pinned():
    data = _text(100_000, 1)
    assert len(data) == 100_429
    digest = hashlib.sha256(data).hexdigest()
    assert digest == "7479de62a98ae4177c6e6925b3b7de6fbfced4e5d7ed52fd8cf2fe023d06134d"


def test_same_seed_same_bytes():
    assert _text(300_000, 42) == _text(300_000, 42)


def test_different_seeds_different_bytes():
    outputs = {_text(5_000, seed) for seed in (0, 1, 2, -1, 2**70)}
    assert len(outputs) == 5


def test_smaller_size_gives_a_prefix():
    big = _text(1_000_000, 3)
    for size in (1, 999, 400_000, 1_000_000):
        small = _text(size, 3)
        assert big.startswith(small)
        _check_size_rule(small, size)


@pytest.mark.parametrize("size", [0, -1, -(2**40)])
def test_no_budget_writes_nothing(size):
    assert _text(size, 5) == b""


def test_one_byte_budget_writes_one_record():
    data = _text(1, 5)
    assert len(_records(data)) == 1
    _check_format(data)


def test_size_is_reached_across_batches():
    size = 2 * 1024 * 1024  # several batches of BATCH_RECORDS records
    data = _text(size, 11)
    _check_size_rule(data, size)
    assert len(_records(data)) > 2 * BATCH_RECORDS


def test_big_sample_covers_every_count_and_the_empty_value():
    data = _text(4 * 1024 * 1024, 2024)
    shapes = _check_format(data)
    assert {k for k, _ in shapes} == set(range(KEY_WORDS[0], KEY_WORDS[1] + 1))
    values = {v for _, v in shapes}
    assert 0 in values and VALUE_WORDS[1] in values
    assert any(line.endswith(b"\t\n") for line in _records(data))


def test_big_sample_uses_most_words():
    data = _text(1024 * 1024, 9)
    seen = set(data.replace(b"\t", b" ").replace(b"\n", b" ").split())
    assert seen <= WORD_SET
    assert len(seen) > 0.99 * len(WORDS)


@given(seed=st.integers(min_value=-(2**80), max_value=2**80),
       size=st.integers(min_value=-5, max_value=6_000))
def test_any_seed_and_small_size(seed, size):
    data = _text(size, seed)
    _check_format(data)
    _check_size_rule(data, size)
    assert _text(size, seed) == data


@pytest.mark.parametrize("size, seed", [(1.5, 1), ("64MiB", 1), (10, "1"), (True, 1),
                                        (10, None)])
def test_non_int_arguments_are_rejected(size, seed):
    with pytest.raises(ConfigError):
        generate_text(io.BytesIO(), size, seed)


def test_write_errors_propagate():
    class Broken(io.RawIOBase):
        def write(self, data):
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        generate_text(Broken(), 10, 1)


def test_generate_file_matches_generate_text(tmp_path):
    path = tmp_path / "part-00000"
    written = generate_file(str(path), 200_000, 8)
    assert written == path.stat().st_size
    assert path.read_bytes() == _text(200_000, 8)
    assert os.listdir(tmp_path) == ["part-00000"]


def test_generate_file_overwrites(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(b"old contents that are longer than the new file " * 100)
    generate_file(str(path), 10, 4)
    assert path.read_bytes() == _text(10, 4)
    assert os.listdir(tmp_path) == ["data.txt"]


def test_generate_file_empty_budget_makes_empty_file(tmp_path):
    path = tmp_path / "empty"
    assert generate_file(str(path), 0, 1) == 0
    assert path.read_bytes() == b""


def test_generate_file_missing_parent_names_it(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(InputError, match=str(missing)):
        generate_file(str(missing / "part-00000"), 100, 1)
    assert os.listdir(tmp_path) == []


def test_generate_file_onto_a_directory_fails_cleanly(tmp_path):
    target = tmp_path / "adir"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(StorageError, match="adir"):
        generate_file(str(target), 100, 1)
    assert os.listdir(tmp_path) == ["adir"]


def test_generate_file_rejects_bad_arguments_before_writing(tmp_path):
    with pytest.raises(ConfigError):
        generate_file(str(tmp_path / "x"), "1k", 1)
    assert os.listdir(tmp_path) == []
