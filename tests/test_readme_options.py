"""README's option table of ``dirft streaming`` stays whole and answered.

The table under "Running a streaming job" ("Each option, with an example") must list:

* every switch of the ``dirft streaming`` parser (generated from
  :data:`dirft.switches.SWITCHES`);
* every ``stream.*`` key of :data:`dirft.options.OPTIONS` (Hadoop Streaming's own keys);
* every option the differential suite (``tests/fixtures/streaming/*/case.json``) sets:
  its switches, its ``-D`` keys (old names read as their current ones, as the jobconf
  does) and ``-reducer``/``-combiner aggregate``;

each row with an example that uses the option and a meaning. And every option the table
lists has a case in ``tests/fixtures/streaming/`` (an answer recorded from the real
``hadoop-streaming.jar``), or a reason here in :data:`NO_CASE` why none is recorded.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from dirft.options import DEPRECATED, OPTIONS
from dirft.switches import SWITCHES

ROOT = pathlib.Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "fixtures" / "streaming"
INTRO = "Each option, with an example"

#: Options of the table that no recorded case sets, and why none is needed or possible.
NO_CASE = {
    "-conf": "a file of the same keys as -D (tests/test_config.py, tests/test_cli.py); "
             "each key's meaning has its own case",
    "-file": "the deprecated one-file spelling of -files, which every case with shipped "
             "files uses",
    "-archives": "the distributed cache's unpacking, no record rule of Hadoop's "
                 "(tests/test_cli_options.py)",
    "-inputformat": "only TextInputFormat, the default every case uses",
    "-outputformat": "only TextOutputFormat, the default every case uses",
    "-verbose": "dirft's own logging: no Hadoop answer to compare",
    "--runner": "the suite runs every case on both runners",
    "--json": "dirft's own report: no Hadoop answer to compare",
    "stream.map.input.field.separator": "changes nothing with text input, the only input "
                                        "format dirft reads",
    "mapreduce.input.fileinputformat.split.minsize": "the split cases of "
                                                     "tests/fixtures/splits (recorded apart)",
    "mapreduce.input.fileinputformat.split.maxsize": "the split cases of "
                                                     "tests/fixtures/splits (recorded apart)",
    "dirft.split.maxsize": "dirft's own key: no Hadoop answer to compare "
                           "(tests/test_splits_recorded.py)",
}


def table_rows(text: str) -> list[tuple[list[str], str, str]]:
    """``(option names, example, meaning)`` of each row of the option table in README
    text ``text``; an option name is a switch (``-files``), ``-reducer aggregate`` or the
    key of a ``-D key=VALUE`` cell. Raises AssertionError if the table is missing."""
    assert INTRO in text, f"README has no {INTRO!r} table"
    lines = text[text.index(INTRO):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| option "))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == 3, f"option table row without 3 cells: {line}"
        rows.append(([option_name(n) for n in re.findall(r"`([^`]+)`", cells[0])],
                     cells[1], cells[2]))
    return rows


def option_name(cell: str) -> str:
    """``-D key=S`` -> ``key``; any other option cell as it is (``-files``)."""
    if cell.startswith("-D "):
        return cell[3:].split("=", 1)[0]
    return cell


def case_options(case: dict) -> set[str]:
    """The options a case sets: its switches, ``-D`` keys (current names) and
    ``-reducer``/``-combiner aggregate``; ``-files`` for shipped files."""
    found = {"-input", "-output"} | ({"-files"} if case.get("files") else set())
    args = case["args"]
    for i, arg in enumerate(args):
        if arg == "-D":
            key = args[i + 1].split("=", 1)[0]
            found |= {"-D", DEPRECATED.get(key, key)}
        elif arg.startswith("-"):
            found.add(arg)
            if arg in ("-reducer", "-combiner") and args[i + 1].lower() == "aggregate":
                found.add(f"{arg} aggregate")
    return found


def streaming_flags() -> set[str]:
    """Every flag of the ``dirft streaming`` parser."""
    return {flag for switch in SWITCHES["streaming"] for flag in switch.flags}


@pytest.fixture(scope="module")
def rows():
    return table_rows((ROOT / "README.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def suite() -> set[str]:
    cases = [json.loads(p.read_text()) for p in sorted(CASES.glob("*/case.json"))]
    return {o for case in cases if "recorded" in case for o in case_options(case)}


def test_every_switch_of_the_streaming_parser_is_in_the_table(rows):
    listed = {name for names, _, _ in rows for name in names}
    assert sorted(streaming_flags() - listed) == []


def test_every_stream_key_is_in_the_table(rows):
    listed = {name for names, _, _ in rows for name in names}
    assert sorted(k for k in OPTIONS if k.startswith("stream.") and k not in listed) == []


def test_every_option_the_suite_sets_is_in_the_table(rows, suite):
    listed = {name for names, _, _ in rows for name in names}
    assert sorted(suite - listed) == []


def test_each_row_says_what_it_does_with_an_example_of_it(rows):
    for names, example, meaning in rows:
        assert meaning and example.startswith("`"), names
        for name in names:
            assert name in example, f"the example of {name} does not use it: {example}"


def test_each_listed_option_has_a_case_or_a_stated_reason(rows, suite):
    listed = {name for names, _, _ in rows for name in names}
    assert sorted(listed - suite - set(NO_CASE)) == []
    assert sorted(set(NO_CASE) & suite) == []  # a reason outlived: the option has a case now
    assert sorted(set(NO_CASE) - listed) == []


def test_the_table_reader_sees_a_missing_option():
    text = f"{INTRO}:\n\n| option | example | meaning |\n|---|---|---|\n" \
           "| `-D stream.map.output.field.separator=S` | `-D stream.map.output.field." \
           "separator=.` | separator |\n| `-inputformat` / `-outputformat` | " \
           "`-inputformat TextInputFormat` | text |\n\nafter\n"
    rows = table_rows(text)
    assert [names for names, _, _ in rows] == [["stream.map.output.field.separator"],
                                               ["-inputformat", "-outputformat"]]
    assert "-outputformat" not in rows[1][1]  # the example check would fail on it
    case = {"args": ["-D", "mapred.output.compress=true", "-reducer", "Aggregate"],
            "files": ["x.py"]}
    assert case_options(case) == {"-input", "-output", "-files", "-D", "-reducer",
                                  "-reducer aggregate",
                                  "mapreduce.output.fileoutputformat.compress"}


#: Where examples live that a user copies: they must not name one machine's Hadoop.
EXAMPLES = ["README.md", "mapred-site.example.xml", "gridmix_runs/*.yaml",
            "gridmix_runs/README*.md", "docs/README.md"]
#: One machine's Hadoop: an install path, a network namespace, an address with a port.
MACHINE = re.compile(r"/opt/|/usr/local/hadoop|\bnetns\b|\bhhunt\b|\bhx |"
                     r"\b(?:\d{1,3}\.){3}\d{1,3}:\d+")
#: jobconf keys a grid spec must leave to the Hadoop client's configuration.
CLIENT_KEYS = ("dirft.hadoop.home", "dirft.webhdfs.url", "dirft.yarn.rm.url")


def example_files() -> list[pathlib.Path]:
    return sorted({p for pattern in EXAMPLES for p in ROOT.glob(pattern)})


def test_the_examples_name_no_machines_hadoop():
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in example_files()
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if MACHINE.search(line)]
    assert found == []


def test_grid_specs_leave_the_cluster_to_the_hadoop_client():
    import yaml

    for path in sorted(ROOT.glob("gridmix_runs/*.yaml")):
        jobconf = (yaml.safe_load(path.read_text()) or {}).get("jobconf") or {}
        assert not set(jobconf) & set(CLIENT_KEYS), path.name


def test_the_machine_pattern_sees_each_form():
    for line in ("export HADOOP_HOME=/opt/hadoop-node/hadoop-3.3.6", ". env.sh; hx dirft",
                 "dirft.webhdfs.url: http://127.0.0.1:9870", "ip netns exec hhunt dirft"):
        assert MACHINE.search(line), line
    for line in ("-D dirft.webhdfs.url=http://namenode:9870", "export HADOOP_HOME=/path/to/"
                 "hadoop-3.3.6", "default 127.0.0.1, this machine"):
        assert not MACHINE.search(line), line
