"""Hadoop runner: a ``register`` counts only for an attempt the cluster runs (issue 22).

On Hadoop a replica enrolls its key with its first ``register``, MAC'd under the job's
enrollment secret, which every mapper of the job can read (:mod:`dirft.service.keys`). So
the voting service asks the MapReduce ApplicationMaster, through the ResourceManager's web
proxy (``requests``), about the attempt the ``register`` claims before it installs the key::

    GET <rm>/proxy/<application>/ws/v1/mapreduce/jobs/<job>/tasks/<task>/attempts/<attempt>

(the AM's ``AMWebServices``; the ids are derived from the attempt id, as Hadoop's
``TaskAttemptID`` spells them). The claim is accepted only if the attempt exists, is
``NEW``, ``STARTING`` or ``RUNNING``, and runs on the host the request comes from (an
address of its ``nodeHttpAddress``'s host is the request's peer address). Otherwise the
``register`` is refused with 403 before any key is bound, so it aborts nothing: a hostile
mapper can no longer enroll a key for an attempt that does not exist, or for one running
on another host. Left possible: a mapper on the same host as a sibling's real, running
attempt that registers before that sibling does (the sibling's own ``register`` is then a
conflict, which aborts the job: nothing wrong is committed).
"""

from __future__ import annotations

import re
import socket

import requests

from dirft.errors import ProtocolError

LIVE_STATES = ("NEW", "STARTING", "RUNNING")
"""MapReduce ``TaskAttemptState`` values of an attempt that may register."""

_ATTEMPT = re.compile(r"attempt_(\d+)_(\d+)_([mr])_(\d+)_(\d+)")


def attempt_url(rm_url: str, attempt: str) -> str:
    """The AM REST URL, through the RM proxy at ``rm_url``, of ``attempt`` (an id such as
    ``attempt_1733_0001_m_000003_0``). Raises :class:`ProtocolError` 403 for a malformed id."""
    match = _ATTEMPT.fullmatch(attempt or "")
    if match is None:
        raise ProtocolError(f"register claims attempt {attempt!r}, which is not a Hadoop "
                            f"task attempt id; refused", 403)
    stamp, number, kind, task = match.group(1), match.group(2), match.group(3), match.group(4)
    job = f"job_{stamp}_{number}"
    return (f"{rm_url.rstrip('/')}/proxy/application_{stamp}_{number}/ws/v1/mapreduce/jobs/"
            f"{job}/tasks/task_{stamp}_{number}_{kind}_{task}/attempts/{attempt}")


class AttemptCheck:
    """Checks a claimed attempt against the cluster (module doc); callable as the
    keyring's ``verify(attempt, peer)``.

    ``rm_url``: the ResourceManager's web address (``http://rm:8088``); ``timeout``:
    seconds per request; ``tries``: requests before the AM counts as unreachable;
    ``resolve(host)``: the set of addresses of a host name (default: ``getaddrinfo``).
    """

    def __init__(self, rm_url: str, timeout: float = 10.0, tries: int = 3,
                 resolve=None) -> None:
        self.rm_url, self.timeout, self.tries = rm_url, timeout, tries
        self.resolve = resolve or _addresses
        self.session = requests.Session()

    def __call__(self, attempt: str, peer: str | None) -> None:
        """Return if ``attempt`` is live on the host at address ``peer``; else raise
        :class:`ProtocolError` 403 naming why (503 if the AM could not be asked)."""
        info = self._attempt(attempt)
        state = info.get("state", "?")
        if state not in LIVE_STATES:
            raise ProtocolError(f"register claims attempt {attempt}, which the "
                                f"ApplicationMaster reports {state}; refused", 403)
        host = str(info.get("nodeHttpAddress", "")).rsplit(":", 1)[0]
        peer = (peer or "").removeprefix("::ffff:")  # IPv4 through an IPv6 socket
        if not host or peer not in self.resolve(host):
            raise ProtocolError(f"register for attempt {attempt} comes from {peer}, but the "
                                f"attempt runs on {host or 'an unknown host'}; refused", 403)

    def _attempt(self, attempt: str) -> dict:
        """The AM's ``taskAttempt`` object of ``attempt``; raises ProtocolError 403 if the
        cluster does not know it, 503 if it could not be asked."""
        url, last = attempt_url(self.rm_url, attempt), ""
        for _ in range(self.tries):
            try:
                answer = self.session.get(url, headers={"Accept": "application/json"},
                                          timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as err:
                last = str(err)
                continue
            if answer.status_code == 200:
                try:
                    return answer.json()["taskAttempt"]
                except (ValueError, KeyError, TypeError):
                    last = f"an answer without taskAttempt: {answer.text[:200]!r}"
                    continue
            if answer.status_code in (400, 404) or 300 <= answer.status_code < 400:
                raise ProtocolError(f"register claims attempt {attempt}, which the cluster "
                                    f"does not run (HTTP {answer.status_code} from the "
                                    f"ApplicationMaster); refused", 403)
            last = f"HTTP {answer.status_code}"
        raise ProtocolError(f"cannot ask the ApplicationMaster about attempt {attempt} "
                            f"through {self.rm_url} ({last}); register refused, retry", 503)


def security_section(rm_url: str) -> dict:
    """The Hadoop report's ``security`` section: where registrations were checked
    (``rm_url``, "" for nowhere), and a warning when they were not."""
    warnings = [] if rm_url else [
        "registrations were not checked against the cluster (no ResourceManager address: "
        "set dirft.yarn.rm.url): a mapper holding the enrollment secret could register for "
        "an attempt that does not exist"]
    return {"registrations_checked_against": rm_url or None, "warnings": warnings}


def _addresses(host: str) -> set:
    """Every address ``host`` resolves to (empty if it does not)."""
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return set()
