"""The LiveKit plugin's bad input, its other failures, and its DHGW_* connection over TLS with
an API key. Real gateway and simulator, every wait bounded. (The latency its path adds is
measured by ``python -m bench.plugin_latency``, not here: speed is a benchmark's.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from livekit import rtc
from livekit.plugins import dhgateway
from livekit.plugins.dhgateway.testing import frames, say

from gateway.config import AuthConfig, ServerConfig, TlsConfig
from gateway.testing import Harness
from tests.integrations.conftest import DEADLINE_S, Heard, nothing_open, playout, speech
from tests.security.conftest import api_key, gateway, make_pki, started


@pytest.mark.asyncio
async def test_frames_of_another_format_within_a_segment_are_dropped(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput, caplog: pytest.LogCaptureFixture
) -> None:
    first, last = speech(300, seed=1), speech(300, seed=2)
    stray = frames(speech(100, rate=16000, channels=2), 16000, 2)
    with caplog.at_level(logging.WARNING, logger="livekit.plugins.dhgateway"):
        await say(output, [*frames(first), *stray, *frames(last)])
        event = await playout(output)
    assert not event.interrupted and event.playback_position == pytest.approx(0.6, abs=0.001)
    assert harness.sim.drives[-1].audio == first + last
    assert [r.message for r in caplog.records].count(
        "dropping audio of 16000 Hz x 2 in a segment begun at 24000 Hz x 1"
    ) == 1  # once per segment, not per frame
    await nothing_open(harness)


@pytest.mark.asyncio
async def test_a_segment_in_its_own_rate_and_channels_is_converted_by_the_gateway(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput
) -> None:
    await say(output, frames(speech(500, rate=48000, channels=2), 48000, 2))
    event = await playout(output)
    record = harness.sim.drives[-1]
    assert record.sample_rate is not None and record.sample_rate < 48000
    assert len(record.audio) / 2 / record.sample_rate == pytest.approx(0.5, abs=0.01)  # mono
    assert event.playback_position == pytest.approx(0.5, abs=0.01) and not event.interrupted


@pytest.mark.asyncio
async def test_a_format_the_gateway_refuses_ends_the_segment_with_its_reason(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput
) -> None:
    await say(output, frames(speech(200, rate=96000), 96000))
    event = await playout(output)
    assert event.interrupted and event.playback_position == 0
    error = output.last_error
    assert isinstance(error, dhgateway.DHGatewayStatusError)
    assert (error.code, error.status_code) == ("INVALID_ARGUMENT", 400)
    assert not harness.sim.drives
    await nothing_open(harness)
    audio = speech(200)  # the next segment is unharmed
    await say(output, frames(audio))
    assert not (await playout(output)).interrupted
    assert harness.sim.drives[-1].audio == audio


@pytest.mark.asyncio
async def test_no_audio_a_flush_and_a_clear_without_a_segment_do_nothing(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput, caplog: pytest.LogCaptureFixture
) -> None:
    heard = Heard.of(output)
    with caplog.at_level(logging.WARNING):
        output.flush()  # no segment
        output.clear_buffer()  # nothing playing
        await output.capture_frame(rtc.AudioFrame(b"", 24000, 1, 0))  # an empty frame
        output.flush()  # a turn with no audio
        output.clear_buffer()
        await playout(output)  # returns at once: nothing was captured
    assert output.captured_playout_segments == 0
    assert heard == Heard()
    assert not harness.sim.drives and not caplog.records
    await nothing_open(harness)


@pytest.mark.asyncio
async def test_a_clear_before_the_drive_opened_sends_nothing(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput
) -> None:
    for frame in frames(speech(200)):
        await output.capture_frame(frame)
    output.clear_buffer()  # before the drive's task ran
    output.flush()
    event = await playout(output)
    assert event.interrupted and event.playback_position == 0
    assert not harness.sim.drives and output.last_error is None
    await nothing_open(harness)


@pytest.mark.asyncio
async def test_a_task_held_by_another_client_is_the_gateways_task_busy(
    harness: Harness, output: dhgateway.DHGatewayAudioOutput
) -> None:
    release = asyncio.Event()

    async def held() -> AsyncIterator[bytes]:
        yield speech(200)
        async with asyncio.timeout(DEADLINE_S):
            await release.wait()

    holder = harness.client.drive(output.task_id, held())
    await started(holder)
    await say(output, frames(speech(200)))
    event = await playout(output)
    release.set()
    await holder.aclose()
    assert event.interrupted
    error = output.last_error
    assert isinstance(error, dhgateway.DHGatewayStatusError)
    assert (error.code, error.reason, error.status_code) == ("ALREADY_EXISTS", "TASK_BUSY", 409)
    await nothing_open(harness)


@pytest.mark.asyncio
async def test_closing_the_output_mid_segment_ends_its_drive(harness: Harness) -> None:
    output = dhgateway.DHGatewayAudioOutput(task_id="lk-close", channel=harness.channel)
    heard = Heard.of(output)
    for frame in frames(speech(2000)):
        await output.capture_frame(frame)
    async with asyncio.timeout(DEADLINE_S):
        while not heard.started:  # noqa: ASYNC110 - the callback is what is waited for
            await asyncio.sleep(0.005)
    await output.aclose()
    [(_, event)] = heard.finished
    assert event.interrupted
    await nothing_open(harness)


@pytest.mark.asyncio
async def test_the_dhgw_variables_reach_a_gateway_over_tls_with_an_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = make_pki(tmp_path)
    tls = TlsConfig(cert_file=str(pki.server_cert), key_file=str(pki.server_key))
    auth = AuthConfig(api_keys=(api_key("a", "dhgw_the-key"),))
    async with gateway(server=ServerConfig(listen="127.0.0.1:0", tls=tls), auth=auth) as h:
        for name, value in {
            "DHGW_ADDRESS": h.address,
            "DHGW_TASK_ID": "lk-env",
            "DHGW_API_KEY": "dhgw_the-key",
            "DHGW_TLS_CA_FILE": str(pki.ca),
        }.items():
            monkeypatch.setenv(name, value)
        output = dhgateway.DHGatewayAudioOutput()  # every setting from the environment
        try:
            audio = speech(300)
            await say(output, frames(audio))
            event = await playout(output)
        finally:
            await output.aclose()
        assert output.last_error is None and not event.interrupted
        [record] = h.sim.drives_for_task("lk-env")
        assert record.audio == audio


def test_a_missing_task_id_is_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DHGW_TASK_ID", raising=False)
    with pytest.raises(ValueError, match="DHGW_TASK_ID"):
        dhgateway.AvatarSession()
