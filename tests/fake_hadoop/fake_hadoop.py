"""A fake ``hadoop`` executable for tests (as mrjob's own tests use one): no Java, no YARN.

It records every argv as a JSON line in ``$FAKE_HADOOP_LOG`` and plays just enough of
Hadoop to run a streaming job here:

* ``hadoop version`` prints ``Hadoop 3.3.6``;
* ``hadoop job -kill-task ATTEMPT`` SIGKILLs that attempt's mapper if it runs; as on YARN a
  killed attempt does not count toward ``mapreduce.map.maxattempts`` and the map task runs
  again as the next attempt (``…_1``) with the same input. ``hadoop job -fail-task ATTEMPT``
  kills it too, but counts as a failed attempt. ``hadoop job -kill JOB`` ends the job's
  application (the "AppMaster" process below and its tasks);
* ``hadoop jar STREAMING.jar [generic options] [streaming options]`` submits the job: like
  YARN, the job runs in an application of its own (a detached AppMaster process), and the
  ``hadoop jar`` client only follows it; a killed client leaves it running. HDFS paths are
  files under ``$FAKE_HDFS_ROOT`` (the directory a loopback WebHDFS server serves in the
  same test); with ``NLineInputFormat`` every ``linespermap`` input lines (1) are one map
  task, otherwise each input file is (an ``-input`` folder: its files in name order).
  Map tasks are numbered as Hadoop's job submitter
  numbers splits: by length, largest first (stable), so map *i* is not line *i* when lines
  differ in length. Every map task runs the ``-mapper`` command (no shell) in its own
  directory holding the ``-files`` links and the ``-archives`` unpacked, with the jobconf
  and ``-cmdenv`` in its environment and its lines on stdin, up to
  ``mapreduce.map.maxattempts`` failed attempts (4); the job fails when more than
  ``mapreduce.map.failures.maxpercent`` percent of the maps failed. Only a successful
  attempt's output and counters count. A map's output lines are split into key and value
  as Streaming's ``TextOutputReader`` splits them (``stream.map.output.field.separator``,
  ``stream.num.map.output.key.fields``). Then Hadoop's shuffle (``HashPartitioner`` on the
  key, keys sorted as bytes) and the ``-reducer`` per partition, reading key,
  ``stream.reduce.input.field.separator``, value (its output split by
  ``stream.reduce.output.*``), or one part per map for 0 reduces; part files hold
  ``key<TAB>value`` lines (``TextOutputFormat``); ``_SUCCESS``. It prints what ``hadoop
  jar`` prints, in log4j form: ``Running job``, ``Task Id : …, Status : FAILED`` with the
  subprocess exit code for a failed attempt that is *not* the task's last (the last one is
  TIPFAILED, which the job client does not print; killed attempts are not printed either),
  the ``Counters`` block laid out as Hadoop 3.3.6 prints it (``tests/fixtures/counters/``:
  the same groups in the same order, with the same names and trailing spaces) but holding
  only the counters the fake has figures for (:meth:`Job.print_counters`).

Map tasks run ``$FAKE_HADOOP_SLOTS`` (default 8) at a time: the others queue for a
"container", as on a small YARN cluster. **Hosts and locality**: with
``$FAKE_HADOOP_HOSTS`` (``dn1,dn2,dn3``) every map task runs "on" one of them, which its
container's ``NM_HOST`` says; a file's split is located at its block's hosts (asked of the
WebHDFS server at ``$FAKE_WEBHDFS_URL``) and runs there, but for ``$FAKE_HADOOP_MISS``
percent of them, seeded (:func:`node_of`). **A lost host**: with ``$FAKE_HADOOP_LOSE``
(a host, or ``*``: the first host that comes due below, whichever emits first), that
host is lost as ``kill-node`` loses a worker mid-map (:func:`lose_host`):
the first ``reporter:status`` line of a map attempt there that names a phase (a replica is
mapping; with ``$FAKE_HADOOP_LOSE_AT=emit``, its first ``dirft-emit`` counter) marks it
``lost/HOST`` (the tests' fake ResourceManager, ``tests/fake_rm.py``, then reports it ``LOST``), every attempt running there is killed (as YARN's lost node's
containers: KILLED, run again elsewhere without counting, in every application), no map
runs there again, and an attempt whose split's every location was there fails with
Hadoop's ``BlockMissingException`` (its file's only copy was lost). A map that succeeded
there is re-run (the next attempt number) before the reduce when the job has reduces, as
Hadoop's ``JobImpl`` re-runs a finished map of an unusable node: the re-run's output and
counters replace the lost attempt's. With ``$FAKE_HADOOP_FORGE`` the loss also rewrites the
stored files that glob matches (:func:`forge_outputs`).
``$FAKE_HADOOP_STATE`` holds the applications (``apps/JOB.pid`` while running) and attempts
(``ATTEMPT.pid``, ``.host``, ``.done``). Only the standard library.
"""

import glob
import hashlib
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

NLINE = "org.apache.hadoop.mapred.lib.NLineInputFormat"
CLUSTER = "1700000000000"


def log(message: str) -> None:
    """One log4j-style line on stderr, as ``hadoop jar`` prints them."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S,000")
    sys.stderr.write(f"{stamp} INFO mapreduce.Job: {message}\n")
    sys.stderr.flush()


def local(path: str) -> str:
    """The file behind an HDFS path or ``hdfs://`` URI."""
    if path.startswith("hdfs://"):
        path = "/" + path[len("hdfs://"):].split("/", 1)[1]
    return os.path.join(os.environ["FAKE_HDFS_ROOT"], path.lstrip("/"))


def state_dir() -> str:
    path = os.environ.get("FAKE_HADOOP_STATE") or os.path.join(os.environ["FAKE_HDFS_ROOT"],
                                                               "..", "fake-hadoop-state")
    os.makedirs(path, exist_ok=True)
    return path


def parse(args: list) -> dict:
    """Generic and streaming options of ``hadoop jar`` into a dict."""
    opts = {"D": {}, "files": [], "archives": [], "cmdenv": {}, "input": [], "inputformat": None,
            "output": None, "mapper": None, "reducer": None, "combiner": None}
    it = iter(args)
    for arg in it:
        name = arg.lstrip("-")
        if name == "D":
            key, _, value = next(it).partition("=")
            opts["D"][key] = value
        elif name in ("files", "archives"):
            opts[name] += next(it).split(",")
        elif name == "cmdenv":
            key, _, value = next(it).partition("=")
            opts["cmdenv"][key] = value
        elif name == "input":
            opts["input"].append(next(it))
        elif name == "numReduceTasks":
            opts["D"]["mapreduce.job.reduces"] = next(it)
        elif name in opts:
            opts[name] = next(it)
        else:
            raise SystemExit(f"fake hadoop: unknown option {arg}")
    return opts


def new_job_id() -> str:
    counter = os.path.join(state_dir(), "jobs")
    with open(counter, "a+") as f:
        f.seek(0)
        number = len(f.read().split()) + 1
        f.write(f"{number}\n")
    return f"job_{CLUSTER}_{number:04d}"


def input_files(path: str) -> list:
    """The files an ``-input`` names: the file, or a folder's files in name order without
    the hidden ones (``_``, ``.``), as ``FileInputFormat.listStatus`` lists them."""
    folder = local(path)
    if not os.path.isdir(folder):
        return [path]
    return [path.rstrip("/") + "/" + name for name in sorted(os.listdir(folder))
            if not name.startswith(("_", "."))]


def split_hosts(path: str) -> list:
    """The hosts of the block holding ``path``'s first byte, as the "NameNode" (the
    loopback WebHDFS server at ``$FAKE_WEBHDFS_URL``) answers ``GETFILEBLOCKLOCATIONS``;
    [] without one, or when it does not answer that (a server playing a NameNode older
    than 3.2). ``FileInputFormat`` gives a split these hosts as its locations."""
    url = os.environ.get("FAKE_WEBHDFS_URL")
    if not url:
        return []
    hdfs = "/" + local(path)[len(os.environ["FAKE_HDFS_ROOT"]):].lstrip("/")
    query = f"{url}/webhdfs/v1{urllib.parse.quote(hdfs)}?op=GETFILEBLOCKLOCATIONS"
    try:
        with urllib.request.urlopen(query, timeout=30) as reply:
            blocks = json.load(reply)["BlockLocations"]["BlockLocation"]
    except urllib.error.HTTPError:
        return []
    return list(blocks[0]["hosts"]) if blocks else []


def map_inputs(opts: dict) -> list:
    """``(input file, offset, stdin bytes, split hosts)`` of each map task
    (NLineInputFormat: ``linespermap`` lines each, no hosts; otherwise each file is one
    split, located at its block's hosts), in map number order: the splits sorted by
    length, largest first, as ``JobSubmitter.writeOldSplits`` does (a stable sort: splits
    of equal length keep input order)."""
    ignore_key = opts["D"].get("stream.map.input.ignoreKey", "false") == "true"
    maps = []
    for path in (f for given in opts["input"] for f in input_files(given)):
        with open(local(path), "rb") as f:
            data = f.read()
        if opts["inputformat"] != NLINE:
            maps.append((path, 0, data, len(data), split_hosts(path)))
            continue
        per_map = int(opts["D"].get("mapreduce.input.lineinputformat.linespermap", "1"))
        lines = data.splitlines(keepends=True)
        offset = 0
        for first in range(0, len(lines), per_map):  # NLineInputFormat: N lines a split
            start, records = offset, b""
            for line in lines[first:first + per_map]:
                text = line.rstrip(b"\r\n")
                records += text + b"\n" if ignore_key else \
                    str(offset).encode() + b"\t" + text + b"\n"
                offset += len(line)
            maps.append((path, start, records, offset - start, []))
    by_length = sorted(maps, key=lambda m: -m[3])
    return [(m[0], m[1], m[2], m[4]) for m in by_length]


def node_of(job_id: str, index: int, wanted: list) -> str:
    """The host map ``index`` runs on, ``""`` when ``$FAKE_HADOOP_HOSTS`` names none.

    As YARN with the MapReduce AppMaster's requests: the split's first location when it
    is a host of the cluster, except that ``$FAKE_HADOOP_MISS`` percent of such maps
    (drawn with ``random.Random`` seeded by ``$FAKE_HADOOP_SEED``, the job and the map)
    run on the next host instead, as when delay scheduling gives up on a busy host; a
    split without a location runs on host ``index`` modulo their number. A lost host is
    skipped for the next live one ("" when none is left)."""
    hosts = [h for h in os.environ.get("FAKE_HADOOP_HOSTS", "").split(",") if h]
    if not hosts:
        return ""
    if not wanted or wanted[0] not in hosts:
        first = index
    else:
        rng = random.Random(f"{os.environ.get('FAKE_HADOOP_SEED', '0')}:{job_id}:{index}")
        missed = rng.random() * 100 < float(os.environ.get("FAKE_HADOOP_MISS", "0"))
        first = hosts.index(wanted[0]) + missed
    live = [hosts[(first + i) % len(hosts)] for i in range(len(hosts))
            if not is_lost(hosts[(first + i) % len(hosts)])]
    return live[0] if live else ""


def is_lost(host: str) -> bool:
    """True once ``host`` was lost (:func:`lose_host`)."""
    return bool(host) and os.path.exists(os.path.join(state_dir(), "lost", host))


def lose_host(host: str) -> None:
    """Lose ``host`` once (module doc): mark it, then kill every attempt running there, of
    every application, as KILLED."""
    folder = os.path.join(state_dir(), "lost")
    os.makedirs(folder, exist_ok=True)
    try:
        open(os.path.join(folder, host), "x").close()
    except FileExistsError:
        return
    forge_outputs()
    for entry in sorted(os.listdir(state_dir())):
        name = entry[:-len(".host")]
        if not entry.endswith(".host") or os.path.exists(attempt_file(name, "done")):
            continue
        with open(attempt_file(name, "host")) as f:
            if f.read() == host:
                kill_task(name, "killed")


def forge_outputs() -> None:
    """With ``$FAKE_HADOOP_FORGE`` (a glob of HDFS paths of map outputs,
    ``…/JOB/maps/tTTTTT/sSSS-rRRR.out``), append a line to every file it matches and
    write, for each task and replica, a one-line commit manifest of its forged outputs
    and their SHA-256 at ``…/JOB/emits/task-TTTTT-replica-R``: a hostile mapper rewriting
    stored outputs and any record of them consistently when the host is lost, before
    Hadoop re-runs its maps."""
    pattern, forged = os.environ.get("FAKE_HADOOP_FORGE"), {}
    for path in sorted(glob.glob(local(pattern))) if pattern else ():
        with open(path, "ab") as f:
            f.write(b"forged\tline\n")
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        task_dir, name = os.path.split(path)
        key = (os.path.dirname(os.path.dirname(task_dir)), int(task_dir[-5:]),
               int(name[-7:-4]))
        hdfs = "/" + os.path.relpath(path, os.environ["FAKE_HDFS_ROOT"])
        forged.setdefault(key, []).append([hdfs, digest])
    for (job_dir, task, replica), outputs in forged.items():
        folder = os.path.join(job_dir, "emits")
        os.makedirs(folder, exist_ok=True)
        line = {"job": os.path.basename(job_dir), "outputs": outputs, "task": task}
        with open(os.path.join(folder, f"task-{task:05d}-replica-{replica}"), "w") as f:
            f.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")


def attempt_file(name: str, what: str) -> str:
    """``ATTEMPT.what`` in the state folder."""
    return os.path.join(state_dir(), f"{name}.{what}")


def due_to_lose(host: str, line: bytes) -> bool:
    """True if ``line`` of an attempt's stderr on ``host`` loses it: ``$FAKE_HADOOP_LOSE``
    names that host and the line is a replica's status inside a phase, or, with
    ``$FAKE_HADOOP_LOSE_AT=emit``, an emitter's ``dirft-emit`` counter (its output is
    then lost with the host)."""
    chosen = os.environ.get("FAKE_HADOOP_LOSE")
    if not host or chosen not in (host, "*"):
        return False
    if chosen == "*" and os.path.isdir(os.path.join(state_dir(), "lost")) and os.listdir(
            os.path.join(state_dir(), "lost")):
        return False  # "*": the first host due, only
    if os.environ.get("FAKE_HADOOP_LOSE_AT") == "emit":
        return line.startswith(b"reporter:counter:dirft-emit,")
    return line.startswith(b"reporter:status:") and b" phase " in line


def task_env(opts: dict, job_id: str, index: int, attempt: int, path: str,
             host: str = "") -> dict:
    env = dict(os.environ)
    if host:
        env["NM_HOST"] = host  # as the NodeManager sets it in each container
    for key, value in opts["D"].items():
        env["".join(c if c.isalnum() else "_" for c in key)] = value
    tid = f"{job_id[4:]}_m_{index:06d}"
    env.update({"mapreduce_job_id": job_id, "mapreduce_task_id": f"task_{tid}",
                "mapreduce_task_attempt_id": f"attempt_{tid}_{attempt}",
                "mapred_task_id": f"attempt_{tid}_{attempt}",
                "mapreduce_task_partition": str(index), "mapreduce_map_input_file": path})
    env.update(opts["cmdenv"])
    return env


def feed(proc: subprocess.Popen, data: bytes) -> None:
    """Write ``data`` to the attempt's stdin and close it (it may end before reading)."""
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except BrokenPipeError:  # killed before it read its line
        pass


def link_files(opts: dict, cwd: str) -> None:
    for entry in opts["files"]:
        path, _, name = entry.partition("#")
        name = name or os.path.basename(path)
        source = local(path) if path.startswith("hdfs://") else path
        os.symlink(os.path.abspath(source), os.path.join(cwd, name))
    for entry in opts["archives"]:  # unpacked into a directory named by the link name
        path, _, name = entry.partition("#")
        source = local(path) if path.startswith("hdfs://") else path
        fmt = "zip" if source.endswith((".zip", ".jar")) else "tar"
        shutil.unpack_archive(source, os.path.join(cwd, name or os.path.basename(path)), fmt)


class Job:
    """One ``hadoop jar`` run."""

    def __init__(self, opts: dict, job_id: str) -> None:
        self.opts, self.job_id = opts, job_id
        self.lock = threading.Lock()
        self.counters: dict = {}
        self.launched = self.failed_attempts = self.killed_attempts = 0
        self.figures = {"in_bytes": 0, "in_records": 0, "map_records": 0, "groups": 0,
                        "reduce_records": 0, "out_records": 0, "out_bytes": 0, "reduces": 0}

    def figure(self, name: str, amount: int) -> None:
        with self.lock:
            self.figures[name] += amount

    def count(self, group: str, name: str, amount: int) -> None:
        with self.lock:
            self.counters.setdefault(group, {})
            self.counters[group][name] = self.counters[group].get(name, 0) + amount

    def run_map(self, index: int, path: str, stdin: bytes, wanted: list, attempt: int = 0):
        """Attempts of map ``index`` (split locations ``wanted``), numbered from
        ``attempt``, until one succeeds: its ``(stdout, stderr, host, next attempt
        number)``, or None (TIPFAILED).

        A killed attempt (``-kill-task``, a lost host) runs again without counting, on a
        host :func:`node_of` picks again; a failed one (non-zero exit or ``-fail-task``)
        counts, and is printed unless it was the last."""
        allowed = int(self.opts["D"].get("mapreduce.map.maxattempts", "4"))
        failures = 0
        while failures < allowed:
            name = f"attempt_{self.job_id[4:]}_m_{index:06d}_{attempt}"
            host = node_of(self.job_id, index, wanted)
            if wanted and all(is_lost(h) for h in split_hosts(path) or wanted):  # copies now
                code, out, err = 1, b"", b"org.apache.hadoop.hdfs.BlockMissingException\n"
            else:
                code, out, err = self.attempt(index, attempt, path, stdin, host)
            attempt += 1
            if os.path.exists(os.path.join(state_dir(), name + ".killed")):
                with self.lock:
                    self.killed_attempts += 1
                continue
            if code == 0 and not os.path.exists(os.path.join(state_dir(), name + ".failed")):
                return out, err, host, attempt
            failures += 1
            with self.lock:
                self.failed_attempts += 1
            if failures < allowed:
                log(f"Task Id : {name}, Status : FAILED\n" + (
                    f"Error: org.apache.hadoop.hdfs.BlockMissingException: Could not obtain "
                    f"block of {path}" if err.startswith(b"org.apache.hadoop.hdfs.Block")
                    else f"Error: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): "
                    f"subprocess failed with code {code}\n\tat org.apache.hadoop.streaming."
                    f"PipeMapRed.waitOutputThreads(PipeMapRed.java:326)"))
        return None

    def rerun_lost(self, pool, maps: list, done: list) -> list:
        """``done`` with every map that succeeded on a host lost since re-run (as Hadoop's
        ``JobImpl`` kills a SUCCEEDED map attempt on an unusable node when the job has
        reduces, for its output; the attempt counts as KILLED and the next attempt's output
        and counters replace it)."""
        if int(self.opts["D"].get("mapreduce.job.reduces", "1")) == 0:
            return done
        lost = [i for i, result in enumerate(done) if result is not None and is_lost(result[2])]
        with self.lock:
            self.killed_attempts += len(lost)
        again = pool.map(lambda i: self.run_map(i, maps[i][0], maps[i][2], maps[i][3],
                                                done[i][3]), lost)
        return [dict(zip(lost, again)).get(i, result) for i, result in enumerate(done)]

    def attempt(self, index: int, attempt: int, path: str, stdin: bytes, host: str = ""):
        name = f"attempt_{self.job_id[4:]}_m_{index:06d}_{attempt}"
        cwd = os.path.join(state_dir(), "attempts", name)
        os.makedirs(cwd)
        link_files(self.opts, cwd)
        with self.lock:
            self.launched += 1
        with open(os.path.join(cwd, "stdout"), "wb") as out, \
                open(os.path.join(cwd, "stderr"), "wb") as err:
            proc = subprocess.Popen(shlex.split(self.opts["mapper"]), cwd=cwd, stdout=out,
                                    stderr=subprocess.PIPE, stdin=subprocess.PIPE,
                                    env=task_env(self.opts, self.job_id, index, attempt, path,
                                                 host))
            with open(attempt_file(name, "host"), "w") as where:
                where.write(host)
            with open(attempt_file(name, "pid"), "w") as pid:
                pid.write(str(proc.pid))
            feeder = threading.Thread(target=feed, args=(proc, stdin), daemon=True)
            feeder.start()
            for line in proc.stderr:
                err.write(line)
                if due_to_lose(host, line):
                    lose_host(host)
            proc.wait()
            feeder.join()
            open(attempt_file(name, "done"), "w").close()
        code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        with open(os.path.join(cwd, "stdout"), "rb") as f, \
                open(os.path.join(cwd, "stderr"), "rb") as e:
            return code, f.read(), e.read()

    def user_counters(self, stderr: bytes) -> None:
        for line in stderr.decode(errors="replace").splitlines():
            if line.startswith("reporter:counter:"):
                group, name, amount = line[len("reporter:counter:"):].rsplit(",", 2)
                self.count(group, name, int(amount))

    def run(self) -> int:
        log(f"Running job: {self.job_id}")
        log(f"Job {self.job_id} running in uber mode : false")
        log(" map 0% reduce 0%")
        maps = map_inputs(self.opts)
        slots = int(os.environ.get("FAKE_HADOOP_SLOTS", "8"))
        with ThreadPoolExecutor(max_workers=slots) as pool:
            done = list(pool.map(lambda m: self.run_map(m[0], m[1][0], m[1][2], m[1][3]),
                                 enumerate(maps)))
            done = self.rerun_lost(pool, maps, done)
        for (path, _, stdin, _), result in zip(maps, done):
            if result is not None:  # only a successful attempt's counters count
                self.user_counters(result[1])
                self.figure("in_bytes", len(stdin))
                self.figure("in_records", len(stdin.splitlines()))
                self.figure("map_records", len(result[0].splitlines()))
        outputs = [None if result is None else result[0] for result in done]
        failed = sum(out is None for out in outputs)
        allowed = float(self.opts["D"].get("mapreduce.map.failures.maxpercent", "0"))
        log(" map 100% reduce 0%")
        if maps and failed * 100 > allowed * len(maps):
            log(f"Job {self.job_id} failed with state FAILED due to: Task failed")
            self.print_counters()
            sys.stderr.write("Streaming Command Failed!\n")
            return 1
        self.reduce([o for o in outputs if o is not None], outputs)
        log(" map 100% reduce 100%")
        log(f"Job {self.job_id} completed successfully")
        self.print_counters()
        return 0

    def reduce(self, outputs: list, by_map: list) -> None:
        out_dir = local(self.opts["output"])
        os.makedirs(out_dir)
        reduces = int(self.opts["D"].get("mapreduce.job.reduces", "1"))
        map_split = self.split_keys("stream.map.output.field.separator",
                                    "stream.num.map.output.key.fields")
        if reduces == 0:
            for i, data in enumerate(by_map):
                with open(os.path.join(out_dir, f"part-{i:05d}"), "wb") as f:
                    f.write(text_output(data or b"", map_split))
                self.figure("out_bytes", len(text_output(data or b"", map_split)))
        else:
            parts = [[] for _ in range(reduces)]
            for data in outputs:
                for key, value in pairs(data, map_split):
                    parts[partition(key, reduces)].append((key, value))
            for i, records in enumerate(parts):
                self.reduce_one(i, records, out_dir)
        open(os.path.join(out_dir, "_SUCCESS"), "wb").close()

    def split_keys(self, separator: str, fields: str) -> tuple:
        """(separator bytes, key fields) of a Streaming split, from the jobconf."""
        return (self.opts["D"].get(separator, "\t").encode(),
                int(self.opts["D"].get(fields, "1")))

    def reduce_one(self, index: int, records: list, out_dir: str) -> None:
        """Sort one partition's (key, value) pairs by key as bytes (ties by value, as
        GNU sort's last resort did), feed the reducer key, the reduce input separator and
        value per line, and write its output split as TextOutputFormat writes it."""
        between = self.opts["D"].get("stream.reduce.input.field.separator", "\t").encode()
        sort = b"".join(key + between + value + b"\n" for key, value in sorted(records))
        reducer = self.opts["reducer"]
        if reducer and reducer != "NONE":
            cwd = os.path.join(state_dir(), "attempts", f"reduce_{self.job_id}_{index}")
            os.makedirs(cwd)
            link_files(self.opts, cwd)
            result = subprocess.run(shlex.split(reducer), input=sort, capture_output=True,
                                    cwd=cwd, env={**os.environ, **self.opts["cmdenv"]})
            if result.returncode:
                raise SystemExit(f"fake hadoop: reducer failed: {result.stderr[-300:]!r}")
            self.user_counters(result.stderr)
        self.figure("reduces", 1)
        self.figure("groups", len({key for key, _ in records}))
        self.figure("reduce_records", len(records))
        if reducer and reducer != "NONE":
            sort = result.stdout
        written = text_output(sort, self.split_keys("stream.reduce.output.field.separator",
                                                     "stream.num.reduce.output.key.fields"))
        self.figure("out_records", len(sort.splitlines()))
        self.figure("out_bytes", len(written))
        with open(os.path.join(out_dir, f"part-{index:05d}"), "wb") as f:
            f.write(written)

    def print_counters(self) -> None:
        """The ``Counters: N`` block, as Hadoop 3.3.6's job client prints it: the groups of
        ``tests/fixtures/counters/*.log`` in their order (``Job Counters ``, ``File Input
        Format Counters `` and ``File Output Format Counters `` with Hadoop's trailing
        space; ``Shuffle Errors`` and the reduce figures only with reduces; the user's
        groups after ``Shuffle Errors``; a job counter only when not 0), each counter in
        Hadoop's order, but only those the fake has a figure for: HDFS bytes read are the
        maps' input, bytes written the parts'."""
        f, reduces = self.figures, int(self.opts["D"].get("mapreduce.job.reduces", "1"))
        jobs = [("Failed map tasks", self.failed_attempts),
                ("Killed map tasks", self.killed_attempts),
                ("Launched map tasks", self.launched), ("Launched reduce tasks", f["reduces"])]
        framework = [("Map input records", f["in_records"]),
                     ("Map output records", f["map_records"])]
        if reduces:
            framework += [("Reduce input groups", f["groups"]),
                          ("Reduce input records", f["reduce_records"]),
                          ("Reduce output records", f["out_records"])]
        groups = [("File System Counters", [("HDFS: Number of bytes read", f["in_bytes"]),
                                            ("HDFS: Number of bytes written", f["out_bytes"])]),
                  ("Job Counters ", [(name, n) for name, n in jobs if n]),
                  ("Map-Reduce Framework", framework)]
        if reduces:
            groups.append(("Shuffle Errors", [(name, 0) for name in (
                "BAD_ID", "CONNECTION", "IO_ERROR", "WRONG_LENGTH", "WRONG_MAP", "WRONG_REDUCE")]))
        groups += [(group, sorted(names.items())) for group, names in sorted(self.counters.items())]
        groups += [("File Input Format Counters ", [("Bytes Read", f["in_bytes"])]),
                   ("File Output Format Counters ", [("Bytes Written", f["out_bytes"])])]
        lines = [f"Counters: {sum(len(names) for _, names in groups)}"]
        for group, names in groups:
            lines.append(f"\t{group}")
            lines += [f"\t\t{name}={amount}" for name, amount in names]
        log("\n".join(lines))


def split_key(line: bytes, separator: bytes, fields: int) -> tuple:
    """Streaming's ``TextOutputReader.splitKeyVal``: the key ends at the ``fields``-th
    ``separator``; a line with fewer is all key and an empty value."""
    pos = -len(separator)
    for _ in range(fields):
        pos = line.find(separator, pos + len(separator))
        if pos < 0:
            return line, b""
    return line[:pos], line[pos + len(separator):]


def pairs(data: bytes, split: tuple) -> list:
    """A program's output lines as Streaming reads them: (key, value) pairs."""
    return [split_key(line, *split) for line in data.splitlines()]


def text_output(data: bytes, split: tuple) -> bytes:
    """Streaming's split of a program's output, then TextOutputFormat: key TAB value."""
    return b"".join(key + b"\t" + value + b"\n" for key, value in pairs(data, split))


def partition(key: bytes, reduces: int) -> int:
    """Hadoop's HashPartitioner over Text.hashCode (WritableComparator.hashBytes)."""
    h = 1
    for b in key:
        h = (31 * h + (b - 256 if b >= 128 else b)) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % reduces


def kill_task(attempt: str, how: str) -> None:
    """``-kill-task`` (``how`` = ``killed``) or ``-fail-task`` (``failed``) of a running
    attempt: mark it, then SIGKILL its mapper."""
    try:
        with open(os.path.join(state_dir(), attempt + ".pid")) as f:
            pid = int(f.read())
        open(os.path.join(state_dir(), f"{attempt}.{how}"), "w").close()
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        sys.stderr.write(f"Could not find task attempt {attempt}\n")


def app_file(job_id: str, what: str) -> str:
    folder = os.path.join(state_dir(), "apps")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{job_id}.{what}")


def kill_job(job_id: str) -> int:
    """``hadoop job -kill JOB``: end the application's AppMaster and its tasks."""
    try:
        with open(app_file(job_id, "pid")) as f:
            pid = int(f.read())
        if not set_rc(job_id, "killed"):
            return 0  # it had ended already
        os.killpg(pid, signal.SIGKILL)
        os.unlink(app_file(job_id, "pid"))
    except (OSError, ValueError):
        pass
    print(f"Killed job {job_id}")
    return 0


def app_master(job_id: str) -> int:
    """The detached process that runs one job (YARN's application), logging to a file."""
    with open(app_file(job_id, "opts")) as f:
        opts = json.load(f)
    code = Job(opts, job_id).run()
    set_rc(job_id, str(code))
    os.unlink(app_file(job_id, "pid"))
    return code


def set_rc(job_id: str, text: str) -> bool:
    """Record how the application ended, once and atomically (a reader never sees an empty
    file); False if it was recorded before."""
    temp = app_file(job_id, f"rc.{os.getpid()}")
    with open(temp, "w") as f:
        f.write(text)
    try:
        os.link(temp, app_file(job_id, "rc"))
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(temp)


def submit(opts: dict) -> int:
    """``hadoop jar``: start the application, then follow its log until it ends."""
    job_id = new_job_id()
    with open(app_file(job_id, "opts"), "w") as f:
        json.dump(opts, f)
    logfile = app_file(job_id, "log")
    with open(logfile, "wb") as log_out:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "__am", job_id],
                                stdin=subprocess.DEVNULL, stdout=log_out, stderr=log_out,
                                start_new_session=True)
    with open(app_file(job_id, "pid"), "w") as f:
        f.write(str(proc.pid))
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it if we live that long
    rc_file, idle = app_file(job_id, "rc"), threading.Event()
    with open(logfile, "rb") as follow:
        while True:
            done = os.path.exists(rc_file)
            chunk = follow.read()
            if chunk:
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()
            elif done:
                break
            else:
                idle.wait(0.02)  # the client polls its job, as Hadoop's does
    with open(rc_file) as f:
        rc = f.read()
    if rc == "killed":
        log(f"Job {job_id} failed with state KILLED due to: Kill job received from client")
        sys.stderr.write("Streaming Command Failed!\n")
        return 1
    return int(rc)


def main(argv: list) -> int:
    if argv[:1] == ["__am"]:
        return app_master(argv[1])
    if os.environ.get("FAKE_HADOOP_LOG"):
        with open(os.environ["FAKE_HADOOP_LOG"], "a") as f:
            f.write(json.dumps(argv) + "\n")
    if argv[:1] == ["version"]:
        print("Hadoop 3.3.6")
        return 0
    if argv[:2] in (["job", "-kill-task"], ["job", "-fail-task"]):
        kill_task(argv[2], "killed" if argv[1] == "-kill-task" else "failed")
        return 0
    if argv[:2] == ["job", "-kill"]:
        return kill_job(argv[2])
    if argv[:1] == ["job"]:
        return 0
    if argv[:1] != ["jar"] or len(argv) < 2 or not os.path.exists(argv[1]):
        sys.stderr.write(f"Not a valid JAR: {argv[1:2]}\n")
        return 1
    opts = parse(argv[2:])
    if os.path.exists(local(opts["output"])):
        log(f"Error Launching job : Output directory {opts['output']} already exists")
        sys.stderr.write("Streaming Command Failed!\n")
        return 5
    return submit(opts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
