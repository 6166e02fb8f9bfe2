"""Typing one configuration value by the kind, bounds and choices of its option.

Values stay strings until :func:`parse_value` types them as Hadoop's ``Configuration``
getters do (``getInt`` with hex, ``getBoolean``, byte sizes); a bad value is a one-line
:class:`ConfigError` naming key, value, source and what is allowed. See :mod:`dirft.config`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, Mapping

from dirft.errors import ConfigError
from dirft.options import DEFAULT_ONLY, OPTIONS, Option
from dirft.units import parse_bytes

_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOUNS = {"int": "an integer", "float": "a number", "bool": "a boolean",
          "bytes": "a byte size", "choice": "a known choice", "str": "text"}


# ---------------------------------------------------------------- typing one value

def describe_allowed(option: Option) -> str:
    """Return what ``option`` accepts, e.g. ``"a whole number >= 1"`` (for error messages)."""
    if option.kind == "choice":
        return "one of " + ", ".join(option.choices)
    if option.kind in ("bool", "str"):
        return "true or false" if option.kind == "bool" else "any text"
    noun = {"int": "a whole number", "float": "a number", "bytes": "a byte size"}[option.kind]
    example = " such as 134217728, 128m or 64MiB" if option.kind == "bytes" else ""
    return noun + _bounds(option) + example


def _bounds(option: Option) -> str:
    """Return the bounds of ``option`` as text: ``" >= 1"``, ``" from 0 to 100"``, ``""``."""
    low, high = option.minimum, option.maximum
    if low is not None and high is not None:
        return f" from {format_number(low)} to {format_number(high)}"
    if low is not None:
        return f" {'>' if option.exclusive_minimum else '>='} {format_number(low)}"
    return f" <= {format_number(high)}" if high is not None else ""


def format_number(value: float) -> str:
    """Return ``value`` without a useless ``.0``."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _show(text: str) -> str:
    """Return ``repr(text)`` cut to 60 characters, so an error message stays one short line."""
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:56] + "...'"


def _to_int(text: str) -> int:
    """Parse a decimal or ``0x`` hex integer as Hadoop's ``getInt``; ValueError otherwise."""
    text = text.strip()
    if not _INT.fullmatch(text):
        raise ValueError(text)
    return int(text, 16 if "x" in text.lower() else 10)


def _to_float(text: str) -> float:
    """Parse a finite decimal number (``1``, ``0.05``, ``1e3``); ValueError otherwise."""
    text = text.strip()
    if not _FLOAT.fullmatch(text) or not math.isfinite(float(text)):
        raise ValueError(text)
    return float(text)


def _to_bool(text: str) -> bool:
    """Parse ``true``/``false`` in any case, as Hadoop's ``getBoolean``; ValueError otherwise."""
    word = text.strip().lower()
    if word not in ("true", "false"):
        raise ValueError(text)
    return word == "true"


def _to_bytes(text: str) -> int:
    """Parse a byte size (``134217728``, ``128m``), exactly for integers; ValueError otherwise."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return int(text)  # parse_bytes goes through float and would round 2**63 - 1
    try:
        return parse_bytes(text)
    except ConfigError:
        raise ValueError(text) from None


_PARSERS = {"int": _to_int, "float": _to_float, "bool": _to_bool, "bytes": _to_bytes,
            "choice": str.strip, "str": str}


def parse_value(option: Option, text: str, source: str) -> Any:
    """Return ``text`` typed by ``option.kind``: int, float, bool, int bytes, or str.

    ``source`` (a file path, ``-D`` or ``default``) goes into error messages. Raises
    ConfigError naming key, value, source and what is allowed when the text does not
    parse, is out of bounds or not a choice, or is not the default of a :data:`DEFAULT_ONLY` key.
    """
    head = f"{option.key}: {_show(text)} (from {source})"
    try:
        value = _PARSERS[option.kind](text)
    except ValueError:
        raise ConfigError(f"{head} is not {_NOUNS[option.kind]}; "
                          f"expected {describe_allowed(option)}") from None
    _check_allowed(option, value, head)
    return value


def _check_allowed(option: Option, value: Any, head: str) -> None:
    """Raise ConfigError (message starting ``head``) if ``value`` is not allowed by ``option``."""
    if option.kind == "choice" and value not in option.choices:
        raise ConfigError(f"{head} is not a known choice; expected {describe_allowed(option)}")
    if option.kind in ("int", "float", "bytes") and not _in_bounds(option, value):
        raise ConfigError(f"{head} is out of range; expected {describe_allowed(option)}")
    if option.key in DEFAULT_ONLY and value != _PARSERS[option.kind](option.default or ""):
        raise ConfigError(f"{head} is not supported yet: only the default "
                          f"{option.default!r} is, as {DEFAULT_ONLY[option.key]}")


def _in_bounds(option: Option, value: float) -> bool:
    """Return True if the number ``value`` lies within ``option``'s bounds."""
    low, high = option.minimum, option.maximum
    above = low is None or value > low or (value == low and not option.exclusive_minimum)
    return above and (high is None or value <= high)


def parse_all(values: Mapping[str, str], sources: Mapping[str, str]) -> Dict[str, Any]:
    """Return ``{key: typed value}`` for every :data:`OPTIONS` key present in ``values``.

    Raises ConfigError for the first bad value, in table order (see :func:`parse_value`).
    """
    return {key: parse_value(option, values[key], sources[key])
            for key, option in OPTIONS.items() if key in values}


def default_value(key: str) -> Any:
    """Return the typed default of the known ``key`` (``"10.0"`` -> 10.0; None when it has
    none), for code that takes a value without a :class:`~dirft.config.JobConf` (a
    constructor's default). Raises KeyError for a key outside :data:`OPTIONS`."""
    option = OPTIONS[key]
    return None if option.default is None else parse_value(option, option.default, "default")


def read_value(values: Mapping[str, str], key: str) -> Any:
    """Return the typed value of the known ``key`` in ``values`` (a job's effective strings,
    as :meth:`~dirft.config.JobConf.items` gives them to a task), else its typed default.

    Raises KeyError for a key outside :data:`OPTIONS`, ConfigError for a bad value.
    """
    if key not in values:
        return default_value(key)
    return parse_value(OPTIONS[key], str(values[key]), "the job's configuration")
