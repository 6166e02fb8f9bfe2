"""Hadoop's codecs by suffix, decompressed sub-splits, the .bz2 split rule, output codecs."""

import bz2
import gzip
import io
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dirft.codecs import (ForwardReader, codec_for, compress_file, decompressing, input_codec,
                          output_codec)
from dirft.config import JobConf
from dirft.core.planner import InputFile, compute_splits, make_subsplits, place_blocks
from dirft.errors import ConfigError, InputError
from dirft.records import read_records, split_records
from dirft.runners.inputs import compress_parts, hadoop_one_split, readable_inputs
from dirft.storage.local import LOCAL

COMPRESS = {".gz": lambda d: gzip.compress(d, mtime=0), ".bz2": bz2.compress,
            ".deflate": zlib.compress}
DECOMPRESS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".deflate": zlib.decompress}


@pytest.mark.parametrize("name, codec", [
    ("a.gz", "GzipCodec"), ("logs/x.txt.bz2", "BZip2Codec"), ("p.deflate", "DefaultCodec"),
    ("y.zst", "ZStandardCodec"), ("y.lz4", "Lz4Codec"), ("y.snappy", "SnappyCodec")])
def test_the_codec_is_picked_by_suffix_as_hadoop_does(name, codec):
    assert codec_for(name).name == codec


@pytest.mark.parametrize("name", ["a.txt", "a.GZ", "a.gz.txt", "a.tgz", "gz"])
def test_other_names_are_plain_text(name):
    assert codec_for(name) is None and input_codec(name) is None


@pytest.mark.parametrize("name, codec", [("in/w.zst", "ZStandardCodec"), ("w.lz4", "Lz4Codec"),
                                         ("w.snappy", "SnappyCodec")])
def test_a_codec_dirft_does_not_read_is_refused_naming_file_and_codec(name, codec):
    with pytest.raises(InputError, match=f"input {name}: .*{codec}"):
        input_codec(name)


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".deflate"])
def test_concatenated_streams_are_read_one_after_another(suffix):
    data = COMPRESS[suffix](b"a\tb\n") + COMPRESS[suffix](b"c\td\n")
    assert decompressing(io.BytesIO(data), codec_for(suffix)).read() == b"a\tb\nc\td\n"


def test_a_truncated_zlib_stream_is_an_error():
    data = zlib.compress(b"x\n" * 5000)[:-6]
    with pytest.raises(EOFError):
        decompressing(io.BytesIO(data), codec_for(".deflate")).read()


def test_the_forward_reader_cannot_go_back():
    reader = ForwardReader(io.BytesIO(b"0123456789"))
    assert reader.seek(4) == 4 and reader.read(2) == b"45"
    with pytest.raises(InputError, match="seek back"):
        reader.seek(1)


lines = st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
                 max_size=60)


@settings(max_examples=60, deadline=None)
@given(lines, st.integers(1, 7), st.sampled_from([".gz", ".bz2", ".deflate"]))
def test_sub_splits_of_a_compressed_split_give_its_records_once(records, count, suffix):
    text = b"".join(r + b"\n" for r in records)
    data, codec = COMPRESS[suffix](text), codec_for(suffix)
    split = compute_splits([InputFile("f", len(text), splittable=False)], {}, 4)[0]
    seen = b""
    for sub in make_subsplits(split, count):
        reader = ForwardReader(decompressing(io.BytesIO(data), codec))
        seen += b"".join(read_records(reader, sub.start, sub.end, 5))
    assert split_records(seen) == split_records(text)


def test_an_unsplittable_file_is_one_split_whatever_the_split_size():
    files = [InputFile("a.gz", 10_000, splittable=False), InputFile("b.txt", 10_000)]
    splits = compute_splits(files, place_blocks(files, 4096, ["n0", "n1"], 1), 4096)
    assert [(s.path, s.start, s.length) for s in splits[:2]] == [("a.gz", 0, 10_000),
                                                                ("b.txt", 0, 4096)]
    assert len(splits) == 4 and [s.index for s in splits] == [0, 1, 2, 3]


@pytest.mark.parametrize("size, total, maps, block, one", [
    (68675, 68675, 2, 134217728, False),   # recorded: bz2_input_two_splits, 2 splits
    (44000, 44000, 1, 134217728, True),    # recorded: bz2_input_one_split
    (1000, 10000, 2, 134217728, True),     # goal 5000: a small file of many
    (5600, 10000, 2, 134217728, False),    # 5600 / 5000 > 1.1
    (5500, 10000, 2, 134217728, True),     # 5500 / 5000 = 1.1: no second split
    (300, 300, 1, 128, False),             # larger than its block
    (0, 0, 2, 128, True)])
def test_hadoops_old_api_rule_for_one_split(size, total, maps, block, one):
    assert hadoop_one_split(size, total, maps, block, 1) is one


def write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_readable_inputs_measure_compressed_files_and_refuse_the_rest(tmp_path):
    text = b"k\tv\n" * 1000
    gz = write(tmp_path / "a.gz", gzip.compress(text))
    plain = write(tmp_path / "b.txt", text)
    conf = JobConf.load(defines=["mapreduce.job.maps=1"])
    files, stored = readable_inputs(LOCAL, LOCAL.resolve_inputs([gz, plain]), conf)
    assert files == [InputFile(gz, len(text), splittable=False), InputFile(plain, len(text))]
    assert stored[gz] == ("GzipCodec", len(gzip.compress(text)))
    bz = write(tmp_path / "c.bz2", bz2.compress(text))
    with pytest.raises(InputError, match="c.bz2: .*BZip2Codec.*several splits.*mapreduce.job.maps=1"):
        readable_inputs(LOCAL, LOCAL.resolve_inputs([bz]), JobConf.load())
    assert readable_inputs(LOCAL, LOCAL.resolve_inputs([bz]), conf)[0][0].size == len(text)
    bad = write(tmp_path / "d.gz", b"not gzip at all\n")
    with pytest.raises(InputError, match="d.gz: not valid GzipCodec data"):
        readable_inputs(LOCAL, LOCAL.resolve_inputs([bad]), conf)


@pytest.mark.parametrize("defines, suffix", [
    (["mapreduce.output.fileoutputformat.compress=true",
      "mapreduce.output.fileoutputformat.compress.codec=org.apache.hadoop.io.compress.GzipCodec"],
     ".gz"),
    (["mapred.output.compress=true",
      "mapred.output.compression.codec=org.apache.hadoop.io.compress.BZip2Codec"], ".bz2"),
    (["mapreduce.output.fileoutputformat.compress=true"], ".deflate"),  # Hadoop's default
    (["mapreduce.output.fileoutputformat.compress.codec=org.apache.hadoop.io.compress.GzipCodec"],
     None)])
def test_the_output_codec_comes_from_the_jobconf(defines, suffix):
    codec = output_codec(JobConf.load(defines=defines).get)
    assert (codec.suffix if codec else None) == suffix


@pytest.mark.parametrize("name, match", [("org.apache.hadoop.io.compress.Lz4Codec", "does not write"),
                                         ("com.example.MyCodec", "not one of Hadoop's codecs")])
def test_an_output_codec_dirft_does_not_write_is_refused(name, match):
    conf = JobConf.load(defines=["mapreduce.output.fileoutputformat.compress=true",
                                 f"mapreduce.output.fileoutputformat.compress.codec={name}"])
    with pytest.raises(ConfigError, match=match):
        output_codec(conf.get)


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".deflate"])
def test_parts_are_compressed_and_renamed_as_hadoop_names_them(tmp_path, suffix):
    (tmp_path / "part-00000").write_bytes(b"a\t1\n" * 100)
    (tmp_path / "part-00001").write_bytes(b"")
    (tmp_path / "_SUCCESS").write_bytes(b"")
    assert compress_parts(str(tmp_path), codec_for(suffix)) == [
        "part-00000" + suffix, "part-00001" + suffix]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_SUCCESS", "part-00000" + suffix, "part-00001" + suffix]
    assert DECOMPRESS[suffix]((tmp_path / f"part-00000{suffix}").read_bytes()) == b"a\t1\n" * 100
    assert DECOMPRESS[suffix]((tmp_path / f"part-00001{suffix}").read_bytes()) == b""


def test_gzip_output_is_the_same_bytes_every_time(tmp_path):
    (tmp_path / "src").write_bytes(b"x\ty\n" * 1000)
    compress_file(str(tmp_path / "src"), str(tmp_path / "a"), codec_for(".gz"))
    compress_file(str(tmp_path / "src"), str(tmp_path / "b"), codec_for(".gz"))
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
