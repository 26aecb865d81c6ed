"""Authenticating the vendor's callbacks: pure code, the clock passed in.

Theory of operation
-------------------
A callback is a JSON object with ``AppId``, ``EventType`` (3: the stream task's status, 4: a
drive's status), ``Nonce``, ``Timestamp``, ``Signature``, ``EventTime`` (ms), ``TaskId`` and
``Detail`` (zego-api.md §12). :class:`CallbackVerifier` decides, for each body:

1. it must parse and carry every field with its type (else MALFORMED, HTTP 400);
2. its ``AppId`` must be one of ours (else UNKNOWN_APP, 403);
3. ``Signature`` must be SHA1 over the sorted ``[callback secret, Timestamp, Nonce]``,
   concatenated, for one of that AppId's callback secrets (several: a secret being rotated),
   compared in constant time (else BAD_SIGNATURE, 401);
4. ``Timestamp`` must be within ``window_s`` of now, read as seconds or, above 10^11, as
   milliseconds (the vendor's docs disagree, §16) (else STALE, 401);
5. a ``Nonce`` seen before (within the window) is the vendor's retry when the body is the same:
   DUPLICATE, answered 2xx but not applied again; with another body it is REPLAYED (401). A
   callback that could not be applied after all (no drive of that id, its replica out of
   reach) must be taken back with :meth:`~CallbackVerifier.forget_nonce`, so that the vendor's
   retry of it is checked afresh.

Only a callback that passed all of it is ACCEPTED and returned as a :class:`DriveStatus` or
:class:`TaskStatus` to apply. The nonces are kept for the window only, and at most
``max_nonces`` (the oldest go first), so memory is bounded whatever is sent.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Timestamps above this are milliseconds (10^11 s is the year 5138).
_MS_ABOVE = 10**11


class Verdict(enum.Enum):
    """What a callback gets; :attr:`http_status` is the answer that says it."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # a retry of one applied already: 2xx (the vendor stops), not again
    MALFORMED = "malformed"
    UNKNOWN_APP = "unknown_app"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"
    REPLAYED = "replayed"

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self]


_HTTP_STATUS = {
    Verdict.ACCEPTED: 200,
    Verdict.DUPLICATE: 200,
    Verdict.MALFORMED: 400,
    Verdict.UNKNOWN_APP: 403,
    Verdict.BAD_SIGNATURE: 401,
    Verdict.STALE: 401,
    Verdict.REPLAYED: 401,
}


@dataclass(frozen=True, slots=True)
class DriveStatus:
    """EventType 4: a drive's status (1 queued, 2 driving, 3 failed, 4 ended)."""

    app_id: int
    task_id: str
    drive_id: str
    status: int
    event_time_ms: int
    #: The vendor's ``Nonce``: what a retry of it repeats (replicas share it to apply it once).
    nonce: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """EventType 3: the stream task's status (1 init, 2 init failed, 3 streaming, 4 stopping,
    5 stopped)."""

    app_id: int
    task_id: str
    status: int
    event_time_ms: int
    fail_reason: str = ""
    nonce: str = field(default="", compare=False)


Callback = DriveStatus | TaskStatus


def signature(secret: str, timestamp: str, nonce: str) -> str:
    """The vendor's callback ``Signature``: SHA1 hex over the sorted three, concatenated."""
    joined = "".join(sorted([secret, timestamp, nonce]))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


class CallbackVerifier:
    """Decides what each callback body gets. See the module docstring.

    Args:
        secrets: each AppId's callback secrets (the current one first, during a rotation both).
        window_s: how far a ``Timestamp`` may be from now, and how long a nonce is kept.
        max_nonces: the most nonces kept.
    """

    def __init__(
        self,
        secrets: Mapping[int, Sequence[str]],
        *,
        window_s: float = 300.0,
        max_nonces: int = 100_000,
    ) -> None:
        self._secrets = {app_id: tuple(values) for app_id, values in secrets.items()}
        self.window_s = window_s
        self.max_nonces = max_nonces
        # nonce -> (when it expires, a digest of its body)
        self._nonces: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def check(self, body: bytes, now: float) -> tuple[Verdict, Callback | None]:
        """The verdict on one body received at ``now`` (Unix seconds), and the callback to
        apply when it is ACCEPTED (else None)."""
        self._forget(now)
        fields = _parse(body)
        if fields is None:
            return Verdict.MALFORMED, None
        app_id, nonce, timestamp, sent_signature = (
            fields["AppId"],
            fields["Nonce"],
            fields["Timestamp"],
            fields["Signature"],
        )
        secrets = self._secrets.get(app_id)
        if not secrets:
            return Verdict.UNKNOWN_APP, None
        expected = [signature(secret, timestamp, nonce) for secret in secrets]
        if not any(hmac.compare_digest(e, sent_signature.lower()) for e in expected):
            return Verdict.BAD_SIGNATURE, None
        sent_at = int(timestamp)
        sent_s = sent_at / 1000 if sent_at > _MS_ABOVE else float(sent_at)
        if abs(now - sent_s) > self.window_s:
            return Verdict.STALE, None
        digest = hashlib.sha256(body).digest()
        if (seen := self._nonces.get(nonce)) is not None:
            return (Verdict.DUPLICATE if seen[1] == digest else Verdict.REPLAYED), None
        self._nonces[nonce] = (now + self.window_s, digest)
        while len(self._nonces) > self.max_nonces:
            self._nonces.popitem(last=False)
        return Verdict.ACCEPTED, _callback(fields)

    def forget_nonce(self, nonce: str) -> None:
        """Forget an accepted ``nonce``: the callback was not applied (its drive unknown, or
        its replica out of reach), so the vendor's retry of it must be checked afresh."""
        self._nonces.pop(nonce, None)

    def _forget(self, now: float) -> None:
        while self._nonces:
            nonce, (expires, _) = next(iter(self._nonces.items()))
            if expires > now:
                break
            del self._nonces[nonce]


def _parse(body: bytes) -> dict[str, Any] | None:
    """The callback's fields, checked for presence and type; None when malformed."""
    try:
        fields = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(fields, dict):
        return None
    wanted: dict[str, type | tuple[type, ...]] = {
        "AppId": int,
        "EventType": int,
        "Nonce": str,
        "Timestamp": (str, int),
        "Signature": str,
        "TaskId": str,
        "Detail": dict,
    }
    for name, kind in wanted.items():
        value = fields.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return None
    fields["Timestamp"] = str(fields["Timestamp"])
    if not fields["Timestamp"].isdigit() or not fields["Nonce"]:
        return None
    detail = fields["Detail"]
    if fields["EventType"] == 4:
        if not isinstance(detail.get("DriveId"), str) or not _is_int(detail.get("Status")):
            return None
    elif fields["EventType"] == 3:
        if not _is_int(detail.get("Status")):
            return None
    else:
        return None
    if "EventTime" in fields and not _is_int(fields["EventTime"]):
        return None
    return fields


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _callback(fields: Mapping[str, Any]) -> Callback:
    detail = fields["Detail"]
    event_time_ms = int(fields.get("EventTime", 0))
    if fields["EventType"] == 4:
        return DriveStatus(
            fields["AppId"],
            fields["TaskId"],
            detail["DriveId"],
            detail["Status"],
            event_time_ms,
            nonce=fields["Nonce"],
        )
    return TaskStatus(
        fields["AppId"],
        fields["TaskId"],
        detail["Status"],
        event_time_ms,
        str(detail.get("FailReason", "")),
        nonce=fields["Nonce"],
    )
