"""What demos, tests and benchmarks of the plugin need: a synthetic TTS, its frames, a turn
spoken into an output, and the gateway's word that every drive has ended.

``AgentSession(tts=ToneTTS())`` speaks any text at once, offline, so an agent's voice can be
sent through the gateway to ``dh-gateway simulator`` with nothing else installed. Its audio is
a pure function of the text (:meth:`ToneTTS.render`), which lets a test compare what the
simulated avatar received with what was said. Without a session, :func:`frames` cuts audio as
a TTS hands it over and :func:`say` speaks it into an output as a session does.
"""

from __future__ import annotations

import asyncio
import math
import uuid
import zlib
from array import array
from collections.abc import Sequence

from dhgateway_client import DriveGatewayClient
from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, tts
from livekit.agents.voice.io import AudioOutput

SAMPLE_RATE = 24000
FRAME_MS = 20


def frames(audio: bytes, rate: int = SAMPLE_RATE, channels: int = 1) -> list[rtc.AudioFrame]:
    """``audio`` (s16le, interleaved when stereo) as 20 ms frames, as a TTS hands them to an
    AgentSession."""
    size = rate * FRAME_MS // 1000 * channels * 2
    return [
        rtc.AudioFrame(
            audio[i : i + size], rate, channels, len(audio[i : i + size]) // 2 // channels
        )
        for i in range(0, len(audio), size)
    ]


async def say(
    output: AudioOutput, pieces: Sequence[rtc.AudioFrame], *, paced: bool = False
) -> None:
    """Capture ``pieces`` (at 1x when ``paced``, as a live TTS), then flush: one segment, as an
    AgentSession speaks a turn. Await ``output.wait_for_playout()`` for its end."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    for index, frame in enumerate(pieces):
        # 100 ms at once, then at 1x on an absolute schedule, as a live TTS's first burst.
        delay = began + (index - 5) * FRAME_MS / 1000 - loop.time() if paced else 0
        if delay > 0:
            await asyncio.sleep(delay)
        await output.capture_frame(frame)
    output.flush()


async def drives_ended(client: DriveGatewayClient, *, timeout_s: float = 10.0) -> None:
    """Return once the gateway lists no drive: every stream opened on it has ended (a segment's
    playout is reported before its stream ends). Raises TimeoutError after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        # The gateway's word over the wire is what counts here: no event to wait on.
        while await client.list_drives():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


class ToneTTS(tts.TTS[None]):
    """Says each word of a text as ``word_ms`` of tone (its pitch from the word), mono.

    Args:
        word_ms: the length of each word's tone, a multiple of 20 ms.
        sample_rate: the audio's rate.
        realtime: push the audio at 1x as a live TTS does (20 ms frames), instead of all at
            once; a barge-in then finds the drive still streaming.
    """

    def __init__(
        self, *, word_ms: int = 200, sample_rate: int = SAMPLE_RATE, realtime: bool = False
    ) -> None:
        if word_ms <= 0 or word_ms % FRAME_MS:
            raise ValueError(f"word_ms must be a positive multiple of {FRAME_MS}")
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self.word_ms = word_ms
        self.realtime = realtime

    @property
    def model(self) -> str:
        return "tone"

    @property
    def provider(self) -> str:
        return "dh-gateway testing"

    def render(self, text: str) -> bytes:
        """The s16le audio this TTS makes of ``text`` (what :meth:`synthesize` streams)."""
        return b"".join(self._word(word) for word in text.split())

    def _word(self, word: str) -> bytes:
        pitch_hz = 200 + zlib.crc32(word.encode()) % 600
        count = self.sample_rate * self.word_ms // 1000
        samples = array(
            "h",
            (
                round(8000 * math.sin(2 * math.pi * pitch_hz * i / self.sample_rate))
                for i in range(count)
            ),
        )
        return samples.tobytes()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _ToneStream(tts=self, input_text=text, conn_options=conn_options)


class _ToneStream(tts.ChunkedStream):
    def __init__(self, *, tts: ToneTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._tone = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=uuid.uuid4().hex,
            sample_rate=self._tone.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=FRAME_MS,
        )
        audio = self._tone.render(self.input_text)
        frame_bytes = self._tone.sample_rate * FRAME_MS // 1000 * 2
        loop = asyncio.get_running_loop()
        began = loop.time()
        for index, offset in enumerate(range(0, len(audio), frame_bytes)):
            if self._tone.realtime:
                # On an absolute schedule: a slow iteration does not slow the whole turn.
                await asyncio.sleep(max(0.0, began + index * FRAME_MS / 1000 - loop.time()))
            output_emitter.push(audio[offset : offset + frame_bytes])
        output_emitter.flush()
