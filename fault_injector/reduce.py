"""Reduce-side fault plans: one flipped bit in a reduce replica's input or output stream.

Seeded and declarative like the map side's :mod:`fault_injector.plan`. With
``dirft.fault.reduce.mode`` set (and ``mapred.map.tasks.fault.inject`` true),
``dirft.fault.reduce.percent`` percent of the reduce partitions (rounded half up) are hit;
each hit partition gets f_s faults on distinct replicas among its first f_s + 1 runs (within
tolerance, so the job must still commit the fault-free output), or
``dirft.fault.replicas.per.task`` of them when that is >= 0 (beyond f_s: the job must abort).
Modes:

* ``shuffle``: one bit of the partition's bytes as the replica's sort receives them (the
  shuffle stream) is inverted — the bit is taken modulo the partition's size in bits, so it
  lands anywhere in the stream;
* ``output``: one bit of the replica's normalized reducer output is inverted before it is
  signed and written (a reducer computing a wrong result) — modulo the bits of the first
  non-empty chunk, as the map side's ``data`` mode does.

The reduce stage (:mod:`dirft.shuffle.replicated`) carries the faults out; the vote in
:mod:`dirft.core.reduce_vote` only ever sees their consequences.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Iterator

from dirft.errors import ConfigError
from fault_injector.plan import flip_bit

REDUCE_MODES = ("none", "shuffle", "output")


@dataclass(frozen=True)
class ReduceFault:
    """Invert bit ``bit`` of the ``where`` stream ("shuffle" or "output") of one replica."""

    where: str
    bit: int


def plan_reduce_faults(num_reduces: int, quorum: int, mode: str, percent: float, seed: int,
                       per_partition: int = -1) -> dict:
    """Draw ``{(partition, replica): ReduceFault}`` for a reduce stage.

    ``quorum`` = f_s + 1 replicas run first; each hit partition gets ``quorum - 1`` faulty
    replicas among them (``per_partition`` >= 0 instead: that many, at most ``quorum``).
    Everything comes from ``random.Random(seed)``. Mode ``none`` gives ``{}``. Raises
    :class:`ConfigError` naming the key for an unknown mode or a percentage outside 0–100.
    """
    if mode not in REDUCE_MODES:
        raise ConfigError(f"dirft.fault.reduce.mode: {mode!r} is not one of {REDUCE_MODES}")
    if not 0 <= percent <= 100:
        raise ConfigError(f"dirft.fault.reduce.percent: {percent} is not within 0–100")
    if mode == "none":
        return {}
    rng = random.Random(f"dirft.reduce.faults:{seed}")
    hit = sorted(rng.sample(range(num_reduces), int(num_reduces * percent / 100 + 0.5)))
    count = min(quorum - 1 if per_partition < 0 else per_partition, quorum)
    return {(p, r): ReduceFault(mode, rng.randrange(1 << 40))
            for p in hit for r in sorted(rng.sample(range(quorum), count))}


def flip_in_stream(chunks: Iterable[bytes], bit: int, total_bytes: int) -> Iterator[bytes]:
    """Yield ``chunks`` with bit ``bit`` (modulo ``8 * total_bytes``) of the whole stream
    inverted; ``total_bytes`` is the stream's length. An empty stream stays empty."""
    if total_bytes <= 0:
        yield from chunks
        return
    bit %= 8 * total_bytes
    offset = 0
    for chunk in chunks:
        if offset <= bit // 8 < offset + len(chunk):
            chunk = flip_bit(chunk, bit - 8 * offset)
        offset += len(chunk)
        yield chunk


class OutputFlipper:
    """Inverts bit ``bit`` (modulo the chunk's bits) of the first non-empty chunk passed to
    :meth:`__call__`; ``fired`` tells whether it has happened. ``bit`` None: never fires."""

    def __init__(self, bit: int | None) -> None:
        self.bit, self.fired = bit, False

    def __call__(self, data: bytes) -> bytes:
        """Return ``data``, with the bit inverted if this is the first non-empty chunk."""
        if self.bit is None or self.fired or not data:
            return data
        self.fired = True
        return flip_bit(data, self.bit)
