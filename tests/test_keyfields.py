"""Tests of dirft.keyfields against Hadoop 3.3.6's KeyFieldBasedComparator/Partitioner."""

import os

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dirft.keyfields import (KeyComparator, KeyFieldError, KeyPartitioner, KeySpec,
                             parse_options, start_offset, word_lengths)

GOLDEN = os.path.join(os.path.dirname(__file__), "fixtures", "keyfields", "hadoop-3.3.6.tsv")


def golden_cases():
    with open(GOLDEN, encoding="ascii") as f:
        return [line.rstrip("\n").split("\t") for line in f]


def test_every_recorded_hadoop_answer_is_reproduced():
    cases = golden_cases()
    wrong = []
    for kind, opt, sep, a, b, want in cases:
        options, separator = bytes.fromhex(opt).decode(), bytes.fromhex(sep)
        if kind == "C":
            c = KeyComparator(options, separator).compare(bytes.fromhex(a), bytes.fromhex(b))
            got = str((c > 0) - (c < 0))
        else:
            got = str(KeyPartitioner(options, separator).partition(bytes.fromhex(a), int(b)))
        if got != want:
            wrong.append((kind, options, a, b, want, got))
    assert len(cases) > 3000 and not wrong[:5]


def test_numeric_reverse_gives_hadoops_order_not_byte_order():
    keys = [b"9", b"10", b"100"]
    assert sorted(keys, key=KeyComparator("-k1,1nr").sort_key) == [b"100", b"10", b"9"]
    assert sorted(keys, key=KeyComparator().sort_key) == [b"10", b"100", b"9"]


def test_second_field_then_first_reversed():
    keys = [b"a\t2", b"b\t1", b"c\t2", b"a\t1"]
    order = sorted(keys, key=KeyComparator("-k2,2n -k1,1r").sort_key)
    assert order == [b"b\t1", b"a\t1", b"c\t2", b"a\t2"]


def test_a_key_without_the_field_sorts_first_and_last_when_reversed():
    assert KeyComparator("-k2,2").compare(b"z", b"a\tb") < 0
    assert KeyComparator("-k2,2r").compare(b"z", b"a\tb") > 0


def test_global_flags_apply_to_specs_without_their_own():
    assert parse_options("-k1,1 -nr") == [KeySpec(1, 1, 1, 0, True, True)]
    assert parse_options("-k2,2r -n") == [KeySpec(2, 1, 2, 0, False, True)]
    assert parse_options("-nr") == [KeySpec(numeric=True, reverse=True)]
    assert parse_options(None) == parse_options("") == []


def test_k_with_a_space_and_character_positions():
    assert parse_options("-k 2.3,4.5n") == [KeySpec(2, 3, 4, 5, True, False)]


@pytest.mark.parametrize("bad", ["-kx,1", "-k1,1q", "-k1,"])
def test_malformed_k_is_an_error(bad):
    with pytest.raises(KeyFieldError, match="-k"):
        KeyComparator(bad)


def test_empty_separator_is_refused():
    with pytest.raises(KeyFieldError, match="separator"):
        KeyPartitioner("-k1,1", b"")


def test_word_lengths_counts_a_trailing_empty_field():
    assert word_lengths(b"ab\tc\t", b"\t") == [3, 2, 1, 0]


@given(st.lists(st.integers(-10**6, 10**6), min_size=1, max_size=30))
def test_numeric_order_of_plain_integers_is_their_value_order(values):
    keys = [str(v).encode() for v in values]
    got = sorted(keys, key=KeyComparator("-n").sort_key)
    assert [int(k) for k in got] == sorted(values)


@given(st.binary(max_size=12), st.binary(max_size=12),
       st.sampled_from(["-k1,1n", "-k2,2", "-nr", "-k1.2,2n"]))
def test_comparison_is_antisymmetric_when_both_keys_have_the_fields(a, b, options):
    # Hadoop's quirk: a key lacking a spec's start field is "less" whichever side it is on.
    c = KeyComparator(options)
    for key in (a, b):
        lengths = word_lengths(key, b"\t")
        assume(all(start_offset(key, lengths, spec, 1) >= 0 for spec in c.specs))
    assert (c.compare(a, b) > 0) - (c.compare(a, b) < 0) == -(
        (c.compare(b, a) > 0) - (c.compare(b, a) < 0))


@given(st.binary(max_size=20), st.integers(1, 50))
def test_partition_is_in_range(key, n):
    for partitioner in (KeyPartitioner(), KeyPartitioner("-k1,1"), KeyPartitioner("-k2,2")):
        assert 0 <= partitioner.partition(key, n) < n


def test_a_key_lacking_the_field_is_less_on_both_sides_as_in_hadoop():
    c = KeyComparator("-k2,2")
    assert c.compare(b"a", b"b") == c.compare(b"b", b"a") == -1
