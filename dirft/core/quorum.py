"""The vote rules every quorum of dirft uses, written once: the leading signature and the
winning copy. Pure.

Map sub-splits (:class:`dirft.core.task_state.SubsplitState`) and reduce partitions
(:class:`dirft.core.reduce_vote.PartitionVote`) decide the same way: a signature (SHA-256
hex) wins once ``quorum`` distinct replicas reported it (the DIRFT paper's f_s + 1,
docs/design.md, 'Semantics'); among equal counts the smallest hex leads, so every runner
breaks a tie alike; the committed copy is that of the lowest replica id that voted for
the winner.
"""

from collections import Counter
from collections.abc import Iterable, Mapping


def leading(signatures: Iterable[str]) -> tuple[str | None, int]:
    """``(signature, count)`` of the most frequent of ``signatures``, ties to the smallest
    hex; ``(None, 0)`` when there is none."""
    counts = Counter(signatures)
    if not counts:
        return None, 0
    return max(sorted(counts.items()), key=lambda kv: kv[1])


def first_voter(votes: Mapping[int, str | None], signature: str) -> int:
    """The lowest replica id in ``votes`` ({replica: signature}) that voted ``signature``:
    whose copy is committed. Raises ValueError if none did."""
    return min(r for r, v in votes.items() if v == signature)


def votes_text(votes: Mapping[int, str]) -> str:
    """``votes`` ({replica: signature}) for a message: ``{r0: 1a2b…, r1: …}`` (12 hex
    digits each, by replica id), or "no signature reported"."""
    if not votes:
        return "no signature reported"
    return "{" + ", ".join(f"r{r}: {s[:12]}…" for r, s in sorted(votes.items())) + "}"


def no_quorum_text(where: str, quorum: int, scheme: str, votes: Mapping[int, str],
                   dead: str, why: str) -> str:
    """The one-line message of a job aborted beyond tolerance: ``where`` names the task
    and sub-split (bytes, path), ``dead`` the dead replicas and their causes, ``why`` what
    ran out; it ends with the next step."""
    return (f"{where}: no quorum of {quorum} matching signature(s) under scheme {scheme}; "
            f"seen {votes_text(votes)}; dead replicas: {dead}; {why}. Raise "
            f"mapred.map.tasks.fault.tolerance or dirft.replicas.extra.max, or check that the "
            f"mapper is deterministic and its task logs")
