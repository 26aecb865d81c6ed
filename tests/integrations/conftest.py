"""What the LiveKit plugin's tests share: a gateway, frames as a TTS makes them, and a record of
the playback callbacks an output made, with when."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest_asyncio
from livekit import rtc
from livekit.agents.voice.io import AudioOutput, PlaybackFinishedEvent
from livekit.plugins.dhgateway import DHGatewayAudioOutput

from gateway.testing import Harness, running_gateway
from tests.service.conftest import pcm

#: Every wait of these tests: a turn is a second or two of audio.
DEADLINE_S = 10.0


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    async with running_gateway() as h:
        yield h


@pytest_asyncio.fixture
async def output(harness: Harness) -> AsyncIterator[DHGatewayAudioOutput]:
    """The plugin's output on the harness's channel, closed after the test."""
    out = DHGatewayAudioOutput(task_id="lk-task", channel=harness.channel)
    yield out
    await out.aclose()


def speech(ms: int, *, rate: int = 24000, channels: int = 1, seed: int = 1) -> bytes:
    """``ms`` of deterministic s16le audio (interleaved when stereo)."""
    return pcm(ms * channels, rate, seed)


def frames(audio: bytes, rate: int = 24000, channels: int = 1) -> list[rtc.AudioFrame]:
    """``audio`` as 20 ms frames, as a TTS hands them to an AgentSession."""
    size = rate // 50 * channels * 2
    return [
        rtc.AudioFrame(
            audio[i : i + size], rate, channels, len(audio[i : i + size]) // 2 // channels
        )
        for i in range(0, len(audio), size)
    ]


async def say(
    output: AudioOutput, pieces: Sequence[rtc.AudioFrame], *, paced: bool = False
) -> None:
    """Capture ``pieces`` (at 1x when ``paced``, as a live TTS), then flush: one segment."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    for index, frame in enumerate(pieces):
        # 100 ms at once, then at 1x on an absolute schedule, as a live TTS's first burst.
        delay = began + (index - 5) * 0.02 - loop.time() if paced else 0
        if delay > 0:
            await asyncio.sleep(delay)
        await output.capture_frame(frame)
    output.flush()


async def playout(output: AudioOutput) -> PlaybackFinishedEvent:
    """What the output said of its last segment, once it finished (bounded)."""
    async with asyncio.timeout(DEADLINE_S):
        return await output.wait_for_playout()


async def nothing_open(h: Harness) -> None:
    """Wait (bounded) until the gateway holds no drive: every stream the plugin opened ended."""
    async with asyncio.timeout(DEADLINE_S):
        # The gateway's word over the wire is what counts here: no event to wait on.
        while await h.client.list_drives():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@dataclass
class Heard:
    """The playback callbacks of an output, each with its ``time.monotonic()``."""

    started: list[float] = field(default_factory=list)
    finished: list[tuple[float, PlaybackFinishedEvent]] = field(default_factory=list)

    @classmethod
    def of(cls, output: AudioOutput) -> Heard:
        heard = cls()
        output.on("playback_started", lambda _: heard.started.append(time.monotonic()))
        output.on("playback_finished", lambda e: heard.finished.append((time.monotonic(), e)))
        return heard
