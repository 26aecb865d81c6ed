"""``DHGatewayAvatarService``: after the TTS, a ZEGO digital human speaks each bot turn.

Each turn's TTS audio (from its first ``TTSAudioRawFrame`` to its ``TTSStoppedFrame``) goes
to dh-gateway as one Drive stream, in the TTS's own format: the gateway converts and paces it.
The gateway's playback events become ``BotStartedSpeakingFrame`` / ``BotStoppedSpeakingFrame``,
an ``InterruptionFrame`` silences the avatar with the Drive's in-stream interrupt, and each
turn's latency goes out in ``MetricsFrame``\\ s.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import grpc
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import Drive, DriveError, DriveGatewayClient, DriveOptions
from dhgateway_client.connection import Connection
from loguru import logger
from pipecat.frames.frames import (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    MetricsFrame,
    ServiceUpdateSettingsFrame,
    StartFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.ai_service import AIService
from pipecat.services.settings import ServiceSettings
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.types import NOT_GIVEN, NotGiven, assert_given, is_given

from dhgateway_pipecat.reports import DHGatewayTurnMetricsData, category, describe
from dhgateway_pipecat.turn import AudioFormat, Turn

ConflictName = Literal["QUEUE", "REJECT", "PREEMPT"]
_SPEAKING_FRAMES = (BotStartedSpeakingFrame, BotStoppedSpeakingFrame, BotSpeakingFrame)


@dataclass
class DHGatewayAvatarSettings(ServiceSettings):
    """The avatar service's settings that a ``ServiceUpdateSettingsFrame`` may change.

    Parameters:
        forward_audio: also push the TTS audio downstream (the pipeline keeps its own audio
            output); False (the default) swallows it: the avatar carries the voice.
        on_conflict: what the gateway does when the task is busy with another drive:
            ``QUEUE`` (the default: wait), ``REJECT`` (fail the turn) or ``PREEMPT``.
    """

    forward_audio: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    on_conflict: ConflictName | NotGiven = field(default_factory=lambda: NOT_GIVEN)


class DHGatewayAvatarService(AIService):
    """Make a ZEGOCLOUD digital human speak the bot's TTS through dh-gateway.

    Place it right after the TTS service. The connection comes from the arguments, else the
    ``DHGW_*`` variables of :class:`dhgateway_client.connection.Connection` (``DHGW_ADDRESS``,
    ``DHGW_API_KEY``, ``DHGW_PROFILE``, ``DHGW_TASK_ID``, ``DHGW_TLS*``).

    Turns are driven one after another: a turn whose audio arrives while the avatar still
    speaks the last waits (its audio is buffered here). Gateway failures (unreachable, a bad
    key, a busy or ended task) become ``ErrorFrame``\\ s carrying the gateway's reason, never
    exceptions; audio the gateway would refuse (a rate outside 8-48 kHz, not 1 or 2
    channels, a format change within a turn) is dropped with one ``ErrorFrame`` per turn.

    Event handlers: ``on_playback_started(service, drive_id)`` and
    ``on_playback_finished(service, drive_id, played_ms, interrupted)``: what the user heard
    of each turn, for truncating the context after a barge-in.
    """

    Settings = DHGatewayAvatarSettings
    _settings: DHGatewayAvatarSettings

    def __init__(
        self,
        *,
        task_id: str | None = None,
        address: str | None = None,
        api_key: str | None = None,
        profile: str | None = None,
        tls: bool | None = None,
        ca_file: str | None = None,
        connection: Connection | None = None,
        connect_timeout_s: float = 5.0,
        setup_timeout_s: float = 10.0,
        stop_timeout_s: float = 60.0,
        settings: DHGatewayAvatarSettings | None = None,
        **kwargs: Any,
    ) -> None:
        """Configure the service; nothing connects before the pipeline starts.

        Args:
            task_id: the vendor's stream task whose avatar speaks (else ``DHGW_TASK_ID``).
            address: the gateway, ``host:port`` (else ``DHGW_ADDRESS``, else loopback).
            api_key: the gateway's API key (else ``DHGW_API_KEY``).
            profile: the gateway's credentials profile (else ``DHGW_PROFILE``).
            tls: connect with TLS (else ``DHGW_TLS``, or on when a CA file is given).
            ca_file: PEM roots that verify the gateway (else ``DHGW_TLS_CA_FILE``).
            connection: a complete :class:`Connection` instead of the arguments above
                (client certificates, a server name override).
            connect_timeout_s: how long the start-up check of the gateway may take.
            setup_timeout_s: how long a turn may wait for the gateway's first answer.
            stop_timeout_s: how long an ``EndFrame`` waits for the avatar to finish.
            settings: changes to the default :class:`DHGatewayAvatarSettings`.
            **kwargs: passed to ``AIService``.

        Raises:
            ValueError: no task id, an unknown ``on_conflict``, or a bad ``DHGW_TLS``.
        """
        connection = connection or Connection.from_env(
            task_id=task_id,
            address=address,
            api_key=api_key,
            profile=profile,
            tls=tls,
            ca_file=ca_file,
        )
        if not connection.task_id:
            raise ValueError("DHGatewayAvatarService needs a task id: task_id=... or DHGW_TASK_ID")
        store = DHGatewayAvatarSettings(model=None, forward_audio=False, on_conflict="QUEUE")
        if settings is not None:
            if problem := _unknown_conflict(settings):
                raise ValueError(problem)
            store.apply_update(settings)
        super().__init__(settings=store, **kwargs)
        self._connection = connection
        self._connect_timeout_s = connect_timeout_s
        self._setup_timeout_s = setup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._client: DriveGatewayClient | None = None
        self._open: Turn | None = None
        self._turns: list[tuple[Turn, asyncio.Task[None]]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._drive: Drive | None = None
        self._speaking = False
        self._count = 0
        self._format_reported = False
        self._ttfb_reported = False
        self._register_event_handler("on_playback_started")
        self._register_event_handler("on_playback_finished")

    def can_generate_metrics(self) -> bool:
        """Whether it reports metrics: yes, TTFB and :class:`DHGatewayTurnMetricsData`."""
        return True

    # Life cycle.

    async def start(self, frame: StartFrame) -> None:
        """Open the channel and check the gateway in the background (errors become frames)."""
        await super().start(frame)
        if self._channel is not None:
            return
        try:
            self._channel = self._connection.channel()
        except OSError as error:
            await self.push_error(
                f"dh-gateway: cannot read the TLS files: {error}",
                exception=error,
                category=ErrorCategory.APPLICATION,
            )
            return
        self._client = self._connection.client(self._channel)
        self._track(self.create_task(self._probe(self._client), f"{self}::probe"))

    async def stop(self, frame: EndFrame) -> None:
        """End the turn in progress and let the avatar finish (up to ``stop_timeout_s``)."""
        await super().stop(frame)
        self._end_turn()
        tasks = [task for _, task in self._turns]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._stop_timeout_s)
            if pending:
                logger.warning(f"{self}: the avatar was still speaking after the end; stopped")
        await self._close()

    async def cancel(self, frame: CancelFrame) -> None:
        """Silence the avatar now and close everything."""
        await super().cancel(frame)
        await self._interrupt()
        if self._side_tasks:
            await asyncio.wait(self._side_tasks, timeout=self._connect_timeout_s)
        await self._close()

    async def cleanup(self) -> None:
        """Close every drive and the channel (idempotent)."""
        await super().cleanup()  # type: ignore[no-untyped-call]
        await self._close()

    async def _close(self) -> None:
        for _, task in list(self._turns):
            await self.cancel_task(task)
        for task in list(self._side_tasks):
            await self.cancel_task(task)
        self._open = None
        if self._channel is not None:
            channel, self._channel, self._client = self._channel, None, None
            await channel.close(None)

    async def _update_settings(self, delta: ServiceSettings) -> dict[str, Any]:
        if isinstance(delta, DHGatewayAvatarSettings) and _unknown_conflict(delta):
            await self.push_error(
                f"dh-gateway: settings not changed: {_unknown_conflict(delta)}",
                category=ErrorCategory.APPLICATION,
            )
            return {}
        return await super()._update_settings(delta)

    # Frames.

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Drive the avatar with the TTS audio; pass the other frames on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame) and direction is FrameDirection.DOWNSTREAM:
            await self._on_audio(frame)
            if assert_given(self._settings.forward_audio):
                await self.push_frame(frame, direction)
        elif isinstance(frame, (TTSStartedFrame, TTSStoppedFrame)):
            self._end_turn()
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            await self._interrupt()
            await self.push_frame(frame, direction)
        elif (
            isinstance(frame, ServiceUpdateSettingsFrame)
            and isinstance(frame.delta, DHGatewayAvatarSettings)
            and frame.service in (None, self)
        ):
            await self._update_settings(frame.delta)
        elif direction is FrameDirection.UPSTREAM and isinstance(frame, _SPEAKING_FRAMES):
            # Upstream of the avatar, the bot speaks when the avatar does: an output
            # transport's own guess (with forward_audio) would contradict it.
            pass
        else:
            await self.push_frame(frame, direction)

    async def _on_audio(self, frame: TTSAudioRawFrame) -> None:
        audio_format = AudioFormat(frame.sample_rate, frame.num_channels)
        problem = audio_format.problem()
        turn = self._open
        if not problem and turn is not None and turn.format != audio_format:
            problem = f"{audio_format} in a turn of {turn.format}"
        if problem:
            if not self._format_reported:
                self._format_reported = True
                await self.push_error(
                    f"dh-gateway: TTS audio dropped: {problem}", category=ErrorCategory.APPLICATION
                )
            return
        if frame.audio:
            (turn or self._begin_turn(audio_format)).add(frame.audio)

    def _begin_turn(self, audio_format: AudioFormat) -> Turn:
        self._count += 1
        turn = self._open = Turn(self._count, audio_format)
        if self._client is None or not self.is_usable:
            turn.end()  # no gateway to speak it (the reason was reported): dropped
            return turn
        previous = self._turns[-1][1] if self._turns else None
        task = self.create_task(
            self._run(turn, self._client, previous), f"{self}::turn{turn.index}"
        )
        self._turns.append((turn, task))
        task.add_done_callback(self._forget)
        return turn

    def _forget(self, done: asyncio.Future[None]) -> None:
        self._turns = [(turn, task) for turn, task in self._turns if task is not done]

    def _end_turn(self) -> None:
        if self._open is not None:
            self._open.end()
            self._open = None
        self._format_reported = False

    async def _interrupt(self) -> None:
        """Silence the avatar: interrupt the drive in flight, drop the turns that wait."""
        self._end_turn()
        for turn, _ in self._turns:
            turn.interrupted = True
            turn.end()
        if self._drive is not None:
            self._track(self.create_task(self._silence(self._drive), f"{self}::interrupt"))

    async def _silence(self, drive: Drive) -> None:
        try:
            await drive.interrupt()
        except DriveError as error:
            await self.push_error(describe(error), exception=error, category=category(error))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # One turn's drive.

    async def _probe(self, client: DriveGatewayClient) -> None:
        try:
            await asyncio.wait_for(client.capabilities(), self._connect_timeout_s)
        except DriveError as error:
            await self.push_error(describe(error), exception=error, category=category(error))
            return
        except TimeoutError:
            await self.push_error(
                f"dh-gateway: no answer from {self._connection.address} "
                f"in {self._connect_timeout_s:g} s",
                category=ErrorCategory.CONNECTIVITY,
            )
            return
        logger.info(f"{self}: dh-gateway at {self._connection.address} is ready")

    async def _run(
        self, turn: Turn, client: DriveGatewayClient, previous: asyncio.Task[None] | None
    ) -> None:
        """Drive ``turn`` once the turn before it ended; report how it went."""
        if previous is not None:
            await asyncio.wait([previous])
        if turn.interrupted or not self.is_usable:
            return
        options = DriveOptions(
            sample_rate_hz=turn.format.sample_rate,
            channels=turn.format.channels,
            on_conflict=assert_given(self._settings.on_conflict),
            profile=self._connection.profile,
            labels={"integration": "pipecat", "turn": str(turn.index)},
        )
        drive = self._drive = client.drive(self._connection.task_id, turn.audio(), options)
        turn.opened_at = time.monotonic()
        logger.debug(f"{self}: turn {turn.index} ({turn.format}) drives the avatar")
        try:
            await self._follow(turn, drive)
        except DriveError as error:
            await self.push_error(describe(error), exception=error, category=category(error))
        except TimeoutError:
            await self.push_error(
                f"dh-gateway: no answer from {self._connection.address} "
                f"in {self._setup_timeout_s:g} s",
                category=ErrorCategory.CONNECTIVITY,
            )
        except Exception as error:  # anything else stays in this turn, not the pipeline
            await self.push_error(f"dh-gateway: {error!r}", exception=error)
        finally:
            self._drive = None
            await drive.aclose()
        await self._stopped_speaking(drive)
        await self._report(turn, drive)

    async def _follow(self, turn: Turn, drive: Drive) -> None:
        # The deadline bounds the wait for the gateway's first answer only.
        async with asyncio.timeout(self._setup_timeout_s) as deadline:
            async for event in drive:
                deadline.reschedule(None)
                kind = event.WhichOneof("event")
                if kind == "playback_started":
                    turn.speaking_at = time.monotonic()
                    await self._started_speaking(turn, drive)
                elif kind == "progress" and self._speaking:
                    await self.broadcast_frame(BotSpeakingFrame)
                elif kind == "playback_finished":
                    await self._stopped_speaking(drive)

    async def _started_speaking(self, turn: Turn, drive: Drive) -> None:
        if self.metrics_enabled and not (self.report_only_initial_ttfb and self._ttfb_reported):
            self._ttfb_reported = True
            value = turn.speaking_at - turn.opened_at
            ttfb = TTFBMetricsData(processor=self.name, value=value)
            await self.push_frame(MetricsFrame(data=[ttfb]))
        if not self._speaking:
            self._speaking = True
            await self._broadcast(BotStartedSpeakingFrame, {"drive_id": drive.drive_id})
        await self._call_event_handler("on_playback_started", drive.drive_id)

    async def _stopped_speaking(self, drive: Drive) -> None:
        if not self._speaking:
            return
        self._speaking = False
        playback = drive.playback
        # A drive that failed while the avatar spoke was cut short, whatever it said last.
        interrupted = playback.interrupted or not playback.finished
        info = {"drive_id": drive.drive_id, "played_ms": playback.played_ms}
        await self._broadcast(BotStoppedSpeakingFrame, {**info, "interrupted": interrupted})
        await self._call_event_handler(
            "on_playback_finished", drive.drive_id, playback.played_ms, interrupted
        )

    async def _broadcast(
        self,
        kind: type[BotStartedSpeakingFrame] | type[BotStoppedSpeakingFrame],
        info: dict[str, Any],
    ) -> None:
        down, up = kind(), kind()
        for frame in (down, up):
            frame.metadata["dhgateway"] = dict(info)
        down.broadcast_sibling_id, up.broadcast_sibling_id = up.id, down.id
        await self.push_frame(down)
        await self.push_frame(up, FrameDirection.UPSTREAM)

    async def _report(self, turn: Turn, drive: Drive) -> None:
        if not (self.metrics_enabled and drive.drive_id):
            return
        done = drive.playback.completed or pb.Completed()
        speaking_ms = done.time_to_speaking_ms
        if not speaking_ms and turn.speaking_at:
            speaking_ms = round((turn.speaking_at - turn.opened_at) * 1000)
        data = DHGatewayTurnMetricsData(
            processor=self.name,
            drive_id=drive.drive_id,
            time_to_speaking_ms=speaking_ms,
            time_to_first_frame_ms=done.time_to_first_frame_ms,
            played_ms=drive.playback.played_ms,
            sent_ms=done.sent_ms,
            dropped_ms=done.dropped_ms,
            interrupted=drive.playback.interrupted or turn.interrupted,
            underruns=done.underruns,
        )
        await self.push_frame(MetricsFrame(data=[data]))


def _unknown_conflict(settings: DHGatewayAvatarSettings) -> str:
    """What is wrong with the settings' ``on_conflict`` ("" when it is fine or not given)."""
    value = settings.on_conflict
    if is_given(value) and value not in get_args(ConflictName):
        return f"on_conflict={value!r} is not one of {', '.join(get_args(ConflictName))}"
    return ""
