"""CallbackVerifier: signatures, stale and replayed callbacks, retries applied once."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, strategies as st

from gateway.callbacks.verify import CallbackVerifier, DriveStatus, TaskStatus, Verdict, signature

APP_ID = 1234567890
SECRET = "callback-secret-0123456789abcdef"
NOW = 1_800_000_000.0


def body(
    *,
    event_type: int = 4,
    nonce: str = "n-1",
    timestamp: str | None = None,
    secret: str = SECRET,
    detail: dict[str, Any] | None = None,
    **changes: Any,
) -> bytes:
    timestamp = timestamp if timestamp is not None else str(int(NOW * 1000))
    fields: dict[str, Any] = {
        "AppId": APP_ID,
        "EventType": event_type,
        "Nonce": nonce,
        "Timestamp": timestamp,
        "Signature": signature(secret, timestamp, nonce),
        "EventTime": int(NOW * 1000),
        "TaskId": "task-1",
        "Detail": detail if detail is not None else {"DriveId": "drive-1", "Status": 2},
    }
    fields.update(changes)
    return json.dumps(fields).encode()


def verifier() -> CallbackVerifier:
    return CallbackVerifier({APP_ID: [SECRET, "the-previous-secret"]}, window_s=300)


def test_the_vendors_signature_is_sha1_of_the_sorted_three() -> None:
    # sorted: "1681221510" < "abcdd22113" < "secret"
    expected = hashlib.sha1(b"1681221510abcdd22113secret").hexdigest()
    assert signature("secret", "1681221510", "abcdd22113") == expected


def test_a_valid_drive_callback_is_accepted_in_ms_or_s_and_with_a_rotated_secret() -> None:
    check = verifier()
    assert check.check(body(), NOW) == (
        Verdict.ACCEPTED,
        DriveStatus(APP_ID, "task-1", "drive-1", 2, int(NOW * 1000)),
    )
    seconds = body(nonce="n-2", timestamp=str(int(NOW)))
    assert check.check(seconds, NOW)[0] is Verdict.ACCEPTED
    rotated = body(nonce="n-3", secret="the-previous-secret")
    assert check.check(rotated, NOW)[0] is Verdict.ACCEPTED
    task = body(nonce="n-4", event_type=3, detail={"Status": 5, "FailReason": ""})
    assert check.check(task, NOW) == (
        Verdict.ACCEPTED,
        TaskStatus(APP_ID, "task-1", 5, int(NOW * 1000)),
    )


def test_a_retry_is_answered_but_applied_once_and_a_replay_is_refused() -> None:
    check = verifier()
    original = body()
    assert check.check(original, NOW)[0] is Verdict.ACCEPTED
    assert check.check(original, NOW + 2) == (Verdict.DUPLICATE, None)
    assert Verdict.DUPLICATE.http_status == 200
    replay = body(detail={"DriveId": "drive-1", "Status": 4})  # same nonce, other content
    assert check.check(replay, NOW + 3) == (Verdict.REPLAYED, None)
    # Past the window the nonce is forgotten, and the timestamp is stale anyway.
    assert check.check(original, NOW + 301)[0] is Verdict.STALE


@pytest.mark.parametrize(
    ("sent", "verdict"),
    [
        (body(secret="forged"), Verdict.BAD_SIGNATURE),
        (body(AppId=42), Verdict.UNKNOWN_APP),
        (body(timestamp=str(int((NOW - 301) * 1000))), Verdict.STALE),
        (body(timestamp=str(int(NOW + 301))), Verdict.STALE),
        (b"not json", Verdict.MALFORMED),
        (b"[1, 2]", Verdict.MALFORMED),
        (body(event_type=9), Verdict.MALFORMED),
        (body(detail={"Status": 2}), Verdict.MALFORMED),
        (body(AppId="1234567890"), Verdict.MALFORMED),
        (body(timestamp="12ab"), Verdict.MALFORMED),
        (body(Detail=None), Verdict.MALFORMED),
    ],
)
def test_bad_callbacks_are_refused_and_change_nothing(sent: bytes, verdict: Verdict) -> None:
    check = verifier()
    assert check.check(sent, NOW) == (verdict, None)
    assert verdict.http_status in (400, 401, 403)
    assert check.check(body(), NOW)[0] is Verdict.ACCEPTED  # nothing was remembered


@given(st.binary(max_size=2048))
def test_any_bytes_get_a_verdict_not_an_exception(sent: bytes) -> None:
    verdict, callback = verifier().check(sent, NOW)
    assert verdict in Verdict and (callback is None or verdict is Verdict.ACCEPTED)


def test_the_nonces_kept_are_bounded() -> None:
    check = CallbackVerifier({APP_ID: [SECRET]}, window_s=300, max_nonces=10)
    for i in range(50):
        assert check.check(body(nonce=f"n-{i}"), NOW)[0] is Verdict.ACCEPTED
    assert len(check._nonces) == 10
