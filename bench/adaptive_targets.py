"""Issue 14's simulator targets for adaptive DIRFT, measured side by side in one run.

At 500 splits of 128 MiB on the paper's clusters with the paper-cluster cost model
(``gridmix_runs/cost-models/paper-cluster.yaml`` = ``CostModel()``), seed 0:

* DIRFT/FRFT <= 1.00 at every fault level 0, 12.5, ..., 100 % of the tasks hit, crash and
  silent faults (adaptive DIRFT; plain DIRFT shown beside it);
* fault-free DIRFT/SE <= 0.55 (crash mode) and DIRFT/BFT <= 0.70 (silent mode);
* one bad node corrupting 1 % of its outputs (silent mode, f_s = 1): 0 wrong outputs and a
  job slowdown under 10 % against the same job without the bad node.

Prints one line per target with the figure, the target and PASS/MISS, then the makespans.

    .venv/bin/python bench/adaptive_targets.py [--splits 500] [--seed 0] [--percents 0,50,100]
"""

import argparse
import sys
import time
from dataclasses import replace

from dirft.gridmix.paper import PAPER_PERCENTS
from dirft.runners.sim import paper_config, simulate

SCHEMES = {1: ("se", "frft", "dirft", "plain"), 2: ("bft", "frft", "dirft", "plain")}
NATURES = {1: "crash", 2: "silent"}


def run(splits: int, seed: int, percents) -> dict:
    """Makespans (seconds, None if aborted) by (nature, scheme, percent); "plain" is the
    paper's plain DIRFT, "dirft" adaptive DIRFT."""
    out = {}
    for nature, schemes in SCHEMES.items():
        for scheme in schemes:
            for percent in percents:
                config = paper_config(splits, nature, "dirft" if scheme == "plain" else scheme,
                                      percent, seed)
                result = simulate(replace(config, adaptive=scheme != "plain"))
                out[(nature, scheme, percent)] = None if result.aborted else result.makespan_s
    return out


def bad_node(splits: int, seed: int) -> tuple[float, float, int, dict]:
    """(makespan without, makespan with one bad node at 1 %, wrong outputs, quarantined)."""
    config = replace(paper_config(splits, 2, "dirft", 0.0, seed), adaptive=True)
    clean = simulate(config)
    bad = simulate(replace(config, bad_nodes=1, bad_share=0.01))
    return (clean.makespan_s, bad.makespan_s, bad.wrong_outputs,
            bad.report["nodes_quarantined"])


def verdicts(grid: dict, percents, bad) -> list[str]:
    """One line per target: figure, target, PASS or MISS."""
    lines = []
    for nature in (1, 2):
        worst = max((grid[(nature, "dirft", p)] / grid[(nature, "frft", p)], p) for p in percents)
        lines.append(_line(f"{NATURES[nature]}: worst DIRFT/FRFT over {len(percents)} fault "
                           f"levels (at {worst[1]:g} %)", worst[0], 1.00))
    for nature, base, target in ((1, "se", 0.55), (2, "bft", 0.70)):
        ratio = grid[(nature, "dirft", 0.0)] / grid[(nature, base, 0.0)]
        lines.append(_line(f"{NATURES[nature]}: fault-free DIRFT/{base.upper()} "
                           f"({grid[(nature, 'dirft', 0.0)]:.1f} s / "
                           f"{grid[(nature, base, 0.0)]:.1f} s)", ratio, target))
    clean, dirty, wrong, quarantined = bad
    lines.append(_line(f"bad node at 1 %: slowdown ({dirty:.1f} s / {clean:.1f} s), "
                       f"{wrong} wrong outputs, quarantined {quarantined}",
                       dirty / clean, 1.10, ok=wrong == 0 and dirty / clean < 1.10))
    return lines


def _line(what: str, value: float, target: float, ok: bool | None = None) -> str:
    ok = value <= target if ok is None else ok
    return f"{'PASS' if ok else 'MISS'} {what}: {value:.3f} (target {target:.2f})"


def table(grid: dict, percents) -> list[str]:
    """Every makespan, Markdown."""
    rows = ["| mode | scheme | " + " | ".join(f"{p:g}%" for p in percents) + " |",
            "|" + "---|" * (2 + len(percents))]
    for nature, schemes in SCHEMES.items():
        for scheme in schemes:
            name = {"dirft": "dirft (adaptive)", "plain": "dirft (plain)"}.get(scheme, scheme)
            cells = [("abort" if grid[(nature, scheme, p)] is None
                      else f"{grid[(nature, scheme, p)]:.0f}") for p in percents]
            rows.append(f"| {NATURES[nature]} | {name} | " + " | ".join(cells) + " |")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--percents", default=",".join(f"{p:g}" for p in PAPER_PERCENTS))
    args = parser.parse_args(argv)
    percents = [float(p) for p in args.percents.split(",")]
    if 0.0 not in percents:
        percents.insert(0, 0.0)
    started = time.perf_counter()
    grid = run(args.splits, args.seed, percents)
    bad = bad_node(args.splits, args.seed)
    print(f"{len(grid) + 2} simulated jobs, {args.splits} splits, seed {args.seed}, "
          f"{time.perf_counter() - started:.0f} s wall time")
    print("\n".join(verdicts(grid, percents, bad)))
    print("\n".join(table(grid, percents)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
