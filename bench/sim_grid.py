"""Simulate the DIRFT paper's whole experiment grid and time it.

3 split counts (100, 300, 500) × 9 fault levels (0, 12.5, …, 100 % of the map tasks hit) ×
2 natures (crash: SE, FRFT, DIRFT; silent: BFT, FRFT, DIRFT) = 162 simulated jobs of
128 MiB splits on the paper's clusters (10 nodes per initial replica, 20 map slots each),
every one driving the real core. Prints the wall time of the whole grid (target: under a
minute on two cores), the fault-free 500-split crash-mode ratios DIRFT/SE and DIRFT/FRFT
next to the authors' 240/410 and 240/420, and the makespans (``--table`` for all of them as
a Markdown table, as in ``gridmix_runs/README-sim.md``).

    .venv/bin/python bench/sim_grid.py [--cost-model FILE.yaml] [--seed N] [--table]
    .venv/bin/python bench/sim_grid.py --profile     # cProfile of the grid, top 25
"""

import argparse
import cProfile
import pstats
import sys
import time

from dirft.gridmix.paper import PAPER_PERCENTS, PAPER_SCHEMES, PAPER_SECONDS, PAPER_SPLITS
from dirft.runners.sim import paper_config, simulate
from dirft.sim.costmodel import CostModel, load_cost_model

NATURES = {1: "crash", 2: "silent"}


def run_grid(cost: CostModel, seed: int) -> dict:
    """Makespans in seconds by (nature, scheme, splits, percent); aborted runs give None."""
    out = {}
    for nature, schemes in PAPER_SCHEMES.items():
        for scheme in schemes:
            for splits in PAPER_SPLITS:
                for percent in PAPER_PERCENTS:
                    result = simulate(paper_config(splits, nature, scheme, percent, seed), cost)
                    out[(nature, scheme, splits, percent)] = (
                        None if result.aborted else result.makespan_s)
    return out


def ratios(grid: dict) -> list[str]:
    """The headline lines: fault-free 500-split crash-mode ratios, ours and the paper's."""
    lines = []
    for base in ("se", "frft"):
        ours = grid[(1, "dirft", 500, 0.0)] / grid[(1, base, 500, 0.0)]
        theirs = PAPER_SECONDS[(1, "dirft", 500)] / PAPER_SECONDS[(1, base, 500)]
        lines.append(f"DIRFT/{base.upper()} makespan, 500 splits, no fault, crash mode: "
                     f"{ours:.3f} (simulated {grid[(1, 'dirft', 500, 0.0)]:.0f} s / "
                     f"{grid[(1, base, 500, 0.0)]:.0f} s); paper {theirs:.3f} "
                     f"({PAPER_SECONDS[(1, 'dirft', 500)]} s / {PAPER_SECONDS[(1, base, 500)]} s)")
    return lines


def fault_free_lines(grid: dict) -> list[str]:
    """Fault-free makespans next to the authors' where they published one."""
    lines = []
    for (nature, scheme, splits), paper in sorted(PAPER_SECONDS.items()):
        ours = grid[(nature, scheme, splits, 0.0)]
        lines.append(f"  {NATURES[nature]:6} {scheme:5} {splits:3} splits: simulated "
                     f"{ours:6.1f} s, paper {paper} s")
    return lines


def table(grid: dict) -> list[str]:
    """Every makespan as a Markdown table: one row per (nature, splits, scheme)."""
    head = "| mode | splits | scheme | " + " | ".join(f"{p:g}%" for p in PAPER_PERCENTS) + " |"
    rows = [head, "|" + "---|" * (3 + len(PAPER_PERCENTS))]
    for nature, schemes in PAPER_SCHEMES.items():
        for splits in PAPER_SPLITS:
            for scheme in schemes:
                cells = [_cell(grid[(nature, scheme, splits, p)]) for p in PAPER_PERCENTS]
                rows.append(f"| {NATURES[nature]} | {splits} | {scheme} | "
                            + " | ".join(cells) + " |")
    return rows


def _cell(seconds) -> str:
    return "abort" if seconds is None else f"{seconds:.0f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost-model", help="cost model YAML (default: the paper cluster's)")
    parser.add_argument("--seed", type=int, default=0, help="placement and fault-plan seed")
    parser.add_argument("--table", action="store_true", help="print every makespan")
    parser.add_argument("--profile", action="store_true", help="cProfile the grid")
    args = parser.parse_args(argv)
    cost = load_cost_model(args.cost_model) if args.cost_model else CostModel()
    if args.profile:
        cProfile.runctx("run_grid(cost, args.seed)", globals(), locals(), "/tmp/sim_grid.prof")
        pstats.Stats("/tmp/sim_grid.prof").sort_stats("tottime").print_stats(25)
        return 0
    started = time.perf_counter()
    grid = run_grid(cost, args.seed)
    wall = time.perf_counter() - started
    print(f"simulated {len(grid)} jobs of the paper grid in {wall:.1f} s wall time")
    print("\n".join(ratios(grid)))
    print("fault-free makespans:")
    print("\n".join(fault_free_lines(grid)))
    if args.table:
        print("\n".join(table(grid)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
