"""``DHGatewayAudioOutput``: an AgentSession's speech, one dh-gateway Drive per turn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Unpack

import grpc
from dhgateway_client import Drive, DriveError, DriveGatewayClient, DriveOptions
from dhgateway_client.config import PolicyName
from livekit import rtc
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities

from .errors import (
    DHGatewayConnectionError,
    DHGatewayError,
    DHGatewayTimeoutError,
    from_drive_error,
)
from .log import logger
from .options import OutputOptions, connection_of

ErrorCallback = Callable[[DHGatewayError], None]


class _Turn:
    """One segment of the agent's speech: its audio, in order, and the Drive that carries it."""

    def __init__(self, number: int, frame: rtc.AudioFrame) -> None:
        self.number = number
        self.rate = frame.sample_rate
        self.channels = frame.num_channels
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.drive: Drive | None = None
        self.task: asyncio.Task[None] | None = None
        self.cleared = False
        self.finished = False
        self.dropped_frames = 0

    async def audio(self) -> AsyncIterator[bytes]:
        """The turn's audio until its flush; held open once cleared (the interrupt ends it)."""
        while True:
            item = await self.queue.get()
            if self.cleared:
                # Ending here would half-close the stream, and the interrupt could then no
                # longer go in-stream; the stream's end cancels this wait.
                await asyncio.Event().wait()
            if item is None:
                return
            yield item

    def clear(self) -> None:
        """Drop the audio not yet sent; nothing more is taken."""
        self.cleared = True
        while not self.queue.empty():
            self.queue.get_nowait()


class DHGatewayAudioOutput(AudioOutput):
    """Speak an agent's audio with a ZEGO digital human through dh-gateway.

    Each segment of speech (the frames between two ``flush`` calls) becomes one Drive of
    ``task_id``, opened on its first frame and half-closed by ``flush``; ``clear_buffer``
    sends the in-stream interrupt, which silences the avatar at once. ``playback_started``
    and ``playback_finished`` (``playback_position`` = the gateway's ``played_ms``, and
    ``interrupted``) are reported when the gateway's playback events say so, so an
    AgentSession truncates its transcript to what the user heard. Frames are sent as they
    come, in their own rate and channel count: the gateway converts them. A frame whose
    format differs from its segment's first is dropped (and logged).

    A failed drive (the gateway unreachable, the API key refused, the task busy...) ends
    its segment as ``interrupted`` and is logged; the error is :attr:`last_error` and goes
    to ``on_error``. Nothing raises into the pipeline. Call :meth:`aclose` when done (an
    :class:`~livekit.plugins.dhgateway.AvatarSession` does).

    Args:
        on_error: called with each drive's failure.
        label: the output's name in LiveKit's logs.
        options: the gateway, the task and how to drive (:class:`OutputOptions`); what is
            not given comes from the ``DHGW_*`` variables (:mod:`dhgateway_client.connection`).

    Raises:
        ValueError: no task id, or a bad ``DHGW_*`` value.
    """

    def __init__(
        self,
        *,
        on_error: ErrorCallback | None = None,
        label: str = "DHGatewayAudioOutput",
        **options: Unpack[OutputOptions],
    ) -> None:
        super().__init__(
            label=label, capabilities=AudioOutputCapabilities(pause=False), sample_rate=None
        )
        self._connection = connection_of(options)
        self._channel = options.get("channel")
        self._owns_channel = self._channel is None
        self._on_conflict: PolicyName = options.get("on_conflict", "REJECT")
        self._setup_timeout_s = options.get("setup_timeout_s", 10.0)
        self._labels = dict(options.get("labels", {}))
        self._on_error = on_error
        self._capturing: _Turn | None = None
        self._turns: list[_Turn] = []  # whose drive has not ended yet, oldest first
        self._count = 0
        self._background: set[asyncio.Task[None]] = set()
        self.last_error: DHGatewayError | None = None
        """The last drive's failure (None: none failed yet)."""

    @property
    def task_id(self) -> str:
        """The task whose avatar speaks."""
        return self._connection.task_id

    @property
    def current_drive(self) -> Drive | None:
        """The Drive of the newest segment still going (None: none)."""
        return self._turns[-1].drive if self._turns else None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue ``frame`` for the current segment's Drive (opened on its first frame)."""
        if frame.samples_per_channel == 0:
            return  # an empty frame opens no segment: nothing would be said
        turn = self._capturing
        if turn is not None and (frame.sample_rate, frame.num_channels) != (
            turn.rate,
            turn.channels,
        ):
            turn.dropped_frames += 1
            if turn.dropped_frames == 1:
                logger.warning(
                    "dropping audio of %d Hz x %d in a segment begun at %d Hz x %d",
                    frame.sample_rate,
                    frame.num_channels,
                    turn.rate,
                    turn.channels,
                    extra={"task_id": self.task_id},
                )
            return
        await super().capture_frame(frame)
        if turn is None:
            turn = self._capturing = self._open(frame)
        if not turn.cleared:
            turn.queue.put_nowait(bytes(frame.data))

    def flush(self) -> None:
        """End the current segment: its Drive half-closes once its audio is sent."""
        super().flush()
        turn, self._capturing = self._capturing, None
        if turn is not None:
            turn.queue.put_nowait(None)

    def clear_buffer(self) -> None:
        """Silence the avatar now: every segment still going is interrupted."""
        for turn in self._turns:
            if turn.cleared:
                continue
            turn.clear()
            if turn.drive is not None:
                self._spawn(self._interrupt(turn, turn.drive))

    async def aclose(self) -> None:
        """Cancel the drives still going (each segment ends ``interrupted``); close the channel."""
        self._capturing = None
        tasks = [turn.task for turn in self._turns if turn.task is not None]
        for task in (*tasks, *self._background):
            task.cancel()
        await asyncio.gather(*tasks, *self._background, return_exceptions=True)
        if self._owns_channel and self._channel is not None:
            await self._channel.close(grace=None)
            self._channel = None

    def _open(self, frame: rtc.AudioFrame) -> _Turn:
        self._count += 1
        turn = _Turn(self._count, frame)
        previous = self._turns[-1].task if self._turns else None
        self._turns.append(turn)
        turn.task = asyncio.create_task(
            self._run(turn, previous), name=f"dhgateway-turn-{turn.number}"
        )
        return turn

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run(self, turn: _Turn, previous: asyncio.Task[None] | None) -> None:
        """Drive one segment, after the one before it ended (the task takes one at a time)."""
        drive: Drive | None = None
        try:
            if previous is not None:
                await asyncio.wait([previous])
            if turn.cleared:
                return  # interrupted before it began: nothing reaches the gateway
            drive = turn.drive = self._client().drive(
                self.task_id, turn.audio(), self._options(turn)
            )
            await self._follow(turn, drive)
        except DriveError as error:
            self._fail(turn, from_drive_error(error))
        except TimeoutError:
            self._fail(turn, DHGatewayTimeoutError(f"no answer in {self._setup_timeout_s:g} s"))
        except (OSError, grpc.RpcError) as error:
            self._fail(turn, DHGatewayConnectionError(str(error)))
        finally:
            self._turns.remove(turn)
            turn.clear()  # the rest of a failed segment is dropped, not sent as a new drive
            if drive is not None:
                await drive.aclose()
            self._finish(turn, drive.playback.played_ms if drive is not None else 0, True)

    async def _follow(self, turn: _Turn, drive: Drive) -> None:
        """Read the drive's events; report the avatar's playback as they say it."""
        async with asyncio.timeout(self._setup_timeout_s) as setup:
            async for event in drive:
                kind = event.WhichOneof("event")
                if kind in ("started", "queued"):
                    setup.reschedule(None)
                elif kind == "playback_started":
                    self.on_playback_started(created_at=time.time())
                elif kind == "playback_finished":
                    finished = event.playback_finished
                    # LiveKit's "interrupted" means clear_buffer() was called; the gateway's
                    # means audio was lost, which it was not if the avatar had caught up.
                    interrupted = finished.interrupted or turn.cleared
                    self._finish(turn, finished.played_ms, interrupted)

    async def _interrupt(self, turn: _Turn, drive: Drive) -> None:
        try:
            await drive.interrupt()
        except DriveError as error:
            self._fail(turn, from_drive_error(error))

    def _options(self, turn: _Turn) -> DriveOptions:
        return DriveOptions(
            encoding="LINEAR16",
            sample_rate_hz=turn.rate,
            channels=turn.channels,
            on_conflict=self._on_conflict,
            profile=self._connection.profile,
            labels={"source": "livekit", **self._labels},
        )

    def _client(self) -> DriveGatewayClient:
        if self._channel is None:
            self._channel = self._connection.channel()
        return self._connection.client(self._channel)

    def _finish(self, turn: _Turn, played_ms: int, interrupted: bool) -> None:
        if turn.finished:
            return
        turn.finished = True
        self.on_playback_finished(playback_position=played_ms / 1000, interrupted=interrupted)

    def _fail(self, turn: _Turn, error: DHGatewayError) -> None:
        self.last_error = error
        logger.error(
            "the avatar's drive failed: %s",
            error,
            extra={"task_id": self.task_id, "turn": turn.number, "code": error.code},
        )
        if self._on_error is not None:
            self._on_error(error)
