"""What the plugin's tests and benchmarks need: a real pipeline around the service, a synthetic
TTS that queues a turn's frames into it, and a record of every frame it showed, with times.

``run_pipeline(avatar, log, script)`` runs ``Pipeline([source, avatar, sink])`` until
``script`` is done: the source records what comes back upstream, the sink what goes
downstream, each with its ``time.monotonic()`` (on Linux the system-wide CLOCK_MONOTONIC, so
another process of the machine, a gateway's simulator say, reads the same clock). ``script``
speaks through :class:`Tts` and waits on :class:`Log`; an ``EndFrame`` follows it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    MetricsFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from dhgateway_pipecat.service import DHGatewayAvatarService

RATE = 24000
FRAME_MS = 20
#: The pipeline's start (``on_pipeline_started``) after its runner began.
START_TIMEOUT_S = 10.0


def speech(ms: int, seed: int, rate: int = RATE, channels: int = 1) -> bytes:
    """``ms`` of deterministic, non-silent s16le audio, distinct per ``seed``."""
    samples = rate * ms // 1000 * channels
    return bytes((seed * 31 + i * 7) % 251 for i in range(samples * 2))


class Log:
    """Everything the pipeline showed, with times; waits for a frame to come."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def add(self, record: dict[str, Any]) -> dict[str, Any]:
        """Record ``record`` with the ``time.monotonic()`` of now as its ``t``; return it."""
        stamped = {"t": time.monotonic(), **record}
        self.records.append(stamped)
        self._changed.set()
        return stamped

    def frame(self, direction: str, frame: Frame) -> None:
        record: dict[str, Any] = {"kind": "frame", "dir": direction, "frame": type(frame).__name__}
        if frame.metadata.get("dhgateway"):
            record["meta"] = frame.metadata["dhgateway"]
        if isinstance(frame, ErrorFrame):
            record["error"] = frame.error
            record["category"] = frame.category.value if frame.category else None
        if isinstance(frame, MetricsFrame):
            record["metrics"] = [
                {"type": type(d).__name__, **d.model_dump(mode="json")} for d in frame.data
            ]
        self.add(record)

    def frames(self, direction: str, name: str) -> list[dict[str, Any]]:
        """The records of the frames ``name`` seen going ``direction`` ("up", "down")."""
        return [r for r in self.records if r.get("dir") == direction and r.get("frame") == name]

    def count(self, direction: str, name: str) -> int:
        return len(self.frames(direction, name))

    async def until(self, done: Callable[[], bool], timeout_s: float = 10) -> None:
        """Until ``done()`` holds, checked on each new record; TimeoutError after
        ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def wait(self, direction: str, name: str, count: int = 1, timeout_s: float = 10) -> None:
        """Until ``count`` frames ``name`` were seen going ``direction``."""
        await self.until(lambda: self.count(direction, name) >= count, timeout_s)


class Recorder(FrameProcessor):
    """Records the frames that travel ``direction`` through it; passes everything on."""

    def __init__(self, log: Log, direction: FrameDirection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._log = log
        self._direction = direction

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is self._direction and not isinstance(frame, StartFrame):
            self._log.frame("up" if direction is FrameDirection.UPSTREAM else "down", frame)
        await self.push_frame(frame, direction)


class Tts:
    """The synthetic TTS: queues a turn's frames into the pipeline at a chosen pace."""

    def __init__(self, worker: PipelineWorker, log: Log, pace: float) -> None:
        self.worker, self.log, self.pace = worker, log, pace
        self.turns = 0

    async def speak(
        self, audio: bytes, *, rate: int = RATE, channels: int = 1, started: bool = True
    ) -> float:
        """One turn: TTSStartedFrame, the audio in 20 ms frames, TTSStoppedFrame; logs a
        ``turn`` record. Returns the ``time.monotonic()`` just before its first frame went in.

        ``pace`` 1.0 sends at real time (a streaming TTS), 0 all at once (a fast one).
        """
        self.turns += 1
        step = rate * FRAME_MS // 1000 * channels * 2
        began = self.log.add(
            {
                "kind": "turn",
                "index": self.turns,
                "bytes": len(audio),
                "sha256": hashlib.sha256(audio).hexdigest(),
            }
        )["t"]
        if started:
            await self.worker.queue_frame(TTSStartedFrame())
        for n, at in enumerate(range(0, len(audio), step)):
            frame = TTSAudioRawFrame(
                audio=audio[at : at + step], sample_rate=rate, num_channels=channels
            )
            await self.worker.queue_frame(frame)
            if self.pace:
                due = began + (n + 1) * FRAME_MS / 1000 / self.pace
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        await self.worker.queue_frame(TTSStoppedFrame())
        return float(began)


async def run_pipeline(
    avatar: DHGatewayAvatarService,
    log: Log,
    script: Callable[[PipelineWorker], Awaitable[None]],
    *,
    timeout_s: float | None = None,
) -> int:
    """Run ``Pipeline([source, avatar, sink])`` (recording into ``log``) and, once it started,
    ``script(worker)``, then an ``EndFrame``; return 0 once the pipeline ended by itself, 2
    (after a ``timeout`` mark) when it had not within ``timeout_s`` (None: no bound but the
    script's own)."""
    source = Recorder(log, FrameDirection.UPSTREAM, name="source")
    sink = Recorder(log, FrameDirection.DOWNSTREAM, name="sink")
    worker = PipelineWorker(
        Pipeline([source, avatar, sink]),
        params=PipelineParams(enable_metrics=True),
        cancel_on_idle_timeout=False,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")  # type: ignore[untyped-decorator]
    async def _started(worker: PipelineWorker, frame: Frame) -> None:
        started.set()

    async def run_script() -> None:
        await asyncio.wait_for(started.wait(), START_TIMEOUT_S)
        await script(worker)
        log.add({"kind": "mark", "name": "end"})
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(runner.run(), run_script())
    except TimeoutError:
        log.add({"kind": "mark", "name": "timeout"})
        return 2
    return 0
