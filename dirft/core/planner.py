"""Planning a job's map side: blocks → input splits → sub-splits → replica nodes.

Pure functions, no I/O, no wall clock; every random choice comes from a
``random.Random`` seeded by the caller, so the same inputs and seed give the same plan on
any machine. The rules follow Hadoop where Hadoop has one:

* :func:`place_blocks` — HDFS cuts a file into ``dfs.blocksize`` blocks and stores
  ``dfs.replication`` copies of each on distinct DataNodes (``BlockPlacementPolicyDefault``:
  the first copy on the writer's node, the others on other nodes; we emulate one rack).
* :func:`compute_splits` — the new-API ``org.apache.hadoop.mapreduce.lib.input.
  FileInputFormat.getSplits``: split size ``max(minsize, min(maxsize, blocksize))``, the
  1.1 ``SPLIT_SLOP`` at the end, hosts of the block holding the split's first byte.
  Plain Hadoop Streaming uses the old ``mapred`` API, which ignores ``split.maxsize``;
  dirft honours it on purpose (see ``HADOOP_STREAMING_FACTS.md``).
* :func:`make_subsplits` — DIRFT's R contiguous byte ranges of one split (DESIGN.md §2).
* :func:`replica_nodes` — R distinct nodes for a task's replicas, block holders first.

All offsets and lengths are in bytes. Record ownership at every boundary follows
``LineRecordReader``: see :class:`SubSplit` and :func:`dirft.records.read_records`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from dirft.errors import ConfigError, InputError

#: ``FileInputFormat.SPLIT_SLOP``: the last split may be up to 10% larger than the split size.
SPLIT_SLOP = 1.1

#: Hadoop's default ``mapreduce.input.fileinputformat.split.maxsize`` (``Long.MAX_VALUE``).
MAX_SPLIT_SIZE = 2**63 - 1

#: ``_new_tuple(NamedTupleClass, (fields...))`` makes a named tuple without its Python-level
#: ``__new__`` (a third of the cost); the planner's hot loops use it.
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input file: its ``path`` (any string naming it) and ``size`` in bytes (>= 0)."""

    path: str
    size: int


class Block(NamedTuple):
    """One HDFS block: bytes ``[offset, offset + length)`` of ``path``, stored on ``hosts``.

    ``hosts`` are distinct node names, the writer's node first (HDFS ``BlockLocation``).
    A named tuple (immutable, compared and hashed by value), not a frozen dataclass: a
    plan of small files makes one per task, and a tuple is made several times faster.
    """

    path: str
    offset: int
    length: int
    hosts: tuple[str, ...]


class InputSplit(NamedTuple):
    """One map task's input, a Hadoop ``FileSplit``: ``length`` bytes of ``path`` from ``start``.

    ``index`` numbers the splits of a job from 0 (the map task's partition number);
    ``hosts`` are the nodes holding the block that contains ``start`` (may be empty).
    A named tuple, as :class:`Block` (one per map task); ``_replace`` makes a changed copy.
    """

    index: int
    path: str
    start: int
    length: int
    hosts: tuple[str, ...]

    @property
    def end(self) -> int:
        """Return the absolute offset one past the split's last byte (``start + length``)."""
        return self.start + self.length


class SubSplit(NamedTuple):
    """One of a split's R contiguous byte ranges, in absolute file offsets.

    Ownership rule (``LineRecordReader``): a record belongs to the sub-split in whose range
    ``(start, end]`` it *starts*; a range with ``start == 0`` owns ``[0, end]``, i.e. also the
    file's first line. A reader of the range finishes the line that straddles ``end``.
    So only one range per file may start at 0: an empty range at 0 would own that line
    too (Hadoop never plans one for a non-empty file; :func:`make_subsplits` puts the
    empty ranges of a tiny split at its end). A named tuple, not a frozen dataclass:
    a planner makes R of them per task, and a tuple is made several times faster.
    """

    index: int
    start: int
    length: int

    @property
    def end(self) -> int:
        """Return the absolute offset one past the range's last byte (``start + length``)."""
        return self.start + self.length


def _check_nodes(nodes: Sequence[str]) -> None:
    """Raise :class:`ConfigError` naming ``dirft.nodes`` if ``nodes`` is empty or has a repeat."""
    if not nodes:
        raise ConfigError("dirft.nodes: no nodes given; name at least one node")
    seen: set[str] = set()
    for node in nodes:
        if node in seen:
            raise ConfigError(f"dirft.nodes: node {node!r} is listed twice; names must be unique")
        seen.add(node)


def _check_files(files: Sequence[InputFile]) -> None:
    """Raise :class:`InputError` if a file has a negative size or a path is listed twice."""
    seen: set[str] = set()
    for f in files:
        if f.size < 0:
            raise InputError(f"input {f.path}: size {f.size} is negative")
        if f.path in seen:
            raise InputError(f"input {f.path}: listed twice; give each input path once")
        seen.add(f.path)


def _cut_file(size: int, block_size: int) -> list[tuple[int, int]]:
    """Return the ``(offset, length)`` pairs of a ``size``-byte file cut into blocks.

    Every block is ``block_size`` bytes but the last, which may be shorter; a zero-length
    file has no blocks (HDFS allocates a block only when the first byte is written).
    """
    return [(off, min(block_size, size - off)) for off in range(0, size, block_size)]


def place_blocks(files: Sequence[InputFile], block_size: int, nodes: Sequence[str],
                 seed: int, copies: int = 3) -> dict[str, tuple[Block, ...]]:
    """Cut ``files`` into blocks and place ``min(copies, len(nodes))`` copies of each block.

    Takes the files, ``block_size`` in bytes (``dfs.blocksize``, >= 1), the node names,
    a seed and ``copies`` (``dfs.replication``, >= 1). Returns ``{path: (Block, ...)}`` with
    every file's path (``()`` for a zero-length file), blocks in offset order.

    Placement emulates HDFS ``BlockPlacementPolicyDefault`` on a single rack: the first copy
    goes to the "writer" node, the others to distinct other nodes drawn at random. Writers
    take turns round-robin over ``nodes`` (from a seeded start), so first copies are spread
    evenly (counts differ by at most 1); everything is drawn from ``random.Random(seed)``.
    Raises :class:`ConfigError` for a bad block size, copy count or node list and
    :class:`InputError` for a negative size or a repeated path.
    """
    if block_size < 1:
        raise ConfigError(f"dfs.blocksize: {block_size} is not a positive number of bytes")
    if copies < 1:
        raise ConfigError(f"dfs.replication: {copies} copies; need at least 1")
    _check_nodes(nodes)
    _check_files(files)
    hosts = _host_draws(nodes, min(copies, len(nodes)), random.Random(seed))
    placed: dict[str, tuple[Block, ...]] = {}
    for f in files:
        if 0 < f.size <= block_size:  # one block (a job of small files)
            placed[f.path] = (_new_tuple(Block, (f.path, 0, f.size, next(hosts))),)
        else:
            placed[f.path] = tuple([_new_tuple(Block, (f.path, offset, length, next(hosts)))
                                    for offset, length in _cut_file(f.size, block_size)])
    return placed


def _host_draws(nodes: Sequence[str], width: int,
                rng: random.Random) -> Iterator[tuple[str, ...]]:
    """Yield the hosts of successive blocks, endlessly: ``width`` distinct nodes each.

    The writer (first copy) takes turns over ``nodes`` from ``rng.randrange(len(nodes))``;
    the other ``width - 1`` are ``rng.sample`` of the other nodes (in ``nodes`` order).
    Large clusters (over 22 nodes, width <= 6) take :func:`_drawn_hosts`, the same draws
    without a call per block; smaller ones :func:`_pick_hosts`.
    """
    count = len(nodes)
    writer = rng.randrange(count)
    if count - 1 > 21 and width - 1 <= 5:
        yield from _drawn_hosts(nodes, width, rng, writer)
    others: dict[int, tuple[str, ...]] = {}
    while True:
        yield _pick_hosts(nodes, writer, width, rng, others)
        writer = (writer + 1) % count


def _drawn_hosts(nodes: Sequence[str], width: int, rng: random.Random,
                 writer: int) -> Iterator[tuple[str, ...]]:
    """:func:`_host_draws` for ``len(nodes) > 22``, ``width <= 6``: ``Random.sample``'s set path.

    Each other node is ``population[j]``, ``j = getrandbits(n.bit_length())`` drawn again
    while ``j >= n`` or already taken (n = ``len(nodes) - 1``, the writer left out): exactly
    CPython's draws (see :func:`seeded_sample`), so the plans are the same.
    """
    count, bits = len(nodes), rng.getrandbits
    n, size, draws = count - 1, (count - 1).bit_length(), range(width - 1)
    populations = [tuple(nodes[:w]) + tuple(nodes[w + 1:]) for w in range(count)]
    while True:
        population, picked = populations[writer], [nodes[writer]]
        for _ in draws:
            j = bits(size)
            while j >= n or population[j] in picked:  # names are distinct
                j = bits(size)
            picked.append(population[j])
        yield tuple(picked)
        writer = writer + 1 if writer + 1 < count else 0


def _pick_hosts(nodes: Sequence[str], writer: int, width: int, rng: random.Random,
                others: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    """Return ``width`` distinct nodes: ``nodes[writer]`` first, then random other nodes.

    ``others`` caches, per writer index, the other nodes in ``nodes`` order (the
    population ``rng.sample`` draws from; building it per block made placement O(blocks x
    nodes)). Same draws, same result as without the cache.
    """
    population = others.get(writer)
    if population is None:
        population = others[writer] = tuple(n for i, n in enumerate(nodes) if i != writer)
    return (nodes[writer], *seeded_sample(rng, population, width - 1))


def seeded_sample(rng: random.Random, population: Sequence, k: int) -> list:
    """Return ``rng.sample(population, k)``: the same draws, the same result, faster.

    CPython's ``Random.sample`` (3.8–3.13) without its argument checks and with
    ``_randbelow`` inlined: for a population of n, a list pool when ``n <= 21`` (k <= 5),
    else rejection from a set; each index drawn by ``getrandbits(n.bit_length())`` until
    it is below the bound. The Python-level call was a third of the planner's block
    placement. ``0 <= k <= 5`` and ``k <= len(population)``; other k use ``rng.sample``.
    """
    n = len(population)
    if not 0 <= k <= min(5, n):
        return rng.sample(population, k)
    bits = rng.getrandbits
    if n <= 21:
        pool, result = list(population), []
        for i in range(k):
            m = n - i
            j = bits(m.bit_length())
            while j >= m:
                j = bits(m.bit_length())
            result.append(pool[j])
            pool[j] = pool[m - 1]
        return result
    width, chosen = n.bit_length(), []
    for _ in range(k):
        j = bits(width)
        while j >= n or j in chosen:
            j = bits(width)
        chosen.append(j)
    return [population[j] for j in chosen]


def compute_splits(files: Sequence[InputFile], blocks_by_path: Mapping[str, Sequence[Block]],
                   block_size: int, min_size: int = 1,
                   max_size: int = MAX_SPLIT_SIZE) -> list[InputSplit]:
    """Return the input splits of ``files``, as new-API ``FileInputFormat.getSplits`` does.

    Takes the files (in job order), their blocks (as from :func:`place_blocks`, for hosts),
    ``block_size``, ``min_size`` and ``max_size`` in bytes (``mapreduce.input.
    fileinputformat.split.minsize|maxsize``). Split size is ``max(minSize, min(maxSize,
    blockSize))`` with ``minSize >= 1`` (``getFormatMinSplitSize``); while ``remaining /
    splitSize > 1.1`` (``SPLIT_SLOP``, compared in doubles as Java does) a split of
    ``splitSize`` is cut; a non-zero remainder is the last split. A zero-length file gives
    one empty split ``(start 0, length 0, hosts ())``. Hosts are those of the block holding
    the split's start (``getBlockIndex``). Indices run 0.. across all files in order.
    Raises :class:`ConfigError` for bad sizes, :class:`InputError` when a file's blocks do
    not cover a split's start offset.
    """
    split_size = _split_size(block_size, min_size, max_size)
    _check_files(files)
    return _splits_of(files, blocks_by_path, split_size)


def _splits_of(files: Sequence[InputFile], blocks_by_path: Mapping[str, Sequence[Block]],
               split_size: int) -> list[InputSplit]:
    """:func:`compute_splits` after its checks (``files`` checked, ``split_size`` >= 1).

    A file of one split within its only block, at offset 0 (a job of small files), takes
    that block's hosts without a search; other files go through :func:`_file_splits`.
    """
    splits: list[InputSplit] = []
    for f in files:
        blocks = blocks_by_path.get(f.path, ())
        if (0 < f.size <= split_size and len(blocks) == 1 and blocks[0].offset == 0
                and f.size <= blocks[0].length):
            splits.append(_new_tuple(InputSplit, (len(splits), f.path, 0, f.size,
                                                  tuple(blocks[0].hosts))))
        else:
            splits += _file_splits(f, blocks, split_size, len(splits))
    return splits


def _file_splits(f: InputFile, blocks: Sequence[Block], split_size: int,
                 first: int) -> list[InputSplit]:
    """The splits of one file, numbered from ``first``, with the hosts of their blocks.

    Blocks in offset order without overlap (as :func:`place_blocks` makes them) are walked
    once alongside the splits; any other list goes through :func:`_hosts_finder`. Raises
    :class:`InputError` if no block covers a split's start.
    """
    cuts = _cut_splits(f.size, split_size)
    if not f.size:
        hosts: list = [()]
    elif len(blocks) < 2 or all(a.offset + a.length <= b.offset
                                for a, b in zip(blocks, blocks[1:])):
        hosts = _walk_hosts(f, blocks, cuts)
    else:
        hosts = list(map(_hosts_finder(f, blocks), [start for start, _ in cuts]))
    return [_new_tuple(InputSplit, (first + i, f.path, start, length, hosts[i]))
            for i, (start, length) in enumerate(cuts)]


def _walk_hosts(f: InputFile, blocks: Sequence[Block],
                cuts: Sequence[tuple[int, int]]) -> list[tuple[str, ...]]:
    """Hosts of the block holding each cut's start; ``blocks`` and ``cuts`` in offset order.

    ``getBlockIndex`` by a walk: O(blocks + cuts). Raises :class:`InputError` if no block
    covers a start.
    """
    hosts, i, last = [], 0, len(blocks)
    for start, _ in cuts:
        while i < last and blocks[i].offset + blocks[i].length <= start:
            i += 1
        if i == last or blocks[i].offset > start:
            raise InputError(f"input {f.path}: no block covers offset {start} of {f.size} "
                             f"bytes; the block list does not match the file size")
        hosts.append(tuple(blocks[i].hosts))
    return hosts


def _split_size(block_size: int, min_size: int, max_size: int) -> int:
    """Return ``FileInputFormat.computeSplitSize``: ``max(minSize, min(maxSize, blockSize))``.

    ``minSize`` is raised to 1 as Hadoop's ``getFormatMinSplitSize`` does. Raises
    :class:`ConfigError` naming the key of a non-positive (or negative) size.
    """
    if block_size < 1:
        raise ConfigError(f"dfs.blocksize: {block_size} is not a positive number of bytes")
    if min_size < 0:
        raise ConfigError(f"mapreduce.input.fileinputformat.split.minsize: {min_size} is negative")
    if max_size < 1:
        raise ConfigError(
            f"mapreduce.input.fileinputformat.split.maxsize: {max_size} is not positive")
    return max(max(1, min_size), min(max_size, block_size))


def _cut_splits(size: int, split_size: int) -> list[tuple[int, int]]:
    """Return the ``(start, length)`` pairs of one file's splits (``getSplits`` loop body).

    The slop test divides in doubles, as Java's ``((double) bytesRemaining) / splitSize``.
    """
    if size == 0:
        return [(0, 0)]
    cuts, remaining = [], size
    while float(remaining) / float(split_size) > SPLIT_SLOP:
        cuts.append((size - remaining, split_size))
        remaining -= split_size
    if remaining:
        cuts.append((size - remaining, remaining))
    return cuts


def _hosts_finder(f: InputFile, blocks: Sequence[Block]) -> Callable[[int], tuple[str, ...]]:
    """Return ``hosts_at(offset)``: the hosts of the block of ``f`` holding byte ``offset``.

    That is ``getBlockIndex``: the first block (in list order) with ``offset <= o <
    offset + length``, found by a scan (for block lists not in offset order; ordered ones
    are walked by :func:`_walk_hosts`). ``hosts_at`` raises :class:`InputError` if no
    block of ``f`` covers the offset.
    """
    def hosts_at(offset: int) -> tuple[str, ...]:
        for block in blocks:
            if block.offset <= offset < block.offset + block.length:
                return tuple(block.hosts)
        raise InputError(f"input {f.path}: no block covers offset {offset} of {f.size} "
                         f"bytes; the block list does not match the file size")
    return hosts_at


def make_subsplits(split: InputSplit, count: int) -> tuple[SubSplit, ...]:
    """Cut ``split`` into ``count`` contiguous byte ranges of (nearly) equal length.

    Returns ``count`` :class:`SubSplit` s, indices ``0..count-1``, covering
    ``[split.start, split.end)`` exactly; lengths differ by at most 1 byte, the longer ones
    first, so a split shorter than ``count`` bytes gets empty ranges at its end (DESIGN.md
    §2 "Sub-splits"). Raises :class:`ConfigError` if ``count < 1``.
    """
    if count < 1:
        raise ConfigError(f"split {split.index}: cannot cut into {count} sub-splits; need >= 1 "
                          f"(check mapred.map.tasks.fault.tolerance)")
    return tuple([_new_tuple(SubSplit, (i, split.start + offset, length))
                  for i, offset, length in _subsplit_cuts(split.length, count)])


def _subsplit_cuts(length: int, count: int) -> list[tuple[int, int, int]]:
    """``(index, offset from the split's start, length)`` of the sub-splits of a split."""
    base, extra = divmod(length, count)
    cuts, offset = [], 0
    for i in range(count):
        cuts.append((i, offset, base + (i < extra)))
        offset += base + (i < extra)
    return cuts


def subsplits_of(splits: Sequence[InputSplit], count: int) -> list[tuple[SubSplit, ...]]:
    """Return ``[make_subsplits(split, count) for split in splits]``, faster.

    The cuts are computed once per split length (all splits of a file but its last have
    one length), and a split with the same start and length as the one before it (files
    of one size) gets that split's tuple again (equal and immutable). Raises
    :class:`ConfigError` if ``count < 1``.
    """
    if splits and count < 1:
        make_subsplits(splits[0], count)  # raises the ConfigError naming the split
    cuts: dict[int, list[tuple[int, int, int]]] = {}
    out, last, previous = [], (), (-1, -1)
    for split in splits:
        start, length = split.start, split.length
        if (start, length) != previous:
            pattern = cuts.get(length) or cuts.setdefault(length, _subsplit_cuts(length, count))
            last, previous = tuple([_new_tuple(SubSplit, (i, start + offset, n))
                                    for i, offset, n in pattern]), (start, length)
        out.append(last)
    return out


def replica_nodes(split: InputSplit, count: int, nodes: Sequence[str], seed: int,
                  exclude: Collection[str] = ()) -> tuple[str, ...]:
    """Return ``count`` distinct nodes to run the replicas of ``split``'s map task.

    Takes the split, the replica count R, the cluster's node names, a seed and nodes to
    avoid (dead or blacklisted). Nodes of ``nodes`` that hold the split's block
    (``split.hosts``, data-local as Hadoop's scheduler prefers) come first, then the other
    nodes; each group is shuffled by ``random.Random`` seeded from ``seed`` and
    ``split.index``, so different tasks favour different holders and the load spreads.
    No node in ``exclude`` is returned. Raises :class:`ConfigError` naming ``dirft.nodes``
    if fewer than ``count`` nodes are usable, or if ``count < 1``.
    """
    _check_nodes(nodes)
    if count < 1:
        raise ConfigError(f"task {split.index}: {count} replicas requested; need at least 1")
    excluded = set(exclude)
    usable = [n for n in nodes if n not in excluded]
    holders, others = replica_candidates(split, usable, seed)
    if len(usable) < count:
        gone = f" ({len(nodes) - len(usable)} excluded)" if len(usable) < len(nodes) else ""
        raise ConfigError(
            f"task {split.index} needs {count} replicas on distinct nodes but only "
            f"{len(usable)} nodes are usable{gone}; "
            f"raise dirft.nodes or lower mapred.map.tasks.fault.tolerance")
    return tuple((holders + others)[:count])


def replica_candidates(split: InputSplit, usable: Sequence[str], seed: int,
                       others: bool = True) -> tuple[list[str], list[str]]:
    """Return ``(holders, rest)``: the ``usable`` nodes holding ``split``'s block, and the others.

    Each list is in the order :func:`replica_nodes` ranks them: shuffled by
    ``random.Random`` seeded from ``seed`` and ``split.index``, holders first. With
    ``others=False`` the rest is not computed (``[]``), which saves most of the work when
    the holders suffice; the holders' order is the same either way (they are drawn first).
    No checks: ``usable`` is a list of distinct node names.
    """
    rng = random.Random(f"dirft.replicas:{seed}:{split.index}")
    held = set(split.hosts)
    holders = [n for n in usable if n in held]
    rng.shuffle(holders)
    if not others:
        return holders, []
    rest = [n for n in usable if n not in held]
    rng.shuffle(rest)
    return holders, rest
