"""The pipecat path of :mod:`bench.plugin_latency`: a real pipeline (a synthetic TTS, the
plugin's DHGatewayAvatarService, a sink: :mod:`dhgateway_pipecat.testing`) that speaks a turn
for each line of its stdin, in ``.venv-pipecat`` (pipecat needs protobuf<7, the gateway's
venv has 7).

Usage, from the repository root with that venv's python: ``python -m bench.pipecat_turns
--address HOST:PORT --task TASK``. It prints ``{"kind": "ready"}`` once the pipeline started.
Each line in is a turn's audio (s16le, 24 kHz mono, base64): spoken at once, as a fast TTS
hands it over; once the bot stopped speaking it (or an ``ErrorFrame`` came, or
``--turn-bound-s`` passed) one line out, ``{"kind": "turn", "index": N, "t": ..., "outcome":
"OK" | "INTERRUPTED" | "ERROR/<category>" | "TIMEOUT"}``, ``t`` the ``time.monotonic()`` just
before its first frame went in. At the end of stdin (or after ``--idle-s`` without a line) the
pipeline ends; exit status 0, or 2 when it did not end by itself.
"""

# mypy: disable-error-code="import-not-found,misc,unused-ignore"
# (The gateway's venv has no pipecat; test_pipecat.py checks this file strictly in its own.)

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import Callable

from dhgateway_pipecat import DHGatewayAvatarService
from dhgateway_pipecat.testing import Log, Tts, run_pipeline
from loguru import logger
from pipecat.pipeline.worker import PipelineWorker


def reply(record: dict[str, object]) -> None:
    print(json.dumps(record), flush=True)


def turn_ended(log: Log) -> Callable[[], bool]:
    """A check that holds once, after now, the bot stopped speaking or an error came."""
    stopped, errors = log.count("up", "BotStoppedSpeakingFrame"), log.count("up", "ErrorFrame")
    return lambda: (
        log.count("up", "BotStoppedSpeakingFrame") > stopped
        or log.count("up", "ErrorFrame") > errors
    )


def outcome(log: Log, errors_before: int) -> str:
    """A spoken turn's outcome from what came back upstream."""
    errors = log.frames("up", "ErrorFrame")[errors_before:]
    if errors:
        return f"ERROR/{errors[0]['category']}"
    stopped = log.frames("up", "BotStoppedSpeakingFrame")[-1]
    return "INTERRUPTED" if stopped.get("meta", {}).get("interrupted") else "OK"


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    lines = asyncio.StreamReader(limit=1 << 22)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)
    log = Log()
    avatar = DHGatewayAvatarService(
        task_id=args.task, address=args.address, connect_timeout_s=3, stop_timeout_s=10
    )

    async def script(worker: PipelineWorker) -> None:
        tts = Tts(worker, log, pace=0)
        reply({"kind": "ready"})
        while True:
            try:
                line = await asyncio.wait_for(lines.readline(), args.idle_s)
            except TimeoutError:
                line = b""  # the bench is gone: end as at the end of stdin
            if not line:
                return
            errors = log.count("up", "ErrorFrame")
            ended = turn_ended(log)
            began = await tts.speak(base64.b64decode(line))
            try:
                await log.until(ended, args.turn_bound_s)
                result = outcome(log, errors)
            except TimeoutError:
                result = "TIMEOUT"
            reply({"kind": "turn", "index": tts.turns, "t": began, "outcome": result})

    # The end is bounded by the service's stop_timeout_s, each turn by --turn-bound-s.
    status: int = await run_pipeline(avatar, log, script)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task", required=True)
    parser.add_argument("--turn-bound-s", type=float, default=10.0)
    parser.add_argument("--idle-s", type=float, default=120.0)
    args = parser.parse_args(argv)
    # pipecat logs each frame at DEBUG: kept off the measured path.
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
