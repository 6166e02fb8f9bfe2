"""Issue 12: environment errors reach the driver as their cause and exit 1, in one line."""

import errno
import os

import pytest

from dirft.errors import InputError
from dirft.gridmix.generate import generate_file
from dirft.runners.local import _commit
from dirft.runtime.replica import environment_reason
from e2e import ROOT, leftovers, streaming


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """256 KiB of GridMix text: 1 map task."""
    path = tmp_path_factory.mktemp("input") / "data.txt"
    generate_file(str(path), 256 * 1024, seed=3)
    return path


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("dirft: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_mapper_that_cannot_start_is_named_and_exits_1(data, tmp_path, capsys):
    code, _, err = streaming(capsys, data, tmp_path / "out", "-mapper", "nosuchmapper")
    line = _one_line_error(err)
    assert code == 1 and "'nosuchmapper' could not start" in line
    assert "fault.tolerance" not in line and not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_a_mapper_beyond_the_counter_limit_is_named_and_exits_1(data, tmp_path, capsys):
    mapper = str(ROOT / "tests" / "fixtures" / "many_counters.sh")
    code, _, err = streaming(capsys, data, tmp_path / "out", "-mapper", mapper)
    line = _one_line_error(err)
    assert code == 1 and "reported 102 counter groups" in line and "fault.tolerance" not in line
    assert leftovers(tmp_path) == []


def test_an_unusable_local_dir_is_named_and_exits_1(data, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, _, err = streaming(capsys, data, tmp_path / "out", "-mapper", "cat",
                             "-D", f"dirft.local.dir={blocker}/scratch")
    line = _one_line_error(err)
    assert code == 1 and "dirft.local.dir" in line and "Not a directory" in line


def test_an_output_that_appears_during_the_job_is_an_input_error(tmp_path):
    staging, output = tmp_path / ".out.staging", tmp_path / "out"
    staging.mkdir()
    (staging / "part-00000").write_text("ours")
    output.mkdir()
    (output / "part-00000").write_text("theirs")
    with pytest.raises(InputError, match="appeared while this job ran"):
        _commit(str(staging), str(output))
    assert (output / "part-00000").read_text() == "theirs"


def test_disk_full_and_permissions_are_environment_reasons():
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/scratch/x.out")
    assert environment_reason(full) == \
        f"environment: {os.strerror(errno.ENOSPC)} (/scratch/x.out)"
    wrapped = RuntimeError("writing the map output failed")
    wrapped.__cause__ = full
    assert environment_reason(wrapped) == \
        f"environment: {os.strerror(errno.ENOSPC)} (/scratch/x.out): {wrapped}"
    assert environment_reason(OSError(errno.EPIPE, "Broken pipe")) is None
    assert environment_reason(ValueError("bug")) is None
