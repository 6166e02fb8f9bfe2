"""Storage behind one interface (:class:`~dirft.storage.base.Storage`): local files or HDFS.

:func:`open_storage` rebuilds, in a task, the storage the driver described in the job
spec; HDFS support (the ``hdfs`` package) is imported only when it is used.
"""

from dirft.config.values import default_value
from dirft.errors import ConfigError


def open_storage(description: dict | None):
    """The storage ``description`` names: ``{}``/``{"kind": "local"}`` or
    ``{"kind": "webhdfs", "url", "user", "timeout", "attempts"}``. Raises ConfigError otherwise."""
    kind = (description or {}).get("kind", "local")
    if kind == "local":
        from dirft.storage.local import LOCAL
        return LOCAL
    if kind == "webhdfs":
        from dirft.storage.hdfs import HdfsStorage
        timeout = description.get("timeout", default_value("dirft.webhdfs.timeout"))
        attempts = description.get("attempts", default_value("dirft.webhdfs.datanode.attempts"))
        return HdfsStorage(description["url"], description.get("user"), float(timeout),
                           int(attempts))
    raise ConfigError(f"job spec names storage kind {kind!r}; expected local or webhdfs")
