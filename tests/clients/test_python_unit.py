"""The Python client's own pieces: the audio source with marks, the ``dh-drive`` helpers that
place ``--mark-every-ms`` marks and print the playback events, the text drive's config and the
playback state; then, against the real gateway and simulator, barge-in (the in-stream interrupt,
StopDrive's modes), text drives and the ``dh-drive`` flags and subcommands for them."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import struct
import subprocess
import sys
import time

import pytest
from dhgateway.v1 import gateway_pb2 as pb
from dhgateway_client import Drive, DriveError, DriveOptions, Mark, Playback, TextInput
from dhgateway_client.audio import to_request
from dhgateway_client.cli import (
    AudioLayout,
    audio_layout,
    build_parser,
    main,
    pieces,
    wav_layout,
)
from dhgateway_client.commands import COMMANDS, get_task_parser, stop_parser, watch_task_parser
from dhgateway_client.output import event_json, show

from gateway.testing import Harness
from tests.clients.conftest import CLIP
from tests.service.conftest import chunks, pcm, realtime


def wav(*chunks: tuple[bytes, bytes]) -> bytes:
    """A RIFF/WAVE file of ``(id, body)`` chunks (padded to even sizes, as RIFF says)."""
    body = b"".join(
        cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1) for cid, data in chunks
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def fmt(rate: int, channels: int, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", 1, channels, rate, rate * align, align, bits)


def test_a_mark_and_a_chunk_are_their_requests() -> None:
    assert to_request(Mark("m500")) == pb.DriveRequest(mark=pb.Mark(name="m500"))
    assert to_request(b"\1\2") == pb.DriveRequest(audio=b"\1\2")


def test_the_clip_s_audio_starts_after_its_44_byte_header() -> None:
    data = CLIP.read_bytes()
    assert wav_layout(data) == AudioLayout(44, len(data), 2, 16000)


def test_a_wav_layout_skips_other_chunks_and_reads_a_streamed_size() -> None:
    audio = bytes(4 * 100)
    data = wav((b"fmt ", fmt(24000, 2)), (b"LIST", b"odd"), (b"data", audio))
    assert wav_layout(data) == AudioLayout(len(data) - len(audio), len(data), 4, 24000)
    streamed = data[: -len(audio) - 4] + struct.pack("<I", 0xFFFFFFFF) + audio
    assert wav_layout(streamed) == AudioLayout(len(data) - len(audio), len(data), 4, 24000)
    assert wav_layout(b"not a wav file at all") is None
    assert wav_layout(wav((b"data", audio))) is None  # no fmt chunk before the audio


def test_raw_audio_is_laid_out_by_the_flags() -> None:
    assert audio_layout(bytes(10), "MULAW", 8000, 2) == AudioLayout(0, 10, 2, 8000)
    assert audio_layout(bytes(10), "FLOAT32", 0, 0) == AudioLayout(0, 10, 4, 16000)
    # --encoding WAV on a file that is not one: read as the flags say.
    assert audio_layout(bytes(10), "WAV", 0, 0) == AudioLayout(0, 10, 2, 16000)


def test_marks_fall_on_whole_frames_strictly_inside_the_audio() -> None:
    one_second = AudioLayout(44, 44 + 32000, 2, 16000)
    assert list(one_second.marks(300)) == [(44 + 9600, 300), (44 + 19200, 600), (44 + 28800, 900)]
    assert list(one_second.marks(500)) == [(44 + 16000, 500)]  # none at the end
    assert list(one_second.marks(0)) == []
    # 44.1 kHz stereo: 10 ms is 441 frames of 4 bytes.
    assert next(AudioLayout(0, 4 * 44100, 4, 44100).marks(10)) == (441 * 4, 10)


def test_pieces_cut_the_chunks_at_the_marks_and_keep_every_byte() -> None:
    data = bytes(range(10))
    items = list(pieces(data, 4, [(2, 100), (8, 400)]))
    assert items == [
        data[0:2],
        Mark("m100"),
        data[2:6],
        data[6:8],
        Mark("m400"),
        data[8:10],
    ]
    assert b"".join(i for i in items if isinstance(i, bytes)) == data
    # A mark on a chunk boundary cuts nothing.
    assert list(pieces(data, 5, [(5, 7)])) == [data[:5], Mark("m7"), data[5:]]


def test_mark_every_ms_is_a_flag_off_by_default() -> None:
    parser = build_parser()
    assert parser.parse_args(["--task", "t", "--file", "f"]).mark_every_ms == 0
    args = parser.parse_args(["--task", "t", "--file", "f", "--mark-every-ms", "250"])
    assert args.mark_every_ms == 250


def test_playback_events_print_as_json_with_int64_strings() -> None:
    finished = pb.DriveEvent(
        drive_id="d-1",
        playback_finished=pb.PlaybackFinished(
            played_ms=3858, interrupted=True, source=pb.PLAYBACK_SOURCE_VENDOR
        ),
    )
    assert event_json(finished) == {
        "event": "playback_finished",
        "drive_id": "d-1",
        "played_ms": "3858",
        "interrupted": True,
        "source": "PLAYBACK_SOURCE_VENDOR",
    }
    mark = pb.DriveEvent(drive_id="d-1", mark_played=pb.MarkPlayed(name="m500", at_ms=500))
    assert event_json(mark) == {
        "event": "mark_played",
        "drive_id": "d-1",
        "name": "m500",
        "at_ms": "500",
        "source": "PLAYBACK_SOURCE_UNSPECIFIED",
    }
    progress = event_json(pb.DriveEvent(progress=pb.Progress(played_ms=120)))
    assert progress["played_ms"] == "120"


def test_the_human_lines_say_speaking_and_finished(capsys: pytest.CaptureFixture[str]) -> None:
    for event in (
        pb.DriveEvent(drive_id="d", playback_started=pb.PlaybackStarted()),
        pb.DriveEvent(drive_id="d", mark_played=pb.MarkPlayed(name="m1", at_ms=1)),
        pb.DriveEvent(drive_id="d", playback_finished=pb.PlaybackFinished(played_ms=9)),
        pb.DriveEvent(drive_id="d", completed=pb.Completed()),
    ):
        show(event_json(event), as_json=False)
    words = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert words == ["speaking", "mark", "finished", "completed"]


def test_a_text_drive_s_config_carries_the_text_and_no_audio_format() -> None:
    config = DriveOptions(text=TextInput(text="Hi", timbre_id="v1", speech_rate=50)).to_config("t")
    assert config.text == pb.TextInput(text="Hi", timbre_id="v1", speech_rate=50)
    assert not config.HasField("input")
    assert DriveOptions().to_config("t").HasField("input")


def test_playback_follows_the_events_of_a_drive() -> None:
    playback = Playback()
    events = [
        pb.DriveEvent(drive_id="d", started=pb.Started()),
        pb.DriveEvent(
            drive_id="d", playback_started=pb.PlaybackStarted(source=pb.PLAYBACK_SOURCE_ESTIMATED)
        ),
        pb.DriveEvent(drive_id="d", progress=pb.Progress(played_ms=300)),
        pb.DriveEvent(drive_id="d", mark_played=pb.MarkPlayed(name="hello", at_ms=250)),
    ]
    for event in events:
        playback.update(event)
    assert (playback.drive_id, playback.speaking, playback.played_ms) == ("d", True, 300)
    assert playback.last_mark == "hello"
    finished = pb.PlaybackFinished(
        played_ms=420, interrupted=True, source=pb.PLAYBACK_SOURCE_VENDOR
    )
    playback.update(pb.DriveEvent(drive_id="d", playback_finished=finished))
    assert (playback.speaking, playback.played_ms, playback.interrupted) == (False, 420, True)
    assert playback.source == pb.PLAYBACK_SOURCE_VENDOR
    completed = pb.Completed(dropped_ms=1580, time_to_speaking_ms=40, played_ms=420)
    playback.update(pb.DriveEvent(drive_id="d", completed=completed))
    assert playback.completed == completed


def test_dh_drive_takes_a_file_or_a_text_but_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--task", "t"], ["--task", "t", "--file", "f", "--text", "hi"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
        assert "--file" in capsys.readouterr().err
    args = build_parser().parse_args(["--task", "t", "--text", "hi", "--timbre-id", "v"])
    assert (args.text, args.timbre_id, args.interrupt_after_ms) == ("hi", "v", None)


def test_the_other_calls_are_subcommands_with_their_own_flags() -> None:
    assert stop_parser().parse_args(["--task", "t"]).stop_mode == "finish"
    assert stop_parser().parse_args(["--task", "t", "--stop-mode", "interrupt"]).stop_mode == (
        "interrupt"
    )
    assert get_task_parser().parse_args(["--task", "t", "--refresh"]).refresh
    assert watch_task_parser().parse_args(["--task", "t", "--profile", "p"]).profile == "p"
    assert set(COMMANDS) == {"stop", "get-task", "watch-task"}


# Against the real gateway and simulator.


async def _playing(stream: Drive) -> None:
    """Read ``stream`` until the avatar speaks."""
    async for event in stream:
        if event.WhichOneof("event") == "playback_started":
            return
    raise AssertionError("the stream ended before the avatar spoke")


@pytest.mark.asyncio
async def test_interrupt_silences_the_avatar_mid_stream_and_says_what_was_heard(
    harness: Harness,
) -> None:
    stream = harness.client.drive("barge", realtime(chunks(pcm(5000), 640), 20))
    await _playing(stream)
    await asyncio.sleep(0.5)
    asked = time.monotonic()
    await stream.interrupt()
    kinds = [event.WhichOneof("event") async for event in stream]
    assert kinds[-2:] == ["playback_finished", "completed"]
    assert stream.playback.interrupted and stream.playback.completed is not None
    playout = await harness.sim.wait_playout_ended(stream.drive_id)
    assert playout.ended_at is not None and playout.played_ms is not None
    assert (playout.ended_at - asked) * 1000 < 150
    assert abs(stream.playback.played_ms - playout.played_ms) <= 20
    # The task is free at once.
    async for _ in harness.client.drive("barge", [pcm(100)]):
        pass


@pytest.mark.asyncio
async def test_interrupt_after_the_half_close_silences_the_tail_by_stop_drive(
    harness: Harness,
) -> None:
    stream = harness.client.drive("tail", [pcm(3000)])  # all sent at once: a long tail
    await _playing(stream)
    await asyncio.sleep(0.3)
    await stream.interrupt()
    async for _ in stream:  # ends without an error: the stop was ours
        pass
    assert stream.playback.finished and stream.playback.interrupted
    assert stream.playback.played_ms < 3000
    await stream.interrupt()  # again: nothing to do


@pytest.mark.asyncio
async def test_stop_from_outside_finishes_or_interrupts(harness: Harness) -> None:
    for mode, task in (("FINISH", "outside-f"), ("INTERRUPT", "outside-i")):
        stream = harness.client.drive(task, realtime(chunks(pcm(5000), 640), 20))
        await _playing(stream)
        result = await harness.client.stop(task, mode=mode)  # type: ignore[arg-type]
        assert result.drive_id == stream.drive_id
        assert result.interrupted == (mode == "INTERRUPT")
        with pytest.raises(DriveError) as caught:
            async for _ in stream:
                pass
        assert caught.value.reason == "STOPPED_BY_REQUEST"
    with pytest.raises(DriveError) as caught:
        await harness.client.stop("nobody", mode="INTERRUPT")
    assert caught.value.reason == "NO_ACTIVE_DRIVE"


@pytest.mark.asyncio
async def test_a_text_drive_speaks_and_can_be_interrupted(harness: Harness) -> None:
    text = TextInput(text="Hello there, and welcome to the show.", timbre_id="voice-1")
    spoken = [
        e.WhichOneof("event")
        async for e in harness.client.drive("text", (), DriveOptions(text=text))
    ]
    assert spoken[-2:] == ["playback_finished", "completed"]
    (record,) = harness.sim.text_drives
    assert record.request.text == text.text
    stream = harness.client.drive("text", options=DriveOptions(text=text))
    await _playing(stream)
    await stream.interrupt()
    async for _ in stream:
        pass
    assert stream.playback.interrupted


def _on_a_terminal(command: list[str]) -> str:
    """Run ``command`` with its stdout on a pseudo-terminal; what it wrote there (bounded)."""
    primary, secondary = pty.openpty()
    with subprocess.Popen(command, stdout=secondary, stderr=subprocess.PIPE) as process:
        os.close(secondary)
        out = bytearray()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            try:
                data = os.read(primary, 65536)
            except OSError:  # the other side closed: EIO on Linux
                break
            if not data:
                break
            out += data
        os.close(primary)
        process.wait(30)
    return out.decode(errors="replace")


@pytest.mark.asyncio
async def test_on_a_terminal_progress_is_one_live_line(harness: Harness) -> None:
    command = [sys.executable, "-m", "dhgateway_client.cli", "--addr", harness.address]
    command += ["--task", "tty", "--file", str(CLIP), "--realtime"]
    screen = await asyncio.to_thread(_on_a_terminal, command)
    # Underruns are not the point (a loaded machine may have one): the line's shape is.
    assert "\r\x1b[K" in screen and re.search(r"underruns \d+ · speaking", screen), screen
    assert "progress" not in screen  # no progress line of its own: the live line instead
    last = screen.rsplit("\x1b[K", 1)[-1]  # after the last erase: the end, no status after it
    assert last.startswith("completed ") and "sent " not in last, screen
    assert re.search(r"underruns \d+ · finished", screen), screen
