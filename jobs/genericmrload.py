"""GridMix2's GenericMRLoad jobs as an MRJob base class (mrjob 0.7.4; no dirft import).

GridMix2 runs webdataScan, webdataSort and monsterQuery with Hadoop's
``GenericMRLoadGenerator``: an identity map and an identity reduce over key/value records
that keep only a share of what they see, ``-keepmap`` percent of the map's input records and
``-keepred`` percent of the reduce's values (100 keeps everything, 250 would write each record
two or three times). Its ``SampleMapper``/``SampleReducer`` keep a running ratio of records
kept to records seen; here each record is decided on its own, so the decision does not depend
on where a split or sub-split starts, nor on the order in which a reducer sees its values:

* a map record ``key\\tvalue`` gets ``int(p / 100)`` copies, plus one more when
  ``u < p / 100 - int(p / 100)``, where ``u`` in [0, 1) is the first 8 bytes of
  BLAKE2b(``"<salt>\\0key\\tvalue"``) read as a big-endian integer / 2**64 and ``p`` is
  ``KEEP_MAP``; ``salt`` is ``map<N>`` for step N, so the chained steps of monsterQuery
  do not all keep the very records the first one kept;
* a reduce value is decided the same way with ``KEEP_RED``, salt ``red<N>``, and the
  record's occurrence number among equal ``(key, value)`` pairs appended, so duplicates are
  decided one by one yet the result depends only on the multiset of values.

BLAKE2b (``hashlib``) is fixed by its RFC on every machine; Python's ``hash`` (salted per
process) and unseeded ``random`` would make replicas disagree. All protocols are
``RawProtocol`` (``key\\tvalue`` text split at the first tab), as GenericMRLoad reads and
writes Text keys and values. A subclass sets ``KEEP_MAP``, ``KEEP_RED`` (percentages) and
``CHAINED`` (how many such jobs run one after the other).
"""

import hashlib
from collections import Counter

from mrjob.job import MRJob
from mrjob.protocol import RawProtocol
from mrjob.step import MRStep

_SCALE = float(1 << 64)


def copies(record: str, percent: float, salt: str) -> int:
    """How many times to write ``record`` (str) when keeping ``percent`` (>= 0) percent.

    ``int(percent / 100)`` plus one when the record's stable hash falls under the
    fractional part (see module doc). Deterministic across processes and machines.
    """
    whole, fraction = divmod(percent / 100.0, 1.0)
    digest = hashlib.blake2b(f"{salt}\0{record}".encode("utf-8"), digest_size=8).digest()
    return int(whole) + (int.from_bytes(digest, "big") / _SCALE < fraction)


class MRGenericLoad(MRJob):
    """Identity map and reduce keeping ``KEEP_MAP``/``KEEP_RED`` percent, ``CHAINED`` times."""

    INPUT_PROTOCOL = RawProtocol
    INTERNAL_PROTOCOL = RawProtocol
    OUTPUT_PROTOCOL = RawProtocol
    KEEP_MAP = 100.0  # percent of map input records written (GridMix2 -keepmap)
    KEEP_RED = 100.0  # percent of reduce values written (GridMix2 -keepred)
    CHAINED = 1       # GenericMRLoad jobs run one after the other on the previous output

    def steps(self):
        """``CHAINED`` steps of (keeping map, keeping reduce), each salted by its number."""
        return [MRStep(mapper=self._mapper(n), reducer=self._reducer(n))
                for n in range(self.CHAINED)]

    def _mapper(self, step: int):
        def keep_map(key, value):
            """Yield ``(key, value)`` as many times as :func:`copies` says (often 0)."""
            record = key if value is None else f"{key}\t{value}"
            for _ in range(copies(record, self.KEEP_MAP, f"map{step}")):
                yield key, value
        return keep_map

    def _reducer(self, step: int):
        def keep_reduce(key, values):
            """Yield each ``(key, value)`` as many times as :func:`copies` says."""
            seen = Counter()
            for value in values:
                seen[value] += 1
                record = f"{key}\t{value}\t{seen[value]}"
                for _ in range(copies(record, self.KEEP_RED, f"red{step}")):
                    yield key, value
        return keep_reduce


if __name__ == "__main__":
    MRGenericLoad.run()
