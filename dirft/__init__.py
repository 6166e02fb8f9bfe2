"""dirft: data-interweaved replication (DIRFT) for Hadoop Streaming map tasks.

The pure core lives in :mod:`dirft.core`; the shells (voting service, replica task
runtime, runners, storage, CLI) drive it. See docs/design.md, 'Semantics' and
README.md for the semantics.
"""

__version__ = "0.1.0"
