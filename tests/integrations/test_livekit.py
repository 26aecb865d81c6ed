"""The LiveKit Agents plugin end to end: real livekit-agents classes, the real gateway and
simulator over loopback. The simulator's own records say what the avatar received and when it
spoke and went silent; the plugin's callbacks must agree with them.

An AgentSession with no STT or LLM speaks with ``session.say`` through the synthetic ToneTTS;
the timing tests drive the AudioOutput directly, as AgentSession's audio forwarding does
(capture_frame per TTS frame, flush at the end, clear_buffer on a barge-in)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit.agents import Agent, AgentSession, ErrorEvent
from livekit.agents.voice.transcription import TranscriptSynchronizer
from livekit.plugins import dhgateway
from livekit.plugins.dhgateway.testing import ToneTTS, frames, say

from gateway.config import AuthConfig
from gateway.simulator.playout import PlayoutOutcome
from gateway.testing import Harness, running_gateway
from tests.conftest import free_port
from tests.integrations.conftest import DEADLINE_S, Heard, nothing_open, playout, speech
from tests.security.conftest import api_key

#: How far a playback callback may be from the simulator's record of the same moment.
CALLBACK_SKEW_S = 0.050


def near(ours: float, theirs: float | None, within_s: float = CALLBACK_SKEW_S) -> bool:
    return theirs is not None and abs(ours - theirs) <= within_s


@pytest.mark.asyncio
async def test_two_turns_reach_the_avatar_whole_in_order_and_are_heard_on_time(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput
) -> None:
    heard = Heard.of(output)
    turns = [speech(1200, seed=3), speech(800, rate=16000, seed=4)]
    for number, (audio, rate) in enumerate(zip(turns, (24000, 16000), strict=True)):
        await say(output, frames(audio, rate), paced=True)
        event = await playout(output)
        assert not event.interrupted
        assert event.playback_position == pytest.approx(len(audio) / 2 / rate, abs=0.001)
        record = harness.sim.drives[number]
        played = await harness.sim.wait_playout_ended(record.drive_id, DEADLINE_S)
        assert record.audio == audio and record.sample_rate == rate  # whole, in order
        assert played.outcome is PlayoutOutcome.PLAYED
        assert near(heard.started[number], played.speaking_at)
        assert near(heard.finished[number][0], played.ended_at)
    assert len(heard.started) == len(heard.finished) == 2
    assert not harness.sim.overlaps  # one turn's drive after the other's
    await nothing_open(harness)


@pytest.mark.asyncio
async def test_a_barge_in_silences_the_avatar_and_says_what_was_heard(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput
) -> None:
    heard = Heard.of(output)
    talk = asyncio.create_task(say(output, frames(speech(4000)), paced=True))
    async with asyncio.timeout(DEADLINE_S):
        while not heard.started:  # noqa: ASYNC110 - the callback is what is waited for
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.6)
    record = harness.sim.drives[-1]
    asked = time.monotonic()
    output.clear_buffer()  # what AgentSession does at the barge-in (its flush follows)
    talk.cancel()
    output.flush()
    event = await playout(output)
    played = await harness.sim.wait_playout_ended(record.drive_id, DEADLINE_S)
    assert played.outcome is PlayoutOutcome.INTERRUPTED and played.ended_at is not None
    assert played.ended_at - asked <= 0.150  # the avatar is silent
    assert event.interrupted
    assert played.played_ms is not None
    assert abs(event.playback_position * 1000 - played.played_ms) <= 20
    assert near(heard.finished[0][0], played.ended_at)
    assert record.stopped_at is not None  # the drive got its Stop
    await nothing_open(harness)
    # The next turn starts cleanly and plays whole.
    audio = speech(500, seed=9)
    await say(output, frames(audio))
    assert not (await playout(output)).interrupted
    assert harness.sim.drives[-1].audio == audio


@pytest.mark.asyncio
async def test_a_barge_in_after_the_flush_stops_the_avatar_playing_the_tail(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput
) -> None:
    heard = Heard.of(output)
    await say(output, frames(speech(3000)))  # all at once, flushed: the avatar plays the tail
    async with asyncio.timeout(DEADLINE_S):
        while not heard.started:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.5)
    asked = time.monotonic()
    output.clear_buffer()
    event = await playout(output)
    played = await harness.sim.wait_playout_ended(harness.sim.drives[-1].drive_id, DEADLINE_S)
    assert played.ended_at is not None and played.ended_at - asked <= 0.150
    assert event.interrupted and played.played_ms is not None
    assert abs(event.playback_position * 1000 - played.played_ms) <= 20
    assert output.last_error is None
    await nothing_open(harness)


@contextlib.asynccontextmanager
async def started(
    session: AgentSession[Any], avatar: dhgateway.AvatarSession
) -> AsyncIterator[AgentSession[Any]]:
    """``session`` started (no room, no STT or LLM: it speaks what ``say`` gives it), then
    closed with ``avatar``."""
    await session.start(agent=Agent(instructions="say what you are told"))
    try:
        yield session
    finally:
        await session.aclose()
        await avatar.aclose()


@pytest.mark.asyncio
async def test_an_agent_session_speaks_through_the_avatar(harness: Harness) -> None:
    tone = ToneTTS()
    avatar = dhgateway.AvatarSession(task_id="lk-session", channel=harness.channel)
    session: AgentSession[Any] = AgentSession(tts=tone)
    await avatar.start(session)
    assert session.output.audio is avatar.audio_output  # the one call wired it
    async with started(session, avatar):
        for number, text in enumerate(["hello there", "how are you today"]):
            async with asyncio.timeout(DEADLINE_S):
                await session.say(text).wait_for_playout()
            audio = harness.sim.drives[number].audio
            spoken = tone.render(text)
            # The TTS's audio, whole and in order; LiveKit ends a segment with a little silence.
            assert audio[: len(spoken)] == spoken and not audio[len(spoken) :].strip(b"\0")
        messages = [item for item in session.history.items if item.type == "message"]
        assert [(m.text_content, m.interrupted) for m in messages] == [
            ("hello there", False),
            ("how are you today", False),
        ]
    await nothing_open(harness)


def speaking(h: Harness, drive_id: str) -> bool:
    """Whether the simulator's avatar has begun to speak ``drive_id``."""
    playout = next((p for p in h.sim.playouts if p.drive_id == drive_id), None)
    return playout is not None and playout.speaking_at is not None


@pytest.mark.asyncio
async def test_an_interrupted_agent_keeps_only_the_words_the_user_heard(
    harness: Harness,
) -> None:
    session: AgentSession[Any] = AgentSession(tts=ToneTTS(realtime=True))
    # As RoomIO builds it in a room: the transcript synchroniser in front of the audio sink.
    placeholder = dhgateway.DHGatewayAudioOutput(task_id="never-driven", channel=harness.channel)
    synchronizer = TranscriptSynchronizer(next_in_chain_audio=placeholder, next_in_chain_text=None)
    session.output.audio = synchronizer.audio_output
    session.output.transcription = synchronizer.text_output
    avatar = dhgateway.AvatarSession(task_id="lk-cut", channel=harness.channel)
    await avatar.start(session)  # replaces the chain's tail, the synchroniser stays
    assert session.output.audio is synchronizer.audio_output
    async with started(session, avatar):
        words = " ".join(f"word{i}" for i in range(20))  # 4 s at 200 ms a word
        handle = session.say(words)
        # Barge in 1 s into what the avatar says (a loaded machine may start it late).
        record = await harness.sim.wait_for_drive("lk-cut", timeout=DEADLINE_S)
        await harness.sim.wait_for(lambda: speaking(harness, record.drive_id), DEADLINE_S)
        await asyncio.sleep(1.0)
        async with asyncio.timeout(DEADLINE_S):
            await session.interrupt()
            await handle.wait_for_playout()
        [message] = [item for item in session.history.items if item.type == "message"]
        said = (message.text_content or "").split()
        assert message.interrupted and 1 <= len(said) < 20
        assert said == words.split()[: len(said)]
        assert harness.sim.drives_for_task("lk-cut") == [record]
        assert (await harness.sim.wait_playout_ended(record.drive_id)).interrupted_at is not None
    await nothing_open(harness)


@pytest.mark.asyncio
async def test_an_unreachable_gateway_is_a_connection_error_not_a_hang(
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = dhgateway.DHGatewayAudioOutput(task_id="t", address=f"127.0.0.1:{free_port()}")
    try:
        began = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="livekit.plugins.dhgateway"):
            await say(output, frames(speech(400)))
            event = await playout(output)
        assert time.monotonic() - began < 5
        assert event.interrupted and event.playback_position == 0
        error = output.last_error
        assert isinstance(error, dhgateway.DHGatewayConnectionError)
        assert error.code == "UNAVAILABLE" and error.retryable
        assert any("drive failed" in r.message for r in caplog.records)
    finally:
        await output.aclose()


@pytest.mark.asyncio
async def test_a_refused_key_is_the_sessions_error_with_the_gateways_reason() -> None:
    auth = AuthConfig(api_keys=(api_key("a", "dhgw_good-key"),))
    async with running_gateway(auth=auth) as h:
        avatar = dhgateway.AvatarSession(task_id="t", address=h.address, api_key="dhgw_bad-key")
        session: AgentSession[Any] = AgentSession(tts=ToneTTS())
        await avatar.start(session)
        errors: list[ErrorEvent] = []
        session.on("error", errors.append)
        async with started(session, avatar):
            for _ in range(2):  # each turn fails alike; none hangs
                async with asyncio.timeout(DEADLINE_S):
                    await session.say("are you there").wait_for_playout()
        assert len(errors) == 2
        error = errors[0].error
        assert isinstance(error, dhgateway.DHGatewayStatusError)
        assert (error.code, error.reason, error.status_code) == (
            "UNAUTHENTICATED",
            "UNAUTHENTICATED",
            401,
        )
        assert not error.retryable and errors[0].source is avatar.audio_output
        assert not h.sim.drives  # refused before it reached the vendor
