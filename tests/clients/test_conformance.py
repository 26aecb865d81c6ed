"""Every client language against the running gateway: speak, bad config, busy task, cancel;
what the avatar played (playback events, marks)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.demo import read_wav
from gateway.testing import Harness
from tests.clients.conftest import CLIP, Run, run_client, wall_of
from tests.service.conftest import chunks, pcm, realtime

#: The avatar's playback events and marks (issue 17): a dh-drive without them fails by name.
playback = pytest.mark.playback
#: How far ``played_ms`` and a mark's ``at_ms`` may be from the audio's own durations.
PLAYBACK_TOLERANCE_MS = 20
MARK_EVERY_MS = 500
#: The harness's gateway receives no vendor callbacks: every playback event is estimated.
ESTIMATED = "PLAYBACK_SOURCE_ESTIMATED"


def clip_pcm() -> bytes:
    return read_wav(CLIP)[0]


def clip_ms() -> float:
    """The clip's duration: 16 kHz mono s16le."""
    return len(clip_pcm()) / 32


def lacks(what: str, run: Run) -> str:
    """The failure message of a dh-drive without issue 17's playback events or marks."""
    printed = [line.get("event") for line in run.lines]
    return f"dh-drive lacks {what} (issue 17); it printed {printed}; stderr: {run.stderr[-2000:]}"


def playback_kinds(run: Run) -> list[str]:
    """The run's event names in order, less the periodic ``progress``."""
    return [str(line["event"]) for line in run.lines if line.get("event") != "progress"]


def assert_played_the_clip(run: Run, marks: int) -> dict[str, Any]:
    """The events of a clean drive of the clip in order, once each; returns its finish."""
    assert run.returncode == 0, lacks("a clean exit", run)
    expected = ["started", "playback_started", *["mark_played"] * marks]
    expected += ["playback_finished", "completed"]
    assert playback_kinds(run) == expected, lacks("the playback events in order", run)
    (started,) = run.events("playback_started")
    assert started["source"] == ESTIMATED, lacks("PlaybackStarted.source by name", run)
    (finished,) = run.events("playback_finished")
    assert finished["interrupted"] is False, lacks("PlaybackFinished.interrupted", run)
    assert finished["source"] == ESTIMATED, lacks("PlaybackFinished.source by name", run)
    # int64 as the proto3 JSON form prints it (a string), like every other int64 field.
    assert isinstance(finished["played_ms"], str), lacks("played_ms as an int64 string", run)
    assert abs(int(finished["played_ms"]) - clip_ms()) <= PLAYBACK_TOLERANCE_MS, lacks(
        f"played_ms within {PLAYBACK_TOLERANCE_MS} ms of the clip's {clip_ms():.0f} ms", run
    )
    progress = run.events("progress")
    assert progress and all("played_ms" in p for p in progress), lacks("Progress.played_ms", run)
    played = [int(p["played_ms"]) for p in progress]
    assert played == sorted(played) and played[-1] <= int(finished["played_ms"]), played
    return finished


@pytest.mark.asyncio
async def test_streams_the_clip_byte_exact(client: list[str], harness: Harness) -> None:
    run = await run_client(client, harness, "--task", "conf-ok", "--file", str(CLIP))
    assert run.returncode == 0, run.stderr
    assert run.lines[0]["event"] == "started"
    (completed,) = run.events("completed")
    record = await harness.sim.wait_closed(completed["drive_id"], timeout=5)
    assert record.audio == clip_pcm()
    assert record.start is not None and record.stopped_at is not None and record.clean_close
    assert int(completed["bytes_sent"]) == len(clip_pcm())


@playback
@pytest.mark.asyncio
async def test_reports_the_avatar_playing_the_clip_once_then_completes(
    client: list[str], harness: Harness
) -> None:
    run = await run_client(client, harness, "--task", "conf-play", "--file", str(CLIP))
    finished = assert_played_the_clip(run, marks=0)
    (completed,) = run.events("completed")
    record = await harness.sim.wait_closed(completed["drive_id"], timeout=5)
    assert record.audio == clip_pcm()
    assert abs(int(finished["played_ms"]) - record.audio_ms) <= PLAYBACK_TOLERANCE_MS
    assert {line["drive_id"] for line in run.lines} == {completed["drive_id"]}


@playback
@pytest.mark.asyncio
async def test_echoes_marks_in_order_as_the_avatar_plays_them(
    client: list[str], harness: Harness
) -> None:
    run = await run_client(
        client, harness, "--task", "conf-marks", "--file", str(CLIP),
        "--mark-every-ms", str(MARK_EVERY_MS),
    )  # fmt: skip
    offsets = list(range(MARK_EVERY_MS, int(clip_ms()), MARK_EVERY_MS))  # strictly inside
    assert run.returncode == 0, lacks("--mark-every-ms", run)
    assert_played_the_clip(run, marks=len(offsets))
    marks = run.events("mark_played")
    assert [m["name"] for m in marks] == [f"m{ms}" for ms in offsets], lacks("the marks", run)
    for mark, offset in zip(marks, offsets, strict=True):
        assert abs(int(mark["at_ms"]) - offset) <= PLAYBACK_TOLERANCE_MS, mark
        assert mark["source"] == ESTIMATED, mark
    # Cutting the audio at the marks changed none of its bytes.
    (completed,) = run.events("completed")
    record = await harness.sim.wait_closed(completed["drive_id"], timeout=5)
    assert record.audio == clip_pcm()


@pytest.mark.asyncio
async def test_bad_config_is_invalid_argument(client: list[str], harness: Harness) -> None:
    run = await run_client(
        client, harness, "--task", "conf-bad", "--file", str(CLIP), "--encoding", "LINEAR16",
        "--rate", "96000",
    )  # fmt: skip
    assert run.returncode == 1
    assert (run.error["code"], run.error["reason"]) == ("INVALID_ARGUMENT", "UNSUPPORTED_FORMAT")
    assert harness.sim.drives_for_task("conf-bad") == []


@pytest.mark.asyncio
async def test_busy_task_with_reject_is_task_busy(client: list[str], harness: Harness) -> None:
    holder = harness.client.drive("conf-busy", realtime(chunks(pcm(20_000), 3200), 100))
    started = await anext(holder)
    try:
        run = await run_client(
            client, harness, "--task", "conf-busy", "--file", str(CLIP), "--policy", "REJECT"
        )
    finally:
        await holder.aclose()
    assert run.returncode == 1
    assert (run.error["code"], run.error["reason"]) == ("ALREADY_EXISTS", "TASK_BUSY")
    assert run.error["metadata"]["holder_drive_id"] == started.drive_id


@pytest.mark.asyncio
async def test_cancel_reaches_the_simulator_as_stop_within_100ms(
    client: list[str], harness: Harness
) -> None:
    run = await run_client(
        client, harness, "--task", "conf-cancel", "--file", str(CLIP), "--realtime",
        "--cancel-after-ms", "1500",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (cancelled,) = run.events("cancelled")
    (record,) = harness.sim.drives_for_task("conf-cancel")
    record = await harness.sim.wait_closed(record.drive_id, timeout=5)
    assert record.stopped_at is not None
    assert wall_of(record.stopped_at) - float(cancelled["at_unix_ms"]) < 100
    assert record.last_audio_at is not None and record.last_audio_at <= record.stopped_at
    assert len(record.audio) < len(clip_pcm())
