"""The repository explains itself: docs/ is where its design and Hadoop facts live.

Two checks over every file of the repository (``git ls-files``, tracked and untracked but not
ignored; a plain walk without ``.git`` and ``.venv`` where git is missing):

* no file cites a document that a clone does not contain: the design notes and the Hadoop
  facts file the project started from, or the shared directory beside the repository;
* every citation of the form ``docs/<name>.md, '<heading>'`` (or with double quotes)
  names an existing file of ``docs/`` and one of its Markdown headings, word for word, so
  code can cite "docs/hadoop.md, 'Records'" and the citation stays true (docs/README.md).
"""

import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Spelled in pieces so that this file does not cite them itself.
OUTSIDE = re.compile("|".join([r"DESIGN" + r"\.md", r"DESIGN" + r" §",
                               r"HADOOP_STREAMING" + r"_FACTS",
                               r"\.\./" + r"shared\b", r"/work/" + r"shared\b"]).encode())
CITATION = re.compile(rb"""docs/([\w.-]+\.md)(?:,\s*(?:'([^'\n]+)'|"([^"\n]+)"))?""")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
SKIP_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis"}


def _walk() -> list[str]:
    """Relative names of every file under the repository, skipping :data:`SKIP_DIRS`."""
    names = []
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        names += [os.path.relpath(os.path.join(top, f), ROOT) for f in files]
    return names


def repo_files() -> list[pathlib.Path]:
    """Every file of the repository outside .git and .venv, as absolute paths."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True,
                             check=True).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = _walk()
    paths = (ROOT / n for n in names if not set(pathlib.PurePath(n).parts) & SKIP_DIRS)
    return sorted(p for p in paths if p.is_file())


def headings(doc: pathlib.Path) -> set[str]:
    """The text of every Markdown heading of ``doc`` (outside fenced code blocks)."""
    found, fenced = set(), False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            found.add(m.group(1))
    return found


def citations() -> list[tuple[str, str, str | None]]:
    """``(citing file, docs file name, heading or None)`` for every docs/ citation."""
    found = []
    for path in repo_files():
        for m in CITATION.finditer(path.read_bytes()):
            heading = m.group(2) or m.group(3)
            found.append((str(path.relative_to(ROOT)), m.group(1).decode(),
                          heading.decode() if heading else None))
    return found


def test_no_file_cites_a_document_outside_the_repository():
    offenders = [f"{p.relative_to(ROOT)}: {m.group().decode()}" for p in repo_files()
                 for m in [OUTSIDE.search(p.read_bytes())] if m]
    assert offenders == []


def test_docs_exist_with_an_index():
    for name in ("README.md", "design.md", "hadoop.md"):
        assert (ROOT / "docs" / name).is_file(), name


def test_every_docs_citation_names_an_existing_file_and_heading():
    cites = citations()
    assert len(cites) > 20, "the code cites docs/; the pattern must find those citations"
    wrong = []
    for where, name, heading in cites:
        doc = ROOT / "docs" / name
        if not doc.is_file():
            wrong.append(f"{where}: docs/{name} does not exist")
        elif heading is not None and heading not in headings(doc):
            wrong.append(f"{where}: docs/{name} has no heading {heading!r}")
    assert wrong == []


@pytest.mark.parametrize("text,expected", [
    (b"see docs/hadoop.md, 'Records'.", [("hadoop.md", "Records")]),
    (b'(docs/design.md, "Quorum")', [("design.md", "Quorum")]),
    (b"docs/design.md and more", [("design.md", None)]),
])
def test_the_citation_pattern(text, expected):
    got = [(m.group(1).decode(), (m.group(2) or m.group(3) or b"").decode() or None)
           for m in CITATION.finditer(text)]
    assert got == expected


def test_the_outside_pattern_would_catch_each_form():
    for text in (b"see DESIGN" b".md", "DESIGN \u00a72".encode(),
                 b"HADOOP_STREAMING" b"_FACTS.md", b"../" b"shared/x"):
        assert OUTSIDE.search(text)


def test_benchmarks_open_with_the_current_table_and_date_every_entry():
    """BENCHMARKS.md: the first section is the table of current figures, whose every row
    links to an anchor that exists; each history entry's heading carries its date."""
    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", text, flags=re.M)
    assert sections[:1] == ["Current figures"]
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', text))
    links = re.findall(r"\]\(#([\w-]+)\)", text)
    assert links and set(links) <= anchors, set(links) - anchors
    history = text[text.index("## History, newest first"):]
    entries = re.findall(r"^### (.+)$", history, flags=re.M)
    assert entries and all(re.search(r"\b20\d\d-\d\d-\d\d\b", e) for e in entries), entries
