"""Text drives end to end (issue 18 item 4): DriveConfig.text through the gateway to the
simulator's DriveByText, with the simulator's callbacks reaching the gateway's listener."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
import pytest_asyncio
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import DriveError, DriveOptions, Mark, TextInput

from gateway.callbacks.receiver import PATH
from gateway.config import Credentials, LimitsConfig, ServerConfig
from gateway.simulator import PlayoutOutcome, Simulator, SimulatorConfig
from gateway.testing import TEST_APP_ID, Harness, running_gateway
from tests.service.conftest import chunks, pcm, realtime, started_drive_id, stream_error

C = grpc.StatusCode
CALLBACK_SECRET = "callback-secret-for-text-tests-0123"
MS_PER_CHAR = 20.0


def say(text: str = "hello there, avatar", timbre_id: str = "tb-1", **options: Any) -> DriveOptions:
    fields = {k: options.pop(k) for k in ("speech_rate", "pitch_rate") if k in options}
    return DriveOptions(text=TextInput(text=text, timbre_id=timbre_id, **fields), **options)


def kinds(events: Iterable[pb.DriveEvent]) -> list[str]:
    return [str(e.WhichOneof("event")) for e in events]


def playback(events: list[pb.DriveEvent]) -> tuple[pb.PlaybackStarted, pb.PlaybackFinished]:
    started = next(e.playback_started for e in events if e.HasField("playback_started"))
    finished = next(e.playback_finished for e in events if e.HasField("playback_finished"))
    return started, finished


def _simulator(**fields: Any) -> Simulator:
    config: dict[str, Any] = {"app_id": TEST_APP_ID, "server_secret": secrets.token_hex(16)}
    return Simulator(SimulatorConfig(**(config | {"text_ms_per_char": MS_PER_CHAR} | fields)))


@asynccontextmanager
async def _gateway(sim: Simulator, *, callbacks: bool, timbre: str = "") -> AsyncIterator[Harness]:
    profiles = {
        "default": Credentials(
            app_id=sim.config.app_id,
            server_secret=sim.config.server_secret,
            callback_secret=CALLBACK_SECRET,
            default_timbre_id=timbre,
        )
    }
    listen = "127.0.0.1:0" if callbacks else ""
    server = ServerConfig(listen="127.0.0.1:0", callback_listen=listen, callback_grace_ms=600)
    limits = LimitsConfig.for_test(text_ms_per_char=MS_PER_CHAR)
    async with running_gateway(sim=sim, profiles=profiles, server=server, limits=limits) as h:
        if h.app.callbacks is not None:
            sim.set_callbacks(f"http://{h.app.callbacks.address}{PATH}", CALLBACK_SECRET)
        yield h


@pytest_asyncio.fixture
async def vendor() -> AsyncIterator[Harness]:
    """A gateway receiving the simulator's callbacks (playback VENDOR)."""
    async with _simulator() as sim, _gateway(sim, callbacks=True) as h:
        yield h


@pytest_asyncio.fixture
async def estimated() -> AsyncIterator[Harness]:
    """A gateway without callbacks (playback ESTIMATED) whose profile has a default timbre."""
    async with _simulator() as sim, _gateway(sim, callbacks=False, timbre="tb-default") as h:
        yield h


async def events_of(h: Harness, task: str, options: DriveOptions, audio: Any = ()) -> list[Any]:
    return [e async for e in h.client.drive(task, audio, options)]


@pytest.mark.asyncio
async def test_a_text_drive_speaks_with_the_vendors_word(vendor: Harness) -> None:
    events = await events_of(vendor, "t-ok", say("x" * 30, speech_rate=100, pitch_rate=-40))
    assert kinds(events) == ["started", "playback_started", "playback_finished", "completed"]
    started, finished = playback(events)
    assert started.source == finished.source == pb.PLAYBACK_SOURCE_VENDOR
    assert not finished.interrupted
    (record,) = vendor.sim.text_drives
    assert record.drive_id == events[0].drive_id == events[-1].drive_id
    request = record.request
    assert (request.text, request.timbre_id, request.interrupt) == ("x" * 30, "tb-1", False)
    assert (request.speech_rate, request.pitch_rate) == (100, -40)
    playout = vendor.sim.playout(record.drive_id)
    assert playout.outcome is PlayoutOutcome.PLAYED and playout.played_ms is not None
    assert abs(finished.played_ms - playout.played_ms) <= 20
    assert events[0].started.output_sample_rate_hz == 0 and events[0].started.setup_ms >= 0
    assert events[-1].completed.sent_ms == 0
    assert not vendor.app.drives  # the task is free once Completed came


@pytest.mark.asyncio
async def test_without_callbacks_the_estimate_from_the_text_length_stands(
    estimated: Harness,
) -> None:
    events = await events_of(estimated, "t-est", say("y" * 25, timbre_id="", speech_rate=500))
    assert kinds(events)[-3:] == ["playback_started", "playback_finished", "completed"]
    started, finished = playback(events)
    assert started.source == finished.source == pb.PLAYBACK_SOURCE_ESTIMATED
    # 25 characters at 20 ms each, twice as fast at speech_rate 500.
    assert finished.played_ms == 250 and not finished.interrupted
    (record,) = estimated.sim.text_drives
    assert record.request.timbre_id == "tb-default"


@pytest.mark.asyncio
async def test_queue_waits_for_an_audio_drives_tail(vendor: Harness) -> None:
    holder = vendor.client.drive("t-q", realtime(chunks(pcm(600), 3200), 100))
    holder_id = await started_drive_id(holder)
    queued = vendor.client.drive("t-q", [], say("z" * 10, on_conflict="QUEUE"))
    first = await anext(queued)
    assert first.WhichOneof("event") == "queued" and first.queued.ahead == 1
    holder_events = [e async for e in holder]
    rest = [e async for e in queued]
    assert kinds(holder_events)[-1] == "completed" and kinds(rest)[-1] == "completed"
    audio = vendor.sim.playout(holder_id)
    assert audio.outcome is PlayoutOutcome.PLAYED  # its last words were not cut
    (record,) = vendor.sim.text_drives
    assert audio.ended_at is not None and record.created_at >= audio.ended_at - 0.05
    assert vendor.sim.playout(record.drive_id).outcome is PlayoutOutcome.PLAYED


@pytest.mark.asyncio
async def test_reject_while_another_drive_holds_the_task(vendor: Harness) -> None:
    holder = vendor.client.drive("t-r", realtime(chunks(pcm(1500), 3200), 100))
    holder_id = await started_drive_id(holder)
    error = await stream_error(vendor.client.drive("t-r", [], say()))
    assert (error.code, error.reason) == (C.ALREADY_EXISTS, "TASK_BUSY")
    assert error.metadata["holder_drive_id"] == holder_id
    await holder.aclose()
    speaking = vendor.client.drive("t-r2", [], say("w" * 100))
    text_id = await started_drive_id(speaking)
    error = await stream_error(vendor.client.drive("t-r2", [pcm(100)]))
    assert (error.code, error.reason, error.metadata["holder_drive_id"]) == (
        C.ALREADY_EXISTS,
        "TASK_BUSY",
        text_id,
    )
    await speaking.aclose()
    assert not vendor.sim.drives_for_task("t-r2")


@pytest.mark.asyncio
async def test_preempt_cuts_the_holder_both_ways(vendor: Harness) -> None:
    holder = vendor.client.drive("t-p", realtime(chunks(pcm(3000), 3200), 100))
    holder_id = await started_drive_id(holder)
    events = await events_of(vendor, "t-p", say("v" * 10, on_conflict="PREEMPT"))
    assert kinds(events)[-1] == "completed"
    error = await stream_error(holder)
    assert (error.code, error.reason) == (C.ABORTED, "PREEMPTED")
    old = vendor.sim.drive(holder_id)
    (record,) = vendor.sim.text_drives
    assert record.request.interrupt  # InterruptMode 1: the old drive's tail is cut
    assert old.stopped_at is not None and old.stopped_at <= record.created_at

    speaking = vendor.client.drive("t-p", [], say("u" * 200))
    text_id = await started_drive_id(speaking)
    audio = await events_of(vendor, "t-p", DriveOptions(on_conflict="PREEMPT"), [pcm(200)])
    assert kinds(audio)[-1] == "completed"
    cut: list[Any] = []
    with pytest.raises(DriveError) as caught:
        async for event in speaking:
            cut.append(event)
    assert (caught.value.code, caught.value.reason) == (C.ABORTED, "PREEMPTED")
    assert kinds(cut)[-1] == "playback_finished" and cut[-1].playback_finished.interrupted
    assert caught.value.metadata["drive_id"] == text_id
    assert vendor.sim.playout(text_id).outcome is PlayoutOutcome.INTERRUPTED
    assert not vendor.sim.overlaps


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("options", "audio", "code", "reason"),
    [
        (say(""), [], C.INVALID_ARGUMENT, "BAD_TEXT"),
        (say(" \n\t "), [], C.INVALID_ARGUMENT, "BAD_TEXT"),
        (say("x" * 1801), [], C.INVALID_ARGUMENT, "BAD_TEXT"),
        (say(speech_rate=501), [], C.INVALID_ARGUMENT, "INVALID_CONFIG"),
        (say(pitch_rate=-501), [], C.INVALID_ARGUMENT, "INVALID_CONFIG"),
        (say(timbre_id=""), [], C.INVALID_ARGUMENT, "TIMBRE_REQUIRED"),
        (say(timbre_id="t" * 257), [], C.INVALID_ARGUMENT, "INVALID_CONFIG"),
        (say(), [pcm(100)], C.INVALID_ARGUMENT, "TEXT_DRIVE_AUDIO"),
        (say(), [Mark("m")], C.INVALID_ARGUMENT, "TEXT_DRIVE_AUDIO"),
    ],
    ids=[
        "empty",
        "white-space",
        "1801-chars",
        "speech-rate",
        "pitch-rate",
        "no-timbre",
        "long-timbre",
        "audio",
        "mark",
    ],
)
async def test_bad_input_is_refused_with_a_reason(
    vendor: Harness, options: DriveOptions, audio: list[Any], code: C, reason: str
) -> None:
    error = await stream_error(vendor.client.drive("t-bad", audio, options))
    assert (error.code, error.reason) == (code, reason), error
    assert not vendor.app.drives


@pytest.mark.asyncio
async def test_a_text_drive_with_an_input_format_is_refused(vendor: Harness) -> None:
    class Both(DriveOptions):
        def to_config(self, task_id: str) -> pb.DriveConfig:
            config = super().to_config(task_id)
            config.input.sample_rate_hz = 16000
            return config

    options = Both(text=TextInput(text="hi", timbre_id="tb"))
    error = await stream_error(vendor.client.drive("t-both", [], options))
    assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "INVALID_CONFIG")
    assert not vendor.sim.api_calls


@pytest.mark.asyncio
async def test_audio_while_the_avatar_speaks_fails_the_drive(vendor: Harness) -> None:
    async def late_audio() -> AsyncIterator[bytes]:
        await vendor.sim.wait_for(lambda: bool(vendor.sim.text_drives))
        yield pcm(100)

    error = await stream_error(vendor.client.drive("t-late", late_audio(), say("s" * 100)))
    assert (error.code, error.reason) == (C.INVALID_ARGUMENT, "TEXT_DRIVE_AUDIO")
    assert error.metadata["drive_id"] == vendor.sim.text_drives[0].drive_id
    assert not vendor.app.drives


@pytest.mark.asyncio
async def test_the_vendors_refusal_is_reported() -> None:
    async with _simulator(timbres={"known"}) as sim, _gateway(sim, callbacks=False) as h:
        error = await stream_error(h.client.drive("t-v", [], say(timbre_id="unknown")))
        assert (error.code, error.reason) == (C.INTERNAL, "UPSTREAM_ERROR")
        assert error.metadata["upstream_code"] == "400000004"
        caps = await h.client.capabilities()
    assert caps.text_drives and caps.max_text_chars == 1800
    assert not sim.text_drives


@pytest.mark.asyncio
async def test_the_vendors_drive_failure_fails_the_text_drive(vendor: Harness) -> None:
    stream = vendor.client.drive("t-f", [], say("f" * 200))
    await started_drive_id(stream)
    assert vendor.sim.end_task("t-f")  # the simulator fails the drive (Status 3)
    error = await asyncio.wait_for(stream_error(stream), 5)
    # The task's end is why: the gateway saw the task alive, so the vendor's 400000005 says so.
    assert (error.code, error.reason) == (C.FAILED_PRECONDITION, "TASK_ENDED")


async def held_open() -> AsyncIterator[bytes]:
    """A text drive's audio side that stays open (so its Interrupt goes on the stream)."""
    await asyncio.Event().wait()
    yield b""  # never reached


@pytest.mark.asyncio
async def test_an_interrupt_silences_the_text_and_the_stream_ends_ok(vendor: Harness) -> None:
    stream = vendor.client.drive("t-int", held_open(), say("i" * 200))
    async with asyncio.timeout(10):
        events = [await anext(stream)]
        while events[-1].WhichOneof("event") != "playback_started":
            events.append(await anext(stream))
        await asyncio.sleep(0.2)
        await stream.interrupt()
        events += [e async for e in stream]
    assert kinds(events)[-2:] == ["playback_finished", "completed"]
    finished, completed = events[-2].playback_finished, events[-1].completed
    assert finished.interrupted and completed.interrupted
    assert 0 < finished.played_ms < 200 * MS_PER_CHAR and completed.played_ms == finished.played_ms
    assert completed.time_to_speaking_ms > 0
    actions = [c.action for c in vendor.sim.api_calls]
    assert actions.count("InterruptDriveTask") == 1
    playout = vendor.sim.playout(events[0].drive_id)
    assert playout.outcome is PlayoutOutcome.INTERRUPTED
    # The task is free at once: the next text speaks.
    assert kinds(await events_of(vendor, "t-int", say("n" * 10)))[-1] == "completed"


@pytest.mark.asyncio
async def test_an_interrupt_while_queued_ends_the_text_drive_at_once(vendor: Harness) -> None:
    holder = vendor.client.drive("t-qi", realtime(chunks(pcm(1500), 3200), 100))
    holder_id = await started_drive_id(holder)
    queued = vendor.client.drive("t-qi", held_open(), say("q" * 50, on_conflict="QUEUE"))
    async with asyncio.timeout(10):
        assert (await anext(queued)).WhichOneof("event") == "queued"
        await queued.interrupt()
        rest = [e async for e in queued]
    # Ended at once, not at its turn: the holder's avatar is still speaking.
    assert vendor.sim.playout(holder_id).ended_at is None
    assert kinds(rest) == ["completed"], rest
    assert rest[-1].completed.interrupted and rest[-1].completed.played_ms == 0
    assert vendor.sim.text_drives == []  # the vendor never heard of it
    assert vendor.sim.drives_for_task("t-qi")[0].drive_id == holder_id
    holder_events = [e async for e in holder]  # the holder goes on, unharmed
    assert kinds(holder_events)[-1] == "completed"
    assert vendor.sim.playout(holder_id).outcome is PlayoutOutcome.PLAYED


@pytest.mark.asyncio
async def test_stop_drive_interrupt_silences_a_speaking_text(vendor: Harness) -> None:
    stream = vendor.client.drive("t-stop", [], say("s" * 300))
    drive_id = await started_drive_id(stream)
    result = await vendor.client.stop("t-stop", mode="INTERRUPT")
    assert result.drive_id == drive_id and result.interrupted
    events = []
    with pytest.raises(DriveError) as caught:
        async for event in stream:
            events.append(event)
    assert (caught.value.code, caught.value.reason) == (C.ABORTED, "STOPPED_BY_REQUEST")
    assert kinds(events)[-1] == "playback_finished" and events[-1].playback_finished.interrupted
    assert result.played_ms == events[-1].playback_finished.played_ms
    assert vendor.sim.playout(drive_id).outcome is PlayoutOutcome.INTERRUPTED
