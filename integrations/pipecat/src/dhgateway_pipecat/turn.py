"""One bot turn: its TTS audio, queued for the one Drive stream that carries it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

#: The input rates and channel counts the gateway accepts (``GetCapabilities`` says the same).
MIN_RATE_HZ, MAX_RATE_HZ = 8000, 48000
CHANNELS = (1, 2)


@dataclass(frozen=True)
class AudioFormat:
    """The format of a turn's audio: 16-bit PCM at ``sample_rate`` with ``channels``."""

    sample_rate: int
    channels: int

    def __str__(self) -> str:
        return f"{self.sample_rate} Hz, {self.channels} channel{'s' if self.channels > 1 else ''}"

    def problem(self) -> str:
        """Why the gateway would refuse this format ("" when it accepts it)."""
        if not MIN_RATE_HZ <= self.sample_rate <= MAX_RATE_HZ:
            return f"sample rate {self.sample_rate} Hz is outside {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz"
        if self.channels not in CHANNELS:
            return f"{self.channels} channels (1 or 2 accepted)"
        return ""


class Turn:
    """The audio of one bot turn, from its first TTS frame to its TTSStoppedFrame.

    The service :meth:`add`\\ s audio without waiting and :meth:`end`\\ s the turn; the Drive
    reads :meth:`audio` as it goes, so a slow gateway never holds up the pipeline's frames.

    Attributes:
        index: the turn's number in this service's life, from 1.
        format: the format of all its audio (frames of another are dropped).
        first_audio_at: ``time.monotonic()`` at its first audio.
        opened_at: ``time.monotonic()`` when its Drive was opened (0 until then).
        speaking_at: ``time.monotonic()`` at its ``playback_started`` (0 until then).
        interrupted: an interruption came for it (its Drive is interrupted or never opened).
        ended: its audio is complete.
        received_bytes: the audio it was given.
        format_reported: a dropped frame of another format was already reported.
    """

    def __init__(self, index: int, audio_format: AudioFormat) -> None:
        self.index = index
        self.format = audio_format
        self.first_audio_at = time.monotonic()
        self.opened_at = 0.0
        self.speaking_at = 0.0
        self.interrupted = False
        self.ended = False
        self.received_bytes = 0
        self.format_reported = False
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def add(self, audio: bytes) -> None:
        """Queue ``audio`` for the Drive (ignored once the turn ended)."""
        if not self.ended and audio:
            self.received_bytes += len(audio)
            self._queue.put_nowait(audio)

    def end(self) -> None:
        """Mark the audio complete: the Drive half-closes once it sent what came before."""
        if not self.ended:
            self.ended = True
            self._queue.put_nowait(None)

    async def audio(self) -> AsyncIterator[bytes]:
        """The turn's audio as it comes, until :meth:`end`."""
        while (chunk := await self._queue.get()) is not None:
            yield chunk
