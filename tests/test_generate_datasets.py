"""GridMix2's key/value data sets (kv, fixkv) and split-sized part files."""

import hashlib
import io

import pytest

from dirft.errors import ConfigError, InputError
from dirft.gridmix.generate import DATASETS, WORDS, generate_splits, generate_text
from e2e import run_cli

WORD_SET = frozenset(w.encode("ascii") for w in WORDS)


def _data(size, seed, dataset, part=None):
    buf = io.BytesIO()
    assert generate_text(buf, size, seed, dataset, part) == len(buf.getvalue())
    return buf.getvalue()


@pytest.mark.parametrize("name", ["kv", "fixkv"])
def test_records_have_the_data_sets_shape(name):
    shape = DATASETS[name]
    data = _data(300_000, 2, name)
    lines = data.splitlines(keepends=True)
    assert len(lines) > 5 and len(data) - len(lines[-1]) < 300_000 <= len(data)
    for line in lines:
        key, value = line[:-1].split(b"\t")
        keys, values = key.split(b" "), value.split(b" ")
        assert shape.key_words[0] <= len(keys) <= shape.key_words[1]
        assert shape.value_words[0] <= len(values) <= shape.value_words[1]
        assert set(keys + values) <= WORD_SET


def test_kv_draws_both_ends_of_its_ranges():
    lines = _data(3_000_000, 5, "kv").splitlines()
    keys = {len(line.split(b"\t")[0].split(b" ")) for line in lines}
    assert keys == set(range(5, 11))


def test_seeded_and_separate_streams():
    assert _data(50_000, 1, "kv") == _data(50_000, 1, "kv")
    assert _data(50_000, 1, "kv") != _data(50_000, 2, "kv")
    assert _data(50_000, 1, "text") != _data(50_000, 1, "text", part=0)
    assert _data(50_000, 1, "text", part=0) != _data(50_000, 1, "text", part=1)
    assert _data(10_000, 1, "fixkv") == _data(30_000, 1, "fixkv")[:len(_data(10_000, 1, "fixkv"))]


def test_an_unknown_data_set_is_refused():
    with pytest.raises(ConfigError, match="data set 'csv'"):
        generate_text(io.BytesIO(), 10, 1, "csv")


def test_generate_splits_writes_one_part_per_split(tmp_path):
    out = tmp_path / "data"
    sizes = generate_splits(str(out), 3, 40_000, 7, "text")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["part-00000", "part-00001", "part-00002"]
    assert [len((out / n).read_bytes()) for n in names] == sizes
    assert all(40_000 <= s < 43_000 for s in sizes)
    assert (out / "part-00001").read_bytes() == _data(40_000, 7, "text", part=1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_generate_splits_refuses_an_existing_directory(tmp_path):
    with pytest.raises(InputError, match="already exists"):
        generate_splits(str(tmp_path), 2, 1000, 1)
    with pytest.raises(ConfigError, match="splits"):
        generate_splits(str(tmp_path / "x"), 0, 1000, 1)


def test_cli_generates_splits_or_one_file(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "gridmix", "generate", "--dataset", "kv", "--splits", "2",
                           "--split-size", "64KiB", "--seed", "4", tmp_path / "d")
    assert code == 0 and "2 part files" in out
    first = (tmp_path / "d" / "part-00000").read_bytes()
    assert first == _data(64 * 1024, 4, "kv", part=0)
    code, _, _ = run_cli(capsys, "gridmix", "generate", "--dataset", "fixkv", "--size", "10k",
                         tmp_path / "f")
    assert code == 0 and hashlib.sha256((tmp_path / "f").read_bytes()).hexdigest() == \
        hashlib.sha256(_data(10 * 1024, 1, "fixkv")).hexdigest()


@pytest.mark.parametrize("args", [
    ["--size", "1k", "--splits", "2", "--split-size", "1k"],
    ["--splits", "2"],
    [],
    ["--size", "1k", "--split-size", "1k"],
])
def test_cli_wants_size_or_splits_with_split_size(tmp_path, capsys, args):
    code, _, err = run_cli(capsys, "gridmix", "generate", *args, tmp_path / "x")
    assert code == 2 and err.startswith("dirft: error:") and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()
