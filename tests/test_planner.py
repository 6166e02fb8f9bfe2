"""Tests of dirft.core.planner: HDFS-like block placement, new-API splits, sub-splits, replicas."""

from collections import Counter

import pytest
from hypothesis import given, strategies as st

from dirft.core.planner import (
    Block, InputFile, InputSplit, SubSplit, compute_splits, make_subsplits, place_blocks,
    replica_nodes)
from dirft.errors import ConfigError, InputError

MB = 1 << 20
NODES = [f"node{i}" for i in range(6)]


def splits_of(sizes, block_size, **kwargs):
    """Return compute_splits of files ``f0, f1, ...`` of ``sizes``, placed with seed 1."""
    files = [InputFile(f"f{i}", size) for i, size in enumerate(sizes)]
    blocks = place_blocks(files, block_size, NODES, seed=1)
    return compute_splits(files, blocks, block_size, **kwargs)


def lengths(splits):
    """Return the split lengths."""
    return [s.length for s in splits]


# ---- compute_splits: Hadoop's FileInputFormat.getSplits cases ----

def test_three_mb_file_one_mb_block_gives_three_splits():
    """3 MiB / 1 MiB: 3.0 and 2.0 exceed the 1.1 slop, the last 1.0 MiB does not."""
    splits = splits_of([3 * MB], MB)
    assert [(s.start, s.length) for s in splits] == [(0, MB), (MB, MB), (2 * MB, MB)]
    assert [s.end for s in splits] == [MB, 2 * MB, 3 * MB]


def test_three_million_bytes_one_mib_block():
    """3,000,000 bytes / 1 MiB block: two full splits, then the remainder."""
    assert lengths(splits_of([3_000_000], MB)) == [MB, MB, 3_000_000 - 2 * MB]


def test_file_of_1_05_split_sizes_is_one_split():
    """A file of 1.05 x splitSize stays one split (1.05 <= SPLIT_SLOP)."""
    size = MB + MB // 20
    splits = splits_of([size], MB)
    assert [(s.start, s.length) for s in splits] == [(0, size)]


def test_slop_boundary_exactly():
    """remaining/splitSize just at or below 1.1 makes one last split; just above, two."""
    below = MB + 104857  # 1153433 / 1048576 = 1.09999...
    above = MB + 104858  # 1153434 / 1048576 = 1.1000004
    assert lengths(splits_of([MB + below], MB)) == [MB, below]
    assert lengths(splits_of([MB + above], MB)) == [MB, MB, above - MB]


def test_zero_length_file_gives_one_empty_split():
    """As Hadoop: a zero-length file is one split (start 0, length 0, no hosts)."""
    splits = splits_of([0], MB)
    assert splits == [InputSplit(0, "f0", 0, 0, ())]


def test_max_size_smaller_than_block():
    """split.maxsize below the block size cuts splits of maxsize (dirft honours it)."""
    splits = splits_of([10 * MB], 4 * MB, max_size=MB)
    assert lengths(splits) == [MB] * 10
    blocks = place_blocks([InputFile("f0", 10 * MB)], 4 * MB, NODES, seed=1)["f0"]
    for s in splits:
        assert s.hosts == blocks[s.start // (4 * MB)].hosts


def test_min_size_larger_than_block():
    """split.minsize above the block size gives splits of minsize; hosts of the start block."""
    splits = splits_of([10 * MB], MB, min_size=3 * MB)
    assert lengths(splits) == [3 * MB, 3 * MB, 3 * MB, MB]
    blocks = place_blocks([InputFile("f0", 10 * MB)], MB, NODES, seed=1)["f0"]
    assert [s.hosts for s in splits] == [blocks[i].hosts for i in (0, 3, 6, 9)]


def test_hosts_of_block_holding_split_start():
    """With 1.5 MiB splits on 1 MiB blocks, a split starting at 1.5 MiB takes block 1's hosts."""
    files = [InputFile("f", 3 * MB)]
    blocks = place_blocks(files, MB, NODES, seed=7)
    splits = compute_splits(files, blocks, MB, min_size=MB + MB // 2)
    assert [s.start for s in splits] == [0, MB + MB // 2]
    assert splits[1].hosts == blocks["f"][1].hosts


def test_indices_run_across_files_in_order():
    """Split indices are 0.. across files, in the given file order."""
    splits = splits_of([2 * MB, 0, MB // 2], MB)
    assert [(s.index, s.path) for s in splits] == [(0, "f0"), (1, "f0"), (2, "f1"), (3, "f2")]


def test_missing_blocks_is_input_error():
    """A file without blocks covering a split's start is an InputError."""
    with pytest.raises(InputError):
        compute_splits([InputFile("f", 10)], {}, MB)


@pytest.mark.parametrize("kwargs", [dict(block_size=0), dict(max_size=0), dict(min_size=-1)])
def test_bad_sizes_are_config_errors(kwargs):
    """A non-positive block or max size, or a negative min size, is a ConfigError."""
    args = dict(block_size=MB) | kwargs
    with pytest.raises(ConfigError):
        compute_splits([InputFile("f", 10)], {}, **args)


@given(sizes=st.lists(st.integers(0, 5000), max_size=4), block=st.integers(1, 900),
       min_size=st.integers(0, 700), max_size=st.integers(1, 2000))
def test_splits_cover_each_file_exactly(sizes, block, min_size, max_size):
    """Splits tile every file in order; all but the last are splitSize; last <= 1.1 x."""
    splits = splits_of(sizes, block, min_size=min_size, max_size=max_size)
    size_of = max(max(1, min_size), min(max_size, block))
    for i, size in enumerate(sizes):
        mine = [s for s in splits if s.path == f"f{i}"]
        assert [s.start for s in mine] == [0] + [s.end for s in mine[:-1]]
        assert mine[-1].end == size
        assert all(s.length == size_of for s in mine[:-1])
        assert mine[-1].length <= size_of * 1.1 or size == 0
    assert [s.index for s in splits] == list(range(len(splits)))


# ---- place_blocks ----

def test_place_blocks_cuts_files_and_places_distinct_copies():
    """Blocks tile each file; each has min(copies, nodes) distinct hosts."""
    files = [InputFile("a", 10 * MB + 5), InputFile("b", 0), InputFile("c", MB)]
    placed = place_blocks(files, 4 * MB, NODES, seed=3)
    assert [(b.offset, b.length) for b in placed["a"]] == [
        (0, 4 * MB), (4 * MB, 4 * MB), (8 * MB, 2 * MB + 5)]
    assert placed["b"] == ()
    assert placed["c"] == (Block("c", 0, MB, placed["c"][0].hosts),)
    for blocks in placed.values():
        for b in blocks:
            assert len(b.hosts) == 3 and len(set(b.hosts)) == 3
            assert set(b.hosts) <= set(NODES)


def test_place_blocks_fewer_nodes_than_copies():
    """With 2 nodes and 3 copies, each block gets both nodes."""
    placed = place_blocks([InputFile("a", 5)], 2, ["x", "y"], seed=0)
    assert all(sorted(b.hosts) == ["x", "y"] for b in placed["a"])


def test_place_blocks_deterministic_per_seed():
    """The same seed gives the same placement; another seed a different one."""
    files = [InputFile("a", 100 * MB)]
    assert place_blocks(files, MB, NODES, seed=5) == place_blocks(files, MB, NODES, seed=5)
    assert place_blocks(files, MB, NODES, seed=5) != place_blocks(files, MB, NODES, seed=6)


def test_place_blocks_spreads_load():
    """Writers go round-robin: first copies differ by at most 1 per node; all nodes used."""
    placed = place_blocks([InputFile("a", 600 * MB + 1)], MB, NODES, seed=9)["a"]
    first = Counter(b.hosts[0] for b in placed)
    assert max(first.values()) - min(first.values()) <= 1
    total = Counter(h for b in placed for h in b.hosts)
    assert set(total) == set(NODES)
    assert max(total.values()) < 1.5 * min(total.values())


@pytest.mark.parametrize("nodes, copies, block", [([], 3, MB), (["x", "x"], 3, MB),
                                                  (NODES, 0, MB), (NODES, 3, 0)])
def test_place_blocks_config_errors(nodes, copies, block):
    """No nodes, a repeated node, zero copies or zero block size is a ConfigError."""
    with pytest.raises(ConfigError):
        place_blocks([InputFile("a", 10)], block, nodes, seed=0, copies=copies)


def test_place_blocks_input_errors():
    """A negative size or a repeated path is an InputError."""
    with pytest.raises(InputError):
        place_blocks([InputFile("a", -1)], MB, NODES, seed=0)
    with pytest.raises(InputError):
        place_blocks([InputFile("a", 1), InputFile("a", 2)], MB, NODES, seed=0)


# ---- make_subsplits ----

def test_subsplits_equal_up_to_rounding():
    """10 bytes in 3: 4, 3, 3 (longer first), contiguous from the split's start."""
    split = InputSplit(0, "f", 100, 10, ())
    assert make_subsplits(split, 3) == (SubSplit(0, 100, 4), SubSplit(1, 104, 3),
                                        SubSplit(2, 107, 3))


def test_subsplits_of_tiny_split_may_be_empty():
    """A 2-byte split in 4 gives 1, 1, 0, 0."""
    subs = make_subsplits(InputSplit(0, "f", 0, 2, ()), 4)
    assert [(s.start, s.length) for s in subs] == [(0, 1), (1, 1), (2, 0), (2, 0)]


def test_subsplits_count_below_one_is_config_error():
    """Zero sub-splits is a ConfigError."""
    with pytest.raises(ConfigError):
        make_subsplits(InputSplit(0, "f", 0, 2, ()), 0)


@given(start=st.integers(0, 10**12), length=st.integers(0, 10**6), count=st.integers(1, 9))
def test_subsplits_cover_split_exactly(start, length, count):
    """Sub-splits are contiguous, cover the split, and differ in length by at most 1."""
    split = InputSplit(2, "f", start, length, ())
    subs = make_subsplits(split, count)
    assert [s.index for s in subs] == list(range(count))
    assert subs[0].start == split.start and subs[-1].end == split.end
    assert all(a.end == b.start for a, b in zip(subs, subs[1:]))
    assert [s.length for s in subs] == sorted((s.length for s in subs), reverse=True)
    assert subs[0].length - subs[-1].length <= 1


# ---- replica_nodes ----

def test_replicas_distinct_holders_first():
    """Block holders come first, then other nodes, all distinct."""
    split = InputSplit(3, "f", 0, 10, ("node4", "node1", "node2"))
    chosen = replica_nodes(split, 5, NODES, seed=0)
    assert len(set(chosen)) == 5
    assert set(chosen[:3]) == {"node1", "node2", "node4"}


def test_replicas_deterministic_and_spread():
    """Same inputs give the same nodes; over many tasks every holder comes first sometimes."""
    hosts = ("node0", "node1", "node2")
    split = InputSplit(0, "f", 0, 10, hosts)
    assert replica_nodes(split, 2, NODES, seed=4) == replica_nodes(split, 2, NODES, seed=4)
    firsts = Counter(replica_nodes(InputSplit(i, "f", 0, 10, hosts), 1, NODES, seed=4)[0]
                     for i in range(60))
    assert set(firsts) == set(hosts)


def test_replicas_exclude_and_unknown_hosts():
    """Excluded nodes and block hosts outside ``nodes`` are never chosen."""
    split = InputSplit(1, "f", 0, 10, ("node0", "elsewhere", "node1"))
    chosen = replica_nodes(split, 4, NODES, seed=2, exclude={"node0", "node5"})
    assert chosen[0] == "node1"
    assert set(chosen) == {"node1", "node2", "node3", "node4"}


def test_replicas_too_few_nodes_is_config_error():
    """Asking for more replicas than usable nodes names the task and dirft.nodes."""
    split = InputSplit(3, "f", 0, 10, ())
    message = r"task 3 needs 4 replicas .* only 3 nodes .*dirft\.nodes"
    with pytest.raises(ConfigError, match=message):
        replica_nodes(split, 4, ["a", "b", "c"], seed=0)
    with pytest.raises(ConfigError, match="dirft.nodes"):
        replica_nodes(split, 3, ["a", "b", "c"], seed=0, exclude=["b"])
    with pytest.raises(ConfigError):
        replica_nodes(split, 0, ["a"], seed=0)


@given(hosts=st.lists(st.sampled_from(NODES), max_size=3, unique=True),
       exclude=st.lists(st.sampled_from(NODES), max_size=3), count=st.integers(1, 6),
       seed=st.integers(0, 2**32), index=st.integers(0, 1000))
def test_replicas_invariants(hosts, exclude, count, seed, index):
    """Distinct, never excluded, holders before non-holders; or a ConfigError when short."""
    split = InputSplit(index, "f", 0, 1, tuple(hosts))
    usable = [n for n in NODES if n not in exclude]
    if count > len(usable):
        with pytest.raises(ConfigError):
            replica_nodes(split, count, NODES, seed, exclude)
        return
    chosen = replica_nodes(split, count, NODES, seed, exclude)
    assert len(chosen) == count == len(set(chosen))
    assert not set(chosen) & set(exclude)
    held = [n in hosts for n in chosen]
    assert held == sorted(held, reverse=True)
    assert sum(held) == min(count, len([h for h in hosts if h in usable]))


def test_seeded_sample_draws_exactly_what_random_sample_draws():
    """The planner's inlined sample must keep plans identical to ``Random.sample``'s."""
    import random

    from dirft.core.planner import seeded_sample
    for n in range(0, 40):
        population = tuple(f"n{i}" for i in range(n))
        for k in range(0, min(n, 7) + 1):
            for seed in range(25):
                ours, theirs = random.Random(seed), random.Random(seed)
                for _ in range(3):  # and the generator is left in the same state
                    assert seeded_sample(ours, population, k) == theirs.sample(population, k)


def test_subsplits_are_named_tuples_with_an_end():
    subs = make_subsplits(InputSplit(0, "f", 10, 7, ()), 3)
    assert subs == (SubSplit(0, 10, 3), SubSplit(1, 13, 2), SubSplit(2, 15, 2))
    assert [s.end for s in subs] == [13, 15, 17] and type(subs[0]) is SubSplit
