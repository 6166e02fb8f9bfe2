"""The figures of :mod:`bench.hadoop_recovery`: which runs count, paired ratios, the table.

A run is a dict (one element of the JSON's ``runs``) with at least ``round``, ``case``
(``free``, ``hang``, ``kill``, ``lost``, ``silent``, ``cpu1``), ``variant`` (``plain``,
``none``, ``dirft``), ``exit`` (the command's status), ``seconds`` (its wall time),
``planned`` and ``fired`` (faults planned and seen to fire), and, once compared with the
fault-free output, ``wrong_lines``/``missing_lines``. A run counts only if it exited 0 and
every planned fault fired (and nothing fired that was not planned); otherwise it is
discarded and the reason kept in the JSON. A ratio A / B of a case is the median over the
rounds in which both A's and B's runs counted of A_i / B_i (:func:`bench.common.paired_ratio`),
so a slow spell of the shared machine, which hits a round's runs alike, cancels out.
"""

from __future__ import annotations

from collections import Counter

from bench.common import median

VARIANTS = ("plain", "none", "dirft")
RATIOS = (("dirft", "plain"), ("none", "plain"), ("dirft", "none"))
#: Upper bounds on the ratios (issue 20), by (case, numerator, denominator).
TARGETS = {("hang", "dirft", "plain"): 0.9, ("kill", "dirft", "plain"): 0.8,
           ("lost", "dirft", "plain"): 0.9, ("free", "dirft", "none"): 1.10,
           ("free", "none", "plain"): 1.10, ("cpu1", "dirft", "none"): 0.65}


def discard_reason(run: dict) -> str | None:
    """Why ``run`` does not count, or None if it does: a failed command, or faults fired
    that differ from the faults planned (injected = planned, or the run says nothing)."""
    if run.get("error"):
        return run["error"]
    if run["exit"] != 0:
        return f"exit status {run['exit']}"
    if run["fired"] != run["planned"]:
        return f"{run['planned']} fault(s) planned, {run['fired']} fired"
    return None


def mark(runs: list) -> list:
    """Set each run's ``discarded`` (reason or None); returns ``runs``."""
    for run in runs:
        run["discarded"] = discard_reason(run)
    return runs


def kept(runs: list, case: str, variant: str) -> dict:
    """``{round: seconds}`` of the counted runs of ``variant`` in ``case``."""
    return {r["round"]: r["seconds"] for r in runs
            if r["case"] == case and r["variant"] == variant and not r.get("discarded")}


def pairs(runs: list, case: str, a: str, b: str) -> list[tuple[float, float]]:
    """``[(A seconds, B seconds)]`` of the rounds in which both counted, by round."""
    left, right = kept(runs, case, a), kept(runs, case, b)
    return [(left[n], right[n]) for n in sorted(left.keys() & right.keys())]


def ratio(runs: list, case: str, a: str, b: str) -> dict:
    """``{"value": median of A_i / B_i or None, "pairs": n, "each": [ratios]}``."""
    each = [x / y for x, y in pairs(runs, case, a, b)]
    return {"value": median(each) if each else None, "pairs": len(each),
            "each": [round(x, 3) for x in each]}


def figures(runs: list, cases: list) -> dict:
    """Every ratio of every case: ``{case: {"dirft/plain": ratio(...), ...}}``, plus each
    variant's faulty / fault-free ratio (its recovery cost) when ``free`` ran too."""
    out = {}
    for case in cases:
        row = {f"{a}/{b}": ratio(runs, case, a, b) for a, b in RATIOS}
        if case != "free":
            for v in VARIANTS:
                row[f"{v} {case}/free"] = _across(runs, v, case)
        out[case] = row
    return out


def _across(runs: list, variant: str, case: str) -> dict:
    faulty, free = kept(runs, case, variant), kept(runs, "free", variant)
    each = [faulty[n] / free[n] for n in sorted(faulty.keys() & free.keys())]
    return {"value": median(each) if each else None, "pairs": len(each),
            "each": [round(x, 3) for x in each]}


def wrong_lines(output: Counter, reference: Counter) -> tuple[int, int]:
    """(lines of ``output`` not in the fault-free ``reference``, reference lines missing
    from ``output``), counting repeats; both Counters of line (or line hash) -> count."""
    return sum((output - reference).values()), sum((reference - output).values())


def count_lines(data: bytes) -> Counter:
    """Counter of ``hash(line)`` over the lines of ``data`` (newline-terminated or last)."""
    return Counter(map(hash, data.splitlines()))


def _cell(value: float | None, target: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:.2f}"
    if target is not None:
        text += f" (<= {target:g}: {'met' if value <= target else 'NOT met'})"
    return text


def _wrong(runs: list, case: str) -> str:
    parts = []
    for v in VARIANTS:
        counts = [r["wrong_lines"] for r in runs if r["case"] == case and r["variant"] == v
                  and not r.get("discarded") and r.get("wrong_lines") is not None]
        if counts:
            parts.append(f"{v} {max(counts)}")
    return ", ".join(parts) or "—"


def _counted(runs: list, case: str) -> str:
    mine = [r for r in runs if r["case"] == case]
    return f"{sum(not r.get('discarded') for r in mine)} of {len(mine)}"


def table(runs: list, cases: list) -> str:
    """The Markdown table: per case the three ratios (medians of paired rounds, targets
    marked), the runs counted, the most wrong lines any counted run committed per variant."""
    figs = figures(runs, cases)
    lines = ["| case | DIRFT / plain | none / plain | DIRFT / none | runs counted | "
             "wrong lines committed (max) |", "|---|---|---|---|---|---|"]
    for case in cases:
        cells = [_cell(figs[case][f"{a}/{b}"]["value"], TARGETS.get((case, a, b)))
                 for a, b in RATIOS]
        lines.append(f"| {case} | " + " | ".join(cells)
                     + f" | {_counted(runs, case)} | {_wrong(runs, case)} |")
    return "\n".join(lines)


def discarded(runs: list) -> list[str]:
    """One line per discarded run: round, case, variant and why."""
    return [f"round {r['round']} {r['case']} {r['variant']}: {r['discarded']}"
            for r in runs if r.get("discarded")]
