"""How soon a drive speaks: time to the first frame and to PlaybackStarted, from the config,
in plain numbers (the core's clock)."""

from __future__ import annotations

from gateway.drive.audio import Converter
from gateway.drive.core import DriveCore
from gateway.drive.settings import DriveLimits, PacingSettings
from gateway.drive.speech import Heard, Source
from tests.drive.test_core import CHUNK_20MS, MONO_16K, Shell, audio, complete, make_core


def first_frame_ms(core: DriveCore) -> int | None:
    """``core.time_to_first_frame_ms``, read afresh (mypy would keep an earlier narrowing)."""
    return core.time_to_first_frame_ms


def test_audio_buffered_during_the_set_up_goes_out_at_start() -> None:
    shell = Shell(make_core(now=10.0), now=10.0)
    shell.feed(audio(0, CHUNK_20MS))  # the client did not wait for Started
    shell.now = 10.25
    shell.start()
    assert shell.frames[0][0] == 10.25
    assert shell.core.time_to_first_frame_ms == 250
    assert shell.core.time_to_speaking_ms == 250  # no callbacks: the estimate at once
    shell.end()
    completion = complete(shell.core, 10.3)
    assert (completion.time_to_first_frame_ms, completion.time_to_speaking_ms) == (250, 250)


def test_a_client_that_waits_for_started_adds_its_wait() -> None:
    shell = Shell(make_core(now=10.0), now=10.0)
    shell.now = 10.2
    shell.start()
    assert first_frame_ms(shell.core) is None  # nothing sent yet
    shell.wait_until(10.35)
    shell.feed(audio(0, CHUNK_20MS))
    assert first_frame_ms(shell.core) == 350
    shell.end()
    completion = complete(shell.core, 10.4)
    assert completion.time_to_first_frame_ms == 350
    assert shell.core.setup_ms == 200  # the rest was the client's wait


def test_a_converting_drive_counts_its_prebuffer() -> None:
    # 16 kHz in, 24 kHz out: the pacer holds the first frame until its prebuffer filled.
    pacing = PacingSettings(convert_prebuffer_ms=60)
    shell = Shell(make_core(now=0.0, pacing=pacing, output_rate_hz=24000), now=0.0)
    shell.start()
    for i in range(5):  # a 20 ms chunk every 20 ms
        shell.wait_until(i * 0.02)
        shell.feed(audio(i * CHUNK_20MS, CHUNK_20MS))
    first_at = shell.frames[0][0]
    assert first_at >= 0.04  # not before 60 ms of audio came in (the resampler lags a little)
    assert shell.core.time_to_first_frame_ms == round(first_at * 1000)


def test_the_vendors_word_sets_the_time_to_speaking() -> None:
    limits = DriveLimits()
    core = DriveCore(
        Converter(MONO_16K, 16000),
        pacing=PacingSettings(),
        limits=limits,
        now=5.0,
        vendor_grace_s=0.5,
    )
    shell = Shell(core, now=5.0)
    shell.now = 5.1
    shell.start()
    shell.feed(audio(0, 10 * CHUNK_20MS))
    assert core.time_to_first_frame_ms == 100
    assert core.time_to_speaking_ms is None  # waiting for the vendor (grace 0.5 s)
    core.speech.vendor_started(5.32)
    shell.now = 5.32
    shell.service()
    assert [e.kind for _, e in shell.heard] == [Heard.STARTED]
    assert shell.heard[0][1].source is Source.VENDOR
    assert core.time_to_speaking_ms == 320


def test_without_the_vendors_word_speaking_waits_out_the_grace() -> None:
    core = DriveCore(
        Converter(MONO_16K, 16000),
        pacing=PacingSettings(),
        limits=DriveLimits(),
        now=0.0,
        vendor_grace_s=0.5,
    )
    shell = Shell(core)
    shell.start()
    shell.feed(audio(0, 10 * CHUNK_20MS))
    shell.wait_until(1.0)
    assert core.time_to_first_frame_ms == 0
    assert core.time_to_speaking_ms == 500


def test_a_drive_that_never_sent_has_neither() -> None:
    shell = Shell(make_core(now=3.0), now=3.0)
    shell.now = 3.5
    shell.start()
    shell.end()  # no audio at all
    completion = complete(shell.core, 3.6)
    assert (completion.time_to_first_frame_ms, completion.time_to_speaking_ms) == (0, 0)
    assert shell.core.time_to_first_frame_ms is None
    assert shell.core.time_to_speaking_ms is None
