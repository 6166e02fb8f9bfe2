"""The submitting side's fixed costs of a Hadoop job: the task zip ships bytecode for every
source (dirft.runners.package.build_task_zip), is built in the background (ZipBuild), and a
wave's manifest files are written at once (dirft.runners.hadoop_manifests.ManifestWriter)."""

import importlib.util
import subprocess
import sys
import threading
import zipfile

import pytest

from dirft.contract.manifest import CommitLine
from dirft.errors import ConfigError
from dirft.runners.hadoop_manifests import ManifestWriter, manifest_files
from dirft.runners.package import ZipBuild, build_task_zip


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``shipme`` on sys.path with no bytecode cache (as under
    PYTHONDONTWRITEBYTECODE): two modules of 10-byte sources."""
    root = tmp_path / "src"
    (root / "shipme").mkdir(parents=True)
    (root / "shipme" / "__init__.py").write_text("")
    (root / "shipme" / "mod.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return root


def test_every_source_is_shipped_with_bytecode_even_without_a_cache(package, tmp_path):
    path = build_task_zip(str(tmp_path / "t.zip"), ("shipme",))
    names = set(zipfile.ZipFile(path).namelist())
    assert not list(package.rglob("*.pyc"))  # nothing written beside the sources
    assert {"shipme/__init__.py", "shipme/mod.py"} <= names
    assert {"shipme/__init__.pyc", "shipme/mod.pyc"} <= names
    with zipfile.ZipFile(path) as z:
        assert z.read("shipme/mod.pyc")[:4] == importlib.util.MAGIC_NUMBER


def test_zipimport_runs_the_shipped_bytecode_not_the_source(package, tmp_path):
    """The source in the zip is replaced by a broken one of the same length and time: the
    module still imports, so Python took the bytecode (zipimport checks time and size)."""
    built = build_task_zip(str(tmp_path / "t.zip"), ("shipme",))
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(built) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, b"VALUE = (\n" if info.filename == "shipme/mod.py" else data)
    run = subprocess.run([sys.executable, "-c", "import shipme.mod; print(shipme.mod.VALUE)"],
                         env={"PYTHONPATH": str(broken)}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "1\n"


def test_a_source_this_python_cannot_compile_is_shipped_alone(package, tmp_path):
    (package / "shipme" / "future.py").write_text("def f(:\n")
    path = build_task_zip(str(tmp_path / "t.zip"), ("shipme",))
    names = set(zipfile.ZipFile(path).namelist())
    assert "shipme/future.py" in names and "shipme/future.pyc" not in names


def test_zip_build_in_the_background_gives_the_zip_or_its_error(package, tmp_path):
    build = ZipBuild(str(tmp_path / "t.zip"), ("shipme",))
    assert build.wait() == str(tmp_path / "t.zip")
    assert "shipme/mod.py" in zipfile.ZipFile(build.path).namelist()
    missing = ZipBuild(str(tmp_path / "m.zip"), ("no_such_package_dirft",))
    with pytest.raises(ConfigError, match="no_such_package_dirft"):
        missing.wait()
    assert missing.wait(check=False) == str(tmp_path / "m.zip")


class MeetingStorage:
    """A storage (no WebHDFS client: plain writes) whose writes of one wave wait for each
    other at a barrier: written one after the other, the first would wait in vain and
    the barrier break."""

    kind = "fake"

    def __init__(self, files: int) -> None:
        self.barrier = threading.Barrier(files, timeout=30)
        self.written, self.lock = {}, threading.Lock()

    def write_bytes(self, path: str, data: bytes) -> None:
        self.barrier.wait()
        with self.lock:
            self.written[path] = data


def test_a_waves_manifest_files_are_written_at_once_and_listed_in_map_order():
    groups = [[CommitLine("job_x_0001", i, [[f"/out/{i}", "ab" * (i % 3)]])] for i in range(6)]
    hosts = ["", "h1", "", "h2", "", ""]
    storage = MeetingStorage(len(groups))
    writer = ManifestWriter(storage, {})
    largest = writer.write_wave("/m/wave-000", groups, hosts)
    expected = manifest_files(groups)
    assert storage.written == {f"/m/wave-000/map-{i:05d}.txt": data
                               for i, data in enumerate(expected)}
    assert largest == max(map(len, expected))
    assert [(p["map"], p["planned"]) for p in writer.placed] == list(enumerate(hosts))
    assert all(p["wave"] == 0 and p["how"].startswith("namenode: ") for p in writer.placed)
    assert writer.summary()["placed_by_namenode"] == 6
