"""Recording an experiment: ``results.csv``, ``run-info.json`` and the paper's figures.

Figures (PNG, matplotlib's Agg backend, no display needed):

* ``overhead.png`` (when the grid has fault percentage 0 and two or more schemes): the
  paper's "overhead with no fault" bars: per job, each scheme's median makespan relative to
  scheme ``none`` (or to the spec's first scheme when ``none`` is absent), one panel per
  nature (crash mode, silent mode) and number of splits; the label on a bar is the ratio.
* ``faults-<job>.png`` (when the grid has two or more fault percentages): median makespan in
  seconds against the percentage of map tasks hit, one line per scheme (and nature), one
  panel per number of splits; bars span the repetitions' min to max.

Only runs that succeeded (or, simulated, did not abort) enter the figures.
"""

import csv
import json
import os
import statistics
from collections import defaultdict

from dirft.gridmix.experiment import COLUMNS
from dirft.gridmix.paper import paper_points

_MARKERS = {"none": "x", "se": "s", "bft": "D", "frft": "^", "dirft": "o", "dirft-plain": "v"}


def write_csv(rows: list[dict], path: str) -> None:
    """Write ``rows`` (dicts over :data:`COLUMNS`) to ``path`` atomically (temp + rename)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def read_csv(path: str) -> list[dict]:
    """The rows of a ``results.csv`` as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_info(info: dict, path: str) -> None:
    """Write the run's context (machine, times, totals) as JSON to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write("\n")


def _good(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["outcome"] == "succeeded" and r["makespan_s"] != ""]


def _samples(rows: list[dict], key) -> dict:
    """``{key(row): [makespans]}`` over the rows."""
    out = defaultdict(list)
    for row in rows:
        out[key(row)].append(float(row["makespan_s"]))
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_overhead(rows: list[dict], schemes: tuple, jobs: tuple, path: str) -> bool:
    """Draw ``overhead.png`` (see module doc) to ``path``; False when there is nothing to
    draw (no fault-free runs or a single scheme)."""
    rows = [r for r in _good(rows) if float(r["fault_percent"]) == 0]
    panels = sorted({(r["nature"], int(r["splits"])) for r in rows})
    if not panels or len(schemes) < 2:
        return False
    baseline = "none" if "none" in schemes else schemes[0]
    times = _samples(rows, lambda r: (r["nature"], int(r["splits"]), r["job"], r["scheme"]))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (nature, splits) in zip(axes[0], panels):
        _overhead_panel(ax, times, nature, splits, schemes, jobs, baseline)
    fig.suptitle(f"Overhead with no fault: makespan relative to {baseline}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _overhead_panel(ax, times, nature, splits, schemes, jobs, baseline) -> None:
    width, top = 0.8 / len(schemes), 1.0
    for i, scheme in enumerate(schemes):
        ratios = []
        for job in jobs:
            base = times.get((nature, splits, job, baseline))
            mine = times.get((nature, splits, job, scheme))
            ratios.append(statistics.median(mine) / statistics.median(base)
                          if base and mine else float("nan"))
        xs = [j + (i - (len(schemes) - 1) / 2) * width for j in range(len(jobs))]
        bars = ax.bar(xs, ratios, width, label=scheme)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
        top = max([top, *(r for r in ratios if r == r)])  # r == r skips NaN
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
    ax.set_xticks(range(len(jobs)), jobs)
    ax.set_ylabel(f"makespan / makespan of {baseline}")
    ax.set_title(f"{nature} mode, {splits} splits")
    ax.legend(fontsize=8, ncol=len(schemes), loc="upper center")


def plot_faults(rows: list[dict], job: str, schemes: tuple, path: str) -> bool:
    """Draw ``faults-<job>.png`` (see module doc) to ``path``; False when the grid has
    fewer than two fault percentages for ``job``."""
    rows = [r for r in _good(rows) if r["job"] == job]
    if len({r["fault_percent"] for r in rows}) < 2:
        return False
    panels = sorted({int(r["splits"]) for r in rows})
    natures = sorted({r["nature"] for r in rows})
    times = _samples(rows, lambda r: (int(r["splits"]), r["nature"], r["scheme"],
                                    float(r["fault_percent"])))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, splits in zip(axes[0], panels):
        for nature in natures:
            for scheme in schemes:
                _fault_line(ax, times, splits, nature, scheme, len(natures) > 1)
                if job == "streamsort":
                    _authors_points(ax, splits, nature, scheme)
        ax.set_title(f"{job}, {splits} splits")
        ax.set_xlabel("% of map tasks hit by faults")
        ax.set_ylabel("makespan (s)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle(f"Makespan against faulty tasks ({', '.join(natures)} mode)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _fault_line(ax, times, splits, nature, scheme, show_nature) -> None:
    points = sorted((p, v) for (s, n, sch, p), v in times.items()
                    if (s, n, sch) == (splits, nature, scheme))
    if not points:
        return
    xs = [p for p, _ in points]
    ys = [statistics.median(v) for _, v in points]
    low = [y - min(v) for y, (_, v) in zip(ys, points)]
    high = [max(v) - y for y, (_, v) in zip(ys, points)]
    label = f"{scheme} ({nature})" if show_nature else scheme
    ax.errorbar(xs, ys, yerr=[low, high], marker=_MARKERS.get(scheme, "o"), capsize=3,
                linestyle="--" if nature == "silent" and show_nature else "-", label=label)


def _authors_points(ax, splits: int, nature: str, scheme: str) -> None:
    """The paper's streamSort points (docs/design.md, 'Numbers to beat'), hollow, if any."""
    points = paper_points({"crash": 1, "silent": 2}.get(nature, 0), scheme, splits)
    if points:
        ax.plot([p for p, _ in points], [v for _, v in points], linestyle="none",
                marker=_MARKERS.get(scheme, "o"), markersize=9, markerfacecolor="none",
                color="black", label=f"{scheme} (authors)")  # a colour: keeps the cycle


def plot_all(rows: list[dict], spec, out_dir: str) -> list[str]:
    """Draw every figure the grid allows into ``out_dir``; return the files written."""
    for name in os.listdir(out_dir):  # figures of an earlier run of another grid
        if name == "overhead.png" or (name.startswith("faults-") and name.endswith(".png")):
            os.remove(os.path.join(out_dir, name))
    written = []
    path = os.path.join(out_dir, "overhead.png")
    if plot_overhead(rows, spec.schemes, spec.jobs, path):
        written.append(path)
    for job in spec.jobs:
        path = os.path.join(out_dir, f"faults-{job}.png")
        if plot_faults(rows, job, spec.schemes, path):
            written.append(path)
    return written
