"""Reading configuration layers and merging them over the defaults of the option table.

A layer is ``(source label, {key: value})``: a ``mapred-site.xml`` file (read with
defusedxml, as Hadoop's ``Configuration.Parser`` reads it) or the ``-D key=value`` defines
(``GenericOptionsParser``). :func:`merge_layers` stacks them, a later layer winning, and
renames deprecated keys as Hadoop's ``DeprecationDelta`` does. See :mod:`dirft.config`.
"""

from __future__ import annotations

import difflib
import os
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from dirft.errors import ConfigError, UsageError
from dirft.options import DEPRECATED, OPTIONS, OWNED_PREFIXES

#: (source label, {key: value}) - one configuration layer, lowest first when merged.
Layer = Tuple[str, Mapping[str, str]]

# ---------------------------------------------------------------- reading the layers

def parse_define(text: str) -> Tuple[str, str]:
    """Split one ``-D key=value`` argument (``text`` without the ``-D``) at the first ``=``.

    Returns ``(key, value)``: the key stripped, the value as typed (Hadoop's
    ``GenericOptionsParser`` keeps it). Raises ConfigError if there is no ``=`` or the key
    is empty.
    """
    key, equals, value = str(text).partition("=")
    if not equals:
        raise ConfigError(f"-D {text!r}: expected key=value, e.g. -D dirft.nodes=8")
    if not key.strip():
        raise ConfigError(f"-D {text!r}: the key before '=' is empty; write -D key=value")
    return key.strip(), value


def check_defines(defines: Sequence[str]) -> list:
    """Return ``defines`` (``-D`` arguments of a command line) as a list, or raise
    :class:`UsageError` (a bad command line: exit status 2) for the first one that
    :func:`parse_define` refuses, with its message."""
    for text in defines:
        try:
            parse_define(text)
        except ConfigError as err:
            raise UsageError(str(err)) from None
    return list(defines)


def parse_cmdenv(items: Sequence[str]) -> dict[str, str]:
    """Parse ``-cmdenv`` arguments (``["NAME=VALUE", ...]``) into ``{NAME: VALUE}``.

    The value is everything after the first ``=`` and may be empty or contain ``=``; a later
    item for the same NAME wins, as in Hadoop's ``StreamJob``. Raises
    :class:`dirft.errors.UsageError` naming the item when it has no ``=``, an empty NAME, or
    a NUL character (which no environment can hold).
    """
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or "\0" in item:
            raise UsageError(
                f"-cmdenv {item!r}: expected NAME=VALUE with a non-empty NAME, "
                "e.g. -cmdenv MY_SETTING=42")
        env[name] = value
    return env


def read_site_xml(path: str) -> Dict[str, str]:
    """Read a Hadoop configuration file (``mapred-site.xml`` format) at ``path``.

    Returns ``{name: value}`` in file order (a later duplicate wins, as in Hadoop). Names and
    values are stripped of surrounding whitespace as Hadoop 3's ``Configuration.Parser``
    does, except that a value made only of whitespace keeps its tabs, so a tab separator
    can be written ``&#9;``. ``<final>`` and ``<description>`` are accepted and ignored.
    Parsed with defusedxml: entity declarations and external references are refused.
    Raises ConfigError (one line, naming the file) for a missing, unreadable or corrupt
    file, a root other than ``<configuration>``, or a ``<property>`` without name or value.
    """
    root = _parse_xml(os.fspath(path))
    if root.tag != "configuration":
        raise ConfigError(f"{path}: root element is <{root.tag}>, expected <configuration> "
                          "as in Hadoop's mapred-site.xml")
    return dict(_read_property(path, index, element) for index, element
                in enumerate(root, start=1))


def _parse_xml(path: str) -> Element:
    """Return the root element of the XML file ``path``; raise ConfigError on any failure."""
    try:
        return safe_xml.parse(path).getroot()
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read configuration file: {err.strerror}") from None
    except ParseError as err:
        line, column = err.position
        reason = str(err).split(":")[0]
        raise ConfigError(f"{path}: not well-formed XML at line {line}, column {column}: "
                          f"{reason}") from None
    except DefusedXmlException as err:
        raise ConfigError(f"{path}: refused by the hardened XML parser ({type(err).__name__}); "
                          "configuration files need no DTD, entities or external "
                          "references") from None


def _read_property(path: str, index: int, element: Element) -> Tuple[str, str]:
    """Return ``(name, value)`` of the ``index``-th child of ``<configuration>``.

    Accepts Hadoop's two spellings: child elements, or ``name``/``value`` attributes.
    Raises ConfigError for a child that is not ``<property>`` or lacks name or value.
    """
    if element.tag != "property":
        raise ConfigError(f"{path}: element #{index} of <configuration> is <{element.tag}>, "
                          "expected <property>")
    name = (_child_text(element, "name") or "").strip()
    if not name:
        raise ConfigError(f"{path}: <property> #{index} has no <name>")
    value = _child_text(element, "value")
    if value is None:
        raise ConfigError(f"{path}: <property> {name} has no <value>")
    return name, _strip_value(value)


def _child_text(element: Element, tag: str) -> Optional[str]:
    """Return the text of ``element``'s ``<tag>`` child, else its ``tag`` attribute, else None."""
    child = element.find(tag)
    return element.get(tag) if child is None else "".join(child.itertext())


def _strip_value(text: str) -> str:
    """Strip ``text`` as Hadoop does; whitespace-only text keeps its tabs (see read_site_xml)."""
    return text.strip() or text.strip(" \r\n")


def load_layers(conf_files: Sequence[str] = (), defines: Sequence[str] = ()) -> Tuple[Layer, ...]:
    """Return the layers of ``conf_files`` (each labelled by its path, in order) then of
    ``defines`` (``key=value`` strings, labelled ``-D``; a later define wins).

    Raises ConfigError from :func:`read_site_xml` or :func:`parse_define`.
    """
    files = tuple((os.fspath(path), read_site_xml(path)) for path in conf_files)
    pairs = dict(parse_define(text) for text in defines)
    return files + ((("-D", pairs),) if pairs else ())


# ---------------------------------------------------------------- merging

def canonical_key(key: str, source: str) -> str:
    """Return the current name of ``key`` (renaming a :data:`DEPRECATED` one).

    Raises ConfigError, with the closest known key, for an unknown key under one of the
    :data:`OWNED_PREFIXES`; other unknown keys pass through (Hadoop keeps every key).
    """
    key = DEPRECATED.get(key, key)
    if key not in OPTIONS and key.startswith(OWNED_PREFIXES):
        raise ConfigError(f"{key}: unknown key (from {source}); {suggest_key(key)}every "
                          "dirft key is listed in mapred-site.example.xml")
    return key


def suggest_key(key: str) -> str:
    """Return ``"did you mean K? "`` for the known key K closest to ``key``, or ``""``."""
    close = difflib.get_close_matches(key, list(OPTIONS), n=1, cutoff=0.6)
    return f"did you mean {close[0]}? " if close else ""


def merge_layers(layers: Iterable[Layer]) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Merge the :data:`OPTIONS` defaults with ``layers`` (lowest first; later wins).

    Returns ``(values, sources)``: every key's effective string, and where it came from
    (``"default"`` or the layer's label). Non-string values are turned into strings.
    Raises ConfigError for an unknown owned key (see :func:`canonical_key`).
    """
    values = {key: o.default for key, o in OPTIONS.items() if o.default is not None}
    sources = dict.fromkeys(values, "default")
    for source, pairs in layers:
        for key, value in pairs.items():
            key = canonical_key(str(key), source)
            values[key], sources[key] = str(value), source
    return values, sources
