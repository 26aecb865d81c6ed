"""A pipecat bot whose voice a digital human speaks through dh-gateway, all offline.

Run it from the repository's root, after ``make .venv/.installed`` (the gateway) and
``.venv/bin/python scripts/venvs.py pipecat`` (pipecat and the plugin, in ``.venv-pipecat``)::

    .venv-pipecat/bin/python examples/pipecat/avatar_bot.py

With no ``DHGW_ADDRESS`` set it starts the simulator of the vendor's cloud and a gateway in
front of it (``dh-gateway simulator`` and ``dh-gateway serve`` from ``.venv``, on free loopback
ports); with one set it drives that gateway's task ``DHGW_TASK_ID``. The bot's TTS is
:class:`ToneTTS`, a real pipecat ``TTSService`` that says a tone per word: no cloud account and
no network. The bot says one sentence, then a second that a barge-in cuts short, and prints
when the avatar spoke, what was heard, and the turn's metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import secrets
import subprocess
import sys
import time
from array import array
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path

from dhgateway_pipecat import DHGatewayAvatarService, DHGatewayTurnMetricsData
from pipecat.frames.frames import EndFrame, Frame, InterruptionFrame, MetricsFrame, TTSSpeakFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.workers.runner import WorkerRunner

ROOT = Path(__file__).resolve().parents[2]
TASK = "pipecat-example-task"
RATE = 24000


class ToneTTS(TTSService):
    """A TTS that needs nothing: each word becomes a 250 ms tone (its pitch from the word)."""

    def __init__(self) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            sample_rate=RATE,
            settings=TTSSettings(model=None, voice=None, language=None),
        )

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        """The words of ``text`` as tones, 20 ms a frame, as a streaming TTS yields them."""

        async def tones() -> AsyncIterator[bytes]:
            for word in text.split():
                pitch = 180 + 40 * (len(word) % 7)
                wave = array(
                    "h",
                    (
                        int(8000 * math.sin(2 * math.pi * pitch * n / RATE))
                        for n in range(RATE // 4)
                    ),
                )
                yield wave.tobytes() + bytes(RATE // 10)  # the tone, then 50 ms of silence
                await asyncio.sleep(0)

        async for frame in self._stream_audio_frames_from_iterator(
            tones(), in_sample_rate=RATE, context_id=context_id
        ):
            yield frame


class TurnPrinter(BaseObserver):
    """Prints each turn's metrics as the avatar service reports them."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[int] = set()

    async def on_push_frame(self, data: FramePushed) -> None:
        # An observer sees a frame at every hop: print each once.
        if isinstance(data.frame, MetricsFrame) and data.frame.id not in self._seen:
            self._seen.add(data.frame.id)
            for item in data.frame.data:
                if isinstance(item, DHGatewayTurnMetricsData):
                    print(
                        f"  turn metrics: time to speaking {item.time_to_speaking_ms} ms, "
                        f"played {item.played_ms} ms, interrupted {item.interrupted}"
                    )


@contextlib.contextmanager
def _server(command: list[str], pattern: str, env: dict[str, str]) -> Iterator[str]:
    """Run ``command`` until the block ends; the address its first line matching ``pattern``
    names."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            for line in process.stdout:
                if match := re.search(pattern, line):
                    yield match.group(1)
                    return
            raise RuntimeError(f"{command[1]} ended before it was ready")
        finally:
            process.terminate()
            process.wait(10)


@contextlib.contextmanager
def gateway() -> Iterator[tuple[str | None, str | None]]:
    """Where to drive (address, task): the environment's gateway (None, None: the ``DHGW_*``
    variables say), else a simulator-backed one of our own."""
    if os.environ.get("DHGW_ADDRESS"):
        yield None, None
        return
    command = str(ROOT / ".venv" / "bin" / "dh-gateway")
    secret = secrets.token_hex(16)
    env = dict(os.environ, DH_SIMULATOR_SERVER_SECRET=secret)
    simulator = [command, "simulator", "--app-id", "1234567890", "--port", "0"]
    with _server(simulator, r"(https?://\S+)", env) as sim_url:
        env |= {
            "DHGW_ZEGO_APP_ID": "1234567890",
            "DHGW_ZEGO_SERVER_SECRET": secret,
            "DHGW_ZEGO_API_URL": sim_url,
            "DHGW_LISTEN": "127.0.0.1:0",
        }
        serve = [command, "--log-level", "WARNING", "serve"]
        with _server(serve, r"listening on (\S+)", env) as address:
            print(f"simulator at {sim_url}, gateway at {address}")
            yield address, TASK


async def main() -> None:
    began = time.monotonic()

    def at() -> str:
        return f"{time.monotonic() - began:6.2f} s"

    with gateway() as (address, task_id):
        avatar = DHGatewayAvatarService(address=address, task_id=task_id)
        finished = asyncio.Queue[tuple[int, bool]]()

        @avatar.event_handler("on_playback_started")  # type: ignore[untyped-decorator]
        async def _spoke(service: DHGatewayAvatarService, drive_id: str) -> None:
            print(f"{at()}  the avatar speaks (drive {drive_id})")

        @avatar.event_handler("on_playback_finished")  # type: ignore[untyped-decorator]
        async def _done(
            service: DHGatewayAvatarService, drive_id: str, played_ms: int, interrupted: bool
        ) -> None:
            print(f"{at()}  it stopped: {played_ms} ms heard, interrupted={interrupted}")
            finished.put_nowait((played_ms, interrupted))

        worker = PipelineWorker(
            Pipeline([ToneTTS(), avatar]),
            params=PipelineParams(audio_out_sample_rate=RATE, enable_metrics=True),
            observers=[TurnPrinter()],
            cancel_on_idle_timeout=False,
        )
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        ready = asyncio.Event()

        @worker.event_handler("on_pipeline_started")  # type: ignore[untyped-decorator]
        async def _ready(worker: PipelineWorker, frame: Frame) -> None:
            ready.set()

        async def say() -> None:
            await asyncio.wait_for(ready.wait(), 10)
            await worker.queue_frame(TTSSpeakFrame("Hello! I am a digital human, and I speak."))
            async with asyncio.timeout(30):
                await finished.get()
                await worker.queue_frame(
                    TTSSpeakFrame("This second sentence is long, and you will cut it short.")
                )
                await asyncio.sleep(1.5)
                print(f"{at()}  the user barges in")
                await worker.queue_frame(InterruptionFrame())
                await finished.get()
            await worker.queue_frame(EndFrame())

        await asyncio.gather(runner.run(), say())


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
