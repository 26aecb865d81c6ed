"""Every client language against the running gateway: speak, bad config, busy task, cancel."""

from __future__ import annotations

import pytest

from gateway.demo import read_wav
from gateway.testing import Harness
from tests.clients.conftest import CLIP, run_client, wall_of
from tests.service.conftest import chunks, pcm, realtime


def clip_pcm() -> bytes:
    return read_wav(CLIP)[0]


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
