"""Random text input for GridMix2-style jobs: the VARINFLTEXT data set.

GridMix2 (``generateGridmix2data.sh``) builds its uncompressed text data set,
``VARINFLTEXT`` ("SortUncompressed"), by running Hadoop's RandomTextWriter example with
1 to 10 words per key and 0 to 200 words per value, written through a TextOutputFormat.
This module writes data of the same shape, in pure Python and with no Hadoop:

* one record per line, ``KEY\\tVALUE\\n``, uncompressed, ASCII;
* KEY is 1 to 10 words, VALUE is 0 to 200 words (both bounds inclusive, each count
  drawn uniformly); an empty VALUE gives the line ``KEY\\t\\n``;
* words are separated by one space and drawn uniformly from :data:`WORDS`, a fixed list
  of 1024 pronounceable pseudo-words made here (RandomTextWriter draws from its own fixed
  list of words; this list is not that one).

Size rule. RandomTextWriter keeps writing records while its byte budget is not used up,
so its last record may overshoot the budget. :func:`generate_text` does the same with
the bytes it really writes (tab and newline included): it stops right after the first
record that brings the total to ``size`` bytes or more. ``size <= 0`` writes nothing.

Reproducibility. The output depends only on ``(size, seed)``; it is the same on every
machine, operating system, byte order and Python >= 3.9 because:

* every random draw for the text comes from SHAKE-128 (FIPS 202, via :mod:`hashlib`),
  whose output for a given input is fixed by the standard. The stream for record batch
  ``b`` is ``SHAKE128("dirft-gridmix-text/<label>/<seed>/<b>")``; 16-bit numbers are read
  little-endian on every platform;
* :data:`WORDS` is built with ``random.Random(<constant int>).random()`` only, the one
  method whose sequence for an int seed Python's documentation promises never to change
  ("Notes on Reproducibility" in the :mod:`random` docs). ``choice``, ``randrange`` and
  ``choices`` are not used, as their algorithms are not promised.

Records come in batches of :data:`BATCH_RECORDS` whose draws never depend on ``size``,
so the output for a seed is one endless record stream and a smaller ``size`` yields a
prefix of a larger one.
"""

import array
import hashlib
import os
import random
import secrets
import sys
from typing import BinaryIO, List, Tuple

from dirft.errors import ConfigError, InputError, StorageError

#: Words per key, inclusive bounds (GridMix2's minwordskey / maxwordskey for VARINFLTEXT).
KEY_WORDS = (1, 10)
#: Words per value, inclusive bounds (GridMix2's minwordsvalue / maxwordsvalue).
VALUE_WORDS = (0, 200)
#: Records drawn per batch; the unit of random draws, of buffering and of writes.
BATCH_RECORDS = 512

_WORD_COUNT = 1024  # a power of two: a 16-bit draw modulo 1024 is exactly uniform
_WORDS_SEED = 0x6D1F7  # fixed forever: changing it changes every data set
_ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t",
           "v", "w", "z", "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "sl",
           "st", "th", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "y")
_CODAS = ("", "", "", "", "n", "r", "l", "s", "t", "m", "nd", "st", "rk", "x")

_KEY_SPAN = KEY_WORDS[1] - KEY_WORDS[0] + 1  # 10 possible key lengths
_VALUE_SPAN = VALUE_WORDS[1] - VALUE_WORDS[0] + 1  # 201 possible value lengths
_SHAPES = _KEY_SPAN * _VALUE_SPAN  # one draw picks both lengths of a record
_SHAPE_LIMIT = 65536 - 65536 % _SHAPES  # 16-bit draws at or above this are rejected


def _pick(rng: random.Random, options: Tuple[str, ...]) -> str:
    """Return one of ``options`` chosen with ``rng.random()`` only (see module notes)."""
    return options[int(rng.random() * len(options))]


def _pseudo_word(rng: random.Random) -> str:
    """Return one pseudo-word of 1 to 3 syllables (onset, vowel, optional coda)."""
    syllables = 1 + int(rng.random() * 3)
    parts = []
    for _ in range(syllables):
        parts.append(_pick(rng, _ONSETS) + _pick(rng, _VOWELS))
    parts.append(_pick(rng, _CODAS))
    return "".join(parts)


def _make_words() -> Tuple[str, ...]:
    """Return the 1024 distinct pseudo-words of :data:`WORDS`, sorted.

    Deterministic: the only randomness is ``random.Random(_WORDS_SEED).random()``.
    """
    rng = random.Random(_WORDS_SEED)
    found = set()
    while len(found) < _WORD_COUNT:
        found.add(_pseudo_word(rng))
    return tuple(sorted(found))


#: The fixed word list (1024 lowercase ASCII pseudo-words, sorted, no duplicates).
WORDS: Tuple[str, ...] = _make_words()

# A 16-bit draw x picks _TABLE[x] == WORDS[x % 1024] as encoded bytes: 64 copies of the
# list make 65536 entries, so the lookup needs no arithmetic and stays exactly uniform.
_TABLE: Tuple[bytes, ...] = tuple(w.encode("ascii") for w in WORDS) * (65536 // _WORD_COUNT)


def _stream(seed: int, batch: int, label: str, nbytes: int) -> bytes:
    """Return the first ``nbytes`` bytes of the SHAKE-128 stream for one batch and use.

    ``label`` separates independent streams ("shape" for record lengths, "words").
    A longer request returns a longer prefix of the same stream.
    """
    name = f"dirft-gridmix-text/{label}/{seed}/{batch}".encode("ascii")
    return hashlib.shake_128(name).digest(nbytes)


def _u16(data: bytes) -> "array.array[int]":
    """Return ``data`` read as little-endian unsigned 16-bit numbers, on any platform."""
    numbers = array.array("H", data)
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers


def _shapes(seed: int, batch: int) -> List[Tuple[int, int]]:
    """Return ``(key_words, value_words)`` for each of the batch's records.

    Each record takes one 16-bit draw below ``_SHAPE_LIMIT`` (others are skipped, so every
    one of the 10 x 201 length pairs is exactly equally likely).
    """
    nbytes = 2 * (BATCH_RECORDS + BATCH_RECORDS // 8 + 32)
    while True:
        draws = [x % _SHAPES for x in _u16(_stream(seed, batch, "shape", nbytes))
                 if x < _SHAPE_LIMIT][:BATCH_RECORDS]
        if len(draws) == BATCH_RECORDS:
            return [(KEY_WORDS[0] + d // _VALUE_SPAN, VALUE_WORDS[0] + d % _VALUE_SPAN)
                    for d in draws]
        nbytes *= 2  # too many rejections (very rare): read further along the stream


def _batch_records(seed: int, batch: int) -> List[bytes]:
    """Return the :data:`BATCH_RECORDS` encoded lines (``b"KEY\\tVALUE\\n"``) of one batch."""
    shapes = _shapes(seed, batch)
    total = sum(k + v for k, v in shapes)
    words = list(map(_TABLE.__getitem__, _u16(_stream(seed, batch, "words", 2 * total))))
    lines = []
    start = 0
    for key_words, value_words in shapes:
        middle = start + key_words
        end = middle + value_words
        lines.append(b" ".join(words[start:middle]) + b"\t"
                     + b" ".join(words[middle:end]) + b"\n")
        start = end
    return lines


def _check_args(size: int, seed: int) -> None:
    """Raise :class:`ConfigError` unless ``size`` and ``seed`` are ints (not bools)."""
    for name, value in (("size", size), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(
                f"gridmix data {name}: {value!r} is not an integer; pass a whole number")


def _head(lines: List[bytes], budget: int) -> bytes:
    """Return the shortest prefix of ``lines`` whose length is >= ``budget`` bytes, joined.

    All of ``lines`` if even the whole batch is shorter than ``budget``.
    """
    used = 0
    for count, line in enumerate(lines, start=1):
        used += len(line)
        if used >= budget:
            return b"".join(lines[:count])
    return b"".join(lines)


def generate_text(out: BinaryIO, size: int, seed: int) -> int:
    """Write VARINFLTEXT-style random text records to ``out``; return the bytes written.

    ``out`` is a binary file object (only ``write`` is used; it is neither flushed nor
    closed). ``size`` is the byte budget (int, bytes; see ``dirft.units.parse_bytes`` for
    ``"64MiB"``-style text): records are written until the total reaches or exceeds it,
    so the result is ``size`` plus less than one record (a record is under 3 KiB),
    and 0 when ``size <= 0``, as with Hadoop's RandomTextWriter byte budget. ``seed`` is
    any int; the same ``(size, seed)`` always gives the same bytes (see module notes).
    Writes are batches of :data:`BATCH_RECORDS` records (about 400 KiB).

    Raises :class:`ConfigError` if ``size`` or ``seed`` is not an int; errors raised by
    ``out.write`` propagate unchanged.
    """
    _check_args(size, seed)
    written = 0
    batch = 0
    while written < size:
        chunk = _head(_batch_records(seed, batch), size - written)
        out.write(chunk)
        written += len(chunk)
        batch += 1
    return written


def _temp_path(path: str) -> str:
    """Return an unused-looking hidden temp name beside ``path`` (same directory)."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _write_atomically(path: str, tmp: str, size: int, seed: int) -> int:
    """Write the data to the new file ``tmp``, sync it, rename it to ``path``; return bytes.

    The temp file is created exclusively with mode 0o666 less the umask, like any new
    data file. On any failure the temp file is removed and the error re-raised.
    """
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            written = generate_text(handle, size, seed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    return written


def generate_file(path: str, size: int, seed: int) -> int:
    """Write :func:`generate_text` output for ``(size, seed)`` to the file ``path``.

    Takes a local path (str), a byte budget ``size`` (int, bytes) and a ``seed`` (int);
    returns the bytes written (the file's final size). An existing file is replaced. The
    data goes to a hidden temp file in the same directory, is fsync'ed, then renamed over
    ``path`` with ``os.replace``, so a crash never leaves a half-written ``path``.

    Raises :class:`InputError` if the parent directory does not exist (naming it),
    :class:`ConfigError` for a non-int ``size`` or ``seed``, and :class:`StorageError`
    if the write, sync or rename fails (e.g. disk full, ``path`` is a directory).
    """
    _check_args(size, seed)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(
            f"gridmix data file {path}: directory {parent} does not exist; create it first")
    try:
        return _write_atomically(path, _temp_path(path), size, seed)
    except OSError as err:
        raise StorageError(
            f"gridmix data file {path}: writing failed ({err}); check space and "
            "permissions") from err
