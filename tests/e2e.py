"""Helpers for end-to-end tests: run the CLI in-process, look for leftovers."""

import json
import os
import pathlib
import re
import subprocess

from dirft.chaos import live_replicas
from dirft.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "mapred-site.example.xml"
SMALL = ["-D", "dirft.split.maxsize=262144",
         "-D", "dfs.blocksize=524288", "-D", "dirft.slots.per.node=8"]


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``dirft ARGS`` in this process; return (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, without_progress(err)


PROGRESS = re.compile(r"dirft: map \d+% reduce \d+%|dirft: running step \d+ of \d+")


def without_progress(err: str) -> str:
    """``err`` without the console's progress lines (``dirft: map 50% reduce 0%``), so
    tests can count the lines of an error."""
    return "".join(line for line in err.splitlines(keepends=True)
                   if not PROGRESS.fullmatch(line.rstrip("\n")))


def streaming(capsys, data, output, *extra) -> tuple[int, str, str]:
    """``dirft streaming`` of ``data`` with the example config, small splits (8 map tasks)."""
    return run_cli(capsys, "streaming", "-input", data, "-output", output,
                   "-conf", EXAMPLE, *SMALL, *extra)


def report(output) -> dict:
    """The ``_dirft_report.json`` of an output directory."""
    return json.loads((pathlib.Path(output) / "_dirft_report.json").read_text())


def c_sorted(path) -> bytes:
    """``LC_ALL=C sort`` of a file, the reference output of streamSort."""
    return subprocess.run(["sort", str(path)], env={**os.environ, "LC_ALL": "C"},
                          check=True, capture_output=True).stdout


def assert_sorted_by_key(output: bytes, source) -> None:
    """What Hadoop promises for streamSort (docs/hadoop.md, 'Sort order'): the output holds
    exactly the input's lines, and their keys (bytes before the first tab) are in byte
    order. Values of equal keys come in the merge's order, so ``LC_ALL=C sort`` of the
    input may order them differently: this compares lines as a multiset, not bytes."""
    lines = output.splitlines()
    assert sorted(lines) == c_sorted(source).splitlines()
    keys = [line.split(b"\t", 1)[0] for line in lines]
    assert keys == sorted(keys)


def parts(output) -> dict:
    """Every file of an output directory but the report, by name, as bytes."""
    return {p.name: p.read_bytes() for p in sorted(pathlib.Path(output).iterdir())
            if p.name != "_dirft_report.json"}


def leftovers(directory) -> list[str]:
    """Scratch files dirft left in ``directory`` and live replica processes of its jobs."""
    names = [p.name for p in pathlib.Path(directory).iterdir() if p.name.startswith(".")]
    return names + live_replicas(directory)
