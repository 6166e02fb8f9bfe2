"""The zip shipped with every Hadoop job, so cluster nodes need nothing but ``python3``.

As mrjob ships itself (``MRJobBinRunner._create_mrjob_zip``: the package directory zipped
without compiled files, sent with ``-files`` and put on ``PYTHONPATH``), dirft ships
``dirft/`` and ``fault_injector/`` — and, since its task runtime talks HTTP and WebHDFS, the
pure-Python libraries that needs: ``requests`` and its dependencies, HdfsCLI (``hdfs``) and
``six``; and mrjob itself, which an MRJob script's tasks (``python3 job.py --mapper``)
import: the replica runtime runs them with ``PYTHONPATH`` pointing at the zip. Python imports them straight from the zip (``zipimport``). The task runtime imports
nothing compiled: HMAC falls back to the standard library where ``cryptography`` is absent,
and the voting client does not import the aiohttp server.

Beside each source the zip holds its bytecode (stored as ``m.pyc``, where zipimport
looks): the file this interpreter cached for it (``__pycache__/m.cpython-311.pyc``), else
one compiled now with :func:`py_compile.compile` (with ``PYTHONDONTWRITEBYTECODE`` set, or
for modules the submitting process never imported, there is no cache: without it every
replica process of every map task compiled the runtime's modules from source again,
about a quarter of its start-up CPU). A node running the same Python version skips
compiling; any other version, or a stale cache, fails zipimport's magic-number or
timestamp check and the source is compiled instead.
"""

from __future__ import annotations

import importlib.util
import os
import py_compile
import tempfile
import threading
import zipfile

from dirft.errors import ConfigError

#: Top-level packages and modules the replica task runtime needs on a node.
SHIPPED = ("dirft", "fault_injector", "requests", "urllib3", "idna", "certifi",
           "charset_normalizer", "hdfs", "six", "mrjob")

_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", "~")


def _keep(name: str) -> bool:
    """True for files worth shipping: sources and data, not bytecode, binaries or backups."""
    base = os.path.basename(name)
    return not (base.endswith(_SKIP_SUFFIXES) or base.startswith((".#", "._"))
                or "__pycache__" in name.split(os.sep))


def _origin(name: str) -> tuple[str, bool]:
    """``(path, is_package)`` of top-level module ``name``; ConfigError if not importable."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None and not spec.submodule_search_locations:
        raise ConfigError(f"cannot ship {name} to the cluster: it is not installed here")
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0], True
    return spec.origin, False


def _write(archive: zipfile.ZipFile, full: str, arcname: str, scratch: str) -> None:
    """Add source ``full`` as ``arcname``, with its bytecode: the cached file if there is
    one, else compiled into the folder ``scratch`` (module doc). A source this Python
    cannot compile (another version's syntax) is shipped alone, as before."""
    archive.write(os.path.realpath(full), arcname=arcname)
    if full.endswith(".py"):
        cached = importlib.util.cache_from_source(os.path.realpath(full))
        if not os.path.exists(cached):
            cached = _compiled(os.path.realpath(full), os.path.join(scratch, arcname + "c"))
        if cached:
            archive.write(cached, arcname=arcname[:-3] + ".pyc")


def _compiled(source: str, target: str) -> str:
    """Compile ``source`` to the bytecode file ``target`` (the header records the source's
    modification time and size, which zipimport checks against the zip entry); return
    ``target``, or "" if the source does not compile here."""
    try:
        return py_compile.compile(source, cfile=target, doraise=True)
    except py_compile.PyCompileError:
        return ""


def _add(archive: zipfile.ZipFile, name: str, scratch: str) -> None:
    path, is_package = _origin(name)
    if not is_package:
        _write(archive, path, os.path.basename(path), scratch)
        return
    for root, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for file in sorted(files):
            full = os.path.join(root, file)
            rel = os.path.join(name, os.path.relpath(full, path))
            if _keep(rel):
                _write(archive, full, rel, scratch)


_BUILT: dict = {}  # fingerprint of the shipped files -> zip bytes, for this process


def _fingerprint(names: tuple) -> tuple:
    """``(path, mtime_ns, size)`` of every file that would be shipped, in order."""
    found = []
    for name in names:
        path, is_package = _origin(name)
        walk = os.walk(path, followlinks=True) if is_package else [("", [], [path])]
        for root, dirs, files in walk:
            dirs.sort()
            for file in sorted(files):
                stat = os.stat(os.path.join(root, file))
                found.append((os.path.join(root, file), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def build_task_zip(path: str, names: tuple = SHIPPED) -> str:
    """Write the task zip to ``path`` (deflated) with the top-level ``names``; return
    ``path``. The bytes are built once per process and reused while no shipped file
    changes. Raises ConfigError if one of them is not installed."""
    key = _fingerprint(names)
    if key not in _BUILT:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive, \
                tempfile.TemporaryDirectory(prefix="dirft-pyc-") as scratch:
            for name in names:
                _add(archive, name, scratch)
        with open(path, "rb") as f:
            _BUILT.clear()
            _BUILT[key] = f.read()
        return path
    with open(path, "wb") as f:
        f.write(_BUILT[key])
    return path


class ZipBuild:
    """:func:`build_task_zip` of ``path`` running in a background thread, so that the
    submitting side's other preparations (the voting service, the manifest files written
    to HDFS, which wait on the NameNode more than they compute) overlap it; :meth:`wait`
    before the zip is read (``hadoop jar`` ships it)."""

    def __init__(self, path: str, names: tuple = SHIPPED) -> None:
        self.path, self._error = path, None
        self._thread = threading.Thread(target=self._build, args=(names,), daemon=True,
                                        name="dirft-task-zip")
        self._thread.start()

    def _build(self, names: tuple) -> None:
        try:
            build_task_zip(self.path, names)
        except BaseException as err:  # noqa: BLE001 - raised again by wait()
            self._error = err

    def wait(self, check: bool = True) -> str:
        """Wait until the zip is written; return its path. Raises what the build raised
        (ConfigError: a shipped package is not installed), unless ``check`` is False."""
        self._thread.join()
        if check and self._error is not None:
            raise self._error
        return self.path
