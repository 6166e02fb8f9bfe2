"""The MRJob fixtures run as Hadoop Streaming would run them: stage by stage, sorted.

Each stage is a subprocess (``sys.executable fixture.py --mapper --step-num=N`` and so on)
fed the previous stage's stdout; the shuffle is ``sort`` under ``LC_ALL=C``, as in
``cat input | mapper | LC_ALL=C sort | reducer``. mrjob's inline runner must agree.
"""

import collections
import io
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from dirft.gridmix.generate import generate_text

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
WORDCOUNT = FIXTURES / "mr_wordcount.py"
TWO_STEP = FIXTURES / "mr_two_step.py"

# Tabs, empty lines, an empty value, repeated spaces and case differences, then some
# generated GridMix text.
HANDMADE = (b"the cat\tsat on the mat\n"
            b"the dog\t\n"
            b"A cat  a CAT\n"
            b"\n"
            b"zeta\talpha beta the\n")


@pytest.fixture
def env(tmp_path):
    """Return the environment for every stage: fixed hash seed, C locale, private tmp."""
    return {**os.environ, "PYTHONHASHSEED": "0", "LC_ALL": "C", "TMPDIR": str(tmp_path)}


@pytest.fixture
def input_bytes():
    """Return a small input: the handmade lines plus about 20 kB of generated records."""
    generated = io.BytesIO()
    generate_text(generated, 20_000, 3)
    return HANDMADE + generated.getvalue()


def _run(argv, data, env):
    """Run ``argv`` with ``data`` on stdin; return its stdout (bytes), failing on rc != 0."""
    done = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def _stage(job, mode, step, data, env):
    """Run one streaming stage (``--mapper``, ``--combiner`` or ``--reducer``) of ``job``."""
    return _run([sys.executable, str(job), f"--{mode}", f"--step-num={step}"], data, env)


def _sort(data, env):
    """Sort lines bytewise with the system ``sort`` (LC_ALL=C), as the shuffle does."""
    sort = shutil.which("sort")
    assert sort, "the sort command is needed for these tests"
    return _run([sort], data, env)


def _table(output):
    """Return ``{key: int(value)}`` from ``key\\tvalue`` lines, asserting keys are unique."""
    table = {}
    for line in output.decode("utf-8").splitlines():
        key, value = line.split("\t")
        assert key not in table, key
        table[key] = int(value)
    return table


def _word_counts(data):
    """Return the expected word counts of ``data`` (split on whitespace), as a dict."""
    return dict(collections.Counter(data.decode("utf-8").split()))


def _frequencies(data):
    """Return ``{str(count): number of distinct words with that count}`` for ``data``."""
    histogram = collections.Counter(_word_counts(data).values())
    return {str(count): words for count, words in histogram.items()}


def test_wordcount_mapper_prints_word_tab_one(env):
    out = _stage(WORDCOUNT, "mapper", 0, HANDMADE, env)
    assert out.decode().splitlines() == [
        f"{word}\t1" for word in HANDMADE.decode().split()]


def test_wordcount_streaming_pipeline(env, input_bytes):
    mapped = _stage(WORDCOUNT, "mapper", 0, input_bytes, env)
    reduced = _stage(WORDCOUNT, "reducer", 0, _sort(mapped, env), env)
    assert _table(reduced) == _word_counts(input_bytes)


def test_wordcount_handmade_counts(env):
    mapped = _stage(WORDCOUNT, "mapper", 0, HANDMADE, env)
    reduced = _table(_stage(WORDCOUNT, "reducer", 0, _sort(mapped, env), env))
    assert reduced["the"] == 4 and reduced["cat"] == 2
    assert reduced["A"] == reduced["a"] == reduced["CAT"] == 1


def test_wordcount_with_combiner(env, input_bytes):
    mapped = _stage(WORDCOUNT, "mapper", 0, input_bytes, env)
    combined = _stage(WORDCOUNT, "combiner", 0, _sort(mapped, env), env)
    assert len(combined) < len(mapped)
    reduced = _stage(WORDCOUNT, "reducer", 0, _sort(combined, env), env)
    assert _table(reduced) == _word_counts(input_bytes)


def test_wordcount_reducer_sums_partial_counts(env):
    partial = b"cat\t2\ncat\t3\ndog\t1\n"
    assert _table(_stage(WORDCOUNT, "reducer", 0, partial, env)) == {"cat": 5, "dog": 1}


def test_wordcount_inline_runner(env, input_bytes, tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes(input_bytes)
    out = _run([sys.executable, str(WORDCOUNT), "--no-conf", str(path)], b"", env)
    assert _table(out) == _word_counts(input_bytes)


def test_two_step_streaming_pipeline(env, input_bytes):
    data = _stage(TWO_STEP, "mapper", 0, input_bytes, env)
    data = _stage(TWO_STEP, "reducer", 0, _sort(data, env), env)
    assert _table(data) == _word_counts(input_bytes)
    data = _stage(TWO_STEP, "mapper", 1, data, env)
    data = _stage(TWO_STEP, "reducer", 1, _sort(data, env), env)
    assert _table(data) == _frequencies(input_bytes)


def test_two_step_with_combiners(env, input_bytes):
    data = _stage(TWO_STEP, "mapper", 0, input_bytes, env)
    data = _stage(TWO_STEP, "combiner", 0, _sort(data, env), env)
    data = _stage(TWO_STEP, "reducer", 0, _sort(data, env), env)
    data = _stage(TWO_STEP, "mapper", 1, data, env)
    data = _stage(TWO_STEP, "combiner", 1, _sort(data, env), env)
    data = _stage(TWO_STEP, "reducer", 1, _sort(data, env), env)
    assert _table(data) == _frequencies(input_bytes)


def test_two_step_handmade_histogram(env):
    data = _stage(TWO_STEP, "mapper", 0, HANDMADE, env)
    data = _stage(TWO_STEP, "reducer", 0, _sort(data, env), env)
    data = _stage(TWO_STEP, "mapper", 1, data, env)
    data = _stage(TWO_STEP, "reducer", 1, _sort(data, env), env)
    assert _table(data) == {"1": 10, "2": 1, "4": 1}


def test_two_step_inline_runner(env, input_bytes, tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes(input_bytes)
    out = _run([sys.executable, str(TWO_STEP), "--no-conf", str(path)], b"", env)
    assert _table(out) == _frequencies(input_bytes)
