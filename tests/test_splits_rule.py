"""Hadoop Streaming's input splits (the old ``mapred`` ``FileInputFormat.getSplits`` and
``JobSubmitter``'s numbering) against a direct model of the Java loop, and the rule the
runners pick from the jobconf (:func:`dirft.runners.inputs.split_rule`)."""

from hypothesis import given, strategies as st

from dirft.config import JobConf
from dirft.core.planner import (SPLIT_SLOP, Block, InputFile, InputSplit, compute_splits,
                                goal_size, hadoop_order, place_blocks, split_hosts)
from dirft.runners.inputs import Stored, split_rule

MB = 1 << 20
NODES = [f"node{i}" for i in range(6)]


def java_get_splits(sizes, maps, block, min_size):
    """``[(file index, start, length)]`` as ``getSplits(job, maps)`` writes the Java loop,
    then sorted largest first (``writeOldSplits``, a stable sort)."""
    total = sum(sizes)
    goal = total // (maps if maps else 1)
    split = max(max(min_size, 1), min(goal, block))
    out = []
    for i, length in enumerate(sizes):
        if length == 0:
            out.append((i, 0, 0))
            continue
        remaining = length
        while float(remaining) / split > SPLIT_SLOP:
            out.append((i, length - remaining, split))
            remaining -= split
        if remaining:
            out.append((i, length - remaining, remaining))
    return sorted(out, key=lambda s: -s[2])


def streaming_splits(sizes, maps, block, min_size=1):
    """dirft's splits of files ``f0, f1, ...`` as the runners plan them without
    ``dirft.split.maxsize``: goal size, old-API hosts, Hadoop's order."""
    files = [InputFile(f"f{i}", size) for i, size in enumerate(sizes)]
    blocks = place_blocks(files, block, NODES, seed=1)
    splits = compute_splits(files, blocks, block, min_size, goal_size(sum(sizes), maps),
                            old_api=True)
    return hadoop_order(splits)


@given(sizes=st.lists(st.integers(0, 40_000), min_size=1, max_size=5),
       maps=st.integers(1, 9), block=st.integers(400, 30_000), min_size=st.integers(0, 20_000))
def test_splits_are_the_old_api_loop_largest_first(sizes, maps, block, min_size):
    splits = streaming_splits(sizes, maps, block, min_size)
    assert [(int(s.path[1:]), s.start, s.length) for s in splits] == \
        java_get_splits(sizes, maps, block, min_size)
    assert [s.index for s in splits] == list(range(len(splits)))


def test_a_64_mib_file_of_one_block_is_two_splits_whatever_split_maxsize_says():
    conf = JobConf.load(defines=["mapreduce.input.fileinputformat.split.maxsize=8m"])
    max_size, old_api = split_rule(conf, [InputFile("big", 64 * MB)], {})
    assert (max_size, old_api) == (32 * MB, True)
    assert [(s.start, s.length) for s in streaming_splits([64 * MB], 2, 128 * MB)] == \
        [(0, 32 * MB), (32 * MB, 32 * MB)]
    assert len(streaming_splits([64 * MB], 8, 128 * MB)) == 8


def test_dirfts_own_knob_is_the_new_api_rule_in_input_order():
    conf = JobConf.load(defines=["dirft.split.maxsize=8m"])
    assert split_rule(conf, [InputFile("big", 64 * MB)], {}) == (8 * MB, False)


def test_the_goal_size_counts_a_compressed_file_by_its_stored_bytes():
    conf = JobConf.load()
    files = [InputFile("a.gz", 900, splittable=False), InputFile("b", 100)]
    assert split_rule(conf, files, {"a.gz": Stored("GzipCodec", 300)}) == (200, True)


def test_goal_size_of_nothing_or_few_bytes_is_one_byte():
    assert goal_size(0, 2) == goal_size(1, 2) == goal_size(5, 0) // 5 == 1


def test_a_compressed_split_is_numbered_by_its_stored_length():
    splits = [InputSplit(0, "big.txt", 0, 500, ()), InputSplit(1, "c.gz", 0, 9000, ()),
              InputSplit(2, "small.txt", 0, 400, ())]
    ordered = hadoop_order(splits, {"c.gz": 450})
    assert [(s.index, s.path) for s in ordered] == [(0, "big.txt"), (1, "c.gz"),
                                                  (2, "small.txt")]


BLOCKS = [Block("f", 0, 10, ("a", "b", "c")), Block("f", 10, 10, ("b", "c", "d")),
          Block("f", 20, 5, ("d", "e", "a"))]


def test_a_split_inside_one_block_takes_that_blocks_hosts_in_order():
    assert split_hosts(BLOCKS, 0, 10) == ("a", "b", "c")
    assert split_hosts(BLOCKS, 12, 8) == ("b", "c", "d")


def test_a_split_over_blocks_takes_the_hosts_holding_most_of_its_bytes():
    # 5 bytes in block 0 (a b c), 5 in block 1 (b c d): b and c hold 10, a and d 5
    assert split_hosts(BLOCKS, 5, 10) == ("b", "c", "a")
    # 8 + 10 + 2 bytes: b 18, c 18, d 12, a 10, e 2; as many as the last block's hosts
    assert split_hosts(BLOCKS, 2, 20) == ("b", "c", "d")


def test_an_unsplittable_files_hosts_count_all_its_stored_blocks():
    files = [InputFile("f", 90_000, splittable=False)]
    split = compute_splits(files, {"f": BLOCKS}, 10, old_api=True)[0]
    # b and c hold 20 bytes, a and d 15 (a tie: first seen first), e 5
    assert (split.start, split.length, split.hosts) == (0, 90_000, ("b", "c", "a"))
