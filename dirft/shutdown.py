"""One shutdown path for Ctrl-C, SIGTERM and SIGHUP: they unwind the driver like an error.

Inside :func:`signals_unwind`, SIGTERM and SIGHUP raise :class:`Terminated` (a
``KeyboardInterrupt``, as Ctrl-C raises) in the main thread, so every ``finally`` of the
runners runs: replicas and mappers are killed, the voting service stops, scratch is
removed. :func:`held_signals` keeps such a signal from cutting a cleanup or a commit short:
it is raised once the block is over. :func:`exit_status` and :func:`describe` give the
CLI's exit status (128 + signal number, as a shell reports it) and its one-line message.
Signal handlers can only be set from the main thread; elsewhere both are no-ops.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_UNWINDING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """A SIGTERM or SIGHUP arrived; ``signum`` says which. ``committed`` (set by the
    runner, default None) names the output directory if it was already committed."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, _frame) -> None:
    raise Terminated(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def signals_unwind():
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated`; restored after."""
    if not _main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise) for s in _UNWINDING}
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def held_signals():
    """Within the block, SIGINT, SIGTERM and SIGHUP are only noted; the first is raised
    (``KeyboardInterrupt`` or :class:`Terminated`) when the block ends."""
    if not _main_thread():
        yield
        return
    pending: list[int] = []
    signums = (signal.SIGINT, *_UNWINDING)
    old = {s: signal.signal(s, lambda n, _f: pending.append(n)) for s in signums}
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler)
    if pending:
        if pending[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(pending[0])


def signal_of(err: KeyboardInterrupt) -> int:
    """The signal behind ``err``: its ``signum`` for :class:`Terminated`, else SIGINT."""
    return getattr(err, "signum", signal.SIGINT)


def exit_status(err: KeyboardInterrupt) -> int:
    """128 + the signal's number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + signal_of(err)


def describe(err: KeyboardInterrupt) -> str:
    """The one line the CLI prints: which signal, and whether the output was committed."""
    name = signal.Signals(signal_of(err)).name
    committed = getattr(err, "committed", None)
    if committed:
        return (f"interrupted by {name} after the output {committed} was committed; it is "
                f"complete; replicas killed, scratch removed")
    return f"interrupted by {name}; nothing was committed; replicas killed, scratch removed"
