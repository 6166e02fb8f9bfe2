"""The reduce stage follows Hadoop's key rules: several key fields, KeyFieldBasedComparator,
KeyFieldBasedPartitioner (dirft.shuffle.keys, dirft.shuffle.keysort)."""

import pathlib
import random
import subprocess
import sys

import mrjob.examples
import pytest

from dirft.errors import ConfigError
from dirft.keyfields import KeyComparator, KeyPartitioner
from dirft.shuffle.keys import KeyRules, key_rules
from dirft.shuffle.keysort import sort_file
from e2e import run_cli

KFC = "org.apache.hadoop.mapred.lib.KeyFieldBasedComparator"
KFP = "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner"
SMALL = ["-D", "dirft.split.maxsize=2000", "-D", "dfs.blocksize=4096"]


def _parts(out) -> list[bytes]:
    return [p.read_bytes() for p in sorted(pathlib.Path(out).iterdir())
            if p.name.startswith("part-")]


def test_numeric_reverse_comparator_gives_hadoops_order(tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_bytes(b"9\tnine\n10\tten\n100\thundred\n")
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", tmp_path / "out",
                           "-mapper", "cat", "-reducer", "cat",
                           "-D", f"mapreduce.job.output.key.comparator.class={KFC}",
                           "-D", "mapreduce.partition.keycomparator.options=-k1,1nr")
    assert code == 0, err
    assert _parts(tmp_path / "out") == [b"100\thundred\n10\tten\n9\tnine\n"]
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", tmp_path / "raw",
                           "-mapper", "cat", "-reducer", "cat")
    assert _parts(tmp_path / "raw") == [b"10\tten\n100\thundred\n9\tnine\n"]  # bytes


def test_two_key_fields_partitioned_on_the_first(tmp_path, capsys):
    rng = random.Random(5)
    lines = [f"{rng.choice('abcdefg')}\t{rng.randint(0, 30)}\tv{i}" for i in range(400)]
    data = tmp_path / "in.txt"
    data.write_text("\n".join(lines) + "\n")
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", tmp_path / "out",
                           "-mapper", "cat", "-reducer", "cat", "-numReduceTasks", "3",
                           "-partitioner", KFP, *SMALL,
                           "-D", "stream.num.map.output.key.fields=2",
                           "-D", "mapreduce.partition.keypartitioner.options=-k1,1")
    assert code == 0, err
    parts = [p.splitlines() for p in _parts(tmp_path / "out")]
    assert sorted(line for part in parts for line in part) == sorted(
        line.encode() for line in lines)
    for n, part in enumerate(parts):
        firsts = {line.split(b"\t")[0] for line in part}
        assert all(KeyPartitioner("-k1,1").partition(f, 3) == n for f in firsts)
        keys = [b"\t".join(line.split(b"\t")[:2]) for line in part]
        assert keys == sorted(keys)  # key = two fields, raw bytes


def test_a_line_with_fewer_key_fields_is_all_key(tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_bytes(b"b\n" b"a\tz\n" b"a\tb\tc\n")
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", tmp_path / "out",
                           "-mapper", "cat", "-D", "stream.num.map.output.key.fields=2")
    assert code == 0, err
    # keys "b", "a\tz", "a\tb" with empty, empty, "c" values: TextOutputFormat's key\tvalue
    assert _parts(tmp_path / "out") == [b"a\tb\tc\n" b"a\tz\t\n" b"b\t\n"]


def test_sort_values_example_matches_mrjob(tmp_path, capsys):
    script = pathlib.Path(mrjob.examples.__file__).parent / "mr_next_word_stats.py"
    data = tmp_path / "in.txt"
    rng = random.Random(3)
    words = ["the", "cat", "sat", "on", "mat", "a", "dog"]
    data.write_text("\n".join(" ".join(rng.choice(words) for _ in range(12))
                              for _ in range(300)) + "\n")
    code, _, err = run_cli(capsys, "run", script, data, "-o", tmp_path / "out", "--no-conf",
                           *SMALL, "-D", "mapreduce.job.reduces=2")
    assert code == 0, err
    got = sorted(line for p in _parts(tmp_path / "out") for line in p.splitlines())
    done = subprocess.run([sys.executable, str(script), "-r", "inline", "--no-conf", str(data)],
                          capture_output=True, check=True)
    assert got == sorted(done.stdout.splitlines()) and len(got) > 10


@pytest.mark.parametrize("key,value", [
    ("mapreduce.job.output.key.comparator.class", "com.example.MyComparator"),
    ("mapreduce.job.partitioner.class", "org.apache.hadoop.mapred.lib.TotalOrderPartitioner"),
    ("mapreduce.partition.keycomparator.options", "-k1,x"),
])
def test_what_the_local_reduce_stage_cannot_follow_is_refused(key, value):
    conf = {key: value, "mapreduce.job.output.key.comparator.class": KFC} \
        if key.endswith("options") else {key: value}
    with pytest.raises(ConfigError, match=key):
        key_rules(conf)


def test_old_key_names_are_read(tmp_path):
    from dirft.config import JobConf

    conf = JobConf.load([], ["mapred.output.key.comparator.class=" + KFC,
                             "mapred.text.key.comparator.options=-k1,1n",
                             "map.output.key.field.separator=."])
    rules = key_rules(conf.items())
    assert rules.comparator == KeyComparator("-k1,1n", b".")


def test_external_sort_in_small_runs_equals_sorting_in_memory(tmp_path):
    rng = random.Random(11)
    lines = [f"{rng.randint(-50, 50)}\t{rng.random():.3f}".encode() for _ in range(3000)]
    src = tmp_path / "p"
    src.write_bytes(b"\n".join(lines) + b"\n")
    rules = KeyRules(1, KeyComparator("-k1,1nr"))
    n = sort_file(str(src), str(tmp_path / "s"), rules.comparator.compare, rules.key_of,
                  2000, str(tmp_path))
    expected = sorted(lines, key=lambda l: (rules.comparator.sort_key(rules.key_of(l)), l))
    assert n == 3000 and (tmp_path / "s").read_bytes() == b"\n".join(expected) + b"\n"
    assert [p.name for p in tmp_path.iterdir()] == ["p", "s"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["p", "s"]
