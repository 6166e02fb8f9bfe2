"""Hadoop-style job configuration: one table of options, merged by small pure functions.

mrjob's lesson: every option lives in ONE table (:data:`OPTIONS`, in :mod:`dirft.options`)
with its kind, default, bounds and doc; nothing else in dirft invents a default. Layers
stack as Hadoop stacks them (``Configuration.addResource`` then ``GenericOptionsParser``):
the defaults, then configuration files in the order given (``mapred-site.xml`` format),
then ``-D key=value``; a later layer wins. Values stay strings until :func:`parse_value` types them; a bad value
is a one-line :class:`ConfigError` naming key, value, source (file path or ``-D``) and what
is allowed. Unknown keys under the prefixes dirft owns (``dirft.``, and the paper's
``mapred.map.tasks.fault.``) are errors with a did-you-mean; other unknown keys are kept as
strings, because Hadoop hands every jobconf key to the tasks. Deprecated Hadoop names
(``mapred.reduce.tasks``, ``dfs.block.size``, ...) are renamed as Hadoop's
``DeprecationDelta`` does, so ``-D mapred.reduce.tasks=0`` is not lost. Impossible
combinations are refused by :func:`check_combinations`.

Names are loaded on first use (PEP 562), so a task reading one typed value
(:func:`dirft.config.values.read_value`) does not import the XML reader of the layers.
"""

import importlib

#: name -> the module of this package that defines it.
_HOMES = {
    "JobConf": "jobconf", "check_combinations": "jobconf", "fault_counts": "jobconf",
    "replicas_needed": "jobconf", "Layer": "layers", "canonical_key": "layers",
    "check_defines": "layers", "load_layers": "layers", "merge_layers": "layers",
    "parse_cmdenv": "layers", "parse_define": "layers", "read_site_xml": "layers",
    "default_value": "values", "describe_allowed": "values", "parse_all": "values",
    "parse_value": "values", "read_value": "values",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """Import ``name`` from the module that defines it, on first use (PEP 562)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'dirft.config' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dirft.config.{_HOMES[name]}"), name)
