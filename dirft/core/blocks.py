"""HDFS-like block placement: files cut into blocks, copies of each on distinct nodes.

Part of the planner (:mod:`dirft.core.planner` re-exports what is public here): pure, no
I/O; every random choice comes from a ``random.Random`` seeded by the caller, so the same
files, nodes and seed give the same blocks on any machine.

* :func:`place_blocks` — HDFS cuts a file into ``dfs.blocksize`` blocks and stores
  ``dfs.replication`` copies of each on distinct DataNodes (``BlockPlacementPolicyDefault``:
  the first copy on the writer's node, the others on other nodes; we emulate one rack).
* :func:`seeded_sample` — ``Random.sample``'s draws without its per-call overhead.

All offsets and lengths are in bytes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple, TypeVar

from dirft.errors import ConfigError, InputError

#: ``_new_tuple(NamedTupleClass, (fields...))`` makes a named tuple without its Python-level
#: ``__new__`` (a third of the cost); the planner's hot loops use it.
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input file: its ``path`` (any string naming it) and ``size`` in bytes (>= 0).

    ``splittable`` False makes the whole file one input split, as Hadoop's
    ``TextInputFormat.isSplitable`` does for a compressed file (its ``size`` is then the
    decompressed size, in which its sub-splits are cut).
    """

    path: str
    size: int
    splittable: bool = True


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
    full = size // block_size
    cuts = list(zip(range(0, full * block_size, block_size), repeat(block_size, full)))
    if size > full * block_size:
        cuts.append((full * block_size, size - full * block_size))
    return cuts


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
        else:  # zip stops on the cuts before it draws hosts for a block too many
            placed[f.path] = tuple([_new_tuple(Block, (f.path, offset, length, drawn))
                                    for (offset, length), drawn
                                    in zip(_cut_file(f.size, block_size), hosts)])
    return placed


def _host_draws(nodes: Sequence[str], width: int,
                rng: random.Random) -> Iterator[tuple[str, ...]]:
    """Return an endless iterator over the hosts of successive blocks: ``width`` distinct nodes.

    The writer (first copy) takes turns over ``nodes`` from ``rng.randrange(len(nodes))``,
    drawn now; the other ``width - 1`` are ``rng.sample`` of the other nodes (in ``nodes``
    order). Large clusters (over 22 nodes, width <= 6) take :func:`_drawn_hosts` (or
    :func:`_drawn_three`), the same draws without a call per block; smaller ones
    :func:`_picked_hosts`.
    """
    writer = rng.randrange(len(nodes))
    if len(nodes) - 1 > 21 and width == 3:  # dfs.replication's default
        return _drawn_three(nodes, rng, writer)
    if len(nodes) - 1 > 21 and width - 1 <= 5:
        return _drawn_hosts(nodes, width, rng, writer)
    return _picked_hosts(nodes, width, rng, writer)


def _picked_hosts(nodes: Sequence[str], width: int, rng: random.Random,
                  writer: int) -> Iterator[tuple[str, ...]]:
    """:func:`_host_draws` by :func:`_pick_hosts`, one block at a time (any cluster)."""
    others: dict[int, tuple[str, ...]] = {}
    while True:
        yield _pick_hosts(nodes, writer, width, rng, others)
        writer = (writer + 1) % len(nodes)


def _drawn_hosts(nodes: Sequence[str], width: int, rng: random.Random,
                 writer: int) -> Iterator[tuple[str, ...]]:
    """:func:`_host_draws` for ``len(nodes) > 22``, ``width <= 6``: ``Random.sample``'s set path.

    The j-th other node is ``nodes[j + (j >= writer)]``, ``j = getrandbits(n.bit_length())``
    drawn again while ``j >= n`` or already taken (n = ``len(nodes) - 1``): exactly
    CPython's draws (see :func:`seeded_sample`), so the plans are the same.
    """
    count, bits = len(nodes), rng.getrandbits
    n, size, draws = count - 1, (count - 1).bit_length(), range(width - 1)
    while True:
        picked = [nodes[writer]]
        for _ in draws:
            j = bits(size)
            while j >= n or nodes[j + (j >= writer)] in picked:  # names are distinct
                j = bits(size)
            picked.append(nodes[j + (j >= writer)])
        yield tuple(picked)
        writer = writer + 1 if writer + 1 < count else 0


def _drawn_three(nodes: Sequence[str], rng: random.Random,
                 writer: int) -> Iterator[tuple[str, str, str]]:
    """:func:`_drawn_hosts` for width 3: two other nodes, ``j`` then ``k != j``, same draws.

    Half the time of the general loop (no list per block), for HDFS's default of 3 copies.
    """
    count, bits = len(nodes), rng.getrandbits
    n, size = count - 1, (count - 1).bit_length()
    while True:
        j = bits(size)
        while j >= n:
            j = bits(size)
        k = bits(size)
        while k >= n or k == j:
            k = bits(size)
        yield (nodes[writer], nodes[j + (j >= writer)], nodes[k + (k >= writer)])
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


T = TypeVar("T")


def seeded_sample(rng: random.Random, population: Sequence[T], k: int) -> list[T]:
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
