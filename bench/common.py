"""What every benchmark shares: alternating runs, medians, paired ratios, the result table.

A figure is the ratio of two measurements taken side by side (A B A B …) in one process
run; :func:`paired_ratio` is the median of the per-repetition ratios A_i / B_i, so a slow
spell of the machine, which hits A_i and B_i alike, cancels out.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


def median(values) -> float:
    """Return the median of ``values`` (numbers). Raises ValueError if there are none."""
    values = list(values)
    if not values:
        raise ValueError("median of no values")
    return statistics.median(values)


def paired_ratio(a: list, b: list) -> float:
    """Return the median of ``a[i] / b[i]`` over the repetitions (same units on both sides).

    Raises ValueError if the lists are empty or of different lengths, ZeroDivisionError
    if some ``b[i]`` is 0.
    """
    if len(a) != len(b):
        raise ValueError(f"paired_ratio needs as many A runs as B runs: {len(a)} != {len(b)}")
    return median(x / y for x, y in zip(a, b))


def alternate(variants: Mapping[str, Callable[[], float]], reps: int,
              log: Callable[[str], None] = lambda line: None,
              budget_s: float = float("inf")) -> dict[str, list[float]]:
    """Run each variant once per repetition, in turn (A B C A B C …); return their results.

    ``variants`` maps a name to a function returning one measurement (e.g. seconds);
    ``reps`` >= 1 repetitions at most; no new repetition starts once ``budget_s`` seconds
    have passed (the first always runs); ``log`` receives one line per run. Returns
    ``{name: [measurement per repetition]}``, all lists of the same length. Exceptions of
    a variant propagate.
    """
    results: dict[str, list[float]] = {name: [] for name in variants}
    start = time.perf_counter()
    for rep in range(reps):
        if rep and time.perf_counter() - start > budget_s:
            log(f"  time budget of {budget_s:.0f} s used: stopping after {rep} repetition(s)")
            break
        for name, run in variants.items():
            results[name].append(run())
            log(f"  rep {rep + 1}/{reps} {name}: {results[name][-1]:.3f}")
    return results


def timed(function: Callable[[], object]) -> float:
    """Call ``function()``; return the wall-clock seconds it took (``perf_counter``)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def cores() -> int:
    """Number of CPUs this process may run on (its affinity mask)."""
    return len(os.sched_getaffinity(0))


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Figure:
    """One row of the result table.

    ``name``: what is measured; ``value``: the figure (None when not measured, e.g. not
    built yet); ``fmt``: how to print it (``"{:.3f}"``); ``target``: the target as text;
    ``met``: True/False, or None when there is no target or no value; ``used``: cores,
    slots, processes used; ``detail``: the two sides and anything else worth a glance.
    """

    name: str
    value: float | None
    fmt: str
    target: str
    met: bool | None
    used: str
    detail: str = ""

    def cells(self) -> list[str]:
        """The row as strings: name, value, target, met, used, detail."""
        value = "—" if self.value is None else self.fmt.format(self.value)
        met = {True: "yes", False: "NO", None: "—"}[self.met]
        return [self.name, value, self.target, met, self.used, self.detail]


HEADER = ["figure", "value", "target", "met", "cores / slots used", "detail"]


def format_table(figures: list[Figure]) -> str:
    """Return ``figures`` as a Markdown table (one header row, one row per figure)."""
    rows = [HEADER] + [f.cells() for f in figures]
    lines = ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("---" for _ in HEADER) + "|")
    return "\n".join(lines)


def at_most(value: float | None, limit: float) -> bool | None:
    """True if ``value <= limit``; None if there is no value."""
    return None if value is None else value <= limit


def at_least(value: float | None, limit: float) -> bool | None:
    """True if ``value >= limit``; None if there is no value."""
    return None if value is None else value >= limit
