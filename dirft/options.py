"""The table of every configuration key dirft reads: kind, default, bounds, doc.

mrjob's lesson (``mrjob/options.py``): one table, nothing else in dirft invents a default.
:mod:`dirft.config` merges and types values against it (:func:`dirft.config.values.default_value`
and :func:`~dirft.config.values.read_value` give the typed value to code that holds no
:class:`~dirft.config.JobConf`); ``mapred-site.example.xml`` documents every key in it (a test
keeps the two in step). Defaults are strings as Hadoop writes them. The command-line switches
are the second half of the table, :mod:`dirft.switches`: a switch that sets a key names it
here and takes its default from here.

To add a key: one :class:`Option` row in :data:`OPTIONS` (and its ``<property>`` in
``mapred-site.example.xml``); to give it a switch, one row in :data:`dirft.switches.SWITCHES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

from dirft.core.scheme import SCHEMES
from fault_injector.plan import CRASH_MODES, SILENT_MODES

KINDS = ("int", "float", "bool", "bytes", "str", "choice")
LONG_MAX = 9223372036854775807  # Java's Long.MAX_VALUE, Hadoop's default split.maxsize
OWNED_PREFIXES = ("dirft.", "mapred.map.tasks.fault.")

@dataclass(frozen=True)
class Option:
    """One configuration key: its ``kind``, ``default`` (a string as Hadoop writes it, or
    None for "unset"), one-line ``doc`` with units, and its allowed values.

    ``kind`` is one of :data:`KINDS`. ``choices`` lists the values of a ``choice`` key.
    ``minimum``/``maximum`` bound numbers (int, float, bytes), inclusive unless
    ``exclusive_minimum`` (for "> 0" seconds). Raises ValueError on a malformed entry.
    """

    key: str
    kind: str
    default: Optional[str]
    doc: str
    choices: tuple = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    exclusive_minimum: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS or (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"option {self.key}: bad kind {self.kind!r} or choices")


#: The one table, {key: Option}: the paper's keys, the Hadoop keys dirft honours, dirft's own.
OPTIONS: Dict[str, Option] = {option.key: option for option in (
    Option("mapred.map.tasks.fault.tolerance", "int", "1",
           "f: faults tolerated per map task without aborting the job (DIRFT paper)",
           minimum=0),
    Option("mapred.map.tasks.fault.nature", "choice", "1",
           "what f counts: 1 crash (f_c = f), 2 silent (f_s = f), 3 both (DIRFT paper)",
           choices=("1", "2", "3")),
    Option("mapred.map.tasks.fault.inject", "bool", "false",
           "emulate faults with the fault injector (DIRFT paper)"),
    Option("mapred.map.tasks.fault.percent", "float", "0",
           "percentage of map tasks hit by emulated faults, 0 to 100 (DIRFT paper)",
           minimum=0, maximum=100),
    Option("mapreduce.job.reduces", "int", "1",
           "number of reduce tasks (partitions); 0 makes a map-only job (Hadoop)",
           minimum=0),
    Option("mapreduce.input.fileinputformat.split.minsize", "int", "1",
           "smallest input split in bytes (Hadoop FileInputFormat); a whole number with no "
           "size suffix, as Hadoop reads it (Configuration.getLong: 3m fails the job)",
           minimum=0),
    Option("mapreduce.input.fileinputformat.split.maxsize", "bytes", str(LONG_MAX),
           "largest input split in bytes of the new mapreduce API's FileInputFormat; Hadoop "
           "Streaming's old mapred API ignores it, and so does dirft (dirft.split.maxsize "
           "makes smaller map tasks)", minimum=1, maximum=LONG_MAX),
    Option("dirft.split.maxsize", "bytes", "0",
           "dirft's own knob for more, smaller map tasks: when > 0, splits of max(split."
           "minsize, min(this, block size)) bytes in input order (the new mapreduce API's "
           "rule) instead of Hadoop Streaming's goal size; 0 plans as Hadoop Streaming",
           minimum=0, maximum=LONG_MAX),
    Option("dfs.blocksize", "bytes", "134217728",
           "HDFS block size in bytes; accepts 128m (Hadoop getLongBytes)", minimum=1),
    Option("mapreduce.job.maps", "int", "2",
           "the old mapred API's goal number of map tasks (Hadoop Streaming's "
           "FileInputFormat: goal split size = total input / this), as dirft plans its "
           "splits unless dirft.split.maxsize is set", minimum=1),
    Option("mapreduce.output.fileoutputformat.compress", "bool", "false",
           "compress the job's part files with ...compress.codec (Hadoop "
           "FileOutputFormat): part-00000.gz, .bz2 or .deflate"),
    Option("mapreduce.output.fileoutputformat.compress.codec", "str",
           "org.apache.hadoop.io.compress.DefaultCodec",
           "the output codec class: org.apache.hadoop.io.compress.GzipCodec, BZip2Codec or "
           "DefaultCodec (others are refused)"),
    Option("mapreduce.output.fileoutputformat.compress.type", "choice", "RECORD",
           "NONE, RECORD or BLOCK: matters only for SequenceFile output; text output "
           "ignores it, as Hadoop's TextOutputFormat does",
           choices=("NONE", "RECORD", "BLOCK")),
    Option("mapreduce.map.maxattempts", "int", "4",
           "attempts per map task before the job fails, scheme none (Hadoop)", minimum=1),
    Option("mapreduce.job.speculative.slowtaskthreshold", "float", "1.0",
           "scheme se: an attempt is a straggler when its progress rate is this many standard "
           "deviations below the mean of running attempts (Hadoop DefaultSpeculator)",
           minimum=0),
    Option("mapreduce.job.speculative.speculative-cap-running-tasks", "float", "0.1",
           "scheme se: backups at once, as a fraction of running tasks (Hadoop)",
           minimum=0, maximum=1),
    Option("mapreduce.job.speculative.speculative-cap-total-tasks", "float", "0.01",
           "scheme se: backups at once, as a fraction of all tasks (Hadoop)",
           minimum=0, maximum=1),
    Option("mapreduce.job.speculative.minimum-allowed-tasks", "int", "10",
           "scheme se: backups allowed at once whatever the caps say (Hadoop)", minimum=0),
    Option("mapreduce.job.speculative.retry-after-no-speculate", "int", "1000",
           "scheme se: milliseconds to the next straggler check after one that launched "
           "nothing (Hadoop)", minimum=0),
    Option("mapreduce.job.speculative.retry-after-speculate", "int", "15000",
           "scheme se: milliseconds to the next straggler check after one that launched a "
           "backup (Hadoop)", minimum=0),
    Option("mapreduce.job.name", "str", "dirft streaming job",
           "job name shown in logs and in Hadoop's job list"),
    Option("stream.map.output.field.separator", "str", "\t",
           "separator of a map output line's fields (Hadoop Streaming): the key ends at "
           "the stream.num.map.output.key.fields-th one; a line with fewer is all key"),
    Option("stream.map.input.field.separator", "str", "\t",
           "between key and value of a record written to the mapper (Hadoop Streaming); "
           "with TextInputFormat the mapper gets the line alone, so it changes nothing"),
    Option("stream.reduce.input.field.separator", "str", "\t",
           "between key and value of each line written to the reducer (Hadoop Streaming)"),
    Option("stream.reduce.output.field.separator", "str", "\t",
           "separator of a reducer output line's fields; the output file gets key, tab, "
           "value (Hadoop Streaming, TextOutputFormat)"),
    Option("stream.num.reduce.output.key.fields", "int", "1",
           "leading fields of a reducer output line that form its key (Hadoop Streaming)",
           minimum=1),
    Option("stream.num.map.output.key.fields", "int", "1",
           "leading fields of a map output line (split at stream.map.output.field.separator) "
           "that form the key (Hadoop Streaming); the partitioner and the sort see that key",
           minimum=1),
    Option("stream.non.zero.exit.is.failure", "bool", "true",
           "false: a mapper, combiner or reducer that exits with a non-zero status has "
           "succeeded with its output (Hadoop Streaming PipeMapRed); death by a signal "
           "still fails it"),
    Option("aggregate.max.num.unique.values", "int", str(LONG_MAX),
           "-reducer aggregate: a UniqValueCount stops adding values once it holds more "
           "than this many (<= 0: no limit); read by the reducer only (Hadoop "
           "ValueAggregatorBaseDescriptor)"),
    Option("mapreduce.map.output.key.field.separator", "str", "\t",
           "separator of key fields for KeyFieldBasedComparator and KeyFieldBasedPartitioner "
           "(Hadoop)"),
    Option("mapreduce.job.output.key.comparator.class", "str", "",
           "sort comparator: empty for raw key bytes; org.apache.hadoop.mapred.lib."
           "KeyFieldBasedComparator to sort by mapreduce.partition.keycomparator.options "
           "(Hadoop); other classes only with --runner hadoop"),
    Option("mapreduce.partition.keycomparator.options", "str", "",
           "KeyFieldBasedComparator options, as sort(1): -k1,1nr, -k2,2 -k1,1r, -n, -r "
           "(Hadoop)"),
    Option("mapreduce.job.partitioner.class", "str", "",
           "partitioner: empty for HashPartitioner; org.apache.hadoop.mapred.lib."
           "KeyFieldBasedPartitioner to hash the fields of "
           "mapreduce.partition.keypartitioner.options (Hadoop, -partitioner)"),
    Option("mapreduce.partition.keypartitioner.options", "str", "",
           "KeyFieldBasedPartitioner options: -k1,1 hashes the first key field (Hadoop)"),
    Option("dirft.scheme", "choice", "dirft",
           "fault-tolerance scheme: dirft, frft (full replication), bft, se (speculative "
           "execution), none (Hadoop re-execution)",
           choices=SCHEMES),
    Option("dirft.nodes", "int", "4", "emulated cluster nodes (local runner)", minimum=1),
    Option("dirft.slots.per.node", "int", "2", "map slots per node", minimum=1),
    Option("dirft.heartbeat.interval", "float", "1.0",
           "seconds between two heartbeats of a replica", minimum=0, exclusive_minimum=True),
    Option("dirft.heartbeat.timeout", "float", "10.0",
           "seconds without a heartbeat after which a replica is dead (counted while "
           "the voting service could read messages)",
           minimum=0, exclusive_minimum=True),
    Option("dirft.startup.timeout", "float", "60.0",
           "seconds a started replica may take to register before it is declared dead "
           "(its heartbeats start only then)", minimum=0, exclusive_minimum=True),
    Option("dirft.stall.timeout", "float", "3.0",
           "seconds a working replica may be silent (no heartbeat) before a sibling of its "
           "task that waits for work takes its sub-split too, as Hadoop's speculative "
           "attempt (the first quorum of votes decides; the silent one is killed once the "
           "task is decided, or by the heartbeat timeout); 0 = off", minimum=0),
    Option("dirft.poll.interval", "float", "0.05",
           "seconds between two requests of a replica waiting for work",
           minimum=0, exclusive_minimum=True),
    Option("dirft.fault.seed", "int", "0", "seed of the fault injector's choices"),
    Option("dirft.fault.replicas.per.task", "int", "-1",
           "replicas of each hit task that get a fault; -1 = f (the most within tolerance), "
           "more to go beyond tolerance", minimum=-1),
    Option("dirft.fault.crash.mode", "choice", "exception",
           "how a crash is injected: exception at the end of a phase (DIRFT paper), kill "
           "(SIGKILL inside a phase), node (a whole node is lost), hang (SIGSTOP: found only "
           "by the heartbeat timeout)",
           choices=CRASH_MODES),
    Option("dirft.fault.silent.mode", "choice", "signature",
           "how a silent error is injected: signature (tampered, DIRFT paper) or data (bits "
           "flipped in the real output bytes before they are signed)",
           choices=SILENT_MODES),
    Option("dirft.fault.reduce.mode", "choice", "none",
           "reduce-side fault: none, shuffle (one bit of a reduce replica's input stream "
           "inverted) or output (one bit of its reducer's output inverted before signing)",
           choices=("none", "shuffle", "output")),
    Option("dirft.fault.reduce.percent", "float", "100",
           "percentage of reduce partitions hit when dirft.fault.reduce.mode is set, 0 to 100",
           minimum=0, maximum=100),
    Option("dirft.reduce.integrity", "choice", "auto",
           "auto: under silent tolerance (f_s >= 1) each reduce partition is reduced by f_s + 1 "
           "replicas whose output SHA-256s are voted (up to 2 f_s + 1 runs) and whose input "
           "streams are checked against the partition's digest; off: one unchecked reducer "
           "run per partition, as Hadoop and the DIRFT paper", choices=("auto", "off")),
    Option("dirft.fault.straggler.nodes", "int", "0",
           "nodes that run slower than the rest (stragglers), chosen by dirft.fault.seed",
           minimum=0),
    Option("dirft.fault.straggler.factor", "float", "4.0",
           "how many times slower a straggler node runs", minimum=1),
    Option("dirft.fault.bad.nodes", "int", "0",
           "bad nodes that corrupt a share of their map outputs (silent data faults), "
           "chosen by dirft.fault.seed, with or without fault injection", minimum=0),
    Option("dirft.fault.bad.node.percent", "float", "1.0",
           "percentage of its outputs a bad node corrupts (each drawn with dirft.fault.seed)",
           minimum=0, maximum=100),
    Option("dirft.adaptive", "bool", "true",
           "scheme dirft: adaptive DIRFT (gang start, wide tail, recovery pieces, eager "
           "switch); false = the paper's plain DIRFT"),
    Option("dirft.adaptive.widen.max", "int", "1",
           "adaptive DIRFT: a tail task gets at most R x this replicas over as many pieces "
           "of its split (1: no wide tail; it pays when a replica starts in a small "
           "fraction of a phase, as on the simulated paper cluster, where it is 4)",
           minimum=1, maximum=16),
    Option("dirft.adaptive.eager.percent", "float", "100",
           "adaptive DIRFT: percentage of decided tasks hit by a fault above which new "
           "tasks start in full-replication shape (the cost model's break-even; 100 = never)",
           minimum=0, maximum=100),
    Option("dirft.quarantine.lost.votes", "int", "1",
           "a node on which this many replicas lost a vote gets no new replicas (0 = never)",
           minimum=0),
    Option("dirft.quarantine.crashes", "int", "3",
           "a node on which this many replicas crashed gets no new replicas (0 = never; "
           "Hadoop blacklists a node for a job after 3 task failures)", minimum=0),
    Option("dirft.quarantine.max.nodes.percent", "float", "10",
           "most nodes quarantined at once, as a percentage of the cluster", minimum=0,
           maximum=100),
    Option("dirft.se.min.runtime", "float", "1.0",
           "scheme se: seconds an attempt runs before it may be judged a straggler "
           "(Hadoop 1 waited 60 s)", minimum=0),
    Option("dirft.placement.seed", "int", "0", "seed of block and replica placement"),
    Option("dirft.replicas.extra.max", "int", "0",
           "extra replicas a task may launch beyond those its scheme needs", minimum=0),
    Option("dirft.service.bind.host", "str", "127.0.0.1",
           "address the voting service listens on"),
    Option("dirft.service.bind.port", "int", "0",
           "TCP port of the voting service; 0 picks any free port", minimum=0, maximum=65535),
    Option("dirft.service.advertise.host", "str", "",
           "address the tasks use to reach the voting service (Hadoop runner); empty: the "
           "bind address, or this machine's fully qualified name if that is 0.0.0.0 or ::"),
    Option("dirft.service.advertise.port", "int", "0",
           "port the tasks use to reach the voting service (e.g. behind a port forward); "
           "0: the port it listens on", minimum=0, maximum=65535),
    Option("dirft.service.max.body.bytes", "bytes", "65536",
           "largest request body in bytes the voting service accepts", minimum=1),
    Option("dirft.sort.memory", "bytes", "256m",
           "buffer in bytes for the external sort of the reduce stage", minimum=1),
    Option("dirft.local.dir", "str", "",
           "scratch directory; empty means beside the output directory"),
    Option("dirft.keep.temp", "bool", "false", "keep scratch files after the job"),
    Option("dirft.hadoop.home", "str", "",
           "Hadoop installation directory (Hadoop runner); empty: $HADOOP_HOME and the "
           "places mrjob searches"),
    Option("dirft.hadoop.bin", "str", "",
           "the hadoop executable; empty: dirft.hadoop.home/bin/hadoop, else mrjob's search "
           "($HADOOP_PREFIX, $HADOOP_HOME, $HADOOP_INSTALL, $PATH)"),
    Option("dirft.hadoop.streaming.jar", "str", "",
           "path of hadoop-streaming-*.jar; empty: searched under the Hadoop home as mrjob "
           "does"),
    Option("dirft.hadoop.python", "str", "python3",
           "Python 3.10+ interpreter on the cluster's nodes that runs the replica tasks"),
    Option("dirft.hadoop.tmp.dir", "str", "/tmp/dirft",
           "HDFS directory for manifests and partial map outputs; each job uses and then "
           "removes a subdirectory named after its id"),
    Option("dirft.hadoop.wave.delay", "float", "1.0",
           "seconds the Hadoop runner gathers extra replicas before submitting them as one "
           "follow-up streaming job", minimum=0),
    Option("dirft.hadoop.host.retries", "int", "2",
           "times a task replaces a replica that YARN started on a host already running a "
           "live replica of the task, or on a lost host, before it keeps one on a shared "
           "host (Hadoop runner; 0 when the ResourceManager lists fewer usable hosts than "
           "replicas per task)", minimum=0),
    Option("dirft.hadoop.replicas.per.map", "choice", "auto",
           "replicas one map task (one YARN container) of a replica job runs, each its own "
           "OS process, all planned on one host, never two of one task (1 to 8; 1: a "
           "container per replica); auto: per wave, each host's replicas in as many map "
           "tasks as it has map containers free (ResourceManager node list, one "
           "ApplicationMaster's room kept per host), so none waits and the "
           "CapacityScheduler's node-locality delay never sends one elsewhere; more "
           "replicas share a container on a small cluster; 4 on one host, 2 when the "
           "ResourceManager does not answer",
           choices=("auto",) + tuple(str(k) for k in range(1, 9))),
    Option("dirft.hadoop.one.application", "bool", "true",
           "voted schemes with a reduce: run the reducers in the replicas' own YARN "
           "application (one surviving replica per task emits the decided outputs); false: "
           "always a separate commit job"),
    Option("dirft.yarn.rm.url", "str", "",
           "the YARN ResourceManager's web address, e.g. http://rm:8088, for the report's "
           "cluster facts and the check of each register's attempt against the "
           "ApplicationMaster (Hadoop runner); empty: yarn-site.xml of the Hadoop client"),
    Option("dirft.webhdfs.url", "str", "",
           "WebHDFS address of the NameNode, e.g. http://namenode:9870 (Hadoop runner); "
           "several separated by ; for HA; empty: fs.defaultFS and "
           "dfs.namenode.http-address of the Hadoop client's $HADOOP_CONF_DIR"),
    Option("dirft.webhdfs.user", "str", "",
           "HDFS user for WebHDFS requests (user.name, no Kerberos); empty: "
           "$HADOOP_USER_NAME, else the login name"),
    Option("dirft.webhdfs.timeout", "float", "60.0",
           "seconds one WebHDFS request may take", minimum=0, exclusive_minimum=True),
    Option("dirft.webhdfs.datanode.attempts", "int", "3",
           "DataNodes one WebHDFS read or write tries before it fails: after a DataNode "
           "refuses, times out or breaks off, the NameNode is asked again with it in "
           "excludedatanodes (as Hadoop's client: dfs.client.block.write.retries, 3)",
           minimum=1),
)}

#: The simulated paper cluster's values where they differ from the defaults above (``dirft
#: simulate``, :mod:`dirft.runners.sim`): 20 map slots a node, a heartbeat every 3 virtual
#: seconds (timeout 30), tail tasks widened up to 4 R replicas (a replica starts in a small
#: fraction of a phase there).
PAPER_CLUSTER: Dict[str, str] = {
    "dirft.slots.per.node": "20",
    "dirft.heartbeat.interval": "3.0",
    "dirft.heartbeat.timeout": "30.0",
    "dirft.stall.timeout": "9.0",
    "dirft.adaptive.widen.max": "4",
}

#: Old Hadoop names -> current names (Hadoop's DeprecatedProperties table, the subset
#: that maps onto OPTIONS).
DEPRECATED: Dict[str, str] = {
    "mapred.reduce.tasks": "mapreduce.job.reduces",
    "mapred.min.split.size": "mapreduce.input.fileinputformat.split.minsize",
    "mapred.max.split.size": "mapreduce.input.fileinputformat.split.maxsize",
    "dfs.block.size": "dfs.blocksize",
    "mapred.map.max.attempts": "mapreduce.map.maxattempts",
    "mapred.map.tasks": "mapreduce.job.maps",
    "mapred.output.compress": "mapreduce.output.fileoutputformat.compress",
    "mapred.output.compression.codec": "mapreduce.output.fileoutputformat.compress.codec",
    "mapred.output.compression.type": "mapreduce.output.fileoutputformat.compress.type",
    "mapred.job.name": "mapreduce.job.name",
    "map.output.key.field.separator": "mapreduce.map.output.key.field.separator",
    "mapred.output.key.comparator.class": "mapreduce.job.output.key.comparator.class",
    "mapred.text.key.comparator.options": "mapreduce.partition.keycomparator.options",
    "mapred.partitioner.class": "mapreduce.job.partitioner.class",
    "mapred.text.key.partitioner.options": "mapreduce.partition.keypartitioner.options",
}

#: Keys whose only supported value, for now, is their default.
DEFAULT_ONLY: Dict[str, str] = {}


def define(key: str, value) -> str:
    """Return ``"key=value"``, a ``-D`` define for the known ``key`` (a switch or a rule
    that sets a key goes through here, so it can only name a key of :data:`OPTIONS`).

    ``value`` is written with ``str``. Raises KeyError for a key outside the table (a bug of
    the caller, not of the user's command line).
    """
    if key not in OPTIONS:
        raise KeyError(f"{key} is not a key of dirft.options.OPTIONS")
    return f"{key}={value}"
