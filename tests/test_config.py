"""Tests for dirft.config: the option table, layering, XML reading, validation, JobConf."""

import pathlib
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, strategies as st

from dirft.config import (
    JobConf, describe_allowed, fault_counts, parse_define, parse_value, read_site_xml,
    replicas_needed)
from dirft.options import DEPRECATED, OPTIONS, Option
from dirft.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "mapred-site.example.xml"


def _xml(path, pairs, root="configuration"):
    """Write ``pairs`` ({name: value}) as a Hadoop configuration file; return its path."""
    props = "".join(f"<property><name>{escape(k)}</name><value>{escape(v)}</value>"
                    f"<description>d</description></property>\n" for k, v in pairs.items())
    path.write_text(f'<?xml version="1.0"?>\n<{root}>\n{props}</{root}>\n', encoding="utf-8")
    return str(path)


def _error(defines=(), files=()):
    """Return the message of the ConfigError that loading ``files`` and ``defines`` raises."""
    with pytest.raises(ConfigError) as info:
        JobConf.load(files, defines)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- the table and defaults

def test_every_default_parses_and_the_defaults_load():
    conf = JobConf.load()
    for key, option in OPTIONS.items():
        assert conf.source(key) == "default"
        assert conf.raw(key) == option.default
        assert option.doc
    assert conf.get("dfs.blocksize") == 134217728
    assert conf.get("mapreduce.input.fileinputformat.split.maxsize") == 2 ** 63 - 1
    assert conf.get("dirft.sort.memory") == 256 * 1024 ** 2
    assert conf.get("dirft.heartbeat.interval") == 1.0
    assert conf.get("dirft.keep.temp") is False
    assert conf.get("stream.map.output.field.separator") == "\t"
    assert conf.get("dirft.scheme") == "dirft" == conf.scheme


def test_defaults_give_one_crash_fault_and_two_replicas():
    conf = JobConf.load()
    assert (conf.fault_tolerance, conf.fault_nature) == (1, 1)
    assert (conf.crash_faults, conf.silent_faults, conf.replicas) == (1, 0, 2)


@pytest.mark.parametrize("f, nature, expected", [
    (1, "1", (1, 0, 2)), (1, "2", (0, 1, 3)), (1, "3", (1, 1, 4)), (0, "3", (0, 0, 1)),
    (2, "2", (0, 2, 5))])
def test_fault_counts_and_replicas_follow_the_paper(f, nature, expected):
    crash, silent = fault_counts(f, nature)
    assert (crash, silent, replicas_needed(crash, silent)) == expected
    conf = JobConf.from_layers({"mapred.map.tasks.fault.tolerance": str(f),
                                "mapred.map.tasks.fault.nature": nature, "dirft.nodes": "8"})
    assert (conf.crash_faults, conf.silent_faults, conf.replicas) == expected


def test_option_refuses_an_unknown_kind():
    with pytest.raises(ValueError):
        Option("x.y", "list", "", "doc")


def test_describe_allowed_names_bounds():
    assert describe_allowed(OPTIONS["dirft.nodes"]) == "a whole number >= 1"
    assert describe_allowed(OPTIONS["dirft.service.bind.port"]) == "a whole number from 0 to 65535"
    assert describe_allowed(OPTIONS["dirft.poll.interval"]) == "a number > 0"
    assert "one of dirft, frft, bft, se, none" == describe_allowed(OPTIONS["dirft.scheme"])


# ---------------------------------------------------------------- precedence

def test_precedence_defaults_then_files_in_order_then_defines(tmp_path):
    first = _xml(tmp_path / "a.xml", {"dirft.nodes": "6", "mapreduce.job.name": "from a",
                                      "dirft.slots.per.node": "3"})
    second = _xml(tmp_path / "b.xml", {"dirft.nodes": "5", "dirft.slots.per.node": "4"})
    conf = JobConf.load([first, second], ["dirft.nodes=7"])
    assert conf.get("dirft.nodes") == 7 and conf.source("dirft.nodes") == "-D"
    assert conf.get("dirft.slots.per.node") == 4 and conf.source("dirft.slots.per.node") == second
    assert conf.get("mapreduce.job.name") == "from a" and conf.source("mapreduce.job.name") == first
    assert conf.get("dirft.poll.interval") == 0.05
    assert conf.source("dirft.poll.interval") == "default"


def test_a_later_define_wins():
    conf = JobConf.load(defines=["dirft.nodes=5", "dirft.nodes=9"])
    assert conf.get("dirft.nodes") == 9


@given(st.lists(st.one_of(st.none(), st.integers(min_value=2, max_value=10 ** 6)),
                min_size=1, max_size=6))
def test_the_last_layer_that_sets_a_key_wins(settings):
    layers = [{} if n is None else {"dirft.nodes": str(n)} for n in settings]
    conf = JobConf.from_layers(*layers)
    chosen = [n for n in settings if n is not None]
    assert conf.get("dirft.nodes") == (chosen[-1] if chosen else 4)
    expected = f"layer {max(i for i, n in enumerate(settings, 1) if n)}" if chosen else "default"
    assert conf.source("dirft.nodes") == expected


@given(st.integers(min_value=1, max_value=2 ** 63))
def test_any_node_count_round_trips_through_get(n):
    # tolerance 0 gives R = 1, so no node count >= 1 is too small for the default scheme
    conf = JobConf.load(defines=[f"dirft.nodes={n}", "mapred.map.tasks.fault.tolerance=0"])
    assert conf.get("dirft.nodes") == n
    assert conf.raw("dirft.nodes") == str(n)


@given(st.integers(min_value=0, max_value=6), st.sampled_from("123"),
       st.integers(min_value=1, max_value=20), st.sampled_from(["dirft", "frft", "bft", "none"]))
def test_load_fails_exactly_when_dirft_or_frft_needs_more_replicas_than_nodes(
        f, nature, nodes, scheme):
    defines = [f"mapred.map.tasks.fault.tolerance={f}", f"mapred.map.tasks.fault.nature={nature}",
               f"dirft.nodes={nodes}", f"dirft.scheme={scheme}"]
    too_many = replicas_needed(*fault_counts(f, nature)) > nodes
    if too_many and scheme in ("dirft", "frft"):
        assert "dirft.nodes" in _error(defines)
    else:
        assert JobConf.load(defines=defines).get("dirft.nodes") == nodes


# ---------------------------------------------------------------- single values

def test_the_documented_message_for_a_non_integer():
    assert _error(["dirft.nodes=four"]) == (
        "dirft.nodes: 'four' (from -D) is not an integer; expected a whole number >= 1")


@pytest.mark.parametrize("key, value, words", [
    ("dirft.nodes", "4.5", "not an integer"),
    ("dirft.nodes", "0", "out of range"),
    ("mapreduce.job.reduces", "-1", "out of range"),
    ("dirft.service.bind.port", "65536", "from 0 to 65535"),
    ("mapred.map.tasks.fault.tolerance", "one", "not an integer"),
    ("dirft.heartbeat.interval", "soon", "not a number"),
    ("dirft.heartbeat.interval", "0", "> 0"),
    ("dirft.poll.interval", "nan", "not a number"),
    ("dirft.poll.interval", "inf", "not a number"),
    ("mapred.map.tasks.fault.percent", "100.5", "from 0 to 100"),
    ("mapred.map.tasks.fault.percent", "-1", "out of range"),
    ("mapred.map.tasks.fault.inject", "yes", "true or false"),
    ("dirft.keep.temp", "1", "true or false"),
    ("dfs.blocksize", "big", "not a byte size"),
    ("dfs.blocksize", "0", "out of range"),
    ("dirft.sort.memory", "12x", "128m"),
    ("mapreduce.input.fileinputformat.split.maxsize", "9223372036854775808", "out of range"),
    ("mapred.map.tasks.fault.nature", "4", "one of 1, 2, 3"),
    ("dirft.scheme", "DIRFT", "one of dirft, frft, bft, se, none"),
    ("dirft.fault.crash.mode", "explode", "one of exception, kill, node, hang"),
    ("dirft.fault.silent.mode", "corrupt", "one of signature, data"),
])
def test_a_bad_value_names_key_value_source_and_what_is_allowed(key, value, words):
    message = _error([f"{key}={value}"])
    assert message.startswith(f"{key}: {value!r} (from -D) ")
    assert words in message


def test_a_bad_value_in_a_file_names_the_file(tmp_path):
    path = _xml(tmp_path / "site.xml", {"dirft.slots.per.node": "many"})
    assert f"dirft.slots.per.node: 'many' (from {path}) is not an integer" in _error(files=[path])


@pytest.mark.parametrize("key, value, expected", [
    ("mapred.map.tasks.fault.percent", "12.5", 12.5),
    ("mapred.map.tasks.fault.inject", " TRUE ", True),
    ("dirft.keep.temp", "False", False),
    ("dfs.blocksize", "128m", 134217728),
    ("dfs.blocksize", "64MiB", 67108864),
    ("dirft.service.max.body.bytes", "1k", 1024),
    ("dirft.nodes", "0x10", 16),
    ("dirft.fault.seed", "-3", -3),
    ("dirft.heartbeat.timeout", "1e2", 100.0),
    ("mapred.map.tasks.fault.nature", " 2 ", "2"),
])
def test_good_values_are_typed(key, value, expected):
    conf = JobConf.load(defines=[f"{key}={value}"])
    assert conf.get(key) == expected and type(conf.get(key)) is type(expected)
    assert conf.raw(key) == value


def test_parse_value_types_one_value():
    assert parse_value(OPTIONS["dirft.sort.memory"], "1g", "x.xml") == 1024 ** 3
    with pytest.raises(ConfigError, match=r"\(from x.xml\)"):
        parse_value(OPTIONS["dirft.nodes"], "", "x.xml")


def test_speculative_execution_is_a_scheme_with_hadoops_defaults():
    conf = JobConf.load(defines=["dirft.scheme=se"])
    assert conf.scheme == "se"
    assert conf.get("mapreduce.job.speculative.slowtaskthreshold") == 1.0
    assert conf.get("mapreduce.job.speculative.retry-after-speculate") == 15000


def test_streaming_separators_are_read_as_given():
    conf = JobConf.load(defines=["stream.map.output.field.separator=.",
                                 "stream.reduce.output.field.separator=::",
                                 "stream.num.reduce.output.key.fields=2"])
    assert conf.get("stream.map.output.field.separator") == "."
    assert conf.get("stream.reduce.output.field.separator") == "::"
    assert conf.get("stream.num.reduce.output.key.fields") == 2


def test_default_streaming_key_settings_are_accepted(tmp_path):
    path = _xml(tmp_path / "s.xml", {"stream.num.map.output.key.fields": "1",
                                     "stream.map.output.field.separator": "\t"})
    assert JobConf.load([path]).get("stream.map.output.field.separator") == "\t"


# ---------------------------------------------------------------- unknown and old keys

def test_an_unknown_dirft_key_is_an_error_with_a_suggestion():
    message = _error(["dirft.heartbeat.intreval=2"])
    assert message.startswith("dirft.heartbeat.intreval: unknown key (from -D)")
    assert "did you mean dirft.heartbeat.interval?" in message


def test_an_unknown_paper_key_is_an_error_too(tmp_path):
    path = _xml(tmp_path / "p.xml", {"mapred.map.tasks.fault.tolerence": "2"})
    message = _error(files=[path])
    assert path in message and "did you mean mapred.map.tasks.fault.tolerance?" in message


def test_an_unknown_dirft_key_far_from_any_known_one_has_no_suggestion():
    assert "did you mean" not in _error(["dirft.zzzzzzzzzzzzzzzzzzzz=1"])


@pytest.mark.parametrize("key", ["mapreduce.job.queuename", "my.own.key", "dirft"])
def test_an_unknown_other_key_passes_through_as_a_string(key):
    conf = JobConf.load(defines=[f"{key}= kept as is "])
    assert conf.raw(key) == " kept as is " and conf.items()[key] == " kept as is "
    assert conf.source(key) == "-D"
    with pytest.raises(ConfigError, match="JobConf.raw"):
        conf.get(key)


def test_get_of_a_mistyped_dirft_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match="did you mean dirft.nodes"):
        JobConf.load().get("dirft.node")


def test_source_of_an_unset_key_is_an_error_and_raw_gives_the_default():
    conf = JobConf.load()
    assert conf.raw("not.set") is None and conf.raw("not.set", "x") == "x"
    with pytest.raises(ConfigError, match="not.set"):
        conf.source("not.set")


@pytest.mark.parametrize("old", sorted(DEPRECATED))
def test_deprecated_hadoop_names_set_the_current_key(old):
    new = DEPRECATED[old]
    option = OPTIONS[new]
    value = {"str": "renamed", "bool": "true"}.get(option.kind, "2")
    value = option.choices[-1] if option.kind == "choice" else value
    conf = JobConf.load(defines=[f"{old}={value}"])
    assert conf.raw(new) == value and conf.source(new) == "-D"
    assert old not in conf.items() and conf.raw(old) == value


def test_items_has_every_known_key_and_the_unknown_ones():
    conf = JobConf.load(defines=["my.own.key=1"])
    assert set(conf.items()) == set(OPTIONS) | {"my.own.key"}
    assert conf.items()["dfs.blocksize"] == "134217728"


# ---------------------------------------------------------------- cross-key checks

def test_heartbeat_timeout_must_exceed_the_interval():
    message = _error(["dirft.heartbeat.timeout=2", "dirft.heartbeat.interval=2"])
    assert "dirft.heartbeat.timeout=2 (from -D)" in message
    assert "dirft.heartbeat.interval=2 (from -D)" in message


def test_more_replicas_than_nodes_names_both_keys():
    message = _error(["mapred.map.tasks.fault.nature=3", "dirft.nodes=3"])
    assert message.startswith("dirft.nodes=3 (from -D) is fewer than the 4 replicas")
    assert "mapred.map.tasks.fault.tolerance=1 (from default)" in message


def test_replicas_fit_check_applies_to_dirft_and_frft_only():
    defines = ["mapred.map.tasks.fault.tolerance=3", "dirft.nodes=2"]
    assert "frft" in _error(defines + ["dirft.scheme=frft"])
    for scheme in ("bft", "none"):
        assert JobConf.load(defines=defines + [f"dirft.scheme={scheme}"]).replicas == 4


def test_split_minsize_takes_no_size_suffix_as_hadoops_getlong():
    message = _error(["mapreduce.input.fileinputformat.split.minsize=3m"])
    assert message.startswith("mapreduce.input.fileinputformat.split.minsize") and "3m" in message


def test_split_minsize_must_not_exceed_dirfts_split_maxsize():
    message = _error(["mapreduce.input.fileinputformat.split.minsize=2097152",
                      "dirft.split.maxsize=1m"])
    assert message.startswith("mapreduce.input.fileinputformat.split.minsize=2097152")
    assert "dirft.split.maxsize=1048576" in message


def test_hadoops_split_maxsize_below_minsize_is_accepted_as_streaming_ignores_it():
    conf = JobConf.load(defines=["mapreduce.input.fileinputformat.split.minsize=2097152",
                                 "mapreduce.input.fileinputformat.split.maxsize=1m"])
    assert conf.get("mapreduce.input.fileinputformat.split.maxsize") == 1 << 20


# ---------------------------------------------------------------- the XML reader

def test_read_site_xml_strips_values_and_keeps_a_tab(tmp_path):
    path = tmp_path / "c.xml"
    path.write_text("<configuration>\n<property><name> dirft.nodes\n</name>"
                    "<value>\n   6  \n</value><final>true</final></property>\n"
                    "<property><name>stream.map.output.field.separator</name>"
                    "<value>&#9;</value></property>\n"
                    "<property><name>dirft.local.dir</name><value>\n   </value></property>\n"
                    "<property><name>empty</name><value/></property>\n"
                    '<property name="attr.key" value=" by attribute "/>\n'
                    "<!-- a comment --><property><name>dirft.nodes</name><value>7</value>"
                    "</property></configuration>", encoding="utf-8")
    assert read_site_xml(str(path)) == {
        "dirft.nodes": "7", "stream.map.output.field.separator": "\t",
        "dirft.local.dir": "", "empty": "", "attr.key": "by attribute"}


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1)
       .filter(lambda s: s.strip()))
def test_read_site_xml_round_trips_any_text_value(value):
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        path = _xml(pathlib.Path(scratch) / "v.xml", {"some.key": value})
        assert read_site_xml(path) == {"some.key": value.strip()}


def _read_error(tmp_path, text):
    """Write ``text`` to a file, read it, return the one-line ConfigError message."""
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_site_xml(str(path))
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    return str(info.value)


def test_corrupt_xml_names_line_and_column(tmp_path):
    message = _read_error(tmp_path, "<configuration>\n<property>\n</configuration>\n")
    assert "line 3, column 2" in message


def test_an_empty_file_is_corrupt(tmp_path):
    assert "not well-formed" in _read_error(tmp_path, "")


def test_a_missing_file_is_named(tmp_path):
    missing = str(tmp_path / "nope.xml")
    assert f"{missing}: configuration file not found" in _error(files=[missing])


def test_a_directory_is_not_a_configuration_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        read_site_xml(str(tmp_path))


def test_the_root_must_be_configuration(tmp_path):
    assert "<properties>" in _read_error(tmp_path, "<properties></properties>")


def test_a_property_needs_a_name_and_a_value(tmp_path):
    no_name = "<configuration><property><value>1</value></property></configuration>"
    assert "#1 has no <name>" in _read_error(tmp_path, no_name)
    no_value = "<configuration><property><name>a.b</name></property></configuration>"
    assert "a.b has no <value>" in _read_error(tmp_path, no_value)


def test_only_properties_live_in_configuration(tmp_path):
    text = "<configuration><propety><name>a</name><value>1</value></propety></configuration>"
    assert "<propety>" in _read_error(tmp_path, text)


def test_an_entity_bomb_is_refused(tmp_path):
    lols = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    text = (f'<?xml version="1.0"?><!DOCTYPE configuration [<!ENTITY lol0 "lol">{lols}]>'
            "<configuration><property><name>a</name><value>&lol9;</value></property>"
            "</configuration>")
    assert "refused" in _read_error(tmp_path, text)


def test_an_external_entity_is_refused(tmp_path):
    text = ('<?xml version="1.0"?><!DOCTYPE configuration [<!ENTITY x SYSTEM '
            '"file:///etc/passwd">]><configuration><property><name>a</name>'
            "<value>&x;</value></property></configuration>")
    assert "refused" in _read_error(tmp_path, text)


# ---------------------------------------------------------------- -D parsing

def test_parse_define_splits_at_the_first_equals():
    assert parse_define("a.b=c=d") == ("a.b", "c=d")
    assert parse_define("a.b=") == ("a.b", "")


@pytest.mark.parametrize("text, words", [("dirft.nodes", "expected key=value"),
                                         ("=4", "key before '=' is empty")])
def test_parse_define_refuses_malformed_text(text, words):
    with pytest.raises(ConfigError, match=words):
        parse_define(text)


# ---------------------------------------------------------------- JobConf itself

def test_jobconf_is_immutable():
    conf = JobConf.load()
    with pytest.raises(AttributeError):
        conf.scheme = "frft"
    conf.items()["dirft.nodes"] = "99"
    assert conf.get("dirft.nodes") == 4


def test_with_overrides_returns_a_new_validated_conf():
    conf = JobConf.load(defines=["dirft.nodes=6"])
    other = conf.with_overrides({"dirft.scheme": "frft", "dirft.slots.per.node": 3})
    assert other.scheme == "frft" and other.get("dirft.slots.per.node") == 3
    assert other.source("dirft.scheme") == "override" and other.source("dirft.nodes") == "-D"
    assert conf.scheme == "dirft"
    with pytest.raises(ConfigError, match=r"dirft.nodes: '0' \(from runner\)"):
        conf.with_overrides({"dirft.nodes": "0"}, source="runner")


def test_from_layers_labels_sources():
    conf = JobConf.from_layers({"dirft.nodes": "5"}, {"a.b": "c"}, sources=["site"])
    assert conf.source("dirft.nodes") == "site" and conf.source("a.b") == "layer 2"
    assert "dirft.nodes" in repr(conf)


# ---------------------------------------------------------------- the example file

def test_the_example_file_loads_with_its_settings():
    conf = JobConf.load([str(EXAMPLE)])
    assert (conf.fault_tolerance, conf.fault_nature, conf.replicas) == (1, 1, 2)
    assert conf.get("mapred.map.tasks.fault.inject") is True
    assert conf.get("mapred.map.tasks.fault.percent") == 25.0
    assert conf.get("dirft.split.maxsize") == 8 * 1024 ** 2
    assert conf.get("dfs.blocksize") == 16 * 1024 ** 2
    assert (conf.get("dirft.nodes"), conf.get("dirft.slots.per.node")) == (4, 6)
    assert 64 * 1024 ** 2 // conf.get("dirft.split.maxsize") == 8


def test_the_example_file_lists_exactly_the_known_keys():
    assert set(read_site_xml(str(EXAMPLE))) == set(OPTIONS)


def test_the_example_file_keeps_every_other_default():
    changed = {"mapred.map.tasks.fault.inject", "mapred.map.tasks.fault.percent",
               "dirft.split.maxsize", "dfs.blocksize",
               "dirft.slots.per.node"}
    example = read_site_xml(str(EXAMPLE))
    assert {k for k, o in OPTIONS.items() if example[k] != o.default} == changed


def test_every_example_property_has_a_description():
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count("<property>") == text.count("<description>") == len(OPTIONS)
