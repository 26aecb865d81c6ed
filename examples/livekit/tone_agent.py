"""A LiveKit agent whose voice a digital human speaks through dh-gateway, all offline.

Run it from the repository's root after ``make .venv/.installed``::

    .venv/bin/python examples/livekit/tone_agent.py

With no ``DHGW_ADDRESS`` set it starts the simulator of the vendor's cloud and a gateway in
front of it on free loopback ports (as ``dh-gateway demo`` does); with one set it drives that
gateway's task ``DHGW_TASK_ID`` instead (the README shows ``dh-gateway simulator`` and
``dh-gateway serve`` run by hand). The agent's TTS is :class:`ToneTTS`, a tone per word: no
cloud account and no network. It says one sentence, then a second that a barge-in cuts short,
and prints when the avatar spoke and what the transcript kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

from livekit.agents import Agent, AgentSession
from livekit.agents.voice.io import PlaybackFinishedEvent, PlaybackStartedEvent
from livekit.agents.voice.transcription import TranscriptSynchronizer
from livekit.plugins import dhgateway
from livekit.plugins.dhgateway.testing import ToneTTS

TASK = "livekit-example-task"


@contextlib.asynccontextmanager
async def gateway() -> AsyncIterator[dhgateway.OutputOptions]:
    """Where to drive: the environment's gateway, else a simulator-backed one of our own."""
    if os.environ.get("DHGW_ADDRESS"):
        yield {}
        return
    from gateway.testing import running_gateway  # the gateway's own test harness

    async with running_gateway() as harness:
        print(f"simulator at {harness.sim.http_url}, gateway at {harness.address}")
        yield {"address": harness.address, "task_id": TASK}


async def main() -> None:
    began = time.monotonic()

    def at() -> str:
        return f"{time.monotonic() - began:6.2f} s"

    async with gateway() as where:
        session: AgentSession[None] = AgentSession(tts=ToneTTS(realtime=True))
        avatar = dhgateway.AvatarSession(**where)
        await avatar.start(session)
        output = avatar.audio_output
        # In a room, RoomIO puts this synchroniser in front of the audio output: the
        # transcript then keeps only the words the avatar said before the barge-in.
        synchronizer = TranscriptSynchronizer(next_in_chain_audio=output, next_in_chain_text=None)
        session.output.audio = synchronizer.audio_output
        session.output.transcription = synchronizer.text_output

        def started(_: PlaybackStartedEvent) -> None:
            print(f"{at()}  the avatar speaks")

        def finished(event: PlaybackFinishedEvent) -> None:
            how = "cut short" if event.interrupted else "to the end"
            print(f"{at()}  it stopped after {event.playback_position:.2f} s, {how}")

        output.on("playback_started", started)
        output.on("playback_finished", finished)
        await session.start(agent=Agent(instructions="An agent that only says what it is told."))
        try:
            await session.say("Hello, I am a digital human speaking through the gateway.")
            second = session.say("This sentence is long, and the user will cut in before its end.")
            await asyncio.sleep(1.5)
            print(f"{at()}  the user barges in")
            await session.interrupt()
            await second.wait_for_playout()
            for item in session.history.items:
                if item.type == "message":
                    cut = " (interrupted)" if item.interrupted else ""
                    print(f"transcript: {item.text_content!r}{cut}")
        finally:
            await session.aclose()
            await avatar.aclose()


if __name__ == "__main__":
    asyncio.run(main())
