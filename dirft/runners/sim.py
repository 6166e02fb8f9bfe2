"""The simulator runner: a job's cost on a cluster of any size, from the same core.

``simulate(SimConfig(...), cost)`` plans a synthetic job the way the local runner plans a
real one (HDFS block placement with 3 copies, Hadoop's input splits, DIRFT's sub-splits,
balanced replica nodes: :func:`dirft.core.jobplan.build_plan`), draws its fault plan with
:func:`dirft.runners.job.draw_faults` (the very plans real runs use) and runs the map stage
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

from collections import Counter
from dataclasses import asdict, dataclass, field

from dirft.config.values import default_value, read_value
from dirft.core.adaptive import Adaptive
from dirft.core.jobplan import build_plan, node_names
from dirft.core.planner import MAX_SPLIT_SIZE, InputFile
from dirft.core.scheme import Tolerance, make_scheme
from dirft.options import PAPER_CLUSTER
from dirft.report import RunRecord, build_report, task_entry
from dirft.runners.base import Runner
from dirft.runners.job import FaultSettings, draw_faults
from dirft.sim.costmodel import CostModel
from dirft.sim.engine import Engine

SIM_JOB_ID = "job_sim_0001"
PAPER_HEARTBEAT_S = read_value(PAPER_CLUSTER, "dirft.heartbeat.interval")
NODES_PER_REPLICA = 10  # the paper's cluster: 10 nodes per replica a task starts with

@dataclass(frozen=True)
class SimConfig:
    """A simulated job and cluster. Sizes in bytes, times in seconds.

    ``splits`` input splits of ``split_size`` bytes (one HDFS block each); ``nodes`` (None:
    10 per initial replica) × ``slots`` map slots; ``scheme`` (dirft, frft, bft, se, none)
    with ``tolerance`` f of ``nature`` 1 crash, 2 silent, 3 both; ``fault_percent`` of the
    tasks hit, ``fault_replicas`` faulty replicas per hit task (-1: f, within tolerance),
    ``crash_mode``/``silent_mode`` as in :mod:`fault_injector.plan`; ``seed`` for block
    placement and the fault plan; ``straggler_nodes`` {node: slowdown factor >= 1};
    ``node_losses`` {node: virtual second it is lost}; heartbeat interval and timeout, and
    the stall limit (``dirft.stall.timeout``, 0: off);
    ``max_attempts`` (``mapreduce.map.maxattempts``) and ``extra_max``
    (``dirft.replicas.extra.max``); ``adaptive``: adaptive DIRFT for scheme dirft (False:
    the paper's plain DIRFT); ``bad_nodes`` nodes (seeded) corrupt ``bad_share`` (0..1) of
    their outputs.
    """

    splits: int = 100
    split_size: int = default_value("dfs.blocksize")
    nodes: int | None = None
    slots: int = read_value(PAPER_CLUSTER, "dirft.slots.per.node")
    scheme: str = default_value("dirft.scheme")
    nature: int = int(default_value("mapred.map.tasks.fault.nature"))
    tolerance: int = default_value("mapred.map.tasks.fault.tolerance")
    fault_percent: float = default_value("mapred.map.tasks.fault.percent")
    fault_replicas: int = default_value("dirft.fault.replicas.per.task")
    crash_mode: str = default_value("dirft.fault.crash.mode")
    silent_mode: str = default_value("dirft.fault.silent.mode")
    seed: int = default_value("dirft.placement.seed")
    straggler_nodes: dict = field(default_factory=dict)
    node_losses: dict = field(default_factory=dict)
    heartbeat_interval_s: float = PAPER_HEARTBEAT_S
    heartbeat_timeout_s: float = read_value(PAPER_CLUSTER, "dirft.heartbeat.timeout")
    stall_timeout_s: float = read_value(PAPER_CLUSTER, "dirft.stall.timeout")
    max_attempts: int = default_value("mapreduce.map.maxattempts")
    extra_max: int = default_value("dirft.replicas.extra.max")
    adaptive: bool = default_value("dirft.adaptive")
    bad_nodes: int = default_value("dirft.fault.bad.nodes")
    bad_share: float = default_value("dirft.fault.bad.node.percent") / 100


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
        adaptive = Adaptive(widen_max=read_value(PAPER_CLUSTER, "dirft.adaptive.widen.max"),
                            eager_above=cost.break_even(
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
                      config.seed, config.heartbeat_timeout_s, slots=config.slots,
                      stall_timeout=config.stall_timeout_s)


def fault_settings_of(config: SimConfig) -> FaultSettings:
    """The fault injector's settings ``config`` names (no faults when ``fault_percent`` is 0)."""
    return FaultSettings(config.fault_percent > 0 or config.bad_nodes > 0,
                         config.fault_percent, config.seed, config.crash_mode,
                         config.silent_mode, config.fault_replicas, straggler_nodes=0,
                         straggler_factor=default_value("dirft.fault.straggler.factor"),
                         bad_nodes=config.bad_nodes, bad_share=config.bad_share)


def sim_faults(config: SimConfig, plan):
    """The fault plan of ``config`` for ``plan``, drawn as every runner draws it."""
    return draw_faults(plan, fault_settings_of(config))


class SimRunner(Runner):
    """The simulator as a runner of the pipeline (:class:`dirft.runners.job.Job`).

    Its replicas are simulated events in virtual time (:class:`~dirft.sim.engine.Engine`
    starts, kills and observes them); it plans a synthetic job from ``config``, draws the
    fault plan as every runner does, has no voting service (the engine feeds the core
    directly) and publishes nothing: after :meth:`run`, ``report`` and ``engine`` hold the
    outcome. ``cost``: the :class:`CostModel`.
    """

    def __init__(self, config: SimConfig, cost: CostModel) -> None:
        super().__init__(None, clock=lambda: 0.0)
        self.config, self.cost = config, cost
        self.job_id = SIM_JOB_ID
        self.engine: Engine | None = None
        self.record: RunRecord | None = None
        self.report: dict | None = None

    def plan(self):
        """The synthetic job's plan (:func:`plan_sim_job`)."""
        return plan_sim_job(self.config, self.cost)

    def fault_settings(self) -> FaultSettings:
        """The fault settings of ``config``."""
        return fault_settings_of(self.config)

    def votes(self, plan) -> bool:
        """False: the engine feeds the core itself, in virtual time."""
        return False

    def run_unvoted(self, plan, faults, started: float) -> RunRecord:
        """Run the map stage in virtual time; return what it recorded."""
        config = self.config
        self.engine = run_engine(plan, faults, self.cost, config.slots,
                                 config.straggler_nodes, config.node_losses,
                                 config.heartbeat_interval_s)
        self.record = sim_record(self.engine, plan, self.cost, config.slots)
        return self.record

    def publish(self, report: dict) -> None:
        """Keep the report (a simulation writes no output)."""
        self.report = report


def simulate(config: SimConfig = SimConfig(), cost: CostModel = CostModel()) -> SimResult:
    """Simulate the job and cluster ``config`` describes under ``cost``; see module doc.

    Runs :class:`SimRunner` through the pipeline. Raises ConfigError for an impossible
    configuration and :class:`~dirft.sim.engine.SimulationError` for a run that cannot end
    (a bug).
    """
    runner = SimRunner(config, cost)
    runner.run()
    return _result(runner.engine, runner.record, runner.report)


def simulate_plan(plan, faults, cost: CostModel, slots: int, straggler_nodes=None,
                  node_losses=None,
                  heartbeat_interval_s: float = PAPER_HEARTBEAT_S) -> SimResult:
    """Simulate the map stage of ``plan`` with ``faults`` on ``slots`` slots per node.

    The lower-level entry: any :class:`~dirft.core.jobplan.JobPlan` (e.g. the local
    runner's plan of real files, for conformance tests). ``straggler_nodes`` {node:
    factor} adds to the fault plan's own ``stragglers``.
    """
    engine = run_engine(plan, faults, cost, slots, straggler_nodes, node_losses,
                        heartbeat_interval_s)
    record = sim_record(engine, plan, cost, slots)
    return _result(engine, record, build_report(SIM_JOB_ID, plan, faults, record))


def run_engine(plan, faults, cost: CostModel, slots: int, straggler_nodes=None,
               node_losses=None, heartbeat_interval_s: float = PAPER_HEARTBEAT_S) -> Engine:
    """Run the :class:`Engine` over ``plan`` and ``faults`` to its end; return it."""
    slowdown = {**getattr(faults, "stragglers", {}), **(straggler_nodes or {})}
    engine = Engine(plan, faults, cost, slots, slowdown, heartbeat_interval_s, node_losses)
    engine.run()
    return engine


def sim_record(engine: Engine, plan, cost: CostModel, slots: int) -> RunRecord:
    """What a simulated run recorded: virtual timings, the core's state, the simulation."""
    aborted = engine.abort.message if engine.abort else None
    map_s = engine.now if aborted or engine.finished_at is None else engine.finished_at
    output = sum(t.split.length for t in plan.tasks)
    reduce_s = 0.0 if aborted else cost.reduce_seconds(output)
    extra = {"simulated": True, "cost_model": cost.to_dict(), "aborted": aborted,
             "decisions": dict(Counter(type(d).__name__ for d in engine.decisions)),
             "wrong_outputs": engine.wrong}
    return RunRecord({"map": map_s, "reduce": reduce_s, "makespan": map_s + reduce_s}, {},
                     engine.fired, engine.state,
                     {"nodes": len(plan.nodes), "slots_per_node": slots},
                     stragglers=engine.slowdown, succeeded=aborted is None, extra=extra)


def _result(engine: Engine, record: RunRecord, report: dict) -> SimResult:
    """Package the engine's outcome, its record and the report: timings in virtual seconds
    (not rounded, unlike the report's), decisions, per-task stats."""
    tasks = [{**task_entry(p, s), "decided_at": engine.commits.get(p.index)}
             for p, s in zip(engine.plan.tasks, engine.state.tasks)]
    map_s, reduce_s = record.timings["map"], record.timings["reduce"]
    return SimResult(map_s + reduce_s, map_s, reduce_s, report["aborted"], engine.decisions,
                     tasks, report, engine.events_fed, engine.state, engine.wrong)


def paper_config(splits: int, nature: int, scheme: str, percent: float = 0.0,
                 seed: int = 0) -> SimConfig:
    """The paper's experiment: ``splits`` splits of 128 MiB, f = 1 of ``nature``, 20 slots
    per node on 10 nodes per initial replica, ``percent`` of the tasks hit."""
    return SimConfig(splits=splits, scheme=scheme, nature=nature, tolerance=1,
                     fault_percent=percent, seed=seed)


def config_dict(config: SimConfig) -> dict:
    """``config`` as a JSON-ready dict."""
    return asdict(config)
