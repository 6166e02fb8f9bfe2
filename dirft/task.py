"""Entry point of the replica task runtime: ``python -m dirft.task …``.

``--fork-server FD --spec …``: the local runner's fork server, which forks its replicas
(:func:`dirft.runtime.forkserver.main`); ``--manifest-stdin`` and ``--emit-verified``: the
Hadoop runner's entry modes (:func:`dirft.runtime.streaming_task.main`).
"""

import sys

#: The first arguments that select the Hadoop runner's entry modes.
STREAMING_MODES = ("--manifest-stdin", "--emit-verified")


def main(argv: list | None = None) -> int:
    """Run the entry mode ``argv`` (default ``sys.argv[1:]``) names; return its exit
    status (see the two ``main`` functions)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in STREAMING_MODES:
        from dirft.runtime.streaming_task import main as streaming_main
        return streaming_main(argv)
    from dirft.runtime.forkserver import main as fork_server_main
    return fork_server_main(argv)


if __name__ == "__main__":
    sys.exit(main())
