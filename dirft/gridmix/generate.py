"""Random text input for GridMix2-style jobs: VARINFLTEXT and its key/value siblings.

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

Records come in batches (:data:`BATCH_RECORDS` for text) whose draws never depend on
``size``, so the output for a seed is one endless record stream and a smaller ``size``
yields a prefix of a larger one.

Data sets (:data:`DATASETS`, GridMix2's ``generateGridmix2data.sh`` shapes, all written as
uncompressed ``KEY\\tVALUE`` text here, where GridMix2 writes the last two as compressed
SequenceFiles of Text):

* ``text`` - VARINFLTEXT: keys of 1-10 words, values of 0-200 words (streamSort, combiner);
* ``kv`` - VARCOMPSEQ: keys of 5-10 words, values of 100-10000 words (javaSort,
  webdataScan, webdataSort), RandomTextWriter's own default word counts;
* ``fixkv`` - FIXCOMPSEQ: keys of exactly 5 words, values of exactly 100 (monsterQuery).

Each data set has its own streams (label ``dirft-gridmix-<name>``), so seed 1 of ``kv`` has
nothing in common with seed 1 of ``text``. :func:`generate_splits` writes a directory of
part files, one per input split, as GridMix's generator writes one part per map; part
``i`` uses the stream ``dirft-gridmix-<name>/part-<i>`` and so differs from every other part
and from the single-file stream.
"""

import array
import hashlib
import os
import random
import secrets
import shutil
import sys
from dataclasses import dataclass
from typing import BinaryIO, Dict, List, Tuple

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



@dataclass(frozen=True)
class Dataset:
    """One GridMix2 data set's record shape (word counts are inclusive bounds).

    ``gridmix_name`` is GridMix2's directory name; ``batch_records`` the records drawn per
    batch (fewer for long records, so a small file does not draw megabytes it never
    writes); ``stream`` the prefix of the SHAKE-128 stream names (see module notes).
    """

    name: str
    gridmix_name: str
    key_words: Tuple[int, int]
    value_words: Tuple[int, int]
    batch_records: int
    stream: str

    @property
    def value_span(self) -> int:
        """How many value lengths are possible."""
        return self.value_words[1] - self.value_words[0] + 1

    @property
    def shapes(self) -> int:
        """How many (key length, value length) pairs are possible (< 65536)."""
        return (self.key_words[1] - self.key_words[0] + 1) * self.value_span


#: The data sets by name: ``text`` (VARINFLTEXT), ``kv`` (VARCOMPSEQ), ``fixkv`` (FIXCOMPSEQ).
DATASETS: Dict[str, Dataset] = {d.name: d for d in (
    Dataset("text", "VARINFLTEXT", KEY_WORDS, VALUE_WORDS, BATCH_RECORDS, "dirft-gridmix-text"),
    Dataset("kv", "VARCOMPSEQ", (5, 10), (100, 10000), 16, "dirft-gridmix-kv"),
    Dataset("fixkv", "FIXCOMPSEQ", (5, 5), (100, 100), 128, "dirft-gridmix-fixkv"),
)}


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


def _stream(prefix: str, seed: int, batch: int, label: str, nbytes: int) -> bytes:
    """Return the first ``nbytes`` bytes of the SHAKE-128 stream for one batch and use.

    ``prefix`` names the data set and part (``dirft-gridmix-text``, ``…/part-3``);
    ``label`` separates independent streams ("shape" for record lengths, "words").
    A longer request returns a longer prefix of the same stream.
    """
    name = f"{prefix}/{label}/{seed}/{batch}".encode("ascii")
    return hashlib.shake_128(name).digest(nbytes)


def _u16(data: bytes) -> "array.array[int]":
    """Return ``data`` read as little-endian unsigned 16-bit numbers, on any platform."""
    numbers = array.array("H", data)
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers


def _shapes(data: Dataset, prefix: str, seed: int, batch: int) -> List[Tuple[int, int]]:
    """Return ``(key_words, value_words)`` for each of the batch's records.

    Each record takes one 16-bit draw below the largest multiple of ``data.shapes`` that
    fits in 16 bits (others are skipped, so every length pair is exactly equally likely).
    """
    count, limit, span = data.batch_records, 65536 - 65536 % data.shapes, data.value_span
    nbytes = 2 * (count + count // 8 + 32)
    while True:
        draws = [x % data.shapes for x in _u16(_stream(prefix, seed, batch, "shape", nbytes))
                 if x < limit][:count]
        if len(draws) == count:
            return [(data.key_words[0] + d // span, data.value_words[0] + d % span)
                    for d in draws]
        nbytes *= 2  # too many rejections (very rare): read further along the stream


def _batch_records(data: Dataset, prefix: str, seed: int, batch: int) -> List[bytes]:
    """Return the ``data.batch_records`` encoded lines (``b"KEY\\tVALUE\\n"``) of a batch."""
    shapes = _shapes(data, prefix, seed, batch)
    total = sum(k + v for k, v in shapes)
    stream = _stream(prefix, seed, batch, "words", 2 * total)
    words = list(map(_TABLE.__getitem__, _u16(stream)))
    lines = []
    start = 0
    for key_words, value_words in shapes:
        middle = start + key_words
        end = middle + value_words
        lines.append(b" ".join(words[start:middle]) + b"\t"
                     + b" ".join(words[middle:end]) + b"\n")
        start = end
    return lines


def _check_args(size: int, seed: int, dataset: str = "text") -> Dataset:
    """Return the named :class:`Dataset`; raise :class:`ConfigError` unless ``size`` and
    ``seed`` are ints (not bools) and ``dataset`` is a key of :data:`DATASETS`."""
    for name, value in (("size", size), ("seed", seed)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(
                f"gridmix data {name}: {value!r} is not an integer; pass a whole number")
    if dataset not in DATASETS:
        raise ConfigError(f"gridmix data set {dataset!r} is unknown; choose one of "
                          f"{', '.join(DATASETS)}")
    return DATASETS[dataset]


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


def generate_text(out: BinaryIO, size: int, seed: int, dataset: str = "text",
                  part: int | None = None) -> int:
    """Write random ``KEY\\tVALUE`` records of ``dataset`` to ``out``; return bytes written.

    ``out`` is a binary file object (only ``write`` is used; it is neither flushed nor
    closed). ``size`` is the byte budget (int, bytes; see ``dirft.units.parse_bytes`` for
    ``"64MiB"``-style text): records are written until the total reaches or exceeds it,
    so the result is ``size`` plus less than one record (under 3 KiB for ``text``, under
    70 KiB for ``kv``), and 0 when ``size <= 0``, as with Hadoop's RandomTextWriter byte
    budget. ``seed`` is any int; the same ``(size, seed, dataset, part)`` always gives the
    same bytes (see module notes). ``dataset`` names a :data:`DATASETS` entry (default
    ``text``, VARINFLTEXT); ``part`` (int >= 0) selects part file ``part``'s own stream,
    None the single-file stream. Writes are batches of the data set's ``batch_records``.

    Raises :class:`ConfigError` if ``size`` or ``seed`` is not an int or ``dataset`` is
    unknown; errors raised by ``out.write`` propagate unchanged.
    """
    data = _check_args(size, seed, dataset)
    prefix = data.stream if part is None else f"{data.stream}/part-{int(part)}"
    written = 0
    batch = 0
    while written < size:
        chunk = _head(_batch_records(data, prefix, seed, batch), size - written)
        out.write(chunk)
        written += len(chunk)
        batch += 1
    return written


def _temp_path(path: str) -> str:
    """Return an unused-looking hidden temp name beside ``path`` (same directory)."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _write_atomically(path: str, tmp: str, write) -> int:
    """Call ``write(handle)`` on the new file ``tmp``, sync it, rename it to ``path``;
    return what ``write`` returned (bytes written).

    The temp file is created exclusively with mode 0o666 less the umask, like any new
    data file. On any failure the temp file is removed and the error re-raised.
    """
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            written = write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    return written


def _check_parent(path: str) -> None:
    """Raise :class:`InputError` naming ``path``'s parent directory if it does not exist."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise InputError(
            f"gridmix data file {path}: directory {parent} does not exist; create it first")


def generate_file(path: str, size: int, seed: int, dataset: str = "text") -> int:
    """Write :func:`generate_text` output for ``(size, seed, dataset)`` to the file ``path``.

    Takes a local path (str), a byte budget ``size`` (int, bytes), a ``seed`` (int) and a
    data set name; returns the bytes written (the file's final size). An existing file is
    replaced. The data goes to a hidden temp file in the same directory, is fsync'ed, then
    renamed over ``path`` with ``os.replace``, so a crash never leaves a half-written file.

    Raises :class:`InputError` if the parent directory does not exist (naming it),
    :class:`ConfigError` for a non-int ``size`` or ``seed`` or an unknown data set, and
    :class:`StorageError` if the write, sync or rename fails (e.g. disk full, ``path`` is
    a directory).
    """
    _check_args(size, seed, dataset)
    _check_parent(path)
    try:
        return _write_atomically(path, _temp_path(path),
                                 lambda out: generate_text(out, size, seed, dataset))
    except OSError as err:
        raise StorageError(
            f"gridmix data file {path}: writing failed ({err}); check space and "
            "permissions") from err


def part_name(index: int) -> str:
    """Hadoop's name of part file ``index`` (int >= 0): ``part-00000``, ``part-00001``, …"""
    return f"part-{index:05d}"


def generate_splits(directory: str, splits: int, split_size: int, seed: int,
                    dataset: str = "text") -> List[int]:
    """Write ``splits`` part files of ``split_size`` bytes each (the RandomTextWriter budget
    rule) into the new directory ``directory``; return their sizes in bytes.

    One part per input split, as GridMix's generator writes one part per map: with
    ``dirft.split.maxsize`` and ``dfs.blocksize`` at least the
    largest part, each part is one split. Part ``i`` is :func:`generate_text` with
    ``part=i``. The directory is built under a hidden name beside it and renamed into
    place, so it appears whole or not at all.

    Raises :class:`InputError` if ``directory`` exists or its parent does not,
    :class:`ConfigError` for bad arguments (``splits`` must be >= 1) and
    :class:`StorageError` if writing fails.
    """
    _check_args(split_size, seed, dataset)
    if not isinstance(splits, int) or isinstance(splits, bool) or splits < 1:
        raise ConfigError(f"gridmix splits: {splits!r} is not an integer >= 1")
    _check_parent(directory)
    if os.path.lexists(directory):
        raise InputError(f"gridmix data directory {directory} already exists; remove it "
                         "or choose another")
    tmp = _temp_path(directory)
    try:
        return _write_parts(directory, tmp, splits, split_size, seed, dataset)
    except OSError as err:
        raise StorageError(f"gridmix data directory {directory}: writing failed ({err}); "
                           "check space and permissions") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_parts(directory: str, tmp: str, splits: int, split_size: int, seed: int,
                 dataset: str) -> List[int]:
    """Write the parts into the new directory ``tmp`` and rename it to ``directory``."""
    os.mkdir(tmp)
    sizes = []
    for index in range(splits):
        path = os.path.join(tmp, part_name(index))
        sizes.append(_write_atomically(
            path, _temp_path(path),
            lambda out, i=index: generate_text(out, split_size, seed, dataset, part=i)))
    os.rename(tmp, directory)
    return sizes
