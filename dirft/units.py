"""Byte sizes as Hadoop and people write them.

Hadoop's ``Configuration.getLongBytes`` accepts a plain number or a number followed by one
of the binary prefixes k, m, g, t, p (case-insensitive, powers of 1024): ``128m`` is
134217728. People also write ``64MiB`` or ``64MB``; both are read as powers of 1024 here,
as GridMix's data sizes are.
"""

import re

from dirft.errors import ConfigError

#: Bytes read or copied at a time from a file, pipe or stream (1 MiB): one value for the
#: runtime, the shuffle and the readers of records.
CHUNK = 1 << 20

_PREFIX = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_bytes(text: str, what: str = "size") -> int:
    """Return the number of bytes that ``text`` names.

    Takes ``"134217728"``, ``"128m"``, ``"64MiB"``, ``"1.5g"`` (prefixes are powers of 1024,
    as in Hadoop's ``Configuration.getLongBytes``). Returns an int >= 0. Raises
    :class:`ConfigError` naming ``what`` (a key or option name) when the text is not a size.
    """
    match = _SIZE.match(str(text))
    if not match:
        raise ConfigError(
            f"{what}: {text!r} is not a byte size; write e.g. 134217728, 128m or 64MiB")
    number, prefix = match.groups()
    return int(float(number) * 1024 ** _PREFIX[prefix.lower()])


def format_bytes(n: int) -> str:
    """Return ``n`` bytes as a short human string such as ``"64.0 MiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
