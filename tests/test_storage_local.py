"""The one input listing (Storage.resolve_inputs) on local files: Hadoop's glob and hidden rules."""

import pytest

from dirft.errors import InputError
from dirft.runners.base import check_output_absent, resolve_inputs
from dirft.storage.local import LocalStorage


def _tree(root):
    """day1/{part-0,_SUCCESS,.crc}, day2/{part-0}, top.txt; return their sizes by name."""
    for day, names in (("day1", ("part-0", "_SUCCESS", ".crc")), ("day2", ("part-0",))):
        (root / day).mkdir()
        for name in names:
            (root / day / name).write_bytes(b"x" * len(day + name))
    (root / "top.txt").write_bytes(b"top\n")


def test_a_glob_may_stand_in_any_component_and_never_matches_hidden_names(tmp_path):
    _tree(tmp_path)
    files = LocalStorage().resolve_inputs([str(tmp_path / "day*" / "*"), str(tmp_path / "day1")])
    assert [(f.path, f.size) for f in files] == [
        (str(tmp_path / "day1" / "part-0"), 10), (str(tmp_path / "day2" / "part-0"), 10),
        (str(tmp_path / "day1" / "part-0"), 10)]


def test_an_explicit_file_is_read_even_if_hidden_and_paths_are_made_absolute(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    files = resolve_inputs(["day1/_SUCCESS", "top.txt"])
    assert [f.path for f in files] == [str(tmp_path / "day1" / "_SUCCESS"), str(tmp_path / "top.txt")]


def test_a_glob_matching_nothing_or_a_missing_path_is_an_input_error(tmp_path):
    _tree(tmp_path)
    with pytest.raises(InputError, match="input path does not exist: .*nothing\\*"):
        resolve_inputs([str(tmp_path / "nothing*")])
    with pytest.raises(InputError, match="input path does not exist"):
        resolve_inputs([str(tmp_path / "day*" / "_S*")])  # only a hidden name would match
    with pytest.raises(InputError, match="no -input given"):
        resolve_inputs([])


def test_the_output_must_not_exist_and_its_missing_parents_are_made(tmp_path):
    with pytest.raises(InputError, match="already exists; remove it"):
        check_output_absent(str(tmp_path))
    check_output_absent(str(tmp_path / "missing" / "deeper" / "out"))
    assert (tmp_path / "missing" / "deeper").is_dir()  # FileOutputCommitter's mkdirs
    assert not (tmp_path / "missing" / "deeper" / "out").exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="cannot create .*afile.*, the parent of -output"):
        check_output_absent(str(tmp_path / "afile" / "sub" / "out"))
