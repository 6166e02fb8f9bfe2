"""Reduce-side integrity: the partition vote, replicated reducers, injected bit flips."""

import os
import random
import sys

import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench/
from bench.reduce_integrity import (  # noqa: E402
    CANDIDATES, fault_free, injected, map_outputs, reduce_once)
from dirft.core.reduce_vote import (  # noqa: E402
    AbortPartition, CommitPartition, PartitionVote, RunReplicas)
from dirft.errors import JobAborted  # noqa: E402
from dirft.shuffle import run_reduce_stage  # noqa: E402
from dirft.shuffle.replicated import ReduceIntegrity  # noqa: E402
from e2e import parts, report, streaming  # noqa: E402
from fault_injector.reduce import ReduceFault, flip_in_stream, plan_reduce_faults  # noqa: E402

GOOD, BAD, WORSE = "a" * 64, "b" * 64, "c" * 64


def test_vote_commits_once_quorum_digests_agree():
    vote = PartitionVote(3, quorum=2, max_runs=3)
    assert vote.start() == RunReplicas((0, 1))
    vote.record(0, GOOD)
    assert vote.next() is None  # replica 1 has not voted yet
    vote.record(1, GOOD)
    assert vote.next() == CommitPartition(0, GOOD)
    assert not vote.mismatched


def test_vote_runs_one_more_on_a_mismatch_or_a_void_vote():
    vote = PartitionVote(0, quorum=2, max_runs=3)
    vote.start()
    vote.record(0, None, "shuffle stream failed its digest")
    vote.record(1, GOOD)
    assert vote.next() == RunReplicas((2,))
    vote.record(2, GOOD)
    assert vote.next() == CommitPartition(1, GOOD) and vote.mismatched


def test_vote_aborts_past_its_bound_naming_partition_and_votes():
    vote = PartitionVote(7, quorum=2, max_runs=3)
    vote.start()
    vote.record(0, BAD)
    vote.record(1, GOOD)
    vote.next()
    vote.record(2, WORSE)
    step = vote.next()
    assert isinstance(step, AbortPartition)
    assert "reduce partition 7" in step.message and "r0: bbbbbbbbbbbb" in step.message
    assert "\n" not in step.message


def test_vote_refuses_a_vote_it_did_not_ask_for():
    vote = PartitionVote(0, quorum=1, max_runs=1)
    vote.start()
    vote.record(0, GOOD)
    with pytest.raises(ValueError):
        vote.record(0, GOOD)
    with pytest.raises(ValueError):
        vote.record(1, GOOD)


@settings(max_examples=200)
@given(st.integers(1, 3), st.data())
def test_vote_within_tolerance_commits_the_true_digest(silent, data):
    """Any f_s faulty runs (wrong digests, void votes) among any order: the true digest wins."""
    vote = PartitionVote(0, silent + 1, 2 * silent + 1)
    faulty = set(data.draw(st.lists(st.integers(0, 2 * silent), max_size=silent, unique=True)))
    step = vote.start()
    while isinstance(step, RunReplicas):
        for r in step.ids:
            bad = data.draw(st.sampled_from([None, f"{r:064x}"]))
            vote.record(r, bad if r in faulty else GOOD)
        step = vote.next()
    assert step == CommitPartition(min(r for r, d in vote.votes.items() if d == GOOD), GOOD)
    assert vote.started <= silent + 1 + len(faulty)


def test_flip_in_stream_inverts_one_bit_anywhere_in_the_stream():
    chunks = [b"abc", b"", b"defg", b"h"]
    for bit in range(8 * 8):
        out = b"".join(flip_in_stream(iter(chunks), bit, 8))
        diff = [a ^ b for a, b in zip(out, b"abcdefgh")]
        assert sum(bin(d).count("1") for d in diff) == 1 and diff[bit // 8] == 1 << bit % 8


def test_reduce_fault_plan_is_seeded_and_within_tolerance():
    plan = plan_reduce_faults(10, 2, "output", 50, seed=4)
    assert plan == plan_reduce_faults(10, 2, "output", 50, seed=4)
    assert len({p for p, _ in plan}) == 5 and all(r in (0, 1) for _, r in plan)
    assert len(plan) == 5  # f_s = 1 faulty replica per hit partition
    assert plan_reduce_faults(10, 2, "none", 50, seed=4) == {}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small committed map output (4 files) and its fault-free identity-reduce output."""
    workdir = str(tmp_path_factory.mktemp("reduce"))
    outputs = map_outputs(workdir, 20_000, seed=1)
    return workdir, outputs, reduce_once(outputs, workdir, CANDIDATES["off"], ["cat"], 1)[0]


@pytest.mark.parametrize("where", ["shuffle", "output"])
def test_a_flipped_bit_is_outvoted_and_the_output_is_the_fault_free_one(small, where):
    workdir, outputs, reference = small
    integrity = ReduceIntegrity(1, {(0, 1): ReduceFault(where, 12345)})
    got, result, _ = reduce_once(outputs, workdir, integrity, ["cat"], 1)
    assert got == reference
    assert result.mismatched == [0] and result.reduce_runs == [3]
    assert (1 in result.void_votes.get(0, {})) == (where == "shuffle")


def test_beyond_tolerance_the_stage_aborts_and_commits_nothing(small, tmp_path):
    _, outputs, _ = small
    faults = {(0, r): ReduceFault("output", 8 * r + 3) for r in range(3)}
    out = tmp_path / "out"
    with pytest.raises(JobAborted, match="reduce partition 0: no quorum"):
        run_reduce_stage(outputs, 1, ["cat"], str(out), str(tmp_path / "w"),
                         lambda p: dict(os.environ), integrity=ReduceIntegrity(1, faults))
    assert not [n for n in os.listdir(out) if n.startswith(("part-", ".part-"))]


def test_digests_alone_miss_a_flipped_reducer_output(small):
    """Why replicated reducers: one checked run commits a wrong output it cannot see."""
    workdir, outputs, reference = small
    tally = injected(outputs, workdir, 4, 2, CANDIDATES["digests"], reference)
    assert tally["shuffle"]["detected"] == 2 and tally["shuffle"]["wrong"] == 0
    assert tally["output"]["detected"] == 0 and tally["output"]["wrong"] == 2


def test_seeded_sample_of_the_bench_detects_all_and_raises_no_false_alarm(small):
    workdir, outputs, reference = small
    seed = random.Random(14).randrange(1 << 30)
    tally = injected(outputs, workdir, 24, seed, CANDIDATES["replicated"], reference)
    assert all(t["detected"] == t["cases"] == 12 and t["wrong"] == 0 for t in tally.values())
    assert fault_free(outputs, workdir, 12, reference) == {
        "runs": 12, "false_alarms": 0, "wrong": 0}


def test_streaming_job_under_silent_tolerance_outvotes_a_flipped_reduce_output(tmp_path,
                                                                            capsys):
    data = tmp_path / "in.txt"
    data.write_bytes(b"".join(b"k%03d\tv%d\n" % (i % 97, i) for i in range(3000)))
    runs = {}
    for name, extra in (("clean", []), ("flipped", [
            "-D", "mapred.map.tasks.fault.inject=true", "-D", "mapred.map.tasks.fault.percent=0",
            "-D", "dirft.fault.reduce.mode=output"])):
        out = tmp_path / name
        code, _, err = streaming(capsys, data, out, "-mapper", "cat", "-reducer", "cat",
                                 "-D", "mapreduce.job.reduces=2",
                                 "-D", "mapred.map.tasks.fault.nature=2", *extra)
        assert code == 0, err
        runs[name] = (parts(out), report(out)["reduce_integrity"])
    assert runs["flipped"][0] == runs["clean"][0]
    assert runs["clean"][1] == {"voted": True, "reducer_runs": [2, 2],
                                "mismatched_partitions": [], "void_votes": {}}
    assert runs["flipped"][1]["mismatched_partitions"] == [0, 1]
    assert runs["flipped"][1]["reducer_runs"] == [3, 3]
