"""``dirft simulate`` and ``dirft calibrate``: the simulator's command line.

``dirft simulate`` turns its options into a :class:`~dirft.runners.sim.SimConfig` and prints
the simulated job's report (:func:`dirft.runners.sim.simulate`); ``dirft calibrate`` fits a
cost model on this machine (:mod:`dirft.calibrate`).
"""

import json

from dirft.errors import JobAborted, UsageError
from dirft.report import summary_lines
from dirft.runners import sim
from dirft.runners.sim import SimConfig, SimResult, config_dict, simulate
from dirft.sim.costmodel import CostModel, load_cost_model, save_cost_model
from dirft.switches import add_switches
from dirft.units import format_bytes, parse_bytes


def add_commands(sub) -> None:
    """Register ``dirft simulate`` and ``dirft calibrate`` on ``dirft``'s subparsers."""
    _simulate_parser(sub)
    _calibrate_parser(sub)


def _simulate_parser(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a job on a cluster of any size (same core)",
                       description=sim.__doc__.split("\n\n")[0], allow_abbrev=False)
    add_switches(p, "simulate")
    p.set_defaults(func=_simulate_command)


def _calibrate_parser(sub) -> None:
    p = sub.add_parser("calibrate", help="measure the simulator's cost model on this machine",
                       allow_abbrev=False)
    add_switches(p, "calibrate")
    p.set_defaults(func=_calibrate_command)


def config_from_args(args) -> SimConfig:
    """The :class:`SimConfig` that ``dirft simulate`` arguments describe.

    Raises :class:`~dirft.errors.UsageError` for a non-positive count or a bad straggler.
    """
    for name in ("splits", "slots", "nodes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name} {value}: must be 1 or more")
    if args.heartbeat_interval <= 0:
        raise UsageError(f"--heartbeat-interval {args.heartbeat_interval}: must be > 0")
    return SimConfig(splits=args.splits, split_size=parse_bytes(args.split_size, "--split-size"),
                     nodes=args.nodes, slots=args.slots, scheme=args.scheme,
                     nature=args.nature, tolerance=args.tolerance,
                     fault_percent=args.fault_percent, fault_replicas=args.fault_replicas,
                     crash_mode=args.crash_mode, silent_mode=args.silent_mode, seed=args.seed,
                     straggler_nodes=_stragglers(args.straggler),
                     heartbeat_interval_s=args.heartbeat_interval, adaptive=not args.plain,
                     bad_nodes=args.bad_nodes, bad_share=args.bad_node_percent / 100)


def _stragglers(items: list) -> dict:
    out = {}
    for item in items:
        node, _, factor = item.partition("=")
        try:
            out[node] = float(factor)
        except ValueError:
            raise UsageError(f"--straggler {item!r}: expected NODE=FACTOR, e.g. node3=4") \
                from None
        if not node or out[node] < 1:
            raise UsageError(f"--straggler {item!r}: need a node name and a factor >= 1")
    return out


def _simulate_command(args) -> int:
    config = config_from_args(args)
    cost = load_cost_model(args.cost_model) if args.cost_model else CostModel()
    result = simulate(config, cost)
    if args.json:
        print(json.dumps({"config": config_dict(config), **result.report}, indent=2,
                         sort_keys=True))
    else:
        for line in headline(config, result):
            print(line)
    if result.aborted:
        raise JobAborted(f"(simulated) {result.aborted}")
    return 0


def headline(config: SimConfig, result: SimResult) -> list[str]:
    """Console lines for a simulated run: what was simulated, then the report summary."""
    rep = result.report
    cluster = rep["cluster"]
    outcome = "aborted" if result.aborted else "succeeded"
    return [f"dirft: simulated job {outcome}: {config.splits} splits of "
            f"{format_bytes(config.split_size)} on {cluster['nodes']} nodes x "
            f"{cluster['slots_per_node']} slots; makespan {result.makespan_s:.1f} s",
            *(f"  {line}" for line in summary_lines(rep))]


def _calibrate_command(args) -> int:
    from dirft.calibrate import calibrate, notes  # runs real jobs: the local runner's imports

    sizes = [parse_bytes(s, "--sizes") for s in args.sizes.split(",") if s.strip()]
    model, runs = calibrate(sizes, args.seed, args.work_dir, args.repeats,
                            progress=lambda line: print(f"  {line}"))
    save_cost_model(model, args.out, notes(runs, model))
    print(f"dirft: wrote the cost model to {args.out}:")
    for key, value in model.to_dict().items():
        print(f"  {key}: {value}")
    return 0
