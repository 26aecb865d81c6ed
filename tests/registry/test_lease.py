"""A held lease's keeper: its deadline comes whatever the Redis calls do, and settings whose
margin does not fit are refused at start."""

from __future__ import annotations

import asyncio

import pytest

from gateway.config import ConfigProblems, load_config
from gateway.errors import GatewayError, Reason
from gateway.registry.lease import LeaseKeeper
from gateway.registry.timing import LeaseTiming

CREDS = {"DHGW_ZEGO_APP_ID": "1234567890", "DHGW_ZEGO_SERVER_SECRET": "x" * 32}
REDIS = {**CREDS, "DHGW_REDIS_URL": "redis://127.0.0.1:6379/0"}


class Holder:
    drive_id = "d"

    def __init__(self) -> None:
        self.ended = asyncio.Event()
        self.reasons: list[Reason] = []

    def end(self, reason: GatewayError) -> None:
        self.reasons.append(reason.reason)
        self.ended.set()


@pytest.mark.asyncio
async def test_a_renewal_that_never_answers_cannot_delay_the_deadline() -> None:
    loop = asyncio.get_running_loop()
    never = asyncio.Event()  # never set: every renewal hangs
    calls = 0

    async def renew() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            return True  # the first one gets through
        await never.wait()
        return True

    timing = LeaseTiming(ttl_s=1.0, renew_s=0.1, attempt_s=5.0, end_s=0.3)
    holder = Holder()
    keeper = LeaseKeeper("k", holder, renew, timing, taken_at=loop.time())
    keeper.start()
    try:
        async with asyncio.timeout(5):
            await holder.ended.wait()
        ended_at = loop.time()
        assert holder.reasons == [Reason.SHARED_STATE_UNAVAILABLE]
        assert calls == 2  # the second renewal still hung: its bound (5 s) did not matter
        # Ended at the last successful renewal's send + hold_s, before the lease could lapse
        # with the time to end left over.
        assert keeper.renewed_at > 0 and keeper.expired
        assert ended_at >= keeper.end_at
        assert keeper.end_at + timing.end_s < keeper.lapses_at
    finally:
        keeper.stop()


@pytest.mark.asyncio
async def test_a_renewal_moves_the_deadline_from_when_it_was_sent() -> None:
    loop = asyncio.get_running_loop()
    answered = asyncio.Event()

    async def slow_renew() -> bool:
        await asyncio.sleep(0.2)  # answered 0.2 s after it was sent
        answered.set()
        return True

    timing = LeaseTiming(ttl_s=10.0, renew_s=5.0, attempt_s=1.0)
    holder = Holder()
    taken_at = loop.time()
    keeper = LeaseKeeper("k", holder, slow_renew, timing, taken_at=taken_at)
    keeper.start()
    try:
        sent_at = loop.time()
        assert await keeper.renew()
        assert sent_at <= keeper.renewed_at < sent_at + 0.1  # the send, not the answer
        assert keeper.end_at == pytest.approx(keeper.renewed_at + timing.hold_s)
    finally:
        keeper.stop()


def test_settings_whose_margin_does_not_fit_are_refused_with_the_least_ttl() -> None:
    with pytest.raises(ConfigProblems) as caught:
        load_config({**REDIS, "DHGW_LEASE_TTL_S": "10"})
    (problem,) = (str(p) for p in caught.value.problems)
    assert problem.startswith("server.lease_ttl_s (DHGW_LEASE_TTL_S) is too short")
    assert "7.1 s for its Stop and close" in problem and "at least 13.3 s" in problem
    # What it asks for fits; so do the defaults, and a shorter lease without Redis.
    assert load_config({**REDIS, "DHGW_LEASE_TTL_S": "13.4"}).server.lease_ttl_s == 13.4
    assert load_config(REDIS).server.lease_ttl_s == 15
    assert load_config({**CREDS, "DHGW_LEASE_TTL_S": "1"}).server.lease_ttl_s == 1
    # The WebSocket timeouts count: a longer close needs a longer lease.
    with pytest.raises(ConfigProblems):
        load_config({**REDIS, "DHGW_UPSTREAM_WS_CLOSE_TIMEOUT_S": "4"})
