"""The distributed cache on one machine: ``-files`` and ``-archives`` as Hadoop gives them.

Hadoop links each ``-files`` entry into a task's working directory under its own name, or
under ``NAME`` for ``path#NAME``; each ``-archives`` entry (``.zip``, ``.jar``, ``.tar``,
``.tgz``, ``.tar.gz``) is unpacked once per node and its directory linked in under the
archive's file name, or ``NAME`` for ``path#NAME`` (``GenericOptionsParser``,
``DistributedCache``; mrjob writes ``archive.tar.gz#dir`` for its ``DIRS``).

:func:`stage` does this for the local runner: it returns paths whose *basenames* are the
link names, so the replica runtime and the reduce stage link them in unchanged.
"""

from __future__ import annotations

import os
import shutil

from dirft.errors import InputError, UsageError

ARCHIVE_SUFFIXES = (".zip", ".jar", ".tar", ".tgz", ".tar.gz")


def split_entry(entry: str, option: str = "-files") -> tuple[str, str]:
    """``path#name`` -> (path, name); a plain ``path`` -> (path, basename). Raises
    :class:`UsageError` naming ``option`` for an empty path or a name with ``/``."""
    path, sep, name = entry.partition("#")
    name = name if sep else os.path.basename(path.rstrip("/"))
    if not path or not name or "/" in name or name in (".", ".."):
        raise UsageError(f"{option} {entry!r}: expected PATH or PATH#NAME with a plain NAME")
    return path, name


def _check(path: str, option: str) -> str:
    if not os.path.exists(path):
        raise InputError(f"{option}: {os.path.abspath(path)} does not exist")
    return os.path.abspath(path)


def _unpack(archive: str, dest: str) -> None:
    """Unpack ``archive`` into the new directory ``dest``; InputError if it is no archive."""
    if not archive.endswith(ARCHIVE_SUFFIXES):
        raise InputError(f"-archives: {archive} is not a .zip, .jar, .tar, .tgz or .tar.gz "
                         "file, the kinds Hadoop unpacks")
    fmt = "zip" if archive.endswith((".zip", ".jar")) else "tar"
    try:
        shutil.unpack_archive(archive, dest, fmt)
    except (shutil.ReadError, OSError, ValueError) as err:
        raise InputError(f"-archives: cannot unpack {archive}: {err}") from err


def stage(files: list, archives: list, dest: str) -> list[str]:
    """Stage ``-files`` and ``-archives`` entries for tasks; return absolute paths to link.

    A plain file keeps its path; a renamed one (``#NAME``) gets a symlink ``dest/NAME``;
    an archive is unpacked into ``dest/archives/NAME``. ``dest`` is the job's scratch
    directory. Raises UsageError (bad entry, two entries with one name) or InputError
    (missing file, not an archive, unreadable archive).
    """
    staged, names = [], set()
    for option, entries in (("-files", files), ("-archives", archives)):
        for entry in entries:
            path, name = split_entry(entry, option)
            if name in names:
                raise UsageError(f"{option} {entry!r}: two cache entries are named {name!r}")
            names.add(name)
            staged.append(_stage_one(_check(path, option), name, option, dest))
    return staged


def _stage_one(path: str, name: str, option: str, dest: str) -> str:
    if option == "-archives":
        target = os.path.join(dest, "archives", name)
        _unpack(path, target)
        return target
    if os.path.basename(path) == name:
        return path
    links = os.path.join(dest, "links")
    os.makedirs(links, exist_ok=True)
    os.symlink(path, os.path.join(links, name))
    return os.path.join(links, name)


def tar_directories(files: list, work: str) -> tuple[list[str], list[str]]:
    """Ship local directories among ``-files`` entries as mrjob's Hadoop runner ships DIRS.

    Takes ``-files`` entries (``path`` or ``path#NAME``) and a local scratch directory
    ``work``; returns (the other entries unchanged, ``-archives`` entries): each local
    directory becomes ``work/dir-archives/NAME.tar.gz`` (its files at the archive's top,
    as ``mrjob.runner._create_dir_archive`` writes them) shipped as
    ``…/NAME.tar.gz#NAME``, which Hadoop unpacks into a directory ``NAME`` in the task's
    working directory. HDFS paths are left to Hadoop. Raises UsageError for a bad entry.
    """
    plain, archives = [], []
    for entry in files:
        path, name = split_entry(entry)
        if "://" in path or not os.path.isdir(path):
            plain.append(entry)
            continue
        folder = os.path.join(work, "dir-archives")
        os.makedirs(folder, exist_ok=True)
        base = os.path.join(folder, name)
        archive = shutil.make_archive(base, "gztar", root_dir=os.path.abspath(path))
        archives.append(f"{archive}#{name}")
    return plain, archives
