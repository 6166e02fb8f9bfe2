"""The six GridMix2 jobs in jobs/ run standalone, with no dirft, as plain MRJobs do."""

import collections
import importlib.util
import os
import subprocess
import sys

import pytest

from dirft.gridmix.generate import generate_file
from dirft.gridmix.jobs import GRIDMIX_JOBS, JOBS_DIR

ROOT = os.path.dirname(JOBS_DIR)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Tiny inputs of each data set: {dataset: path}."""
    base = tmp_path_factory.mktemp("jobs-data")
    sizes = {"text": 20_000, "kv": 150_000, "fixkv": 150_000}
    paths = {}
    for dataset, size in sizes.items():
        paths[dataset] = str(base / dataset)
        generate_file(paths[dataset], size, 9, dataset)
    return paths


def _inline(job: str, path: str) -> list[bytes]:
    """``python jobs/JOB.py -r inline PATH`` in a clean interpreter; its output lines."""
    env = {**os.environ, "PYTHONPATH": "", "LC_ALL": "C"}
    done = subprocess.run([sys.executable, os.path.join(JOBS_DIR, f"{job}.py"), "-r", "inline",
                           path], capture_output=True, env=env, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.splitlines()


def _genericmrload():
    spec = importlib.util.spec_from_file_location("genericmrload",
                                                  os.path.join(JOBS_DIR, "genericmrload.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_job_imports_dirft():
    for name in os.listdir(JOBS_DIR):
        text = open(os.path.join(JOBS_DIR, name), encoding="utf-8").read()
        assert "import dirft" not in text and "from dirft" not in text, name


def test_javasort_is_an_identity_sort(inputs):
    lines = open(inputs["kv"], "rb").read().splitlines()
    assert sorted(_inline("javasort", inputs["kv"])) == sorted(lines)


def test_combiner_counts_words(inputs):
    words = open(inputs["text"], "rb").read().split()
    got = dict(line.split(b"\t") for line in _inline("combiner", inputs["text"]))
    assert {k: int(v) for k, v in got.items()} == collections.Counter(words)


def test_webdatasort_keeps_every_record(inputs):
    lines = open(inputs["kv"], "rb").read().splitlines()
    assert sorted(_inline("webdatasort", inputs["kv"])) == sorted(lines)


def test_webdatascan_keeps_what_the_stable_hash_says(tmp_path):
    copies = _genericmrload().copies
    lines = [f"k{i % 5000}\tv{i % 7}" for i in range(100_000)]  # each record about 3 times
    path = tmp_path / "records"
    path.write_text("".join(f"{line}\n" for line in lines))
    mapped = [line for line in lines for _ in range(copies(line, 0.2, "map0"))]
    seen, expected = collections.Counter(), []
    for line in sorted(mapped):
        seen[line] += 1
        expected += [line] * copies(f"{line}\t{seen[line]}", 5.0, "red0")
    got = _inline("webdatascan", str(path))
    assert 100 < len(mapped) < 400 and expected
    assert sorted(got) == sorted(e.encode() for e in expected)


def test_monsterquery_runs_three_chained_steps(inputs):
    assert len(_inline("monsterquery", inputs["fixkv"])) < 10


def test_keep_fractions_are_deterministic_and_about_right():
    copies = _genericmrload().copies
    records = [f"key {i}\tvalue {i}" for i in range(20_000)]
    kept = sum(copies(r, 10.0, "map0") for r in records)
    assert 1800 < kept < 2200
    assert kept == sum(copies(r, 10.0, "map0") for r in records)
    assert sum(copies(r, 250.0, "red0") for r in records[:1000]) in range(2400, 2600)
    assert kept != sum(copies(r, 10.0, "map1") for r in records)


def test_streamsort_plain_mode_sorts_by_key(inputs, tmp_path):
    out = tmp_path / "out"
    subprocess.run(["sh", os.path.join(JOBS_DIR, "streamsort.sh"), "plain", inputs["text"],
                    str(out)], check=True)
    lines = open(inputs["text"], "rb").read().splitlines()
    got = (out / "part-00000").read_bytes().splitlines()
    assert sorted(got) == sorted(lines)
    keys = [line.split(b"\t")[0] for line in got]
    assert keys == sorted(keys) and (out / "_SUCCESS").exists()


def test_the_table_names_six_jobs_with_their_data():
    assert {n: j.dataset for n, j in GRIDMIX_JOBS.items()} == {
        "streamsort": "text", "javasort": "kv", "combiner": "text", "webdatascan": "kv",
        "webdatasort": "kv", "monsterquery": "fixkv"}
    for job in GRIDMIX_JOBS.values():
        assert job.script is None or os.path.isfile(job.script_path())
