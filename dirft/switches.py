"""Every command-line switch of ``dirft``, in one table, and the parsers made from it.

The second half of the option table (:mod:`dirft.options` holds the keys). As in mrjob's
``options.py``, a row carries its switch(es) and argparse keywords, and each command's
parser is generated from the table (:func:`add_switches`) instead of mapping flags to keys by
hand. A switch that gives a value for a key names it (``key``): its default and choices are
the key's, from :data:`dirft.options.OPTIONS`, unless the row says otherwise (``dirft
simulate``'s paper cluster has 20 slots a node, not the local runner's 2); with
``define=True`` a given value becomes the ``-D key=value`` define of :func:`switch_defines`
(``-numReduceTasks 2`` is ``-D mapreduce.job.reduces=2``, as in Hadoop's ``StreamJob``) and an
absent one leaves the key to the configuration. Switches that set no key (``-input``,
``--json``) carry their own default here; no parser writes one.

To add a switch: one row under its command in :data:`SWITCHES`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping

from dirft.options import OPTIONS, PAPER_CLUSTER, define
from dirft.runners import RUNNER_NAMES


@dataclass(frozen=True)
class Switch:
    """One switch (or positional argument) of one command.

    ``flags``: ``("-r", "--runner")`` or ``("spec",)``; ``help``: one line; ``key``: the
    :data:`~dirft.options.OPTIONS` key it gives a value for (None: none); ``define``: a given
    value becomes ``-D key=value`` (:func:`switch_defines`) and the default is None;
    ``kwargs``: further argparse keywords (``type``, ``action``, ``metavar``, ``dest``,
    ``default``; ``choices`` may be a function called when the parser is built).
    """

    flags: tuple
    help: str | None = None
    key: str | None = None
    define: bool = False
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def arguments(self) -> Dict[str, Any]:
        """The keyword arguments of ``add_argument`` for this switch (default and choices
        from the option ``key`` names, unless ``kwargs`` gives them)."""
        out: Dict[str, Any] = {"help": self.help} if self.help is not None else {}
        if self.key is not None and not self.define:
            option = OPTIONS[self.key]
            out["default"] = option.default  # a string: argparse types it as a given value
            if option.choices:
                out["choices"] = option.choices
        out.update(self.kwargs)
        if callable(out.get("choices")):
            out["choices"] = out["choices"]()
        return out


def S(*flags: str, help: str | None = None, key: str | None = None, define: bool = False,
      **kwargs) -> Switch:
    """A :class:`Switch` row, written as ``add_argument`` is called."""
    return Switch(tuple(flags), help, key, define, kwargs)


def at_least_one(flag: str) -> Callable[[str], int]:
    """An argparse type for ``flag``: an integer >= 1 (ArgumentTypeError otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"want an integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be at least 1, got {value}")
        return value
    return parse


def _datasets() -> list:
    from dirft.gridmix.generate import DATASETS  # its word table: built only when asked

    return sorted(DATASETS)


_RESULTS = "results directory (default: results/<spec name>/ beside the spec)"

#: {command: its switches, in the order ``--help`` lists them}.
SWITCHES: Dict[str, tuple] = {
    "streaming": (
        S("-input", action="append", required=True, metavar="PATH",
          help="input file, directory or glob (repeatable)"),
        S("-output", required=True, metavar="DIR", help="output directory (must not exist)"),
        S("-mapper", required=True, metavar="CMD", help="map command, e.g. cat"),
        S("-combiner", metavar="CMD", help="combiner command"),
        S("-reducer", metavar="CMD",
          help="reduce command; NONE for a map-only job (default: identity)"),
        S("-numReduceTasks", type=int, metavar="N", help="number of reduces",
          key="mapreduce.job.reduces", define=True),
        S("-D", action="append", default=[], metavar="KEY=VALUE", dest="defines",
          help="jobconf key (wins over -conf files)"),
        S("-conf", action="append", default=[], metavar="FILE",
          help="Hadoop configuration XML such as mapred-site.xml (repeatable)"),
        S("-files", action="append", default=[], metavar="F1,F2",
          help="files linked into each task's working directory"),
        S("-file", action="append", default=[], metavar="FILE", dest="file",
          help="deprecated single-file form of -files, as in Hadoop"),
        S("-archives", action="append", default=[], metavar="A1,A2",
          help="archives (.zip .jar .tar .tgz .tar.gz) unpacked into each task's working "
               "directory under their name, or NAME for archive#NAME"),
        S("-cmdenv", action="append", default=[], metavar="NAME=VALUE",
          help="environment variable for the tasks"),
        S("-partitioner", metavar="CLASS", key="mapreduce.job.partitioner.class", define=True,
          help="Java partitioner class; the local runner follows "
               "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner and HashPartitioner"),
        S("-inputformat", metavar="CLASS",
          help="only TextInputFormat (the default): dirft reads text lines itself"),
        S("-outputformat", metavar="CLASS", help="only TextOutputFormat (the default)"),
        S("-lazyOutput", action="store_true",
          help="create no empty part file (Hadoop's LazyOutputFormat)"),
        S("-verbose", action="store_true",
          help="log what dirft does (plan, service, Hadoop commands) on stderr"),
        S("--runner", choices=RUNNER_NAMES, default="local",
          help="where to run (default: local, an emulated cluster here; hadoop: a Hadoop "
               "cluster, paths on HDFS, see dirft.hadoop.* and dirft.webhdfs.*)"),
        S("--json", action="store_true", help="print the whole report as JSON"),
    ),
    "chaos": (
        S("--runs", type=at_least_one("--runs"), default=200,
          help="schedules to run (default 200)"),
        S("--seed", type=int, default=1, help="seed of the schedules"),
        S("--work-dir", dest="workdir", help="scratch directory (default: a new one in $TMPDIR)"),
    ),
    "run": (
        S("script", help="the MRJob script, e.g. jobs/combiner.py"),
        S("job_args", nargs=argparse.REMAINDER, metavar="ARGS",
          help="options and inputs, as for python JOB.py"),
    ),
    # dirft run's own options, picked out of the job's arguments (listed in its epilog)
    "run own": (
        S("-r", "--runner", default="local"),
        S("-o", "--output-dir", "--output", dest="output"),
        S("-D", "--jobconf", action="append", default=[], dest="defines"),
        S("-conf", action="append", default=[], dest="conf"),
        S("--json", action="store_true"),
    ),
    # mrjob's own switches for its mrjob.conf, read from the job's arguments too
    "run mrjob.conf": (
        S("-c", "--conf-path", action="append", dest="paths"),
        S("--no-conf", action="store_true"),
    ),
    "simulate": (
        S("--splits", type=int, default=100, help="input splits (map tasks)"),
        S("--split-size", key="dfs.blocksize", help="bytes per split, e.g. 128MiB"),
        S("--nodes", type=int, help="nodes (default: 10 per initial replica)"),
        S("--slots", type=int, default=PAPER_CLUSTER["dirft.slots.per.node"],
          help="map slots per node (default 20)"),
        S("--scheme", key="dirft.scheme"),
        S("--nature", type=int, choices=(1, 2, 3), key="mapred.map.tasks.fault.nature",
          help="1 crash, 2 silent, 3 both (mapred.map.tasks.fault.nature)"),
        S("--tolerance", type=int, key="mapred.map.tasks.fault.tolerance", help="f (default 1)"),
        S("--fault-percent", type=float, key="mapred.map.tasks.fault.percent",
          help="percentage of map tasks hit by faults (0-100)"),
        S("--fault-replicas", type=int, key="dirft.fault.replicas.per.task",
          help="faulty replicas per hit task (-1: f; more goes beyond tolerance)"),
        S("--crash-mode", key="dirft.fault.crash.mode"),
        S("--silent-mode", key="dirft.fault.silent.mode"),
        S("--plain", action="store_true",
          help="scheme dirft: the paper's plain DIRFT instead of adaptive DIRFT"),
        S("--bad-nodes", type=int, key="dirft.fault.bad.nodes",
          help="nodes (seeded) that corrupt a share of their outputs"),
        S("--bad-node-percent", type=float, key="dirft.fault.bad.node.percent",
          help="percentage of its outputs a bad node corrupts (default 1)"),
        S("--seed", type=int, key="dirft.placement.seed", help="placement and fault-plan seed"),
        S("--straggler", action="append", default=[], metavar="NODE=FACTOR",
          help="a node running FACTOR times slower, e.g. node3=4 (repeatable)"),
        S("--heartbeat-interval", type=float, default=PAPER_CLUSTER["dirft.heartbeat.interval"],
          help="virtual seconds between heartbeats and clock ticks (default 3)"),
        S("--cost-model", metavar="FILE.yaml", help="cost model (default: the paper cluster's)"),
        S("--json", action="store_true", help="print the whole report as JSON"),
    ),
    "calibrate": (
        S("--sizes", default="4MiB,16MiB,32MiB",
          help="input sizes of the scheme-none runs, comma-separated"),
        S("--out", default="cost-model.yaml", help="YAML file to write"),
        S("--seed", type=int, default=1, help="seed of the generated input"),
        S("--repeats", type=int, default=2,
          help="runs per measurement, the fastest kept (default 2)"),
        S("--work-dir", help="scratch directory (default: the system's temp)"),
    ),
    "gridmix generate": (
        S("--dataset", choices=_datasets, default="text",
          help="text: VARINFLTEXT (keys 1-10 words, values 0-200); kv: VARCOMPSEQ "
               "(5-10, 100-10000); fixkv: FIXCOMPSEQ (5, 100)"),
        S("--size", help="bytes to write into one file, e.g. 64MiB"),
        S("--splits", type=int, help="write a directory of this many part files"),
        S("--split-size", help="bytes per part file with --splits, e.g. 8MiB"),
        S("--seed", type=int, default=1, help="RNG seed (same seed, same bytes)"),
        S("out", help="file (--size) or new directory (--splits) to write"),
    ),
    "gridmix run": (
        S("spec", help="the spec, e.g. gridmix_runs/faults-crash.yaml"),
        S("--out", help=_RESULTS),
        S("--work-dir", dest="work",
          help="scratch directory for data and outputs (default: the system's temp)"),
        S("--no-progress", action="store_true", help="no progress bar"),
    ),
    "gridmix plot": (
        S("spec", help="the spec the results came from"),
        S("--out", help=_RESULTS),
    ),
}


#: The tables of switches ``dirft run`` also takes before JOB.py (mrjob users put ``-r``
#: anywhere): its own and mrjob.conf's, read after JOB.py from the job's arguments.
BEFORE_SCRIPT = ("run own", "run mrjob.conf")


def _before_script(switch: Switch) -> Switch:
    """``switch`` as the ``run`` parser takes it before JOB.py: no default and no help of
    its own (the epilog lists it), so only what was given shows."""
    return Switch(switch.flags, argparse.SUPPRESS, switch.key, switch.define,
                  {**switch.kwargs, "default": argparse.SUPPRESS})


SWITCHES["run"] = (*[_before_script(s) for table in BEFORE_SCRIPT for s in SWITCHES[table]],
                   *SWITCHES["run"])


def given_before_script(args: argparse.Namespace) -> list[str]:
    """The switches of :data:`BEFORE_SCRIPT` that ``args`` (parsed by the ``run`` parser)
    got before JOB.py, written out again (``["-r", "hadoop", "--json"]``) to go in front
    of the job's arguments, where dirft run reads its options."""
    tokens: list[str] = []
    for switch in (s for table in BEFORE_SCRIPT for s in SWITCHES[table]):
        if not hasattr(args, _dest(switch)):
            continue
        value, action = getattr(args, _dest(switch)), switch.kwargs.get("action")
        if action == "store_true":
            tokens += [switch.flags[0]] if value else []
        elif action == "append":
            tokens += [part for item in value for part in (switch.flags[0], item)]
        else:
            tokens += [switch.flags[0], value]
    return tokens


def add_switches(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """Add every switch of ``command`` (a key of :data:`SWITCHES`) to ``parser``; return it.
    Raises KeyError for a command without switches."""
    for switch in SWITCHES[command]:
        parser.add_argument(*switch.flags, **switch.arguments())
    return parser


def switch_defines(command: str, args: argparse.Namespace) -> list[str]:
    """The ``-D key=value`` defines of ``command``'s ``define`` switches given in ``args``
    (parsed by a parser :func:`add_switches` made), in table order."""
    found = []
    for switch in SWITCHES[command]:
        if switch.define:
            value = getattr(args, _dest(switch))
            if value is not None:
                found.append(define(switch.key, value))
    return found


def _dest(switch: Switch) -> str:
    """The attribute argparse stores ``switch`` under (its ``dest``, else its first long flag
    without dashes, ``-`` read as ``_``)."""
    if "dest" in switch.kwargs:
        return switch.kwargs["dest"]
    longest = max(switch.flags, key=lambda f: f.startswith("--"))
    return longest.lstrip("-").replace("-", "_")

