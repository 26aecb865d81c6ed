"""Every client language against the running gateway: speak, bad config, busy task, cancel;
what the avatar played (playback events, marks); interrupt, text drives, stop and the task
calls, each printing the one --json schema (tests/clients/json_lines.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gateway.demo import read_wav
from gateway.errors import Reason
from gateway.service.status import RETRY_AFTER_MS
from gateway.testing import Harness
from tests.clients.conftest import CLIP, RUN_TIMEOUT_S, Run, run_client, wall_of
from tests.clients.json_lines import assert_one_schema
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
    # The status's BadRequest, printed by every dh-drive: which field, and what is accepted.
    assert_one_schema(run.lines)
    assert run.error["field_violations"] == [
        {"field": "config.input.sample_rate_hz", "description": run.error["message"]}
    ], run.error
    assert "retry_delay_ms" not in run.error, run.error


@pytest.mark.asyncio
async def test_a_draining_gateway_says_when_to_retry(client: list[str], harness: Harness) -> None:
    harness.app.start_draining()
    run = await run_client(client, harness, "--task", "conf-drain", "--file", str(CLIP))
    assert run.returncode == 1
    assert (run.error["code"], run.error["reason"]) == ("UNAVAILABLE", "DRAINING")
    # The status's RetryInfo, printed by every dh-drive as the int64 ms it is.
    assert_one_schema(run.lines)
    delay_ms = str(RETRY_AFTER_MS[Reason.DRAINING])
    assert run.error["retry_delay_ms"] == run.error["metadata"]["retry_after_ms"] == delay_ms
    assert "field_violations" not in run.error, run.error


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


# Barge-in, text drives and the task (issue 18, issue 17's task calls): the same --json lines.

#: Long enough to be interrupted while the avatar speaks it (the simulator renders by length).
LONG_TEXT = "Hello there, and welcome to the show. " * 8
INTERRUPT_AFTER_MS = 1000


async def run_command(client: list[str], harness: Harness, name: str, *args: str) -> Run:
    """Run ``dh-drive <name>`` (stop, get-task, watch-task) against the harness's gateway."""
    return await run_client([*client, name], harness, *args)


def assert_interrupted(run: Run) -> tuple[dict[str, Any], dict[str, Any]]:
    """An interrupted drive's events: exit 0, ``interrupt``, then the end; its finish and
    completed."""
    assert run.returncode == 0, lacks("a clean exit after --interrupt-after-ms", run)
    assert_one_schema(run.lines)
    kinds = playback_kinds(run)
    assert "interrupt" in kinds, lacks("the interrupt line", run)
    assert kinds[-2:] == ["playback_finished", "completed"], lacks("the interrupted end", run)
    (finished,), (completed,) = run.events("playback_finished"), run.events("completed")
    assert finished["interrupted"] is True and completed["interrupted"] is True, run.lines
    assert completed["played_ms"] == finished["played_ms"], run.lines
    return finished, completed


@pytest.mark.asyncio
async def test_interrupt_silences_the_avatar_and_says_what_was_heard(
    client: list[str], harness: Harness
) -> None:
    run = await run_client(
        client, harness, "--task", "conf-interrupt", "--file", str(CLIP), "--realtime",
        "--interrupt-after-ms", str(INTERRUPT_AFTER_MS),
    )  # fmt: skip
    finished, completed = assert_interrupted(run)
    playout = await harness.sim.wait_playout_ended(completed["drive_id"])
    assert playout.interrupted_at is not None and playout.played_ms is not None, playout
    # What was heard: the simulator's own record of the avatar, well short of the clip.
    assert abs(int(finished["played_ms"]) - playout.played_ms) <= PLAYBACK_TOLERANCE_MS
    assert int(finished["played_ms"]) < clip_ms() - 1000, finished
    assert int(completed["sent_ms"]) < clip_ms(), completed
    (interrupt,) = run.events("interrupt")
    assert wall_of(playout.interrupted_at) >= float(interrupt["at_unix_ms"]) - 5, playout


@pytest.mark.asyncio
async def test_a_text_drive_speaks_with_the_vendor_tts(client: list[str], harness: Harness) -> None:
    run = await run_client(
        client, harness, "--task", "conf-text", "--text", "Hello there!", "--timbre-id", "v-1"
    )
    assert run.returncode == 0, lacks("--text", run)
    assert_one_schema(run.lines)
    kinds = playback_kinds(run)
    assert kinds[-3:] == ["playback_started", "playback_finished", "completed"], kinds
    (record,) = harness.sim.text_drives
    assert (record.request.text, record.request.timbre_id) == ("Hello there!", "v-1")
    (completed,) = run.events("completed")
    assert completed["drive_id"] == record.drive_id and completed["interrupted"] is False
    assert harness.sim.drives_for_task("conf-text") == []  # no WebSocket, no audio


@pytest.mark.asyncio
async def test_a_text_drive_is_interrupted_in_its_stream(
    client: list[str], harness: Harness
) -> None:
    run = await run_client(
        client, harness, "--task", "conf-text-i", "--text", LONG_TEXT, "--timbre-id", "v-1",
        "--interrupt-after-ms", str(INTERRUPT_AFTER_MS),
    )  # fmt: skip
    _, completed = assert_interrupted(run)
    playout = await harness.sim.wait_playout_ended(completed["drive_id"])
    assert playout.text and playout.interrupted_at is not None, playout


@pytest.mark.asyncio
async def test_stop_interrupts_a_drive_from_outside(client: list[str], harness: Harness) -> None:
    holder = harness.client.drive("conf-stop", realtime(chunks(pcm(20_000), 3200), 100))
    async for event in holder:
        if event.WhichOneof("event") == "playback_started":
            break
    try:
        run = await run_command(client, harness, "stop", "--task", "conf-stop",
                                "--stop-mode", "interrupt")  # fmt: skip
    finally:
        await holder.aclose()
    assert run.returncode == 0, lacks("dh-drive stop --stop-mode", run)
    assert_one_schema(run.lines)
    (stopped,) = run.events("stopped")
    assert stopped["drive_id"] == holder.drive_id and stopped["interrupted"] is True, stopped
    assert 0 < int(stopped["played_ms"]) < 20_000, stopped
    run = await run_command(client, harness, "stop", "--task", "conf-nobody")
    assert run.returncode == 1, run.stderr
    assert (run.error["code"], run.error["reason"]) == ("NOT_FOUND", "NO_ACTIVE_DRIVE")
    assert_one_schema(run.lines)


@pytest.mark.asyncio
async def test_get_task_and_watch_task_print_the_task_info(
    client: list[str], harness: Harness
) -> None:
    async for _ in harness.client.drive("conf-task", [pcm(200)]):
        pass  # the task is known now, and was driven
    run = await run_command(client, harness, "get-task", "--task", "conf-task", "--refresh")
    assert run.returncode == 0, lacks("dh-drive get-task", run)
    assert_one_schema(run.lines)
    (task,) = run.events("task")
    assert (task["task_id"], task["status"]) == ("conf-task", "TASK_STATUS_STREAMING"), task
    assert task["speaking"] is False and "last_driven_time" in task, task
    # A watch prints the task now, then its end (ended by the test, as MaxIdleTime would).
    command = [*client, "watch-task", "--addr", harness.address, "--json", "--task", "conf-task"]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(RUN_TIMEOUT_S):
            first = json.loads(await process.stdout.readline() or b"{}")
            assert harness.sim.end_task("conf-task")
            rest, stderr = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [first, *(json.loads(line) for line in rest.decode().splitlines())]
    assert process.returncode == 0, lacks("dh-drive watch-task", Run(lines, 1, stderr.decode()))
    assert_one_schema(lines)
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "TASK_STATUS_STREAMING" and statuses[-1] == "TASK_STATUS_STOPPED", lines
