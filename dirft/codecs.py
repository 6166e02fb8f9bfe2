"""Hadoop's compression codecs as dirft reads and writes them: gzip, bzip2 and zlib.

Input side: Hadoop's ``TextInputFormat`` asks ``CompressionCodecFactory.getCodec`` for the
codec of each input file by its name's suffix and reads the decompressed lines. The codecs
Hadoop 3.3.6 registers (``META-INF/services/...CompressionCodec`` of hadoop-common) are in
:data:`CODECS`. dirft reads the three whose format Python's standard library decodes —
``GzipCodec`` (``.gz``, :mod:`gzip`, several members too), ``BZip2Codec`` (``.bz2``,
:mod:`bz2`) and ``DefaultCodec`` (``.deflate``: a zlib stream, :mod:`zlib`) — and refuses
the others (``.zst``, ``.lz4``, ``.snappy``: Hadoop's own framings, or a native library)
with an :class:`~dirft.errors.InputError` naming the file and the codec: such a file is
never mapped as raw bytes.

Output side: ``mapreduce.output.fileoutputformat.compress`` with ``.compress.codec``
names one of the same three classes; ``TextOutputFormat`` then writes
``part-NNNNN`` + the codec's default extension (``part-00000.gz``). Bytes differ from
Hadoop's own compressors' (another implementation of each format); the decompressed bytes
are the same.
"""

from __future__ import annotations

import bz2
import gzip
import io
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from dirft.errors import ConfigError, InputError
from dirft.units import CHUNK

PACKAGE = "org.apache.hadoop.io.compress."


@dataclass(frozen=True)
class Codec:
    """One of Hadoop's ``CompressionCodec`` classes.

    ``name``: the class's simple name (``GzipCodec``); ``suffix``: its
    ``getDefaultExtension()``; ``splittable``: it implements
    ``SplittableCompressionCodec`` (only ``BZip2Codec``); ``readable``: dirft reads and
    writes it with the standard library; ``why``: for one it does not, the reason.
    """

    name: str
    suffix: str
    splittable: bool = False
    readable: bool = True
    why: str = ""

    @property
    def hadoop_class(self) -> str:
        """The fully qualified Java class name (``org.apache.hadoop.io.compress.GzipCodec``)."""
        return PACKAGE + self.name


#: Every codec Hadoop 3.3.6 registers, in its services file's order.
CODECS: tuple[Codec, ...] = (
    Codec("BZip2Codec", ".bz2", splittable=True),
    Codec("DefaultCodec", ".deflate"),
    Codec("DeflateCodec", ".deflate"),
    Codec("GzipCodec", ".gz"),
    Codec("Lz4Codec", ".lz4", readable=False,
          why="Hadoop's LZ4 block framing, which no Python library dirft uses reads"),
    Codec("SnappyCodec", ".snappy", readable=False,
          why="Hadoop's Snappy block framing, which no Python library dirft uses reads"),
    Codec("ZStandardCodec", ".zst", readable=False,
          why="it needs Hadoop's native library (libhadoop built with zstd)"),
)


def codec_for(path: str) -> Codec | None:
    """The codec Hadoop picks for the file ``path`` by its name's suffix, or None.

    ``CompressionCodecFactory.getCodec``: the registered extension the file name ends
    with (case-sensitive). ``DefaultCodec`` and ``DeflateCodec`` share ``.deflate``;
    Hadoop's factory keeps the one registered last, ``DeflateCodec``, a subclass of
    ``DefaultCodec`` that reads the same zlib stream; this returns ``DefaultCodec``, the
    name Hadoop's documentation gives. Never raises.
    """
    for codec in CODECS:
        if path.endswith(codec.suffix):
            return codec
    return None


def codec_named(name: str) -> Codec:
    """The codec whose class name (simple or qualified) is ``name``. Raises InputError."""
    for codec in CODECS:
        if name in (codec.name, codec.hadoop_class):
            return codec
    raise InputError(f"{name} is not one of Hadoop's compression codecs")


@contextmanager
def opened_decompressed(storage, path: str, codec_name: str,
                        stored_length: int) -> Iterator[ForwardReader]:
    """Open the compressed file ``path`` of ``storage`` (``stored_length`` bytes as stored)
    and yield a :class:`ForwardReader` of its decompressed bytes; both closed on exit.
    Raises InputError/StorageError from ``storage`` and for an unknown codec."""
    codec = codec_named(codec_name)
    with storage.open_range(path, 0, stored_length) as raw:
        stream = decompressing(raw, codec)
        try:
            yield ForwardReader(stream)
        finally:
            stream.close()


def input_codec(path: str) -> Codec | None:
    """:func:`codec_for` for an input file, refusing a codec dirft cannot read.

    Returns None for plain text. Raises :class:`InputError` naming the file, the Hadoop
    codec and the way out when the codec is not one dirft reads.
    """
    codec = codec_for(path)
    if codec is not None and not codec.readable:
        raise InputError(
            f"input {path}: Hadoop reads it with {codec.hadoop_class} ({codec.suffix}), "
            f"which dirft does not read: {codec.why}; decompress it or recompress it as "
            f".gz, .bz2 or .deflate")
    return codec


def decompressing(raw: BinaryIO, codec: Codec) -> BinaryIO:
    """A reader of the decompressed bytes of the binary stream ``raw`` (from its start).

    Only ``read(n)`` is used by dirft (:class:`ForwardReader` adds forward seeks).
    Decoding errors surface on read as ``OSError``/``EOFError``/``zlib.error``.
    """
    if codec.suffix == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if codec.suffix == ".bz2":
        return bz2.BZ2File(raw, mode="rb")
    if codec.suffix == ".deflate":
        return io.BufferedReader(_ZlibReader(raw), buffer_size=CHUNK)
    raise InputError(f"{codec.hadoop_class} is not read by dirft")


class _ZlibReader(io.RawIOBase):
    """The decompressed bytes of a zlib stream (``DefaultCodec``), as a raw reader.

    Concatenated zlib streams are read one after the other, as Hadoop's
    ``DecompressorStream`` resets its decompressor at the end of each. Input that ends
    inside a stream raises ``EOFError``; an empty file has no bytes.
    """

    def __init__(self, raw: BinaryIO, chunk: int = 1 << 18) -> None:
        super().__init__()
        self.raw, self.chunk = raw, chunk
        self.inflate, self.pending, self.began = zlib.decompressobj(), b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` with decompressed bytes; return how many (0 at the end)."""
        while not self.pending:
            data = self._next_input()
            if data is None:
                return 0
            self.pending = self.inflate.decompress(data, CHUNK)
        n = min(len(buffer), len(self.pending))
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        return n

    def _next_input(self) -> bytes | None:
        """The next compressed bytes to inflate (a new stream after an ended one), or None."""
        if self.inflate.unconsumed_tail:
            return self.inflate.unconsumed_tail
        if self.inflate.eof:
            data = self.inflate.unused_data or self.raw.read(self.chunk)
            if data:
                self.inflate = zlib.decompressobj()
            return data or None
        data = self.raw.read(self.chunk)
        if not data and self.began:
            raise EOFError("the zlib stream ends before its end-of-stream marker")
        self.began = True
        return data or None


class ForwardReader:
    """A decompressed stream that :func:`dirft.records.read_records` can ``seek`` in.

    Decompressed streams cannot jump: ``seek(pos)`` reads and drops bytes up to ``pos``
    (every replica decompresses its split from the start, once). ``read(n)`` reads on.
    A seek backwards raises :class:`InputError`.
    """

    def __init__(self, stream: BinaryIO, chunk: int = CHUNK) -> None:
        self.stream, self.chunk, self.position = stream, chunk, 0

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` decompressed bytes (fewer only at the end)."""
        data = self.stream.read(n)
        self.position += len(data)
        return data

    def seek(self, position: int) -> int:
        """Skip forward to decompressed offset ``position``; return it (or the end)."""
        if position < self.position:
            raise InputError(f"cannot seek back from decompressed offset {self.position} "
                             f"to {position}")
        while self.position < position:
            if not self.read(min(self.chunk, position - self.position)):
                break
        return self.position


def decompressed_size(stream: BinaryIO, chunk: int = CHUNK) -> int:
    """Bytes of the decompressed ``stream``, read to its end (one decompression pass)."""
    total = 0
    for data in iter(lambda: stream.read(chunk), b""):
        total += len(data)
    return total


# -- output ------------------------------------------------------------------------
def output_codec(get: Callable[[str], object]) -> Codec | None:
    """The codec of a job's output, from ``get(key)`` of the jobconf; None: plain text.

    ``mapreduce.output.fileoutputformat.compress`` true picks
    ``mapreduce.output.fileoutputformat.compress.codec`` (Hadoop's default:
    ``DefaultCodec``), given as the class name. Raises :class:`ConfigError` naming the key
    for a class that is not one of Hadoop's codecs or that dirft does not write.
    """
    if not get("mapreduce.output.fileoutputformat.compress"):
        return None
    key = "mapreduce.output.fileoutputformat.compress.codec"
    name = str(get(key))
    for codec in CODECS:
        if name in (codec.hadoop_class, codec.name):
            if not codec.readable:
                raise ConfigError(f"{key}={name}: dirft does not write {codec.name} "
                                  f"({codec.why}); use GzipCodec, BZip2Codec or DefaultCodec")
            return codec
    raise ConfigError(f"{key}={name}: not one of Hadoop's codecs; use "
                      f"{PACKAGE}GzipCodec, BZip2Codec or DefaultCodec")


def compress_file(src: str, dst: str, codec: Codec, chunk: int = CHUNK) -> None:
    """Write ``src``'s bytes to ``dst`` compressed with ``codec``: gzip (level 6, no name,
    mtime 0), bzip2 (900 kB blocks) or a zlib stream (level 6), the defaults of Hadoop's
    codecs. An empty ``src`` gives the codec's empty stream, as Hadoop's writer does on
    close. Raises OSError."""
    with open(src, "rb") as f, open(dst, "wb") as out:
        if codec.suffix == ".deflate":
            deflate = zlib.compressobj(6)
            for data in iter(lambda: f.read(chunk), b""):
                out.write(deflate.compress(data))
            out.write(deflate.flush())
            return
        with _compressed_writer(out, codec) as writer:
            for data in iter(lambda: f.read(chunk), b""):
                writer.write(data)


def _compressed_writer(out: BinaryIO, codec: Codec) -> BinaryIO:
    """A writer compressing into ``out`` with the standard library's gzip or bz2 file."""
    if codec.suffix == ".gz":
        return gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0)
    return bz2.BZ2File(out, mode="wb", compresslevel=9)
