"""dirft: data-interweaved replication (DIRFT) for Hadoop Streaming map tasks.

The pure core lives in :mod:`dirft.core`; the shells (voting service, replica task
runtime, runners, storage, CLI) drive it. See DESIGN.md in the project's shared notes and
README.md for the semantics.
"""

__version__ = "0.1.0"
