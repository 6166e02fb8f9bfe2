"""``bench/run``: measure every figure of issue 7 and print them in one table.

Usage: ``bench/run [--quick] [--reps N] [--only SECTION ...] [--job plain|mrjob]
[--profile] [--workdir DIR]``. Progress goes to stderr, the table and notes to stdout
(Markdown, ready for ``BENCHMARKS.md``). Exit status 0, or 1 if a section failed (its
error is printed and the other sections still run).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import tempfile
import time

from bench.common import Figure, cores, format_table, load_average
from bench.sections import SECTIONS, Settings, needs_input, scratch_input


def parse(argv: list | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="one repetition, fewer service messages (about 3x faster)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of each A/B (3)")
    p.add_argument("--only", action="append", choices=sorted(SECTIONS),
                   help="run only this section (repeatable)")
    p.add_argument("--job", choices=("plain", "mrjob"), default="plain",
                   help="response-time job: plain streaming word count (default) or the "
                        "MRJob fixture (about 4x slower)")
    p.add_argument("--profile", action="store_true",
                   help="profile the voting service's thread and print its top functions")
    p.add_argument("--workdir", default=None,
                   help="scratch directory (default: a temporary one; needs ~1 GiB free)")
    return p.parse_args(argv)


def settings(args, workdir: str, input_path: str) -> Settings:
    """The :class:`Settings` the command line asks for."""
    reps = 1 if args.quick else max(1, args.reps)
    return Settings(workdir=workdir, input_path=input_path, reps=reps,
                    budget_s=60.0 if args.quick else 150.0, job=args.job,
                    messages=2000 if args.quick else 6000, profile=args.profile,
                    log=lambda line: print(line, file=sys.stderr, flush=True))


def run_sections(names: list, s: Settings) -> tuple[list, list, bool]:
    """Run the sections ``names``; return (figures, notes, all succeeded)."""
    figures, notes, ok = [], [], True
    for name in names:
        started = time.perf_counter()
        try:
            rows, lines = SECTIONS[name](s)
        except Exception as err:  # noqa: BLE001 - one failed section must not hide the rest
            ok = False
            rows = [Figure(f"{name}: FAILED", None, "", "—", False, "—",
                           f"{type(err).__name__}: {err}"[:300])]
            lines = []
        figures += rows
        notes += lines
        s.log(f"{name}: {time.perf_counter() - started:.0f} s")
    return figures, notes, ok


def header(argv: list, load_before: str) -> list[str]:
    """Lines saying when, how and on what the figures were taken."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["bench/run", *map(shlex.quote, argv)])
    return [f"Measured {now} with `{command}`",
            f"on {cores()} cores ({platform.processor() or platform.machine()}), Python "
            f"{platform.python_version()}; load average before: {load_before}, "
            f"after: {load_average()}", ""]


def main(argv: list | None = None) -> int:
    """Run the benchmark; print the table and notes; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    names = [n for n in SECTIONS if not args.only or n in args.only]
    load_before = load_average()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dirft-bench-", dir=args.workdir) as workdir:
        input_path = scratch_input(workdir) if needs_input(names) else ""
        figures, notes, ok = run_sections(names, settings(args, workdir, input_path))
    print("\n".join(header(argv, load_before)))
    print(format_table(figures))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    if notes:
        print("\n```\n" + "\n".join(notes) + "\n```")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
