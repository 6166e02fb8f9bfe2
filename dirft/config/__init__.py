"""Hadoop-style job configuration: one table of options, merged by small pure functions.

mrjob's lesson: every option lives in ONE table (:data:`OPTIONS`, in :mod:`dirft.options`)
with its kind, default, bounds and doc; nothing else in dirft invents a default. Layers stack as Hadoop stacks them
(``Configuration.addResource`` then ``GenericOptionsParser``): the defaults, then
configuration files in the order given (``mapred-site.xml`` format), then ``-D key=value``;
a later layer wins. Values stay strings until :func:`parse_value` types them; a bad value
is a one-line :class:`ConfigError` naming key, value, source (file path or ``-D``) and what
is allowed. Unknown keys under the prefixes dirft owns (``dirft.``, and the paper's
``mapred.map.tasks.fault.``) are errors with a did-you-mean; other unknown keys are kept as
strings, because Hadoop hands every jobconf key to the tasks. Deprecated Hadoop names
(``mapred.reduce.tasks``, ``dfs.block.size``, ...) are renamed as Hadoop's
``DeprecationDelta`` does, so ``-D mapred.reduce.tasks=0`` is not lost. Impossible
combinations are refused by :func:`check_combinations`.
"""

from dirft.config.jobconf import (
    JobConf, check_combinations, fault_counts, replicas_needed)
from dirft.config.layers import (
    Layer, canonical_key, load_layers, merge_layers, parse_define, read_site_xml)
from dirft.config.values import describe_allowed, parse_all, parse_value
from dirft.options import (  # the table, re-exported for callers
    DEFAULT_ONLY, DEPRECATED, KINDS, LONG_MAX, NOT_BUILT, OPTIONS, OWNED_PREFIXES, Option)

__all__ = ["DEFAULT_ONLY", "DEPRECATED", "KINDS", "LONG_MAX", "NOT_BUILT", "OPTIONS",
           "OWNED_PREFIXES", "JobConf", "Layer", "Option", "canonical_key",
           "check_combinations", "describe_allowed", "fault_counts", "load_layers",
           "merge_layers", "parse_all", "parse_define", "parse_value", "read_site_xml",
           "replicas_needed"]
