"""Compressed input files, made ready for the planner: codec, decompressed size, one split.

Every runner lists ``-input`` (:meth:`dirft.storage.base.Storage.resolve_inputs`) and then
passes the files through :func:`readable_inputs`, which does what Hadoop's
``TextInputFormat`` does with a compressed file (:mod:`dirft.codecs`):

* a file whose suffix names a codec dirft does not read (``.zst``, ``.lz4``, ``.snappy``)
  is refused with an :class:`~dirft.errors.InputError` naming the file and the codec;
* a ``.gz`` or ``.deflate`` file is one input split (``isSplitable`` is false for them);
* a ``.bz2`` file is splittable in Hadoop (``BZip2Codec`` is a
  ``SplittableCompressionCodec``, whose splits start at bzip2 block markers). dirft does
  not reproduce those boundaries, so it takes a ``.bz2`` file only when Hadoop Streaming's
  old-API ``FileInputFormat.getSplits`` makes it one split, and refuses it otherwise;
* a compressed file is decompressed once here, to its end, to learn its decompressed size:
  its sub-splits are cut in decompressed bytes (each replica then decompresses the split
  from its start and maps only its own sub-splits' records). Corrupt data is refused now.

The planner then sees an :class:`~dirft.core.planner.InputFile` of the decompressed size
with ``splittable`` false; the runner keeps a :class:`Stored` per compressed path for the
task entries (codec name, stored bytes: what ``mapreduce.map.input.length`` says).
"""

from __future__ import annotations

import os
import zlib
from typing import NamedTuple

from dirft.codecs import (Codec, compress_file, decompressed_size, decompressing,
                          input_codec)
from dirft.core.planner import SPLIT_SLOP, InputFile, goal_size
from dirft.errors import InputError


class Stored(NamedTuple):
    """A compressed input file as stored: its codec's class name and its size in bytes."""

    codec: str
    size: int


def readable_inputs(storage, files: list[InputFile], conf) -> tuple[list[InputFile], dict]:
    """Return ``(files for the planner, {path: Stored})`` for the listed input ``files``.

    Plain files pass unchanged; each compressed one becomes an unsplittable
    :class:`InputFile` of its decompressed size. ``storage`` reads the files; ``conf``
    gives ``mapreduce.job.maps``, ``dfs.blocksize`` and ``split.minsize`` for the
    ``.bz2`` rule (see the module doc). Raises :class:`InputError` naming the file for a
    codec dirft does not read, a ``.bz2`` file Hadoop would cut into several splits, or
    data that does not decompress.
    """
    total = sum(f.size for f in files)
    planned, stored = [], {}
    for f in files:
        codec = input_codec(f.path)
        if codec is None:
            planned.append(f)
            continue
        if codec.splittable:
            _check_one_bzip2_split(storage, f, total, conf)
        size = _decompressed_size(storage, f, codec)
        planned.append(InputFile(f.path, size, splittable=False))
        stored[f.path] = Stored(codec.name, f.size)
    return planned, stored


def split_rule(conf, files: list[InputFile], stored: dict) -> tuple[int, bool]:
    """``(max_size, old_api)`` for :func:`~dirft.core.planner.compute_splits` from the
    jobconf: ``dirft.split.maxsize`` when set (dirft's own knob: the new API's rule with
    that maximum), else Hadoop Streaming's old ``mapred`` rule, whose goal size is the
    input's stored bytes (``files``, a compressed one by its ``stored`` size) over
    ``mapreduce.job.maps``; ``mapreduce.input.fileinputformat.split.maxsize`` plays no
    part, as in Hadoop Streaming."""
    knob = conf.get("dirft.split.maxsize")
    if knob:
        return knob, False
    total = sum(stored[f.path].size if f.path in stored else f.size for f in files)
    return goal_size(total, conf.get("mapreduce.job.maps")), True


def stored_lengths(stored: dict) -> dict:
    """``{path: stored bytes}`` of the compressed inputs: their splits' length in Hadoop's
    numbering of map tasks (:func:`~dirft.core.planner.hadoop_order`)."""
    return {path: entry.size for path, entry in stored.items()}


def hadoop_one_split(size: int, total: int, maps: int, block_size: int, min_size: int) -> bool:
    """Whether the old ``mapred`` ``FileInputFormat.getSplits`` (Hadoop Streaming's) makes a
    splittable file of ``size`` bytes one split.

    ``total``: bytes of all input files; ``maps``: ``mapreduce.job.maps`` (goal size
    ``total / maps``); ``block_size`` of the file; ``min_size``: ``split.minsize``. Split
    size ``max(minSize, min(goalSize, blockSize))``; a second split is cut when
    ``size / splitSize > 1.1`` (``SPLIT_SLOP``, in doubles).
    """
    split_size = max(max(1, min_size), min(goal_size(total, maps), block_size))
    return size == 0 or float(size) / float(split_size) <= SPLIT_SLOP


def _check_one_bzip2_split(storage, f: InputFile, total: int, conf) -> None:
    """Refuse a ``.bz2`` file that Hadoop Streaming would cut into several splits."""
    blocks = storage.blocks(f.path, f.size, conf.get("dfs.blocksize"))
    block_size = blocks[0].length if len(blocks) > 1 else max(f.size, conf.get("dfs.blocksize"))
    maps = conf.get("mapreduce.job.maps")
    if not hadoop_one_split(f.size, total, maps, block_size,
                            conf.get("mapreduce.input.fileinputformat.split.minsize")):
        raise InputError(
            f"input {f.path}: Hadoop reads it with org.apache.hadoop.io.compress.BZip2Codec, "
            f"which is splittable, and would cut its {f.size} bytes into several splits "
            f"(mapreduce.job.maps={maps}, block size {block_size}) at bzip2 block "
            f"boundaries dirft does not reproduce; set -D mapreduce.job.maps=1 (one split "
            f"per file up to its block size) or recompress it as .gz")


def _decompressed_size(storage, f: InputFile, codec: Codec) -> int:
    """Bytes of ``f`` decompressed (one pass). Raises InputError for corrupt data."""
    try:
        with storage.open_range(f.path, 0, f.size) as raw:
            return decompressed_size(decompressing(raw, codec))
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(f"input {f.path}: not valid {codec.name} data ({err}); Hadoop "
                         f"picks the codec by the name's suffix {codec.suffix}: rename a "
                         f"file that is not compressed") from None


def task_entry(task, stored: dict) -> dict:
    """The job spec's entry of map task ``task`` (a TaskPlan): its split's file and range
    and its sub-splits; for a compressed file also ``codec`` (Hadoop's class name) and
    ``stored_length`` (its bytes as stored). Offsets of a compressed file's split and
    sub-splits are in decompressed bytes."""
    split = task.split
    entry = {"index": task.index, "path": split.path, "start": split.start,
             "length": split.length, "subsplits": [[s.start, s.length] for s in task.subsplits]}
    if split.path in stored:
        entry.update(codec=stored[split.path].codec, stored_length=stored[split.path].size)
    return entry


def compress_parts(directory: str, codec: Codec) -> list[str]:
    """Compress every ``part-*`` file of the local ``directory`` with ``codec``, renaming it
    with the codec's extension (``part-00000`` -> ``part-00000.gz``), as Hadoop's
    ``TextOutputFormat`` writes them when ``mapreduce.output.fileoutputformat.compress`` is
    true. Returns the new names, sorted. Raises OSError."""
    names = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("part-") and not name.endswith(codec.suffix):
            path = os.path.join(directory, name)
            compress_file(path, path + codec.suffix, codec)
            os.unlink(path)
            names.append(name + codec.suffix)
    return names
