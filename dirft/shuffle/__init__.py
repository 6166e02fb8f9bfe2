"""The reduce stage: partition, sort and reduce committed map output, as Hadoop does.

Input is the committed, quorum-verified output of the map tasks, already normalized by
:class:`dirft.records.LineNormalizer`: lines ``key\\tvalue\\n``, where the key is the bytes
before the first tab. The stage follows Hadoop Streaming (docs/hadoop.md, 'Sort order'):

1. **partition** — each line goes to partition ``partition_of(key, num_reduces)``, Hadoop's
   ``HashPartitioner`` over ``Text.hashCode`` (``WritableComparator.hashBytes``). The bytes
   are read through :func:`verified_chunks`, which recomputes each file's SHA-256 while
   streaming and aborts the job when a file no longer matches the signature its quorum
   decided, before anything reaches the output.
2. **sort** — each partition is sorted on disk by GNU sort,
   ``LC_ALL=C sort -t '\\t' -k1,1 -S <sort_memory>b -T <work_dir>``: keys by raw unsigned
   bytes, as Hadoop's ``Text.Comparator`` orders them, in bounded memory, so map output may be
   larger than memory. Hadoop leaves the order of the values of one key undefined; GNU sort's
   last-resort comparison of whole lines (without their ``\\n``, unsigned bytes, shorter
   first on a common prefix) makes it deterministic here, so every run of a job gives the
   same bytes whatever order the map outputs arrived in.
3. **reduce** — the sorted lines are piped into the user's reducer (an argv, no shell) whose
   stdout is normalized into ``part-NNNNN``; with no reducer (identity) the sorted lines are
   the output. Every partition gets a part file, an empty partition too: Hadoop starts the
   reducer of every reduce task, so ``wc -l`` writes ``0`` for it. stderr goes through
   :class:`dirft.counters.StderrScanner` (counters, status, tail for error messages).

Part files are written under temporary names and renamed into place only when every partition
has succeeded, like ``FileOutputCommitter`` commits at job end: a failed stage leaves no part
file behind. With 0 reduces, :func:`write_map_only_output` gives one part file per map task.
"""

from dirft.shuffle.partition import (
    MapOutput, hadoop_text_hash, partition_of, verified_chunks, write_map_only_output)
from dirft.shuffle.reduce import ReduceResult, run_reduce_stage

__all__ = ["MapOutput", "ReduceResult", "hadoop_text_hash", "partition_of",
           "run_reduce_stage", "verified_chunks", "write_map_only_output"]
