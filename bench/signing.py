"""Signing throughput: the runtime's streaming SHA-256 against raw ``hashlib.sha256``.

The bytes are map output as the runtime sees it: the split's text (what ``cat`` emits),
in pipe-sized chunks (64 KiB, what one ``read1`` of a mapper's stdout returns). Side by
side, alternating:

* ``sink``: :class:`dirft.runtime.mapphase._Sink` (hash, count bytes, write; records are counted by the normalizer)
  writing to ``/dev/null``, so the figure is signing, not the disk;
* ``raw``: ``hashlib.sha256().update`` over the same chunks;
* ``normalize+sink``: :class:`dirft.records.LineNormalizer` then the sink, the whole
  per-byte path of the runtime's output side (informational).

Figures are bytes per second; the ratio is sink throughput / raw throughput.
"""

from __future__ import annotations

import hashlib
import os

from bench.common import timed

PIPE_READ = 1 << 16


def load_chunks(path: str, limit: int = 64 << 20) -> list[bytes]:
    """Read at most ``limit`` bytes of ``path`` as a list of 64 KiB chunks."""
    chunks, size = [], 0
    with open(path, "rb") as f:
        while size < limit:
            chunk = f.read(min(PIPE_READ, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return chunks


def raw(chunks: list[bytes]) -> float:
    """Seconds for ``hashlib.sha256`` over ``chunks``."""
    def run() -> None:
        sha = hashlib.sha256()
        for chunk in chunks:
            sha.update(chunk)
        sha.hexdigest()
    return timed(run)


def sink(chunks: list[bytes]) -> float:
    """Seconds for the runtime's ``_Sink`` over ``chunks`` (writing to /dev/null)."""
    from dirft.runtime.mapphase import _Sink

    with open(os.devnull, "wb") as out:
        def run() -> None:
            s = _Sink(out)
            for chunk in chunks:
                s.write(chunk)
            s.sha.hexdigest()
        return timed(run)


def normalize_sink(chunks: list[bytes]) -> float:
    """Seconds for ``LineNormalizer`` then ``_Sink`` over ``chunks`` (to /dev/null)."""
    from dirft.records import LineNormalizer
    from dirft.runtime.mapphase import _Sink

    with open(os.devnull, "wb") as out:
        def run() -> None:
            s, normalizer = _Sink(out), LineNormalizer()
            for chunk in chunks:
                s.write(normalizer.feed(chunk))
            s.write(normalizer.close())
            s.sha.hexdigest()
        return timed(run)
