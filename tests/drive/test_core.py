"""DriveCore with LINEAR16 mono 16 kHz passthrough, driven by a simulated shell (no clock)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.audio import Converter, Encoding, InputFormat, OutputFormat
from gateway.drive.core import DriveCore
from gateway.drive.outputs import Completion, Deadline, Due
from gateway.drive.progress import ProgressSnapshot
from gateway.drive.settings import DriveLimits, PacingSettings
from gateway.drive.speech import PlaybackEvent
from gateway.errors import InvalidDrive, Reason

BPS = 32000  # 16 kHz mono s16le
CHUNK_20MS = 640
MONO_16K = InputFormat(encoding=Encoding.LINEAR16, sample_rate_hz=16000, channels=1)


def audio(start: int, size: int) -> bytes:
    """Bytes ``start`` .. ``start + size`` of a stream where a loss or a reordering shows."""
    base = bytes(i * 7 % 256 for i in range(251))
    offset = start % 251
    return (base * ((offset + size) // 251 + 1))[offset : offset + size]


def make_core(
    *,
    pacing: PacingSettings | None = None,
    max_chunk_bytes: int = 512 * 1024,
    setup_buffer_bytes: int = 4 * 1024 * 1024,
    idle_timeout_s: float = 10.0,
    max_drive_s: float = 3600.0,
    format_timeout_s: float | None = None,
    fmt: InputFormat = MONO_16K,
    output_rate_hz: int = 16000,
    now: float = 0.0,
) -> DriveCore:
    limits = DriveLimits(
        max_chunk_bytes=max_chunk_bytes,
        setup_buffer_bytes=setup_buffer_bytes,
        idle_timeout_s=idle_timeout_s,
        max_drive_s=max_drive_s,
        format_timeout_s=format_timeout_s,
    )
    return DriveCore(
        Converter(fmt, output_rate_hz), pacing=pacing or PacingSettings(), limits=limits, now=now
    )


def start(core: DriveCore, now: float) -> None:
    """What the shell does up to Start: the task is held, then Start went out."""
    core.admitted()
    core.started(now)


def complete(core: DriveCore, stop_at: float) -> Completion:
    """What the shell does at the end: Stop owed and sent at ``stop_at``, then the accounting."""
    assert core.finish(stop_at)
    return core.completed()


def flushed(core: DriveCore) -> bool:
    """``core.flushed``, read afresh (mypy would keep an earlier narrowing of the property)."""
    return core.flushed


@dataclass
class Shell:
    """What gateway/service/drive.py does, minus the I/O: feed, drain, report."""

    core: DriveCore
    now: float = 0.0
    fed: bytearray = field(default_factory=bytearray)
    sent: bytearray = field(default_factory=bytearray)
    frames: list[tuple[float, bytes]] = field(default_factory=list)
    reports: list[tuple[float, ProgressSnapshot]] = field(default_factory=list)
    heard: list[tuple[float, PlaybackEvent]] = field(default_factory=list)

    def service(self) -> None:
        """One wake: frames due (in order), then a progress report if due."""
        assert self.core.end_due(self.now) is None
        for frame in self.core.frames_due(self.now):
            self.sent += frame
            self.frames.append((self.now, frame))
        self.core.frames_written(self.now)
        snapshot = self.core.progress_due(self.now)
        if snapshot is not None:
            self.reports.append((self.now, snapshot))
        self.heard.extend((self.now, event) for event in self.core.playback_due(self.now))

    def feed(self, data: bytes) -> None:
        self.core.receive_audio(data, self.now)
        self.fed += data
        self.service()

    def start(self) -> None:
        start(self.core, self.now)
        self.service()

    def end(self) -> None:
        self.core.receive_end(self.now)
        self.service()

    def wait_until(self, until: float) -> None:
        """Wake at every deadline up to ``until`` (bounded), then move the clock there."""
        for _ in range(100_000):
            deadline = self.core.next_deadline(self.now)
            if deadline is None or deadline.at > until:
                break
            assert deadline.at >= self.now, "a deadline in the past"
            self.now = deadline.at
            self.service()
        else:
            pytest.fail("the deadlines did not move forward")
        self.now = max(self.now, until)
        self.service()

    def run_to_flushed(self, limit_s: float = 600.0) -> None:
        for _ in range(100_000):
            if self.core.flushed:
                return
            deadline = self.core.next_deadline(self.now)
            assert deadline is not None, "audio pending but no deadline"
            assert deadline.at >= self.now
            assert deadline.at - self.now <= limit_s
            self.now = deadline.at
            self.service()
        pytest.fail("never flushed")


# Byte exactness.


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5000), max_size=25),
    gaps=st.lists(st.floats(0, 0.4), min_size=25, max_size=25),
    start_after=st.integers(0, 25),
    enabled=st.booleans(),
    t0=st.floats(0, 1e6),
)
def test_passthrough_is_byte_exact(
    sizes: list[int], gaps: list[float], start_after: int, enabled: bool, t0: float
) -> None:
    """Any chunking (mid-sample splits too), Start before, during or after the input."""
    shell = Shell(make_core(pacing=PacingSettings(enabled=enabled)), now=t0)
    assert shell.core.output == OutputFormat(sample_rate_hz=16000, channels=1, voice_channel=0)
    offset = 0
    for i, (size, gap) in enumerate(zip(sizes, gaps, strict=False)):
        if i == start_after:
            shell.start()
        if shell.core.started_at is None:
            assert shell.sent == b""
        shell.feed(audio(offset, size))
        offset += size
        shell.wait_until(shell.now + gap)
    if shell.core.started_at is None:
        assert shell.sent == b""
        shell.start()
    shell.end()
    shell.run_to_flushed()
    whole = len(shell.fed) - len(shell.fed) % 2
    assert bytes(shell.sent) == bytes(shell.fed[:whole])
    if whole == len(shell.fed):
        assert shell.core.end_error is None
    else:
        assert shell.core.end_error is not None
        assert shell.core.end_error.reason is Reason.PARTIAL_SAMPLE
    completion = complete(shell.core, shell.now)
    assert completion.bytes_sent == whole
    assert completion.frames_sent == len(shell.frames)
    # Frames: whole samples, at most max_frame_ms (100 ms = 3200 bytes).
    assert all(0 < len(f) <= 3200 and len(f) % 2 == 0 for _, f in shell.frames)


# Start gates everything.


def test_no_frames_before_start() -> None:
    shell = Shell(make_core())
    for _ in range(10):
        shell.feed(audio(len(shell.fed), 3200))
        shell.now += 1.0
        shell.service()
    assert shell.frames == []
    assert shell.reports == []
    assert shell.core.next_deadline(shell.now) is None
    assert shell.core.progress_due(shell.now) is None
    assert shell.core.buffered_bytes == 32000
    assert shell.core.bytes_sent == 0
    assert shell.core.completed().stop_lag_ms == 0
    shell.start()
    # The lead (1 s) goes out at once: here, all of it.
    assert bytes(shell.sent) == bytes(shell.fed)
    assert [len(f) for _, f in shell.frames] == [3200] * 10
    assert shell.core.started_at == shell.now


def test_nothing_received_yet() -> None:
    core = make_core()
    assert core.wants_audio()
    assert core.buffered_bytes == 0
    assert core.frames_due(0.0) == []
    assert core.snapshot(0.0) == ProgressSnapshot(received_ms=0, sent_ms=0, lead_ms=0, underruns=0)
    start(core, 0.0)
    # Progress first; the idle clock runs (audio is wanted and none came).
    assert core.next_deadline(0.0) == Deadline(0.5, Due.PROGRESS)
    assert core.wants_audio()
    assert not core.flushed


# Read gating.


def test_setup_buffer_bounds_reading_before_start() -> None:
    shell = Shell(make_core(setup_buffer_bytes=10_000))
    chunks = 0
    for _ in range(100):
        if not shell.core.wants_audio():
            break
        shell.feed(audio(len(shell.fed), 3000))
        chunks += 1
    assert chunks == 4  # 12000 bytes: the first read at or over 10000 stops reading
    assert shell.core.buffered_bytes == 12_000
    assert not shell.core.wants_audio()
    shell.now = 5.0
    assert not shell.core.wants_audio()  # time alone does not help before Start
    shell.start()
    assert shell.core.buffered_bytes == 0
    assert shell.core.wants_audio()


def test_after_start_reading_follows_the_pacer() -> None:
    shell = Shell(make_core())
    shell.start()
    shell.feed(audio(0, 32000 + 3200))  # the lead goes, 100 ms stays
    assert shell.core.buffered_bytes == 3200
    assert not shell.core.wants_audio()
    shell.wait_until(0.1)
    assert shell.core.buffered_bytes == 0
    assert shell.core.wants_audio()


def test_no_reading_after_the_end() -> None:
    shell = Shell(make_core())
    shell.feed(audio(0, 640))
    shell.end()
    assert shell.core.input_ended
    assert not shell.core.wants_audio()
    assert not shell.core.flushed  # not started: the audio is still here
    shell.start()
    assert shell.core.flushed


# Errors in the client's audio.


def test_chunk_too_large() -> None:
    core = make_core(max_chunk_bytes=4096)
    core.receive_audio(b"\x00" * 4096, 0.0)
    with pytest.raises(InvalidDrive) as info:
        core.receive_audio(b"\x00" * 4097, 0.0)
    assert info.value.reason is Reason.CHUNK_TOO_LARGE
    assert "4097" in info.value.message and "4096" in info.value.message
    # Refused before it was taken: nothing of it counts.
    assert core.converter.received_bytes == 4096
    assert core.buffered_bytes == 4096


def test_partial_sample_is_reported_after_the_whole_samples() -> None:
    shell = Shell(make_core())
    shell.feed(audio(0, 1001))
    shell.start()
    assert len(shell.sent) == 1000
    shell.end()  # does not raise: the shell raises end_error after the Stop
    error = shell.core.end_error
    assert error is not None
    assert error.reason is Reason.PARTIAL_SAMPLE
    assert shell.core.input_ended
    assert shell.core.flushed
    assert bytes(shell.sent) == audio(0, 1000)


def test_partial_sample_ending_before_start_still_flushes() -> None:
    shell = Shell(make_core())
    shell.feed(audio(0, 6401))
    shell.end()
    assert shell.core.end_error is not None
    assert shell.core.end_error.reason is Reason.PARTIAL_SAMPLE
    assert not flushed(shell.core)
    shell.start()
    assert flushed(shell.core)
    assert bytes(shell.sent) == audio(0, 6400)


def test_audio_after_the_end_is_refused() -> None:
    core = make_core()
    core.receive_audio(b"\x00\x00", 0.0)
    core.receive_end(0.0)
    with pytest.raises((InvalidDrive, RuntimeError)):
        core.receive_audio(b"\x00\x00", 0.0)
    assert core.buffered_bytes == 2


def test_partial_sample_with_resampling_still_flushes_whole_samples() -> None:
    """core.py: 'a stream that ended mid-sample still releases every whole sample first'."""
    n = 8000  # 1 s at 8 kHz, resampled to 16 kHz
    pcm = (np.sin(np.arange(n) * 0.05) * 10000).astype("<i2").tobytes()
    fmt = InputFormat(encoding=Encoding.LINEAR16, sample_rate_hz=8000, channels=1)
    clean, torn = Shell(make_core(fmt=fmt)), Shell(make_core(fmt=fmt))
    for shell, tail in ((clean, b""), (torn, b"\x01")):
        shell.start()
        shell.feed(pcm + tail)
        shell.end()
        shell.run_to_flushed()
    assert clean.core.end_error is None
    assert torn.core.end_error is not None
    assert bytes(torn.sent) == bytes(clean.sent)


# Accounting.


def test_real_time_drive_completion_and_progress() -> None:
    shell = Shell(make_core(now=100.0), now=100.0)  # the config came at Start: no set-up time
    shell.start()
    for i in range(150):  # 3 s of 20 ms chunks at 1x
        shell.wait_until(100.0 + i * 0.020)
        shell.feed(audio(i * CHUNK_20MS, CHUNK_20MS))
        # Each chunk goes out at once, as one frame.
        assert shell.frames[-1] == (shell.now, audio(i * CHUNK_20MS, CHUNK_20MS))
    shell.end()
    assert shell.core.flushed
    last_frame_at = shell.frames[-1][0]
    completion = complete(shell.core, last_frame_at + 0.050)
    assert completion == Completion(
        received_ms=3000,
        sent_ms=3000,
        bytes_sent=150 * CHUNK_20MS,
        frames_sent=150,
        underruns=0,
        stop_lag_ms=50,
        billed_ms=3000,  # what the avatar was driven with: all that was sent
    )
    # Progress: every 0.5 s while audio flows (2 per second: within [1, 4] a second).
    times = [round(t - 100.0, 6) for t, _ in shell.reports]
    assert times == [0.5, 1.0, 1.5, 2.0, 2.5]
    for at, snapshot in shell.reports:
        elapsed_ms = (at - 100.0) * 1000
        # The chunk for ``at`` was not read yet when the deadline fired: 20 ms behind.
        assert snapshot.received_ms == pytest.approx(elapsed_ms, abs=20.5)
        assert snapshot.sent_ms == snapshot.received_ms
        assert 0 <= snapshot.lead_ms <= 20
        assert snapshot.underruns == 0


def test_flooding_drive_is_paced_and_reported() -> None:
    shell = Shell(make_core())
    shell.feed(audio(0, 5 * BPS))  # 5 s before Start (within the setup buffer)
    shell.start()
    assert len(shell.sent) == BPS  # the lead
    shell.end()
    shell.run_to_flushed()
    assert bytes(shell.sent) == audio(0, 5 * BPS)
    assert shell.now == pytest.approx(4.0)
    completion = complete(shell.core, shell.now + 0.001)
    assert completion.frames_sent == 50
    assert completion.received_ms == 5000
    assert completion.sent_ms == 5000
    assert completion.underruns == 0
    assert completion.stop_lag_ms == 1
    times = [t for t, _ in shell.reports]
    assert times == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    # Held-back audio flows out at 1x: the lead stays at ~1 s while the backlog lasts.
    for _, snapshot in shell.reports[:-1]:
        assert snapshot.received_ms == 5000
        assert 900 <= snapshot.lead_ms <= 1000
    assert [s.sent_ms for _, s in shell.reports] == [1500 + 500 * i for i in range(7)] + [5000]


def test_progress_stops_when_audio_stops() -> None:
    shell = Shell(make_core(idle_timeout_s=60.0))
    shell.start()
    shell.feed(audio(0, 3200))
    shell.wait_until(10.0)
    # One report for the change, then silence: nothing flows, nothing is repeated.
    assert [t for t, _ in shell.reports] == [0.5]
    shell.feed(audio(3200, 3200))
    shell.wait_until(12.0)
    assert [t for t, _ in shell.reports] == [0.5, 10.5]
    assert shell.reports[-1][1].underruns == 1  # the avatar ran dry for ~9.9 s


def test_pacing_off_sends_on_arrival() -> None:
    shell = Shell(make_core(pacing=PacingSettings(enabled=False)))
    shell.start()
    shell.feed(audio(0, 10 * BPS))
    assert len(shell.sent) == 10 * BPS
    assert len(shell.frames) == 100
    assert shell.core.wants_audio()
    assert shell.core.next_deadline(shell.now) == Deadline(0.5, Due.PROGRESS)
