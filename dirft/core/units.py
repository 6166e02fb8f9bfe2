"""Work units of a map task and their byte ranges: sub-splits, pieces of them, the whole split.

Pure: numbers in, numbers out. A *unit id* is the int a replica is told to process
(:class:`~dirft.core.actions.AssignSubsplit` ``subsplit``) and reports a signature for. With
R = the number of planned sub-splits of the task (``len(base)`` below):

* ``0 .. R-1``: DIRFT's sub-splits, exactly as planned (:func:`dirft.core.planner.make_subsplits`);
* ``R``: the whole split (a task started in full-replication shape by adaptive DIRFT);
* ``R + 1 + (u·MAX_PIECES + m − 2)·MAX_PIECES + j``: piece ``j`` of ``m`` (2 ≤ m ≤
  MAX_PIECES) of sub-split ``u``, cut by :func:`cut` (the rule of ``make_subsplits``);
* ``R + 1 + R·MAX_PIECES² + (m − 2)·MAX_PIECES + j``: piece ``j`` of ``m`` of the whole
  split (a wide tail task of ``m`` replicas).

Adaptive DIRFT cuts a sub-split into pieces to spread recovery or tail work over more
replicas. Votes stay on identical byte ranges: a piece is voted on by the replicas that
processed that very piece, and votes on a sub-split never count for its pieces (SHA-256 of
a whole is not made of SHA-256 of its parts). Records follow Hadoop's ``LineRecordReader``
rule at every boundary (a line belongs to the range ``(start, end]`` in which it starts), so
the records of a sub-split's pieces, concatenated in order, are exactly the sub-split's:
the invariant of docs/design.md, 'Sub-splits', one level down: the output stays byte-identical.
"""

from collections.abc import Sequence

from dirft.errors import InvalidTransition

MAX_PIECES = 16  # most pieces one sub-split is cut into


def cut(start: int, length: int, count: int) -> list[tuple[int, int]]:
    """``count`` contiguous ``(start, length)`` ranges covering ``[start, start+length)``.

    Lengths differ by at most one byte, the longer first (the rule of ``make_subsplits``).
    ``count`` >= 1; bytes, absolute offsets.
    """
    base, extra = divmod(length, count)
    out = []
    for i in range(count):
        size = base + (1 if i < extra else 0)
        out.append((start, size))
        start += size
    return out


def whole_id(r: int) -> int:
    """Unit id of the whole split of a task planned with ``r`` sub-splits."""
    return r


def piece_id(r: int, sub: int, count: int, piece: int) -> int:
    """Unit id of piece ``piece`` of ``count`` of sub-split ``sub`` (of ``r``).

    Raises :class:`InvalidTransition` (a bug of the caller) for an impossible piece.
    """
    if not (0 <= sub < r and 2 <= count <= MAX_PIECES and 0 <= piece < count):
        raise InvalidTransition(f"no piece {piece} of {count} of sub-split {sub} (R = {r}, "
                                f"at most {MAX_PIECES} pieces)")
    return r + 1 + (sub * MAX_PIECES + count - 2) * MAX_PIECES + piece


def split_piece_id(r: int, count: int, piece: int) -> int:
    """Unit id of piece ``piece`` of ``count`` of the whole split (of a task of ``r``
    sub-splits). Raises :class:`InvalidTransition` (a bug of the caller) for an impossible
    piece."""
    if not (2 <= count <= MAX_PIECES and 0 <= piece < count):
        raise InvalidTransition(f"no piece {piece} of {count} of the whole split (at most "
                                f"{MAX_PIECES} pieces)")
    return r + 1 + r * MAX_PIECES * MAX_PIECES + (count - 2) * MAX_PIECES + piece


def decode(r: int, unit: int) -> tuple[int, int, int]:
    """``(sub, count, piece)`` of unit id ``unit``; a sub-split is ``(u, 1, 0)``, the whole
    split ``(-1, 1, 0)``, a piece of the whole split ``(-1, count, piece)``. Raises
    ValueError for an id no task of ``r`` sub-splits has."""
    if 0 <= unit < r:
        return unit, 1, 0
    if unit == r:
        return -1, 1, 0
    rest, piece = divmod(unit - r - 1, MAX_PIECES)
    sub, count = divmod(rest, MAX_PIECES)
    count += 2
    if sub == r and count <= MAX_PIECES and piece < count:
        return -1, count, piece
    if unit < r or sub >= r or count > MAX_PIECES or piece >= count:
        raise ValueError(f"unit {unit} is no sub-split, piece or whole split of a task "
                         f"with {r} sub-splits")
    return sub, count, piece


def unit_span(base: Sequence[Sequence[int]], unit: int) -> tuple[int, int]:
    """Byte range ``(start, length)`` of unit id ``unit`` of a task whose planned sub-splits
    are ``base`` (``[[start, length], ...]``, in order). Raises ValueError for a bad id."""
    sub, count, piece = decode(len(base), unit)
    if sub < 0:
        start, length = int(base[0][0]), sum(int(b[1]) for b in base)
    else:
        start, length = (int(x) for x in base[sub])
    return cut(start, length, count)[piece] if count > 1 else (start, length)
