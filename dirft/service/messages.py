"""Wire format of the voting service: HMAC, JSON encoding, schema, sequence numbers.

Pure functions, no I/O. docs/design.md, 'Voting service' has the rules implemented here:
messages are authenticated with HMAC-SHA256 under the sender's own key (the ``cryptography``
package), carry a sequence number against replay, have size limits, and are validated
before they reach the core.

A message is a JSON object. Every message carries the common fields

* ``job`` (str, must equal the service's job id, else 403),
* ``task`` (int >= 0), ``replica`` (int >= 0), ``seq`` (int >= 1),
* ``kind``, one of ``register``, ``heartbeat``, ``request``, ``failed``, ``reemit``,

and exactly the fields of its kind (:data:`KIND_FIELDS`):

* ``register``: ``host`` (str, 1..255 chars), ``pid`` (int >= 0), optional ``attempt``
  (str, 0..255 chars: the Hadoop attempt id, ``""`` when there is none) and ``key`` (64
  lowercase hex chars: a replica's fresh key, only when enrolling on Hadoop, see
  :mod:`dirft.service.keys`);
* ``heartbeat``: ``phase`` (int >= 0), ``progress`` (number in [0, 1]), optional
  ``ended`` (at most :data:`MAX_ENDED` ``[task, replica, status]`` triples of ints: replicas
  of the sender's own map attempt whose processes have ended, status as
  ``Popen.returncode``; the Hadoop runner's several replicas per map task);
* ``request``: optional ``report`` (object or null) = ``subsplit`` (int >= 0),
  ``signature`` (64 lowercase hex chars, a SHA-256 digest), ``output_bytes``
  (int >= 0, bytes), optional ``counters`` (group -> name -> int, at most
  :data:`MAX_COUNTER_GROUPS` x :data:`MAX_COUNTER_NAMES`);
* ``failed``: ``reason`` (str, at most 2000 chars);
* ``reemit`` (Hadoop: a re-run map attempt asking what its lines emitted, MAC'd under the
  enrollment secret, see :mod:`dirft.service.server`): ``attempt`` (str, 1..255 chars: its
  Hadoop attempt id), ``lines`` (1 to :data:`MAX_ENDED` ``[task, replica]`` pairs of ints
  >= 0: its manifest lines) and ``key`` (64 lowercase hex chars: a fresh key that signs
  the answer only; it is never bound to the identity).

Statuses of :class:`~dirft.errors.ProtocolError`: 400 for a structural fault (not an object,
missing or unknown field, wrong JSON type, a bool where an int belongs, unknown kind), 422
for a well-typed value out of range (negative id, too long a string, malformed signature),
403 for another job's message, 401 for a bad MAC, 409 for a replayed or reordered sequence
number. Every error message is one line and names the field.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable

try:  # the driver has cryptography (docs/design.md); a cluster node may have python3 only
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, hmac
except ImportError:  # pragma: no cover - exercised by the shipped-zip test in a subprocess
    hmac = None
import hashlib
import hmac as std_hmac

from dirft.errors import ProtocolError
from dirft.service.sequence import SequenceTracker  # noqa: F401 - the wire rules' home

MAC_HEADER = "X-Dirft-MAC"
"""HTTP header carrying the hex HMAC-SHA256 of a request or response body."""

ROUTE = "/v1/message"
"""The one route of the service (POST)."""

MIN_SECRET_BYTES = 16
"""Shortest per-job secret accepted, in bytes (HMAC keys below 128 bits are guessable)."""


def check_secret(secret: Any) -> bytes:
    """Return ``secret`` if it is bytes of at least :data:`MIN_SECRET_BYTES` bytes.

    Raises ``ValueError`` otherwise (a bug in the caller: the driver makes the secret).
    """
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the job secret must be at least {MIN_SECRET_BYTES} bytes, got "
                         f"{type(secret).__name__} of length {len(secret or b'')}")
    return secret

KINDS = ("register", "heartbeat", "request", "failed", "reemit")
"""The message kinds a replica may send."""

COMMON_FIELDS = ("job", "task", "replica", "seq", "kind")
"""Fields every message carries, checked in this order."""

MAX_INT = 2**63 - 1
"""Largest int accepted anywhere (Java's ``long``, as Hadoop counters are)."""

MAX_HOST_CHARS = 255
MAX_REASON_CHARS = 2000
MAX_COUNTER_GROUPS = 100
MAX_COUNTER_NAMES = 100
MAX_COUNTER_KEY_CHARS = 255

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ANY_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


# --------------------------------------------------------------------------- HMAC

def mac(secret: bytes, body: bytes) -> str:
    """Return the HMAC-SHA256 of ``body`` (bytes) under ``secret`` (bytes) as 64 hex chars.

    Uses ``cryptography.hazmat.primitives.hmac`` (docs/design.md); where it is not
    installed (a Hadoop node running the shipped task zip) the standard library's ``hmac``,
    which gives the same bytes. Raises ``TypeError`` if either argument is not bytes.
    """
    if hmac is None:
        if not isinstance(secret, bytes) or not isinstance(body, bytes):
            raise TypeError("mac() takes bytes")
        return std_hmac.new(secret, body, hashlib.sha256).hexdigest()
    h = hmac.HMAC(secret, hashes.SHA256())
    h.update(body)
    return h.finalize().hex()


def check_mac(secret: bytes, body: bytes, mac_hex: str | None) -> None:
    """Check that ``mac_hex`` is the HMAC-SHA256 of ``body`` under ``secret``.

    The comparison is the library's constant-time ``verify``. Returns ``None``; raises
    :class:`ProtocolError` with status 401 if the MAC is missing, not 64 hex digits
    (either case) or wrong.
    """
    if not isinstance(mac_hex, str) or not _ANY_HEX64.fullmatch(mac_hex):
        raise ProtocolError(f"missing or malformed {MAC_HEADER} (want 64 hex digits)", 401)
    if hmac is None:
        if not std_hmac.compare_digest(mac(secret, body), mac_hex.lower()):
            raise ProtocolError(f"{MAC_HEADER} does not match the body: wrong secret or "
                                "tampered message", 401)
        return
    h = hmac.HMAC(secret, hashes.SHA256())
    h.update(body)
    try:
        h.verify(bytes.fromhex(mac_hex))
    except InvalidSignature:
        raise ProtocolError(f"{MAC_HEADER} does not match the body: wrong secret or "
                            "tampered message", 401) from None


# --------------------------------------------------------------------------- JSON

def encode(message: dict) -> bytes:
    """Encode ``message`` as compact JSON with sorted keys, UTF-8 bytes.

    Raises ``TypeError`` for a value JSON cannot hold and ``ValueError`` for NaN or
    infinity (``allow_nan=False``) or a lone surrogate in a string.
    """
    return _ENCODER.encode(message).encode("utf-8")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False)
"""The one encoder :func:`encode` uses (``json.dumps`` with options builds one per call)."""


def _no_constants(name: str) -> Any:
    """``parse_constant`` hook: refuse ``NaN``/``Infinity``, which JSON does not allow."""
    raise ValueError(f"non-standard JSON constant {name}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    """``object_pairs_hook``: refuse an object naming a key twice (ambiguous message)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("an object repeats a key")
    return result


_DECODER = json.JSONDecoder(parse_constant=_no_constants, object_pairs_hook=_no_duplicates)
"""The one decoder :func:`decode` uses (``json.loads`` with options builds one per call)."""


def decode(body: bytes) -> dict:
    """Decode a request or response body (UTF-8 JSON bytes) into a dict.

    Raises :class:`ProtocolError` with status 400 if ``body`` is not UTF-8, not JSON
    (including NaN/Infinity, repeated keys, absurd nesting or integers of more than
    4300 digits) or not a JSON object.
    """
    try:
        text = body.decode("utf-8")
        if text.startswith("\ufeff"):  # as json.loads does, which _DECODER.decode does not
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)",
                                       text, 0)
        value = _DECODER.decode(text)
    except UnicodeDecodeError:
        raise ProtocolError("body is not UTF-8", 400) from None
    except (ValueError, RecursionError) as err:
        raise ProtocolError(f"body is not valid JSON: {_short(err)}", 400) from None
    if not isinstance(value, dict):
        raise ProtocolError(f"body is a JSON {type(value).__name__}, want an object", 400)
    return value


# --------------------------------------------------------------------------- checkers

def _short(value: Any, limit: int = 60) -> str:
    """Return ``repr(value)`` cut to ``limit`` chars: safe to put in a one-line message."""
    text = repr(value) if not isinstance(value, BaseException) else str(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _int(minimum: int) -> Callable[[str, Any], int]:
    """Return a checker for an int (not a bool) in ``[minimum, MAX_INT]``."""
    def check(name: str, value: Any) -> int:
        if type(value) is not int:
            raise ProtocolError(f"field {name!r} must be an integer, got "
                                f"{type(value).__name__}", 400)
        if not minimum <= value <= MAX_INT:
            raise ProtocolError(f"field {name!r} = {_short(value)} is out of range "
                                f"[{minimum}, 2**63-1]", 422)
        return value
    return check


def _str(min_chars: int, max_chars: int) -> Callable[[str, Any], str]:
    """Return a checker for a str of ``min_chars``..``max_chars`` characters."""
    def check(name: str, value: Any) -> str:
        if type(value) is not str:
            raise ProtocolError(f"field {name!r} must be a string, got "
                                f"{type(value).__name__}", 400)
        if not min_chars <= len(value) <= max_chars:
            raise ProtocolError(f"field {name!r} has {len(value)} chars, want "
                                f"{min_chars}..{max_chars}", 422)
        return value
    return check


def _fraction(name: str, value: Any) -> float:
    """Check a number (int or float, not bool) in [0, 1]; return it as a float."""
    if type(value) not in (int, float):
        raise ProtocolError(f"field {name!r} must be a number, got "
                            f"{type(value).__name__}", 400)
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise ProtocolError(f"field {name!r} = {_short(value)} is outside [0, 1]", 422)
    return float(value)


def _signature(name: str, value: Any) -> str:
    """Check a SHA-256 signature: exactly 64 lowercase hex chars."""
    if type(value) is not str:
        raise ProtocolError(f"field {name!r} must be a string, got "
                            f"{type(value).__name__}", 400)
    if not _HEX64.fullmatch(value):
        raise ProtocolError(f"field {name!r} must be 64 lowercase hex chars, got "
                            f"{_short(value, 80)}", 422)
    return value


_NATURAL = _int(0)
_POSITIVE = _int(1)
MAX_ENDED = 8
"""Most entries of a heartbeat's ``ended`` (replicas per map task are at most 8)."""


def _ended(name: str, value: Any) -> list:
    """Check ``ended``: a list of at most :data:`MAX_ENDED` ``[task, replica, status]``
    (task, replica >= 0; status in [-64, 255]); return it as tuples."""
    if type(value) is not list or len(value) > MAX_ENDED:
        raise ProtocolError(f"field {name!r} must be a list of at most {MAX_ENDED} "
                            f"entries", 400 if type(value) is not list else 422)
    out = []
    for entry in value:
        if type(entry) is not list or len(entry) != 3:
            raise ProtocolError(f"field {name!r}: each entry must be [task, replica, "
                                f"status], got {_short(entry, 40)}", 400)
        task, replica = _NATURAL(name, entry[0]), _NATURAL(name, entry[1])
        status = _int(-64)(name, entry[2])
        if status > 255:
            raise ProtocolError(f"field {name!r}: status {status} is out of range "
                                f"[-64, 255]", 422)
        out.append((task, replica, status))
    return out


def _lines(name: str, value: Any) -> list:
    """Check ``lines``: a list of 1 to :data:`MAX_ENDED` ``[task, replica]`` (ints >= 0);
    return it as tuples."""
    if type(value) is not list or not 1 <= len(value) <= MAX_ENDED:
        raise ProtocolError(f"field {name!r} must be a list of 1 to {MAX_ENDED} entries",
                            400 if type(value) is not list else 422)
    out = []
    for entry in value:
        if type(entry) is not list or len(entry) != 2:
            raise ProtocolError(f"field {name!r}: each entry must be [task, replica], got "
                                f"{_short(entry, 40)}", 400)
        out.append((_NATURAL(name, entry[0]), _NATURAL(name, entry[1])))
    return out


_COUNT = _int(-MAX_INT)
_ANY_STR = _str(0, MAX_INT)


def _object(name: str, value: Any, max_keys: int) -> dict:
    """Check a JSON object of at most ``max_keys`` string keys of bounded length."""
    if type(value) is not dict:
        raise ProtocolError(f"field {name!r} must be an object, got "
                            f"{type(value).__name__}", 400)
    if len(value) > max_keys:
        raise ProtocolError(f"field {name!r} has {len(value)} entries, at most "
                            f"{max_keys} allowed", 422)
    for key in value:
        if type(key) is not str or len(key) > MAX_COUNTER_KEY_CHARS:
            raise ProtocolError(f"field {name!r} has key {_short(key, 40)}, want a "
                                f"string of at most {MAX_COUNTER_KEY_CHARS} chars", 422)
    return value


def _counters(name: str, value: Any) -> dict:
    """Check Hadoop-style counters: group (str) -> name (str) -> int; return a copy."""
    result = {}
    for group, names in _object(name, value, MAX_COUNTER_GROUPS).items():
        counts = _object(f"{name}/{group}", names, MAX_COUNTER_NAMES)
        for key, count in counts.items():
            if type(count) is not int or not -MAX_INT <= count <= MAX_INT:
                _COUNT(f"{name}/{group}/{key}", count)  # raises, naming the counter
        result[group] = dict(counts)
    return result


REPORT_FIELDS: dict[str, Callable[[str, Any], Any]] = {
    "subsplit": _NATURAL, "signature": _signature, "output_bytes": _NATURAL,
    "counters": _counters,
}
"""Fields of the ``report`` object of a ``request``; ``counters`` is optional."""


def _fields(where: str, message: dict, spec: dict, optional: tuple = (),
            checks: dict | None = None) -> dict:
    """Check that ``message`` has exactly the fields of ``spec``; return checked values.

    Unknown fields are refused first (the first in sorted order is named), then missing
    ones (in ``spec`` order) unless ``optional``; then each present field of ``checks``
    (default: ``spec``) goes through its checker, in order. The set tests come first so a
    well-formed message pays for no list or sort.
    """
    keys = message.keys()
    if not keys <= spec.keys():
        unknown = sorted(set(keys) - set(spec), key=str)
        raise ProtocolError(f"{where}: unknown field {_short(unknown[0], 40)}", 400)
    if len(keys) != len(spec):
        missing = [name for name in spec if name not in message and name not in optional]
        if missing:
            raise ProtocolError(f"{where}: missing field {missing[0]!r}", 400)
    return {name: check(name, message[name])
            for name, check in (spec if checks is None else checks).items()
            if name in message}


def _report(name: str, value: Any) -> dict | None:
    """Check the optional ``report`` of a ``request``; ``None`` means no report."""
    if value is None:
        return None
    if type(value) is not dict:
        raise ProtocolError(f"field {name!r} must be an object or null, got "
                            f"{type(value).__name__}", 400)
    checked = _fields("report", value, REPORT_FIELDS, optional=("counters",))
    checked.setdefault("counters", {})
    return checked


KIND_FIELDS: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "register": {"host": _str(1, MAX_HOST_CHARS), "pid": _NATURAL,
                 "attempt": _str(0, MAX_HOST_CHARS), "key": _signature},
    "heartbeat": {"phase": _NATURAL, "progress": _fraction, "ended": _ended},
    "request": {"report": _report},
    "failed": {"reason": _str(0, MAX_REASON_CHARS)},
    "reemit": {"attempt": _str(1, MAX_HOST_CHARS), "lines": _lines, "key": _signature},
}
"""Per kind, the fields beyond :data:`COMMON_FIELDS` and their checkers."""

_OPTIONAL = {"request": ("report",), "register": ("attempt", "key"),
             "heartbeat": ("ended",)}


def _checked_already(_name: str, value: Any) -> Any:
    """Checker of a common field inside :func:`_fields`: :func:`_common` checked it."""
    return value


_SPECS = {kind: dict.fromkeys(COMMON_FIELDS, _checked_already) | fields
          for kind, fields in KIND_FIELDS.items()}


# --------------------------------------------------------------------------- validate

def _common(message: dict, job_id: str) -> dict:
    """Check the common fields (job first, then ids, seq, kind); return their values."""
    missing = [name for name in COMMON_FIELDS if name not in message]
    if missing:
        raise ProtocolError(f"missing field {missing[0]!r}", 400)
    job = _ANY_STR("job", message["job"])
    if job != job_id:
        raise ProtocolError(f"message is for job {_short(job, 80)}, this service "
                            f"serves {job_id!r}", 403)
    common = {"job": job, "task": _NATURAL("task", message["task"]),
              "replica": _NATURAL("replica", message["replica"]),
              "seq": _POSITIVE("seq", message["seq"])}
    kind = message["kind"]
    if kind not in KINDS:
        raise ProtocolError(f"unknown kind {_short(kind, 40)}, want one of "
                            f"{', '.join(KINDS)}", 400)
    common["kind"] = kind
    return common


def validate(message: dict, job_id: str) -> dict:
    """Validate a decoded message of job ``job_id``; return a normalised copy.

    The copy holds exactly the checked fields: ``progress`` becomes a float, a ``request``
    always has ``report`` (``None`` when absent), a report always has ``counters``
    (``{}`` when absent), a ``register`` always has ``attempt`` (``""``) and ``key``
    (``None``). Raises :class:`ProtocolError` 400 (structure, types, unknown or
    missing field, unknown kind), 403 (another job) or 422 (value out of range), naming
    the field. Rules: this module's docstring, docs/design.md, 'Voting service'.
    """
    if type(message) is not dict:
        raise ProtocolError(f"message is a {type(message).__name__}, want an object", 400)
    common = _common(message, job_id)
    kind = common["kind"]
    checked = common | _fields(kind, message, _SPECS[kind], optional=_OPTIONAL.get(kind, ()),
                               checks=KIND_FIELDS[kind])
    if kind == "request":
        checked.setdefault("report", None)
    elif kind == "register":
        checked.setdefault("attempt", "")
        checked.setdefault("key", None)
    return checked
