"""Grid cells on the simulator (``runner: sim``): the paper's cluster sizes in seconds.

Used only when :func:`dirft.runners.sim.simulate` exists (the simulator's Python API); a
spec asking for ``runner: sim`` without it is refused at its ``runner`` line. The simulator
models streamSort (its cost model's reduce rate is for map output the size of the input), so
``jobs`` must be ``[streamsort]``; jobconf may hold only the keys of :data:`SIM_KEYS`. A
simulated run has no output to compare: its ``verified`` column says ``n/a``.
"""

import importlib

from dirft.config.values import read_value
from dirft.errors import ConfigError
from dirft.gridmix.cell import PLAIN, Cell
from dirft.options import PAPER_CLUSTER

#: jobconf keys the simulator understands, and its SimConfig field for each.
SIM_KEYS = {"dirft.fault.crash.mode": "crash_mode", "dirft.fault.silent.mode": "silent_mode",
            "dirft.fault.replicas.per.task": "fault_replicas",
            "mapreduce.map.maxattempts": "max_attempts",
            "dirft.replicas.extra.max": "extra_max"}
_INT_FIELDS = ("fault_replicas", "max_attempts", "extra_max")


def simulator():
    """The module ``dirft.runners.sim`` if it offers ``simulate`` and ``SimConfig``, else None."""
    try:
        module = importlib.import_module("dirft.runners.sim")
    except ImportError:
        return None
    ok = callable(getattr(module, "simulate", None)) and hasattr(module, "SimConfig")
    return module if ok else None


def check(spec, fields: dict, schemes: dict) -> None:
    """Refuse what the simulator cannot run in ``spec`` (a :class:`~dirft.gridmix.spec.Spec`),
    naming the spec line; ``fields`` maps spec keys to (key node, value node), ``schemes``
    scheme names to their item nodes."""
    sim = simulator()
    if sim is None:
        raise fields["runner"][1].error("runner sim needs dirft.runners.sim.simulate, which "
                                        "this dirft does not have; use runner: local")
    for job, item in zip(spec.jobs, fields["jobs"][1].items()):
        if job != "streamsort":
            raise item.error(f"runner sim models streamsort only (its cost model is "
                             f"streamSort's), not {job}")
    if "jobconf" in fields:
        for key, (key_node, _) in fields["jobconf"][1].mapping("jobconf").items():
            if key not in SIM_KEYS:
                raise key_node.error(f"runner sim does not use jobconf {key}; it takes "
                                     f"{', '.join(SIM_KEYS)}")
    _check_cost_model(spec, fields)
    for scheme, item in schemes.items():
        for nature in spec.natures:
            try:
                sim.plan_sim_job(config(spec, Cell("streamsort", 1, 1, nature, scheme, 0.0)))
            except ConfigError as err:
                raise item.error(f"scheme {scheme} with nature {nature}: {err}") from None


def _check_cost_model(spec, fields: dict) -> None:
    if spec.cost_model:
        try:
            cost_model(spec)
        except ConfigError as err:
            raise fields["cost_model"][1].error(str(err)) from None


def cost_model(spec):
    """The cost model of ``spec`` (a :class:`~dirft.gridmix.spec.Spec`): the file it names,
    else the simulator's default."""
    from dirft.sim.costmodel import CostModel, load_cost_model

    return load_cost_model(spec.cost_model) if spec.cost_model else CostModel()


def config(spec, cell: Cell):
    """The simulator's ``SimConfig`` for one ``cell`` of ``spec`` (slots default to the paper
    cluster's, :data:`dirft.options.PAPER_CLUSTER`)."""
    extra = {SIM_KEYS[k]: (int(v) if SIM_KEYS[k] in _INT_FIELDS else v)
             for k, v in spec.jobconf.items()}
    return simulator().SimConfig(
        splits=cell.splits, split_size=spec.split_size, nodes=spec.nodes,
        slots=spec.slots or read_value(PAPER_CLUSTER, "dirft.slots.per.node"),
        scheme="dirft" if cell.scheme == PLAIN else cell.scheme,
        nature=cell.nature, tolerance=spec.f, fault_percent=cell.fault_percent,
        seed=spec.seed + cell.repetition, adaptive=cell.scheme != PLAIN, **extra)


def run(spec, cell: Cell, model) -> tuple[dict, str | None]:
    """Simulate one ``cell`` of ``spec`` under ``model``; return (the run's report dict,
    abort message)."""
    result = simulator().simulate(config(spec, cell), model)
    return result.report, result.aborted
