"""The drive's WebSocket against the simulator: Start, audio, Stop, close; events from the
vendor; a dropped connection; a silent peer; refused handshakes; close semantics."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.config import Credentials, UpstreamConfig
from gateway.errors import Reason, UpstreamDisconnected, UpstreamUnreachable
from gateway.simulator import Fault, Simulator
from gateway.upstream import DriveGrant, DriveSession, UpstreamClient, UpstreamMessage
from tests.upstream.conftest import (
    TASK,
    driving,
    free_port,
    lost,
    pcm,
    send_paced,
    short_config,
)

MONO_16K_20MS = 640  # bytes in 20 ms of 16 kHz mono s16le


async def open_session(
    client: UpstreamClient,
    credentials: Credentials,
    config: UpstreamConfig,
    **kwargs: Any,
) -> DriveSession:
    grant = await client.drive_by_ws_stream(TASK, credentials)
    options: dict[str, Any] = {"sample_rate": 16000, **kwargs}
    return await DriveSession.open(grant, config=config, **options)


@pytest.mark.asyncio
async def test_a_real_time_drive_arrives_whole_in_order(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    audio = pcm(32000)  # 1 s
    async with driving(await open_session(client, credentials, config)) as session:
        await send_paced(session, audio, MONO_16K_20MS)
    record = await sim.wait_closed(session.drive_id)
    assert record.start is not None
    assert record.start["Action"] == "Start" and record.start["SequenceID"]
    assert record.start["Payload"] == {"DriveId": session.drive_id, "SampleRate": 16000}
    assert (record.sample_rate, record.channel) == (16000, 1)
    assert record.audio == audio
    assert record.frame_count == 50
    assert record.stopped_at is not None and record.clean_close
    assert record.underruns == 0
    assert record.errors == []
    assert session.bytes_sent == 32000
    assert session.closed.result() is None


@pytest.mark.asyncio
async def test_stereo_announces_channel_and_voice_channel(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    audio = pcm(24000 * 2 * 2 // 10)  # 100 ms of 24 kHz stereo
    async with driving(
        await open_session(
            client, credentials, config, sample_rate=24000, channels=2, voice_channel=1
        )
    ) as session:
        for offset in range(0, len(audio), 1920):
            await session.send_audio(audio[offset : offset + 1920])
    record = await sim.wait_closed(session.drive_id)
    assert record.start is not None
    assert record.start["Payload"] == {
        "DriveId": session.drive_id,
        "SampleRate": 24000,
        "Channel": 2,
        "VoiceChannel": 1,
    }
    assert (record.sample_rate, record.channel, record.voice_channel) == (24000, 2, 1)
    assert record.audio == audio and record.stopped_at is not None and record.clean_close


@pytest.mark.asyncio
async def test_an_unknown_server_message_is_an_event_and_breaks_nothing(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    sim.set_fault(Fault(send_text_after_start='{"Action":"Whatever"}'), task_id=TASK)
    events: list[UpstreamMessage] = []
    received = asyncio.Event()

    def on_event(message: UpstreamMessage) -> None:
        events.append(message)
        received.set()
        raise RuntimeError("a buggy callback must not break the drive either")

    audio = pcm(6400)
    async with driving(
        await open_session(client, credentials, config, on_event=on_event)
    ) as session:
        await asyncio.wait_for(received.wait(), 2)
        for offset in range(0, len(audio), MONO_16K_20MS):
            await session.send_audio(audio[offset : offset + MONO_16K_20MS])
    assert events == [UpstreamMessage("text", '{"Action":"Whatever"}', {"Action": "Whatever"})]
    record = await sim.wait_closed(session.drive_id)
    assert record.audio == audio and record.stopped_at is not None and record.clean_close
    assert session.closed.result() is None


@pytest.mark.asyncio
async def test_a_dropped_connection_is_noticed_with_the_audio_sent(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    sim.set_fault(Fault(drop_after_bytes=32000), task_id=TASK)
    session = await open_session(client, credentials, config)
    loop = asyncio.get_running_loop()
    crossed_at: float | None = None
    error: UpstreamDisconnected | None = None
    try:
        async with asyncio.timeout(5):
            for _ in range(300):  # 6 s of audio at most, sent at about 4x
                try:
                    await session.send_audio(pcm(MONO_16K_20MS))
                except UpstreamDisconnected as exc:
                    error = exc
                    break
                if crossed_at is None and session.bytes_sent >= 32000:
                    crossed_at = loop.time()
                if session.closed.done():
                    error = session.closed.result()
                    break
                await asyncio.sleep(0.005)
        assert error is not None and crossed_at is not None
        assert loop.time() - crossed_at < 2.0
        assert error.reason is Reason.UPSTREAM_DISCONNECTED
        assert 32000 <= error.bytes_sent <= session.bytes_sent
        assert error.metadata["sent_ms"] == f"{error.bytes_sent / 32:.0f}"
        gone = await lost(session, 2)
        assert isinstance(gone, UpstreamDisconnected) and gone.bytes_sent == error.bytes_sent
        with pytest.raises(UpstreamDisconnected) as again:
            await session.send_audio(pcm(MONO_16K_20MS))
        assert again.value.bytes_sent == error.bytes_sent
        with pytest.raises(UpstreamDisconnected):
            await session.send_stop()
    finally:
        await session.close()  # never raises, even now
    record = await sim.wait_closed(session.drive_id)
    assert len(record.audio) >= 32000


@pytest.mark.asyncio
async def test_a_silent_peer_is_noticed_by_keepalive(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    sim.set_fault(Fault(silent_after_bytes=16000), task_id=TASK)
    session = await open_session(client, credentials, config)
    try:
        for _ in range(25):  # 16000 bytes: the simulator stops reading after these
            await session.send_audio(pcm(MONO_16K_20MS))
        loop = asyncio.get_running_loop()
        silent_from = loop.time()
        gone = await lost(session, 3)
        # ping interval 0.3 s + ping timeout 0.3 s + close timeout 0.5 s, plus slack
        assert loop.time() - silent_from < 2.0
        assert isinstance(gone, UpstreamDisconnected)
        assert gone.bytes_sent == 16000
        assert "500 ms of audio" in gone.message
    finally:
        await session.close()


@pytest.mark.asyncio
async def test_a_send_blocked_by_a_peer_that_stopped_reading_does_not_hang(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    # The simulator stops reading at once: the socket buffers fill up, send_audio blocks on
    # flow control, and websockets' ping sits behind our data. The stall bound (ping interval
    # + ping timeout = 0.6 s) declares the connection dead.
    sim.set_fault(Fault(silent_after_bytes=0), task_id=TASK)
    session = await open_session(client, credentials, config)
    loop = asyncio.get_running_loop()
    chunk = pcm(256 * 1024)
    started = loop.time()
    try:
        with pytest.raises(UpstreamDisconnected) as caught:
            async with asyncio.timeout(5):
                for _ in range(400):  # 100 MB at most: far beyond any socket buffer
                    await session.send_audio(chunk)
        assert loop.time() - started < 3.0
        assert caught.value.bytes_sent == session.bytes_sent > 0
        assert isinstance(await lost(session, 2), UpstreamDisconnected)
    finally:
        await session.close()


@pytest.mark.parametrize(("status", "retryable"), [(403, False), (503, True)])
@pytest.mark.asyncio
async def test_a_refused_handshake_is_unreachable_with_a_redacted_address(
    sim: Simulator,
    client: UpstreamClient,
    credentials: Credentials,
    config: UpstreamConfig,
    status: int,
    retryable: bool,
) -> None:
    sim.set_fault(Fault(refuse_handshake=True, refuse_status=status), task_id=TASK)
    grant = await client.drive_by_ws_stream(TASK, credentials)
    with pytest.raises(UpstreamUnreachable) as caught:
        await DriveSession.open(grant, sample_rate=16000, config=config)
    token = grant.wss_address.split("Token=", 1)[1]
    assert token not in str(caught.value) and "Token=***" in str(caught.value)
    assert caught.value.retryable is retryable
    assert caught.value.metadata["http_status"] == str(status)
    assert caught.value.__cause__ is not None


@pytest.mark.asyncio
async def test_a_closed_port_and_a_mute_server_are_unreachable(config: UpstreamConfig) -> None:
    closed = DriveGrant("d", f"ws://127.0.0.1:{free_port()}/ws?Token=tok", "r", 1, 0.0)
    with pytest.raises(UpstreamUnreachable) as caught:
        await DriveSession.open(closed, sample_rate=16000, config=config)
    assert caught.value.retryable and "tok" not in str(caught.value)

    release = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read(65536)  # the request, never answered
        await release.wait()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        silent = DriveGrant("d", f"ws://127.0.0.1:{port}/ws?Token=tok", "r", 1, 0.0)
        quick = short_config(config.api_url, ws_handshake_timeout_s=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamUnreachable, match=r"within 0\.3 s") as caught:
            await DriveSession.open(silent, sample_rate=16000, config=quick)
        assert loop.time() - started < 1.0
        assert caught.value.retryable
    finally:
        release.set()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_stop_goes_out_once_and_close_is_idempotent(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    session = await open_session(client, credentials, config)
    await session.send_audio(pcm(MONO_16K_20MS))
    await session.send_stop()
    with pytest.raises(RuntimeError):
        await session.send_stop()  # the drive core owes one Stop; a second is a bug
    with pytest.raises(RuntimeError):
        await session.send_audio(pcm(MONO_16K_20MS))
    await asyncio.gather(session.close(), session.close())
    await session.close()
    record = await sim.wait_closed(session.drive_id)
    assert record.errors == []  # exactly one Start and one Stop
    assert record.stopped_at is not None and record.clean_close
    assert session.closed.result() is None


@pytest.mark.asyncio
async def test_a_peer_slow_to_close_is_aborted_within_the_bound(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    sim.set_fault(Fault(silent_after_bytes=0), task_id=TASK)  # never reads the close frame
    session = await open_session(client, credentials, config)
    await session.send_audio(pcm(MONO_16K_20MS))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await session.close()
    assert loop.time() - started < config.ws_close_timeout_s + 0.4
    assert session.closed.result() is None  # we closed it; the peer's silence is no loss
    record = await sim.wait_closed(session.drive_id)
    assert not record.clean_close


@pytest.mark.asyncio
async def test_bad_formats_are_refused(
    sim: Simulator, client: UpstreamClient, credentials: Credentials, config: UpstreamConfig
) -> None:
    grant = DriveGrant("d", "ws://127.0.0.1:9/ws", "r", 1, 0.0)
    with pytest.raises(ValueError, match="sample_rate"):
        await DriveSession.open(grant, sample_rate=8000, config=config)
    with pytest.raises(ValueError, match="channels"):
        await DriveSession.open(grant, sample_rate=16000, channels=3, config=config)
    with pytest.raises(ValueError, match="voice_channel"):
        await DriveSession.open(grant, sample_rate=16000, voice_channel=1, config=config)
    async with driving(await open_session(client, credentials, config, channels=2)) as session:
        with pytest.raises(ValueError, match="partial sample"):
            await session.send_audio(b"\x00\x01")  # one stereo sample needs 4 bytes
        await session.send_audio(b"")  # skipped
        assert session.bytes_sent == 0
