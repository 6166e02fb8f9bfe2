"""The simulator runner: a job's cost on a cluster of any size, from the same core.

``simulate(SimConfig(...), cost)`` plans a synthetic job the way the local runner plans a
real one (HDFS block placement with 3 copies, Hadoop's input splits, DIRFT's sub-splits,
balanced replica nodes: :func:`dirft.core.jobplan.build_plan`), draws its fault plan with
:func:`fault_injector.plan.plan_faults` (the very plans real runs use) and runs the map stage
in virtual time (:class:`dirft.sim.engine.Engine`) against the real
:class:`~dirft.core.state.JobState`: the simulator has no scheduling or voting logic of its
own, so the decisions it reports are the ones the code makes.

**Makespan model.** ``makespan = map stage + reduce stage``: the map stage ends when the
core says every map task is decided (``FinishJob``); the reduce stage then costs
``CostModel.reduce_seconds_per_mib`` × MiB of map output, taken equal to the input (as for
streamSort, whose map is ``cat``). An aborted job's makespan is the time of the abort.

**Paper cluster sizes.** Unless ``nodes`` is given, the cluster has 10 nodes per replica a
task starts with (the paper: 10 nodes for SE, 20 for R = 2, 30 for R = 3), 20 map slots each.

Not simulated yet: time-varying stragglers, a reduce stage with its own faults and the
shuffle's network; fault modes are those :mod:`dirft.sim.engine` lists.
"""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field

from dirft.core.adaptive import Adaptive
from dirft.core.jobplan import build_plan, node_names
from dirft.core.planner import MAX_SPLIT_SIZE, InputFile
from dirft.core.scheme import Tolerance, make_scheme
from dirft.errors import JobAborted, UsageError
from dirft.report import build_report, summary_lines, task_entry
from dirft.sim.costmodel import MIB, CostModel, load_cost_model, save_cost_model
from dirft.sim.engine import Engine
from dirft.units import format_bytes, parse_bytes
from fault_injector.plan import NO_FAULTS, plan_faults

NODES_PER_REPLICA = 10  # the paper's cluster: 10 nodes per replica a task starts with
#: The paper's experiment grid (DESIGN.md §6): schemes compared per fault nature (1 crash,
#: 2 silent), input split counts, and percentages of map tasks hit by faults.
PAPER_SCHEMES = {1: ("se", "frft", "dirft"), 2: ("bft", "frft", "dirft")}
PAPER_SPLITS = (100, 300, 500)
PAPER_PERCENTS = tuple(12.5 * i for i in range(9))
#: The authors' fault-free streamSort makespans in seconds (DESIGN.md §6), by
#: (nature, scheme, splits).
PAPER_SECONDS = {(1, "se", 100): 110, (1, "se", 300): 270, (1, "se", 500): 410,
                 (1, "frft", 100): 110, (1, "frft", 300): 270, (1, "frft", 500): 420,
                 (1, "dirft", 100): 70, (1, "dirft", 300): 160, (1, "dirft", 500): 240,
                 (2, "bft", 500): 430, (2, "frft", 500): 440, (2, "dirft", 500): 310}
#: The authors' streamSort makespans with faults (DESIGN.md §6: 500 splits, 6% and 100% of
#: the tasks hit), by (nature, scheme, splits, percent of tasks hit), in seconds.
PAPER_FAULT_SECONDS = {
    (1, "se", 500, 6): 440, (1, "se", 500, 100): 790,
    (1, "frft", 500, 6): 420, (1, "frft", 500, 100): 420,
    (1, "dirft", 500, 6): 250, (1, "dirft", 500, 100): 440,
    (2, "bft", 500, 6): 450, (2, "bft", 500, 100): 810,
    (2, "frft", 500, 6): 440, (2, "frft", 500, 100): 440,
    (2, "dirft", 500, 6): 320, (2, "dirft", 500, 100): 570}


def paper_points(nature: int, scheme: str, splits: int) -> list[tuple[float, float]]:
    """The authors' (percent of tasks hit, makespan in seconds) points for streamSort."""
    points = [(0.0, v) for (n, s, k), v in PAPER_SECONDS.items() if (n, s, k) == (nature, scheme, splits)]
    points += [(float(p), v) for (n, s, k, p), v in PAPER_FAULT_SECONDS.items()
               if (n, s, k) == (nature, scheme, splits)]
    return sorted(points)


@dataclass(frozen=True)
class SimConfig:
    """A simulated job and cluster. Sizes in bytes, times in seconds.

    ``splits`` input splits of ``split_size`` bytes (one HDFS block each); ``nodes`` (None:
    10 per initial replica) × ``slots`` map slots; ``scheme`` (dirft, frft, bft, se, none)
    with ``tolerance`` f of ``nature`` 1 crash, 2 silent, 3 both; ``fault_percent`` of the
    tasks hit, ``fault_replicas`` faulty replicas per hit task (-1: f, within tolerance),
    ``crash_mode``/``silent_mode`` as in :mod:`fault_injector.plan`; ``seed`` for block
    placement and the fault plan; ``straggler_nodes`` {node: slowdown factor >= 1};
    ``node_losses`` {node: virtual second it is lost}; heartbeat interval and timeout;
    ``max_attempts`` (``mapreduce.map.maxattempts``) and ``extra_max``
    (``dirft.replicas.extra.max``); ``adaptive``: adaptive DIRFT for scheme dirft (False:
    the paper's plain DIRFT); ``bad_nodes`` nodes (seeded) corrupt ``bad_share`` (0..1) of
    their outputs.
    """

    splits: int = 100
    split_size: int = 128 * MIB
    nodes: int | None = None
    slots: int = 20
    scheme: str = "dirft"
    nature: int = 1
    tolerance: int = 1
    fault_percent: float = 0.0
    fault_replicas: int = -1
    crash_mode: str = "exception"
    silent_mode: str = "signature"
    seed: int = 0
    straggler_nodes: dict = field(default_factory=dict)
    node_losses: dict = field(default_factory=dict)
    heartbeat_interval_s: float = 3.0
    heartbeat_timeout_s: float = 30.0
    max_attempts: int = 4
    extra_max: int = 0
    adaptive: bool = True
    bad_nodes: int = 0
    bad_share: float = 0.01


@dataclass
class SimResult:
    """What a simulated run cost and decided.

    ``makespan_s`` = ``map_s`` + ``reduce_s`` (virtual seconds); ``aborted``: the core's
    abort message, or None; ``decisions``: the core's LaunchReplica, AssignSubsplit,
    CommitTaskOutput and AbortJob actions in order; ``tasks``: per-task stats (the report's
    per-task entry plus ``decided_at`` seconds); ``report``: the same shape as a real run's
    ``_dirft_report.json``; ``events``: core events fed; ``state``: the final JobState;
    ``wrong_outputs``: committed units whose signature is not the fault-free one (must be 0).
    """

    makespan_s: float
    map_s: float
    reduce_s: float
    aborted: str | None
    decisions: list
    tasks: list
    report: dict
    events: int
    state: object = None
    wrong_outputs: int = 0

    def decisions_by_task(self) -> dict[int, list]:
        """The decisions grouped by map task, in the order they were made."""
        return group_decisions(self.decisions)


def group_decisions(decisions) -> dict[int, list]:
    """Group core decisions (actions with a ``task``) by task, keeping their order."""
    out: dict[int, list] = {}
    for action in decisions:
        out.setdefault(action.task, []).append(action)
    return out


def make_sim_scheme(config: SimConfig, cost: CostModel = CostModel()):
    """The :class:`~dirft.core.scheme.Scheme` ``config`` names (ConfigError if bad); adaptive
    DIRFT's eager switch at ``cost``'s break-even."""
    tolerance = Tolerance.from_paper_keys(config.tolerance, config.nature)
    adaptive = None
    if config.adaptive:
        adaptive = Adaptive(eager_above=cost.break_even(
            config.split_size, tolerance.replicas, tolerance.quorum))
    return make_scheme(config.scheme, tolerance, config.max_attempts, config.extra_max,
                       adaptive=adaptive)


def cluster_nodes(config: SimConfig, scheme) -> int:
    """Nodes of the simulated cluster: ``config.nodes``, else 10 per initial replica."""
    return config.nodes or NODES_PER_REPLICA * scheme.initial_replicas


def plan_sim_job(config: SimConfig, cost: CostModel = CostModel()):
    """Plan the synthetic job: ``splits`` input files (GridMix writes part files) of
    ``split_size`` bytes, one HDFS block and one split each.

    Returns the :class:`~dirft.core.jobplan.JobPlan`. Raises ConfigError when R replicas
    do not fit on distinct nodes.
    """
    scheme = make_sim_scheme(config, cost)
    nodes = node_names(cluster_nodes(config, scheme))
    files = [InputFile(f"/sim/part-{i:05d}", config.split_size) for i in range(config.splits)]
    return build_plan(files, scheme, nodes, config.split_size, 1, MAX_SPLIT_SIZE,
                      config.seed, config.heartbeat_timeout_s, slots=config.slots)


def sim_faults(config: SimConfig, plan):
    """The fault plan of ``config`` (none when ``fault_percent`` is 0 and no extra faults)."""
    if config.fault_percent <= 0 and not config.bad_nodes:
        return NO_FAULTS
    return plan_faults(len(plan.tasks), plan.scheme, config.fault_percent, config.seed,
                       config.crash_mode, config.silent_mode, config.fault_replicas,
                       plan.nodes, bad_nodes=config.bad_nodes, bad_share=config.bad_share)


def simulate(config: SimConfig = SimConfig(), cost: CostModel = CostModel()) -> SimResult:
    """Simulate the job and cluster ``config`` describes under ``cost``; see module doc.

    Raises ConfigError for an impossible configuration and
    :class:`~dirft.sim.engine.SimulationError` for a run that cannot end (a bug).
    """
    plan = plan_sim_job(config, cost)
    return simulate_plan(plan, sim_faults(config, plan), cost, config.slots,
                         straggler_nodes=config.straggler_nodes,
                         node_losses=config.node_losses,
                         heartbeat_interval_s=config.heartbeat_interval_s)


def simulate_plan(plan, faults, cost: CostModel, slots: int, straggler_nodes=None,
                  node_losses=None, heartbeat_interval_s: float = 3.0) -> SimResult:
    """Simulate the map stage of ``plan`` with ``faults`` on ``slots`` slots per node.

    The lower-level entry: any :class:`~dirft.core.jobplan.JobPlan` (e.g. the local
    runner's plan of real files, for conformance tests). ``straggler_nodes`` {node:
    factor} adds to the fault plan's own ``stragglers``.
    """
    slowdown = {**getattr(faults, "stragglers", {}), **(straggler_nodes or {})}
    engine = Engine(plan, faults, cost, slots, slowdown, heartbeat_interval_s, node_losses)
    engine.run()
    return _result(engine, plan, faults, cost, slots)


def _result(engine: Engine, plan, faults, cost: CostModel, slots: int) -> SimResult:
    """Package the engine's outcome: timings, decisions, per-task stats, a report."""
    aborted = engine.abort.message if engine.abort else None
    map_s = engine.now if aborted or engine.finished_at is None else engine.finished_at
    output = sum(t.split.length for t in plan.tasks)
    reduce_s = 0.0 if aborted else cost.reduce_seconds(output)
    timings = {"map": map_s, "reduce": reduce_s, "makespan": map_s + reduce_s}
    conf = {"dirft.nodes": len(plan.nodes), "dirft.slots.per.node": slots}
    shown = _PlanView(faults.tasks_hit, engine.slowdown)
    report = build_report("job_sim_0001", conf, plan, engine.state, engine.fired, shown,
                          timings, _NoCounters(), aborted is None)
    report.update(simulated=True, cost_model=cost.to_dict(), aborted=aborted,
                  decisions=dict(Counter(type(d).__name__ for d in engine.decisions)))
    tasks = [{**task_entry(p, s), "decided_at": engine.commits.get(p.index)}
             for p, s in zip(plan.tasks, engine.state.tasks)]
    report["wrong_outputs"] = engine.wrong
    return SimResult(map_s + reduce_s, map_s, reduce_s, aborted, engine.decisions, tasks,
                     report, engine.events_fed, engine.state, engine.wrong)


@dataclass(frozen=True)
class _PlanView:
    """The fault plan as the report shows it: tasks hit, and every straggler simulated."""

    tasks_hit: tuple
    stragglers: dict


class _NoCounters:
    """Stands in for the job's counters: simulated tasks run no user program."""

    @staticmethod
    def to_dict() -> dict:
        return {}


def paper_config(splits: int, nature: int, scheme: str, percent: float = 0.0,
                 seed: int = 0, adaptive: bool = False) -> SimConfig:
    """The paper's experiment: ``splits`` splits of 128 MiB, f = 1 of ``nature``, 20 slots
    per node on 10 nodes per initial replica, ``percent`` of the tasks hit; scheme dirft is
    the paper's plain DIRFT unless ``adaptive``."""
    return SimConfig(splits=splits, scheme=scheme, nature=nature, tolerance=1,
                     fault_percent=percent, seed=seed, adaptive=adaptive)


def config_dict(config: SimConfig) -> dict:
    """``config`` as a JSON-ready dict."""
    return asdict(config)


# -- the command line: ``dirft simulate`` and ``dirft calibrate`` ---------------------------
def add_commands(sub) -> None:
    """Register ``dirft simulate`` and ``dirft calibrate`` on ``dirft``'s subparsers."""
    _simulate_parser(sub)
    _calibrate_parser(sub)


def _simulate_parser(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a job on a cluster of any size (same core)",
                       description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--splits", type=int, default=100, help="input splits (map tasks)")
    p.add_argument("--split-size", default="128MiB", help="bytes per split, e.g. 128MiB")
    p.add_argument("--nodes", type=int, help="nodes (default: 10 per initial replica)")
    p.add_argument("--slots", type=int, default=20, help="map slots per node (default 20)")
    p.add_argument("--scheme", default="dirft", choices=("dirft", "frft", "bft", "se", "none"))
    p.add_argument("--nature", type=int, default=1, choices=(1, 2, 3),
                   help="1 crash, 2 silent, 3 both (mapred.map.tasks.fault.nature)")
    p.add_argument("--tolerance", type=int, default=1, help="f (default 1)")
    p.add_argument("--fault-percent", type=float, default=0.0,
                   help="percentage of map tasks hit by faults (0-100)")
    p.add_argument("--fault-replicas", type=int, default=-1,
                   help="faulty replicas per hit task (-1: f; more goes beyond tolerance)")
    p.add_argument("--crash-mode", default="exception", choices=("exception", "kill", "hang",
                                                                  "node"))
    p.add_argument("--silent-mode", default="signature", choices=("signature", "data"))
    p.add_argument("--seed", type=int, default=0, help="placement and fault-plan seed")
    p.add_argument("--plain", action="store_true",
                   help="scheme dirft: the paper's plain DIRFT instead of adaptive DIRFT")
    p.add_argument("--bad-nodes", type=int, default=0,
                   help="nodes (seeded) that corrupt a share of their outputs")
    p.add_argument("--bad-node-percent", type=float, default=1.0,
                   help="percentage of its outputs a bad node corrupts (default 1)")
    p.add_argument("--straggler", action="append", default=[], metavar="NODE=FACTOR",
                   help="a node running FACTOR times slower, e.g. node3=4 (repeatable)")
    p.add_argument("--heartbeat-interval", type=float, default=3.0,
                   help="virtual seconds between heartbeats and clock ticks (default 3)")
    p.add_argument("--cost-model", metavar="FILE.yaml",
                   help="cost model (default: the paper cluster's)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(func=_simulate_command)


def _calibrate_parser(sub) -> None:
    p = sub.add_parser("calibrate", help="measure the simulator's cost model on this machine",
                       allow_abbrev=False)
    p.add_argument("--sizes", default="4MiB,16MiB,32MiB",
                   help="input sizes of the scheme-none runs, comma-separated")
    p.add_argument("--out", default="cost-model.yaml", help="YAML file to write")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated input")
    p.add_argument("--repeats", type=int, default=2,
                   help="runs per measurement, the fastest kept (default 2)")
    p.add_argument("--work-dir", help="scratch directory (default: the system's temp)")
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
    from dirft.sim.calibrate import calibrate, notes

    sizes = [parse_bytes(s, "--sizes") for s in args.sizes.split(",") if s.strip()]
    model, runs = calibrate(sizes, args.seed, args.work_dir, args.repeats,
                            progress=lambda line: print(f"  {line}"))
    save_cost_model(model, args.out, notes(runs, model))
    print(f"dirft: wrote the cost model to {args.out}:")
    for key, value in model.to_dict().items():
        print(f"  {key}: {value}")
    return 0
