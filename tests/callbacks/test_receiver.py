"""The callback endpoint over a real socket: answers, bounds, and what it applies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from gateway.callbacks.receiver import MAX_BODY_BYTES, PATH, CallbackReceiver, Placed
from gateway.callbacks.verify import Callback, CallbackVerifier, DriveStatus
from tests.callbacks.test_verify import APP_ID, NOW, SECRET, body


class Applied:
    def __init__(self) -> None:
        self.callbacks: list[Callback] = []
        self.outcomes: list[str] = []

    async def apply(self, callback: Callback) -> Placed:
        self.callbacks.append(callback)
        if isinstance(callback, DriveStatus) and callback.drive_id == "nobody":
            return Placed.UNKNOWN
        return Placed.APPLIED


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[str, Applied]]:
    applied = Applied()
    receiver = CallbackReceiver(
        CallbackVerifier({APP_ID: [SECRET]}),
        applied.apply,
        counted=applied.outcomes.append,
        max_per_second=20,
        clock=lambda: NOW,
    )
    address = await receiver.start("127.0.0.1:0")
    try:
        yield f"http://{address}{PATH}", applied
    finally:
        await receiver.stop()


async def post(url: str, data: bytes) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.post(url, data=data) as answer:
        return answer.status, await answer.text()


@pytest.mark.asyncio
async def test_answers_say_what_happened_and_only_valid_callbacks_apply(
    served: tuple[str, Applied],
) -> None:
    url, applied = served
    assert (await post(url, body()))[0] == 200
    assert (await post(url, body()))[0] == 200  # the vendor's retry: answered, not applied
    assert (await post(url, body(nonce="n-9", secret="forged")))[0] == 401
    assert (await post(url, b"{"))[0] == 400
    assert (await post(url, body(nonce="n-10", AppId=7)))[0] == 403
    unknown = body(nonce="n-11", detail={"DriveId": "nobody", "Status": 4})
    assert (await post(url, unknown))[0] == 404
    status, text = await post(url, b"x" * (MAX_BODY_BYTES + 1))
    assert status == 413 and SECRET not in text
    assert [c.drive_id for c in applied.callbacks if isinstance(c, DriveStatus)] == [
        "drive-1",
        "nobody",
    ]
    assert applied.outcomes == [
        "accepted",
        "duplicate",
        "bad_signature",
        "malformed",
        "unknown_app",
        "unknown",
        "too_large",
    ]


@pytest.mark.asyncio
async def test_a_flood_is_refused_beyond_the_rate(served: tuple[str, Applied]) -> None:
    url, applied = served
    statuses = [(await post(url, body(nonce=f"f-{i}")))[0] for i in range(40)]
    assert statuses.count(200) == 20 and statuses.count(429) == 20  # the clock stands still
    assert len(applied.callbacks) == 20


@pytest.mark.asyncio
async def test_a_callback_not_placed_is_placed_afresh_when_retried() -> None:
    """503 (its replica out of reach) and 404 take the Nonce back: the vendor's retry of the
    same body is placed again, not answered as a duplicate."""
    answers = [Placed.UNPLACED, Placed.UNKNOWN, Placed.APPLIED]
    placed: list[Callback] = []

    async def place(callback: Callback) -> Placed:
        placed.append(callback)
        return answers[len(placed) - 1]

    receiver = CallbackReceiver(CallbackVerifier({APP_ID: [SECRET]}), place, clock=lambda: NOW)
    address = await receiver.start("127.0.0.1:0")
    try:
        url = f"http://{address}{PATH}"
        statuses = [(await post(url, body()))[0] for _ in range(4)]
    finally:
        await receiver.stop()
    assert statuses == [503, 404, 200, 200] and len(placed) == 3
