"""A real pipecat pipeline around DHGatewayAvatarService, run by ``test_pipecat.py``.

It runs in ``.venv-pipecat`` (pipecat-ai and protobuf 6.x), not the gateway's venv: a
synthetic TTS source (``TTSStartedFrame``, ``TTSAudioRawFrame``\\ s at a chosen pace,
``TTSStoppedFrame``) -> the avatar service -> a sink. The source records what comes back
upstream, the sink what goes downstream, each with its ``time.monotonic()`` (one clock for
every process of the machine, so the test can hold it against the simulator's records).

Usage: ``pipecat_pipeline.py SCENARIO --address HOST:PORT --task TASK [options]``; it prints one
JSON object per line: ``{"kind": "turn", ...}`` per turn spoken, ``{"kind": "mark", ...}`` for
the script's own moments, ``{"kind": "frame", ...}`` per frame seen, ``{"kind": "done"}`` last.
Exit status 0 when the pipeline ended by itself within ``--timeout-s``, 2 when it hung.
"""

# mypy: disable-error-code="import-not-found,misc,unused-ignore"
# (The gateway's venv has no pipecat; test_pipecat.py checks this file strictly in its own.)

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from dhgateway_client import DriveOptions
from dhgateway_client.connection import Connection
from dhgateway_pipecat import DHGatewayAvatarService
from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
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

RATE = 24000
FRAME_MS = 20


def speech(ms: int, seed: int, rate: int = RATE, channels: int = 1) -> bytes:
    """``ms`` of deterministic, non-silent s16le audio, distinct per ``seed``."""
    samples = rate * ms // 1000 * channels
    return bytes((seed * 31 + i * 7) % 251 for i in range(samples * 2))


class Log:
    """Everything the pipeline showed, with times; waits for a frame to come."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def add(self, record: dict[str, Any]) -> None:
        self.records.append({"t": time.monotonic(), **record})
        self._changed.set()

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

    def count(self, direction: str, name: str) -> int:
        return sum(1 for r in self.records if r.get("dir") == direction and r.get("frame") == name)

    async def wait(self, direction: str, name: str, count: int = 1, timeout_s: float = 10) -> None:
        """Until ``count`` frames ``name`` were seen going ``direction``."""
        async with asyncio.timeout(timeout_s):
            while self.count(direction, name) < count:
                self._changed.clear()
                await self._changed.wait()


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
    ) -> None:
        """One turn: TTSStartedFrame, the audio in 20 ms frames, TTSStoppedFrame.

        ``pace`` 1.0 sends at real time (a streaming TTS), 0 all at once (a fast one).
        """
        self.turns += 1
        step = rate * FRAME_MS // 1000 * channels * 2
        began = time.monotonic()
        self.log.add(
            {
                "kind": "turn",
                "index": self.turns,
                "bytes": len(audio),
                "sha256": hashlib.sha256(audio).hexdigest(),
            }
        )
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


Scenario = Callable[[Tts, Log, argparse.Namespace], Awaitable[None]]


async def turns(tts: Tts, log: Log, args: argparse.Namespace) -> None:
    """Each ``--turn-ms`` a turn, the next once the bot stopped speaking the last."""
    for n, ms in enumerate(args.turn_ms, start=1):
        await tts.speak(speech(ms, seed=n))
        await log.wait("up", "BotStoppedSpeakingFrame", n, timeout_s=ms / 1000 + 10)


async def barge_in(tts: Tts, log: Log, args: argparse.Namespace) -> None:
    """A long turn, interrupted ``--interrupt-after-ms`` after the avatar spoke; one more."""
    speaking = asyncio.create_task(tts.speak(speech(args.turn_ms[0], seed=1)))
    await log.wait("up", "BotStartedSpeakingFrame")
    await asyncio.sleep(args.interrupt_after_ms / 1000)
    log.add({"kind": "mark", "name": "interrupt"})
    speaking.cancel()  # the user cut in: the TTS stops too
    await asyncio.gather(speaking, return_exceptions=True)
    await tts.worker.queue_frame(InterruptionFrame())
    await log.wait("up", "BotStoppedSpeakingFrame")
    await tts.speak(speech(args.turn_ms[1], seed=2))
    await log.wait("up", "BotStoppedSpeakingFrame", 2, timeout_s=10)


async def refused(tts: Tts, log: Log, args: argparse.Namespace) -> None:
    """A turn against a gateway that fails it: the error comes upstream, nothing hangs."""
    await tts.speak(speech(args.turn_ms[0], seed=1))
    await log.wait("up", "ErrorFrame", timeout_s=10)
    await tts.speak(speech(args.turn_ms[0], seed=2))  # a second turn: refused or skipped


async def bad_input(tts: Tts, log: Log, args: argparse.Namespace) -> None:
    """Audio the gateway would refuse, empty turns, stray frames; then a good turn."""
    await tts.worker.queue_frame(InterruptionFrame())  # no turn in flight
    await tts.worker.queue_frame(TTSStoppedFrame())  # no turn to end
    await tts.worker.queue_frame(TTSStartedFrame())
    await tts.worker.queue_frame(TTSStoppedFrame())  # a turn with no audio
    await tts.speak(speech(100, seed=9, rate=96000), rate=96000)  # rate out of range
    await log.wait("up", "ErrorFrame", 1)
    await tts.speak(speech(100, seed=9, channels=3), channels=3)  # three channels
    await log.wait("up", "ErrorFrame", 2)
    # A format change inside a turn: the first format is spoken, the rest dropped.
    await tts.worker.queue_frame(TTSStartedFrame())
    good = speech(400, seed=3)
    for audio, rate in ((good, RATE), (speech(100, seed=4, rate=16000), 16000)):
        await tts.worker.queue_frame(
            TTSAudioRawFrame(audio=audio, sample_rate=rate, num_channels=1)
        )
    await tts.worker.queue_frame(TTSStoppedFrame())
    log.add(
        {"kind": "turn", "index": 0, "bytes": len(good), "sha256": hashlib.sha256(good).hexdigest()}
    )
    await log.wait("up", "ErrorFrame", 3)
    await log.wait("up", "BotStoppedSpeakingFrame", 1)
    await tts.speak(speech(args.turn_ms[0], seed=5))
    await log.wait("up", "BotStoppedSpeakingFrame", 2)


async def direct(args: argparse.Namespace) -> int:
    """The ``turns`` scenario's audio through the Python client alone, no pipeline: the
    baseline of the plugin path's latency (the same process kind, chunks and pace)."""
    connection = Connection.from_env(address=args.address, api_key=args.api_key)
    log = Log()
    step = RATE * FRAME_MS // 1000 * 2

    async def paced(audio: bytes) -> AsyncIterator[bytes]:
        began = time.monotonic()
        for n, at in enumerate(range(0, len(audio), step)):
            yield audio[at : at + step]
            await asyncio.sleep(max(0.0, began + (n + 1) * FRAME_MS / 1000 - time.monotonic()))

    channel = connection.channel()
    try:
        client = connection.client(channel)
        for n, ms in enumerate(args.turn_ms, start=1):
            audio = speech(ms, seed=n)
            log.add({"kind": "turn", "index": n, "bytes": len(audio)})
            options = DriveOptions(sample_rate_hz=RATE, channels=1, on_conflict="QUEUE")
            async with asyncio.timeout(ms / 1000 + 10):
                async for _ in client.drive(args.task, paced(audio), options):
                    pass
    finally:
        await channel.close(None)
    for record in log.records:
        print(json.dumps(record), flush=True)
    print(json.dumps({"kind": "done", "status": 0}), flush=True)
    return 0


SCENARIOS: dict[str, Scenario] = {
    "turns": turns,
    "barge-in": barge_in,
    "refused": refused,
    "bad-input": bad_input,
}


async def run(args: argparse.Namespace) -> int:
    log = Log()
    avatar = DHGatewayAvatarService(
        task_id=args.task,
        address=args.address,
        api_key=args.api_key,
        connect_timeout_s=3,
        stop_timeout_s=10,
        settings=DHGatewayAvatarService.Settings(forward_audio=args.forward_audio),
    )
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

    async def script() -> None:
        await asyncio.wait_for(started.wait(), 10)
        await SCENARIOS[args.scenario](Tts(worker, log, args.pace), log, args)
        log.add({"kind": "mark", "name": "end"})
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    status = 0
    try:
        async with asyncio.timeout(args.timeout_s):
            await asyncio.gather(runner.run(), script())
    except TimeoutError:
        log.add({"kind": "mark", "name": "timeout"})
        status = 2
    for record in log.records:
        print(json.dumps(record), flush=True)
    print(json.dumps({"kind": "done", "status": status}), flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted([*SCENARIOS, "direct"]))
    parser.add_argument("--address", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--turn-ms", type=int, action="append", default=[])
    parser.add_argument("--pace", type=float, default=1.0, help="1: real time, 0: at once")
    parser.add_argument("--interrupt-after-ms", type=int, default=800)
    parser.add_argument("--forward-audio", action="store_true")
    parser.add_argument("--timeout-s", type=float, default=30)
    args = parser.parse_args(argv)
    args.turn_ms = args.turn_ms or [1000, 1000]
    return asyncio.run(direct(args) if args.scenario == "direct" else run(args))


if __name__ == "__main__":
    sys.exit(main())
