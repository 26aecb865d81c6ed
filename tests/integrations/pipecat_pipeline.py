"""A real pipecat pipeline around DHGatewayAvatarService, run by ``test_pipecat.py``.

It runs in ``.venv-pipecat`` (pipecat-ai and protobuf 6.x), not the gateway's venv: a
synthetic TTS source (``TTSStartedFrame``, ``TTSAudioRawFrame``\\ s at a chosen pace,
``TTSStoppedFrame``) -> the avatar service -> a sink (:mod:`dhgateway_pipecat.testing`). The
source records what comes back upstream, the sink what goes downstream, each with its
``time.monotonic()`` (one clock for every process of the machine, so the test can hold it
against the simulator's records).

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
from collections.abc import Awaitable, Callable

from dhgateway_pipecat import DHGatewayAvatarService
from dhgateway_pipecat.testing import RATE, Log, Tts, run_pipeline, speech
from pipecat.frames.frames import (
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.worker import PipelineWorker

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

    async def script(worker: PipelineWorker) -> None:
        await SCENARIOS[args.scenario](Tts(worker, log, args.pace), log, args)

    status: int = await run_pipeline(avatar, log, script, timeout_s=args.timeout_s)
    for record in log.records:
        print(json.dumps(record), flush=True)
    print(json.dumps({"kind": "done", "status": status}), flush=True)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
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
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
