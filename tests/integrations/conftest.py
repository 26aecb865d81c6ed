"""What the LiveKit plugin's tests share: a gateway, audio, and a record of the playback callbacks
an output made, with when (frames as a TTS makes them, and a turn spoken into an output:
:mod:`livekit.plugins.dhgateway.testing`, which the benches use too)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest_asyncio
from livekit.agents.voice.io import AudioOutput, PlaybackFinishedEvent
from livekit.plugins.dhgateway import DHGatewayAudioOutput
from livekit.plugins.dhgateway.testing import drives_ended

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


async def playout(output: AudioOutput) -> PlaybackFinishedEvent:
    """What the output said of its last segment, once it finished (bounded)."""
    async with asyncio.timeout(DEADLINE_S):
        return await output.wait_for_playout()


async def nothing_open(h: Harness) -> None:
    """Wait (bounded) until the gateway holds no drive: every stream the plugin opened ended."""
    await drives_ended(h.client, timeout_s=DEADLINE_S)


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
