"""Planning a job's map side: blocks → input splits → sub-splits → replica nodes.

Pure functions, no I/O, no wall clock; every random choice comes from a
``random.Random`` seeded by the caller, so the same inputs and seed give the same plan on
any machine. The rules follow Hadoop where Hadoop has one:

* :func:`place_blocks` — HDFS-like block placement (in :mod:`dirft.core.blocks`, with
  :class:`InputFile` and :class:`Block`; re-exported here).
* :func:`compute_splits` — ``FileInputFormat.getSplits``: split size ``max(minsize,
  min(maxsize, blocksize))``, the 1.1 ``SPLIT_SLOP`` at the end. With ``maxsize`` the
  goal size of :func:`goal_size` and ``old_api`` it is Hadoop Streaming's old ``mapred``
  API (hosts holding most of a split's bytes, ``getSplitHosts``); otherwise the new
  ``mapreduce`` API (hosts of the block holding the split's first byte), which dirft uses
  for ``dirft.split.maxsize`` (docs/hadoop.md, 'Input splits').
* :func:`hadoop_order` — ``JobSubmitter``'s numbering of the splits: largest first.
* :func:`make_subsplits` — DIRFT's R byte ranges of one split (docs/design.md, 'Sub-splits');
  :func:`subsplits_of` for all the splits of a job.
* :func:`replica_nodes` — R distinct nodes for a task's replicas, block holders first.

All offsets and lengths are in bytes. Record ownership at every boundary follows
``LineRecordReader``: see :class:`SubSplit` and :func:`dirft.records.read_records`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from itertools import repeat
from typing import NamedTuple

from dirft.core.blocks import (Block, InputFile, _check_files, _check_nodes, _new_tuple,
                               place_blocks, seeded_sample)
from dirft.errors import ConfigError, InputError

__all__ = ["MAX_SPLIT_SIZE", "SPLIT_SLOP", "Block", "InputFile", "InputSplit", "SubSplit",
           "compute_splits", "goal_size", "hadoop_order", "make_subsplits", "place_blocks",
           "replica_candidates", "replica_nodes", "seeded_sample", "split_hosts",
           "subsplits_of"]

#: ``FileInputFormat.SPLIT_SLOP``: the last split may be up to 10% larger than the split size.
SPLIT_SLOP = 1.1

#: Hadoop's default ``mapreduce.input.fileinputformat.split.maxsize`` (``Long.MAX_VALUE``).
MAX_SPLIT_SIZE = 2**63 - 1



class InputSplit(NamedTuple):
    """One map task's input, a Hadoop ``FileSplit``: ``length`` bytes of ``path`` from ``start``.

    ``index`` numbers the splits of a job from 0 (the map task's partition number);
    ``hosts`` are the nodes holding the block that contains ``start`` (may be empty).
    A named tuple, as :class:`Block` (one per map task); ``_replace`` makes a changed copy.
    """

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index
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

    index: int  # type: ignore[assignment]  # a field, shadowing tuple.index
    start: int
    length: int

    @property
    def end(self) -> int:
        """Return the absolute offset one past the range's last byte (``start + length``)."""
        return self.start + self.length


def compute_splits(files: Sequence[InputFile], blocks_by_path: Mapping[str, Sequence[Block]],
                   block_size: int, min_size: int = 1, max_size: int = MAX_SPLIT_SIZE,
                   old_api: bool = False) -> list[InputSplit]:
    """Return the input splits of ``files``, as ``FileInputFormat.getSplits`` does.

    Takes the files (in job order), their blocks (as from :func:`place_blocks`, for hosts),
    ``block_size``, ``min_size`` and ``max_size`` in bytes (``mapreduce.input.
    fileinputformat.split.minsize|maxsize``). Split size is ``max(minSize, min(maxSize,
    blockSize))`` with ``minSize >= 1`` (``getFormatMinSplitSize``); while ``remaining /
    splitSize > 1.1`` (``SPLIT_SLOP``, compared in doubles as Java does) a split of
    ``splitSize`` is cut; a non-zero remainder is the last split. A zero-length file gives
    one empty split ``(start 0, length 0, hosts ())``. Hosts are those of the block holding
    the split's start (``getBlockIndex``; the new ``mapreduce`` API). A file with
    ``splittable`` false is one split of its whole size. Indices run 0.. across all files
    in order. ``old_api``: the old ``mapred`` API's hosts instead (:func:`split_hosts`,
    over all the stored blocks of an unsplittable file); its split size is this one with
    ``max_size`` = :func:`goal_size` (``computeSplitSize(goalSize, minSize, blockSize)``).
    Raises :class:`ConfigError` for bad sizes, :class:`InputError` when a file's blocks do
    not cover a split's start offset.
    """
    split_size = _split_size(block_size, min_size, max_size)
    _check_files(files)
    splits = _splits_of(files, blocks_by_path, split_size)
    return _old_api_hosts(splits, files, blocks_by_path) if old_api else splits


def goal_size(total: int, maps: int) -> int:
    """The old ``mapred`` API's goal split size for ``total`` input bytes and ``maps``
    (``mapreduce.job.maps``): ``totalSize / numSplits`` (0 maps read as 1), raised to 1.

    ``computeSplitSize(goal, minSize, blockSize)`` is ``max(minSize, min(goal, blockSize))``,
    :func:`compute_splits`' size with ``max_size = goal``; a goal of 0 and a goal of 1 give
    the same size (``minSize`` >= 1), so the raise changes nothing.
    """
    return max(1, total // (maps or 1))


def hadoop_order(splits: Sequence[InputSplit],
                 lengths: Mapping[str, int] | None = None) -> list[InputSplit]:
    """Return ``splits`` numbered as ``JobSubmitter.writeOldSplits`` (and ``writeNewSplits``)
    orders them: by length, largest first, a stable sort (equal lengths keep input order),
    indices renumbered from 0. ``lengths``: ``{path: bytes}`` that stand for the length of
    that file's split (a compressed file's one split: its stored size, the ``FileSplit``'s
    length), else the split's own length.
    """
    lengths = lengths or {}
    ordered = sorted(splits, key=lambda s: -lengths.get(s.path, s.length))
    return [s._replace(index=i) for i, s in enumerate(ordered)]


def split_hosts(blocks: Sequence[Block], offset: int, length: int) -> tuple[str, ...]:
    """The old ``mapred`` ``FileInputFormat.getSplitHosts``: the hosts of a split of
    ``length`` bytes (> 0) from ``offset`` of a file whose ``blocks`` are in offset order.

    If the block holding ``offset`` holds the whole split, its hosts as listed; else each
    host of the blocks the split touches is credited the split's bytes in each block, and
    the hosts with most bytes come first (ties in order of first appearance: Hadoop's
    order of ties is a hash set's), as many as the last touched block has hosts. One rack:
    dirft's blocks carry no topology (Hadoop then puts every host in ``/default-rack``).
    Raises :class:`InputError` when the blocks end before the split does.
    """
    first = _block_index(blocks, offset)
    in_first = blocks[first].offset + blocks[first].length - offset
    if in_first >= length:
        return tuple(blocks[first].hosts)
    credit: dict[str, int] = {}
    remaining = length
    last: tuple[str, ...] = ()
    for k in range(first, len(blocks)):
        share = in_first if k == first else min(remaining, blocks[k].length)
        remaining, last = remaining - share, blocks[k].hosts
        for host in dict.fromkeys(last):
            credit[host] = credit.get(host, 0) + share
        if remaining <= 0:
            return tuple(sorted(credit, key=lambda h: -credit[h])[:len(last)])
    raise _no_block(InputFile(blocks[0].path, offset + length), offset + length - remaining)


def _block_index(blocks: Sequence[Block], offset: int) -> int:
    """``getBlockIndex``: the first of ``blocks`` holding byte ``offset``. Raises InputError."""
    for k, block in enumerate(blocks):
        if block.offset <= offset < block.offset + block.length:
            return k
    raise InputError(f"input {blocks[0].path if blocks else '?'}: no block covers offset "
                     f"{offset}; the block list does not match the file size")


def _old_api_hosts(splits: list[InputSplit], files: Sequence[InputFile],
                   blocks_by_path: Mapping[str, Sequence[Block]]) -> list[InputSplit]:
    """``splits`` with the hosts of :func:`split_hosts`; an unsplittable file's split
    counts all its blocks (its stored bytes, as Hadoop's ``getSplitHosts(blocks, 0,
    length)``); an empty split keeps no hosts."""
    whole = {f.path for f in files if not f.splittable}
    out = []
    for split in splits:
        blocks = blocks_by_path.get(split.path, ())
        start, length = split.start, split.length
        if split.path in whole:
            start, length = 0, sum(b.length for b in blocks)
        if length and blocks:
            split = split._replace(hosts=split_hosts(blocks, start, length))
        out.append(split)
    return out


def _splits_of(files: Sequence[InputFile], blocks_by_path: Mapping[str, Sequence[Block]],
               split_size: int) -> list[InputSplit]:
    """:func:`compute_splits` after its checks (``files`` checked, ``split_size`` >= 1).

    A file of one split within its only block, at offset 0 (a job of small files), takes
    that block's hosts without a search; so does a file that is not splittable (a
    compressed file: one split of its whole ``size``, ``isSplitable`` false), whose
    blocks are those of its stored bytes; other files go through :func:`_file_splits`.
    """
    splits: list[InputSplit] = []
    for f in files:
        blocks = blocks_by_path.get(f.path, ())
        if not f.splittable:
            hosts = tuple(blocks[0].hosts) if blocks else ()
            splits.append(_new_tuple(InputSplit, (len(splits), f.path, 0, f.size, hosts)))
        elif (0 < f.size <= split_size and len(blocks) == 1 and blocks[0].offset == 0
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
    once alongside the splits (``getBlockIndex`` in O(blocks + splits)); any other list
    goes through :func:`_hosts_finder`. Raises :class:`InputError` if no block covers a
    split's start.
    """
    cuts, path = _cut_splits(f.size, split_size), f.path
    if not f.size:
        return [_new_tuple(InputSplit, (first, path, 0, 0, ()))]
    if not all(a.offset + a.length <= b.offset for a, b in zip(blocks, blocks[1:])):
        hosts_at = _hosts_finder(f, blocks)
        return [_new_tuple(InputSplit, (first + i, path, start, length, hosts_at(start)))
                for i, (start, length) in enumerate(cuts)]
    splits, i, last = [], 0, len(blocks)
    for start, length in cuts:
        while i < last and blocks[i].offset + blocks[i].length <= start:
            i += 1
        if i == last or blocks[i].offset > start:
            raise _no_block(f, start)
        splits.append(_new_tuple(InputSplit, (first, path, start, length,
                                              tuple(blocks[i].hosts))))
        first += 1
    return splits


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
            f"dirft.split.maxsize (or the goal size): {max_size} is not positive")
    return max(max(1, min_size), min(max_size, block_size))


def _cut_splits(size: int, split_size: int) -> list[tuple[int, int]]:
    """Return the ``(start, length)`` pairs of one file's splits (``getSplits`` loop body).

    ``getSplits`` cuts a split of ``split_size`` while ``remaining / splitSize > 1.1``
    (divided in doubles, as Java's ``((double) bytesRemaining) / splitSize``), then the
    rest if non-zero; the number of full splits comes from :func:`_full_splits`.
    """
    if size == 0:
        return [(0, 0)]
    full = _full_splits(size, split_size)
    cuts = list(zip(range(0, full * split_size, split_size), repeat(split_size, full)))
    if size > full * split_size:
        cuts.append((full * split_size, size - full * split_size))
    return cuts


def _full_splits(size: int, split_size: int) -> int:
    """How many full splits ``getSplits``' loop cuts from ``size`` bytes (both > 0).

    The least ``k`` with ``float(size - k * split_size) / float(split_size) <= 1.1``: the
    test is monotone in ``k`` (rounding to doubles keeps order), so an estimate is moved
    to it by the same double test the loop makes, a step or two.
    """
    def more(k: int) -> bool:
        return float(size - k * split_size) / float(split_size) > SPLIT_SLOP

    k = max(0, size // split_size - 1)
    while k > 0 and not more(k - 1):
        k -= 1
    while more(k):
        k += 1
    return k


def _hosts_finder(f: InputFile, blocks: Sequence[Block]) -> Callable[[int], tuple[str, ...]]:
    """Return ``hosts_at(offset)``: the hosts of the block of ``f`` holding byte ``offset``.

    That is ``getBlockIndex``: the first block (in list order) with ``offset <= o <
    offset + length``, found by a scan (for block lists not in offset order; ordered ones
    are walked by :func:`_file_splits`). ``hosts_at`` raises :class:`InputError` if no
    block of ``f`` covers the offset.
    """
    def hosts_at(offset: int) -> tuple[str, ...]:
        for block in blocks:
            if block.offset <= offset < block.offset + block.length:
                return tuple(block.hosts)
        raise _no_block(f, offset)
    return hosts_at


def _no_block(f: InputFile, offset: int) -> InputError:
    """The error for a split start ``offset`` (bytes) that no block of ``f`` covers."""
    return InputError(f"input {f.path}: no block covers offset {offset} of {f.size} "
                      f"bytes; the block list does not match the file size")


def make_subsplits(split: InputSplit, count: int) -> tuple[SubSplit, ...]:
    """Cut ``split`` into ``count`` contiguous byte ranges of (nearly) equal length.

    Returns ``count`` :class:`SubSplit` s, indices ``0..count-1``, covering
    ``[split.start, split.end)`` exactly; lengths differ by at most 1 byte, the longer ones
    first, so a split shorter than ``count`` bytes gets empty ranges at its end
    (docs/design.md, 'Sub-splits'). Raises :class:`ConfigError` if ``count < 1``.
    """
    if count < 1:
        raise ConfigError(f"split {split.index}: cannot cut into {count} sub-splits; need >= 1 "
                          f"(check mapred.map.tasks.fault.tolerance)")
    return _cut_subsplits(split.start, split.length, count)


def _cut_subsplits(start: int, length: int, count: int) -> tuple[SubSplit, ...]:
    """:func:`make_subsplits` of bytes ``[start, start + length)``, ``count`` >= 1."""
    base, extra = divmod(length, count)
    subs = []
    for i in range(count):
        subs.append(_new_tuple(SubSplit, (i, start, base + (i < extra))))
        start += base + (i < extra)
    return tuple(subs)


def _subsplit_cuts(length: int, count: int) -> list[tuple[int, int, int]]:
    """``(index, offset from the split's start, length)`` of the sub-splits of a split."""
    return [(sub.index, sub.start, sub.length) for sub in _cut_subsplits(0, length, count)]


def subsplits_of(splits: Sequence[InputSplit], count: int) -> list[tuple[SubSplit, ...]]:
    """Return ``[make_subsplits(split, count) for split in splits]``, faster.

    A split with the same start and length as the one before it (files of one size)
    gets that split's tuple again (equal and immutable); a run of splits of one length
    (the splits of a large file) computes the cuts once. Raises :class:`ConfigError` if
    ``count < 1``.
    """
    if splits and count < 1:
        make_subsplits(splits[0], count)  # raises the ConfigError naming the split
    out: list[tuple[SubSplit, ...]] = []
    last: tuple[SubSplit, ...] = ()
    previous_start, previous_length, cuts = -1, -1, None
    for split in splits:
        start, length = split.start, split.length
        if length != previous_length:
            last, cuts = _cut_subsplits(start, length, count), None
        elif start != previous_start:
            cuts = cuts or _subsplit_cuts(length, count)
            last = tuple([_new_tuple(SubSplit, (i, start + offset, n)) for i, offset, n in cuts])
        previous_start, previous_length = start, length
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
