"""The contract between the driver and the replica task runtime, imported by both sides.

:mod:`dirft.contract.spec` is the job spec a replica reads (what to run, where to commit,
the file names shipped with a Hadoop job, the secret file); :mod:`dirft.contract.manifest`
the one-JSON-line-per-map-task manifests of the Hadoop runner's streaming jobs;
:mod:`dirft.contract.env` the environment a streaming task sees; :mod:`dirft.contract.hadoop`
the Hadoop attempt ids and the emission counters both sides read. Neither
side imports the other: the runners (:mod:`dirft.runners`) write these, the runtime
(:mod:`dirft.runtime`) reads them.
"""
