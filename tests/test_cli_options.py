"""Hadoop Streaming options beyond the basics, and the console conventions of ``dirft``."""

import os
import tarfile

import pytest

from dirft import __version__
from e2e import SMALL, parts, run_cli


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dirft: error: ")
    assert not lines[0].startswith("dirft: error: dirft")  # one prefix, not two
    return lines[0]


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        run_cli(capsys, "--version")
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"dirft {__version__}"


@pytest.mark.parametrize("args,needle", [
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "cat", "-D", "nokey"],
     "-D 'nokey'"),
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "cat", "-inputformat",
      "org.apache.hadoop.mapred.SequenceFileInputFormat"], "-inputformat"),
    (["streaming", "-input", "IN", "-output", "OUT", "-mapper", "cat", "-outputformat",
      "org.apache.hadoop.mapred.SequenceFileOutputFormat"], "-outputformat"),
    (["streaming"], "the following arguments are required"),
    (["gridmix", "generate", "--size", "lots", "OUT"], "--size: 'lots'"),
    (["run"], "the following arguments are required"),
    (["run", "job.py", "IN", "-o", "OUT", "-D", "=x"], "-D '=x'"),
])
def test_every_bad_command_line_exits_2_with_one_prefixed_line(capsys, args, needle):
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and needle in _error_line(err)


def test_streaming_help_has_no_docstring_markup(capsys):
    with pytest.raises(SystemExit):
        run_cli(capsys, "streaming", "--help")
    out = capsys.readouterr().out
    assert "``" not in out and ":mod:" not in out and "-lazyOutput" in out


def test_text_formats_are_accepted(tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_bytes(b"b\t1\na\t2\n")
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", tmp_path / "out",
                           "-mapper", "cat", "-inputformat", "TextInputFormat",
                           "-outputformat", "org.apache.hadoop.mapred.TextOutputFormat")
    assert code == 0, err
    assert (tmp_path / "out" / "part-00000").read_bytes() == b"a\t2\nb\t1\n"


def test_files_renamed_with_hash_and_archives_unpacked(tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_bytes(b"x\n")
    tool = tmp_path / "tool-v1.py"
    tool.write_text("import sys\nword = open('lookup/words.txt').read().strip()\n"
                    "for line in sys.stdin:\n    print(word + '-' + line.strip())\n")
    (tmp_path / "words.txt").write_text("from-the-archive\n")
    with tarfile.open(tmp_path / "data.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "words.txt", arcname="words.txt")
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", tmp_path / "out",
                           "-mapper", "python tool.py", "-reducer", "cat",
                           "-files", f"{tool}#tool.py",
                           "-archives", f"{tmp_path / 'data.tar.gz'}#lookup")
    assert code == 0, err
    assert (tmp_path / "out" / "part-00000").read_bytes() == b"from-the-archive-x\t\n"


def test_an_archive_that_is_not_one_is_refused(tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_bytes(b"x\n")
    (tmp_path / "notes.txt").write_text("hi")
    code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", tmp_path / "out",
                           "-mapper", "cat", "-archives", str(tmp_path / "notes.txt"))
    assert code == 1 and "-archives" in _error_line(err)
    assert not (tmp_path / "out").exists()


def test_lazy_output_leaves_out_empty_parts(tmp_path, capsys):
    data = tmp_path / "in.txt"
    data.write_bytes(b"only-key\t1\n")
    outs = {}
    for lazy in (False, True):
        out = tmp_path / f"out-{lazy}"
        code, _, err = run_cli(capsys, "streaming", "-input", data, "-output", out,
                               "-mapper", "cat", "-numReduceTasks", "4",
                               *(["-lazyOutput"] if lazy else []))
        assert code == 0, err
        outs[lazy] = sorted(n for n in parts(out) if n.startswith("part-"))
    assert len(outs[False]) == 4 and len(outs[True]) == 1
    assert set(outs[True]) < set(outs[False])


def test_partitioner_option_sets_the_jobconf_key():
    from dirft.cli import build_parser, job_from_args

    args = build_parser().parse_args(["streaming", "-input", "i", "-output", "o", "-mapper",
                                      "cat", "-partitioner",
                                      "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner"])
    conf = job_from_args(args).conf
    assert conf.items()["mapreduce.job.partitioner.class"].endswith("KeyFieldBasedPartitioner")
