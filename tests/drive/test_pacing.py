"""Pacer: byte-exact framing, the lead bound, 1x release, and the read-gating contract.

A simulated clock drives everything; loops are bounded by a number of iterations, never by time.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.pacing import Pacer

# (bytes_per_second, sample_bytes) of every output format: 16/24 kHz, mono/stereo, s16le.
FORMATS = [(32000, 2), (48000, 2), (64000, 4), (96000, 4)]

#: Slack of the budget's float epsilon (``+ 1e-3`` bytes) plus float noise, in bytes.
EPSILON_BYTES = 2e-3


_PERIOD = 251  # prime: no frame or sample size is a multiple of it
_BASE = bytes(i * 7 % 256 for i in range(_PERIOD))


def pattern(start: int, size: int) -> bytes:
    """Bytes ``start`` .. ``start + size`` of a stream in which a reordering or a loss shows."""
    offset = start % _PERIOD
    return (_BASE * ((offset + size) // _PERIOD + 1))[offset : offset + size]


def make(
    fmt: tuple[int, int] = (32000, 2),
    *,
    max_frame_ms: int = 100,
    lead_ms: int = 1000,
    enabled: bool = True,
    tolerance_ms: float = 20.0,
) -> Pacer:
    bps, sample = fmt
    return Pacer(
        bytes_per_second=bps,
        sample_bytes=sample,
        max_frame_ms=max_frame_ms,
        lead_ms=lead_ms,
        enabled=enabled,
        tolerance_ms=tolerance_ms,
    )


def whole(pacer: Pacer, ms: float) -> int:
    """Bytes of ``ms`` of audio, rounded down to whole samples, at least one sample."""
    nbytes = int(ms * pacer.bytes_per_ms)
    return max(pacer.sample_bytes, nbytes // pacer.sample_bytes * pacer.sample_bytes)


@dataclass
class Recorder:
    """Drives a pacer and checks the invariants after every call."""

    pacer: Pacer
    pushed: bytearray
    released: bytearray
    frames: list[tuple[float, int]]
    now: float = 0.0

    @classmethod
    def of(cls, pacer: Pacer, now: float = 0.0) -> Recorder:
        return cls(pacer, bytearray(), bytearray(), [], now)

    def push(self, size: int) -> None:
        self.pacer.push(pattern(len(self.pushed), size))
        self.pushed += pattern(len(self.pushed), size)
        self.check_accounting()

    def pop(self) -> list[bytes]:
        pacer = self.pacer
        before = pacer.pending_bytes
        frames = pacer.pop_due(self.now)
        out = sum(len(f) for f in frames)
        for frame in frames:
            # Whole samples, never empty, never over the largest frame.
            assert 0 < len(frame) <= pacer.max_frame_bytes
            assert len(frame) % pacer.sample_bytes == 0
            self.released += frame
            self.frames.append((self.now, len(frame)))
        # Coalesced: every frame but the last is as large as a frame may be.
        assert all(len(f) == pacer.max_frame_bytes for f in frames[:-1])
        if frames:
            # Never a trickle: at least one release piece, or everything that was pending.
            assert out >= min(before, pacer.release_bytes)
            assert pacer.last_frame_at == self.now
        if not pacer.enabled:
            assert pacer.pending_bytes == 0, "pacing off releases everything at once"
        else:
            # THE LEAD BOUND: sent audio is at most lead_ms past the playhead (in bytes, up to the
            # budget's 1e-3-byte epsilon; whole samples make that at most 0 extra samples).
            limit = (pacer.playback.playhead_ms(self.now) + pacer.lead_ms) * pacer.bytes_per_ms
            assert pacer.bytes_sent <= limit + EPSILON_BYTES
        # Everything due went out: asking again at the same instant releases nothing.
        assert pacer.pop_due(self.now) == []
        self.check_accounting()
        self.check_next_due()
        return frames

    def check_accounting(self) -> None:
        pacer = self.pacer
        assert pacer.bytes_sent == len(self.released)
        assert pacer.frames_sent == len(self.frames)
        assert pacer.pending_bytes == len(self.pushed) - len(self.released)
        # In order, nothing lost or duplicated so far.
        assert self.pushed.startswith(self.released)
        assert pacer.playback.sent_ms == pytest.approx(pacer.sent_ms(), rel=1e-9, abs=1e-6)
        assert pacer.wants_audio() == (pacer.pending_bytes < pacer.max_frame_bytes)

    def check_next_due(self) -> None:
        pacer = self.pacer
        due = pacer.next_due(self.now)
        if pacer.pending_bytes == 0:
            assert due is None
            return
        assert due is not None
        assert due >= self.now, "next_due is never in the past"
        if due > self.now:
            # Not too late either: a millisecond before it, nothing is due yet.
            probe = copy.deepcopy(pacer)
            assert probe.pop_due(max(self.now, due - 0.001)) == []
        # ... and at it, something is (checked on a copy: the caller may not be there yet).
        probe = copy.deepcopy(pacer)
        assert probe.pop_due(due) != [], "pop_due at next_due must release something"

    def advance(self, dt: float) -> None:
        self.now += dt

    def drain(self) -> None:
        """Pop at every next_due until nothing is pending; bounded by the pending samples."""
        for _ in range(self.pacer.pending_bytes // self.pacer.sample_bytes + 2):
            due = self.pacer.next_due(self.now)
            if due is None:
                break
            self.now = due
            self.pop()
        assert self.pacer.pending_bytes == 0
        assert self.pacer.next_due(self.now) is None
        assert self.released == self.pushed


# Strategies.

configs = st.fixed_dictionaries(
    {
        "fmt": st.sampled_from(FORMATS),
        "max_frame_ms": st.integers(1, 300),
        "lead_ms": st.integers(1, 2000),
        "enabled": st.booleans(),
        "tolerance_ms": st.sampled_from([0.0, 20.0, 50.0]),
    }
)

# push n samples | advance the clock by seconds | pop at the current time.
ops = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 4000)),
        st.tuples(st.just("advance"), st.floats(0, 0.6)),
        st.tuples(st.just("pop"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(config=configs, script=ops, t0=st.floats(0, 1e6))
def test_any_chunking_any_clock_is_byte_exact_and_bounded(
    config: dict[str, object], script: list[tuple[str, float]], t0: float
) -> None:
    pacer = make(**config)  # type: ignore[arg-type]
    rec = Recorder.of(pacer, t0)
    for kind, arg in script:
        if kind == "push":
            rec.push(int(arg) * pacer.sample_bytes)
        elif kind == "advance":
            rec.advance(arg)
        else:
            rec.pop()
    rec.drain()
    # Bytes out == bytes in, in order.
    assert bytes(rec.released) == bytes(rec.pushed)


@settings(max_examples=100, deadline=None)
@given(
    config=configs,
    chunks=st.lists(st.integers(1, 3000), min_size=1, max_size=30),
    gaps=st.lists(st.floats(0, 0.3), min_size=30, max_size=30),
    t0=st.floats(0, 1e6),
)
def test_pop_after_every_push(
    config: dict[str, object], chunks: list[int], gaps: list[float], t0: float
) -> None:
    """The shell's pattern: pop right after each push, and at next_due while waiting for input."""
    pacer = make(**config)  # type: ignore[arg-type]
    rec = Recorder.of(pacer, t0)
    for samples, gap in zip(chunks, gaps, strict=False):
        rec.push(samples * pacer.sample_bytes)
        rec.pop()
        until = rec.now + gap
        for _ in range(10_000):
            due = pacer.next_due(rec.now)
            if due is None or due > until:
                break
            rec.now = due
            rec.pop()
        else:
            pytest.fail("next_due kept asking for a pop without time passing")
        rec.now = until
    rec.drain()


# Examples: framing.


def test_frame_sizes_are_whole_samples() -> None:
    pacer = make((32000, 2), max_frame_ms=100, lead_ms=1000)
    assert pacer.max_frame_bytes == 3200
    assert pacer.release_bytes == 3200
    stereo24 = make((96000, 4), max_frame_ms=100, lead_ms=40)
    assert stereo24.max_frame_bytes == 9600
    assert stereo24.release_bytes == 40 * 96
    # A frame of less than a sample is one sample.
    tiny = Pacer(bytes_per_second=1000, sample_bytes=4, max_frame_ms=1, lead_ms=1)
    assert tiny.max_frame_bytes == 4
    odd = Pacer(bytes_per_second=44100 * 2, sample_bytes=2, max_frame_ms=1, lead_ms=1000)
    assert odd.max_frame_bytes == 88


def test_push_refuses_partial_samples() -> None:
    pacer = make((64000, 4))
    with pytest.raises(ValueError, match="whole number"):
        pacer.push(b"\x00" * 6)
    assert pacer.pending_bytes == 0
    pacer.push(b"")
    assert pacer.next_due(0.0) is None
    assert pacer.pop_due(0.0) == []


def test_nothing_pending() -> None:
    pacer = make()
    assert pacer.next_due(3.0) is None
    assert pacer.pop_due(3.0) == []
    assert pacer.wants_audio()
    assert pacer.last_frame_at is None
    assert pacer.sent_ms() == 0.0


def test_due_chunks_are_coalesced_into_frames() -> None:
    pacer = make(max_frame_ms=100, lead_ms=1000)
    rec = Recorder.of(pacer)
    for _ in range(7):
        rec.push(640)  # 20 ms each, 140 ms in all
    frames = rec.pop()
    assert [len(f) for f in frames] == [3200, 1280]


# Examples: the read-gating contract.


def test_wants_audio_only_while_less_than_a_frame_is_pending() -> None:
    pacer = make(max_frame_ms=100)
    assert pacer.wants_audio()
    pacer.push(b"\x00" * 3198)
    assert pacer.wants_audio()
    pacer.push(b"\x00" * 2)
    assert not pacer.wants_audio()
    pacer.pop_due(0.0)
    assert pacer.wants_audio()


def test_paced_reading_keeps_memory_bounded() -> None:
    """A flooding client that is read only while wants_audio(): pending stays under two frames."""
    pacer = make(max_frame_ms=100, lead_ms=1000)
    chunk = 5 * 640  # the client pushes 100 ms chunks as fast as it is read
    rec = Recorder.of(pacer)
    most = 0
    for _ in range(2000):
        while pacer.wants_audio() and len(rec.pushed) < 10 * 32000:
            rec.push(chunk)
            rec.pop()
        most = max(most, pacer.pending_bytes)
        due = pacer.next_due(rec.now)
        if due is None:
            break
        rec.now = due
        rec.pop()
    assert rec.released == rec.pushed
    assert most < pacer.max_frame_bytes + chunk
    assert rec.now == pytest.approx(9.0, abs=0.01)  # 10 s at 1x after the first second's lead


# Examples: 1x.


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("t0", [0.0, 98765.4321])
def test_flooding_client_gets_the_lead_then_1x(fmt: tuple[int, int], t0: float) -> None:
    pacer = make(fmt, max_frame_ms=100, lead_ms=1000)
    bps = fmt[0]
    total = 60 * bps
    pacer.push(pattern(0, total))
    released = bytearray()
    first = pacer.pop_due(t0)
    # The lead goes out at once, in max-size frames.
    assert [len(f) for f in first] == [pacer.max_frame_bytes] * 10
    assert sum(map(len, first)) == bps  # 1000 ms
    released += b"".join(first)
    now = t0
    pops = 0
    for _ in range(2000):
        due = pacer.next_due(now)
        if due is None:
            break
        assert due >= now
        now = due
        frames = pacer.pop_due(now)
        assert frames, "pop at next_due released nothing"
        pops += 1
        released += b"".join(frames)
        # 1x: sent audio == playhead + lead, to the piece.
        lead = pacer.playback.lead_ms(now)
        assert 1000.0 - 100.0 - 1e-6 <= lead <= 1000.0 + 1e-6
    assert bytes(released) == pattern(0, total)
    # About ten frames a second, each one release piece.
    assert pops == 590
    assert now - t0 == pytest.approx(59.0, abs=1e-6)
    assert pacer.playback.underruns == 0
    assert pacer.frames_sent == 600


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("t0", [0.0, 5000.123])
def test_real_time_client_frames_go_out_at_once(fmt: tuple[int, int], t0: float) -> None:
    pacer = make(fmt, max_frame_ms=100, lead_ms=1000)
    chunk = fmt[0] // 50  # 20 ms
    for i in range(1500):  # 30 s
        now = t0 + i * 0.020
        pacer.push(pattern(i * chunk, chunk))
        frames = pacer.pop_due(now)
        assert frames == [pattern(i * chunk, chunk)]
        assert pacer.pending_bytes == 0
        assert pacer.next_due(now) is None
        assert pacer.playback.lead_ms(now) == pytest.approx(20.0, abs=1e-3)
    assert pacer.playback.underruns == 0
    assert pacer.frames_sent == 1500


def test_real_time_client_with_jitter_has_no_underrun() -> None:
    pacer = make(max_frame_ms=100, lead_ms=1000)
    jitter = itertools.cycle([0.0, 0.015, 0.004, 0.019, 0.0, 0.008])
    for i in range(500):
        now = i * 0.020 + next(jitter)
        pacer.push(b"\x01\x00" * 320)
        assert len(pacer.pop_due(now)) == 1
    assert pacer.playback.underruns == 0


def test_a_client_stall_is_one_underrun() -> None:
    pacer = make(max_frame_ms=100, lead_ms=1000)
    for i in range(50):
        pacer.push(b"\x01\x00" * 320)
        pacer.pop_due(i * 0.020)
    # The client stops for half a second, then resumes at 1x.
    for i in range(50):
        pacer.push(b"\x01\x00" * 320)
        pacer.pop_due(1.5 + i * 0.020)
    assert pacer.playback.underruns == 1


def test_pacing_off_forwards_everything_at_once() -> None:
    pacer = make(max_frame_ms=100, lead_ms=1000, enabled=False)
    pacer.push(pattern(0, 32000 * 5))
    assert pacer.next_due(0.0) == 0.0
    frames = pacer.pop_due(0.0)
    assert len(frames) == 50
    assert b"".join(frames) == pattern(0, 32000 * 5)
    assert pacer.next_due(0.0) is None


def test_held_back_audio_is_released_in_pieces() -> None:
    """Past the lead, audio goes in release pieces of min(max_frame_ms, lead_ms), not per chunk."""
    pacer = make(max_frame_ms=100, lead_ms=1000)
    rec = Recorder.of(pacer)
    rec.push(32000)  # 1 s: all of the lead
    assert len(rec.pop()) == 10
    rec.push(640)  # 20 ms more: over the lead
    assert rec.pop() == []
    # It fits once the playhead has moved 20 ms; not one sample earlier.
    assert pacer.next_due(0.0) == pytest.approx(0.020)
    rec.now = 0.0199
    assert rec.pop() == []
    rec.now = 0.020
    assert [len(f) for f in rec.pop()] == [640]
    # A backlog larger than a piece waits for a whole piece.
    rec.push(32000)
    assert pacer.next_due(rec.now) == pytest.approx(0.120)
    rec.now = 0.110
    assert rec.pop() == []
    rec.now = 0.120
    assert [len(f) for f in rec.pop()] == [3200]


def test_small_lead_paces_in_lead_sized_pieces() -> None:
    pacer = make(max_frame_ms=100, lead_ms=30)
    assert pacer.release_bytes == 960
    rec = Recorder.of(pacer)
    rec.push(32000)
    assert [len(f) for f in rec.pop()] == [960]
    rec.drain()
    # Pieces of 30 ms, each when the playhead reaches the previous one: 1 s ends at 0.97 s.
    assert rec.now == pytest.approx(0.970)
    assert pacer.playback.underruns == 0
    assert {size for _, size in rec.frames} == {960}.union({32000 % 960} - {0})


def test_after_an_underrun_no_burst_beyond_the_lead() -> None:
    pacer = make(max_frame_ms=100, lead_ms=500)
    rec = Recorder.of(pacer)
    rec.push(3200)
    rec.pop()
    # The client goes quiet for 2 s (the avatar ran dry), then floods.
    rec.now = 2.0
    rec.push(32000 * 3)
    frames = rec.pop()
    assert pacer.playback.underruns == 1
    assert sum(map(len, frames)) == 16000  # exactly the lead, not the 2 s "owed"


def test_forgiven_lateness_goes_out_in_the_same_pop() -> None:
    """Regression: the avatar waited 15 ms (within the 20 ms tolerance) when 110 ms arrive.

    The model does not re-anchor on forgiven lateness, so once audio is sent its playhead jumps
    15 ms: those 15 ms are due at once. The pacer used to release only ``lead_ms`` in the first
    pop and the last 10 ms in a second pop at the same instant (next_due said "now" again).
    """
    pacer = make(max_frame_ms=100, lead_ms=100, tolerance_ms=20)
    rec = Recorder.of(pacer)
    rec.push(3200)
    assert [len(f) for f in rec.pop()] == [3200]
    rec.now = 0.115
    rec.push(3520)
    assert [len(f) for f in rec.pop()] == [3200, 320]  # Recorder.pop checks the second pop is []
    assert pacer.playback.underruns == 0
    assert pacer.playback.lead_ms(rec.now) == pytest.approx(95.0)


@pytest.mark.parametrize("tolerance_ms", [0.0, 20.0])
@pytest.mark.parametrize("t0", [0.0, 1234.567, 98765.4321])
def test_pacer_causes_no_underrun_when_lead_equals_a_frame(t0: float, tolerance_ms: float) -> None:
    """Regression: lead == max_frame, so every piece goes out exactly when the avatar runs dry;
    with tolerance 0, float noise counted 240 underruns a minute that the pacer itself caused."""
    pacer = make(max_frame_ms=100, lead_ms=100, tolerance_ms=tolerance_ms)
    rec = Recorder.of(pacer, t0)
    rec.push(32000 * 60)
    rec.pop()
    rec.drain()
    assert pacer.playback.underruns == 0
    assert rec.now - t0 == pytest.approx(59.9)


@settings(max_examples=100, deadline=None)
@given(
    config=configs,
    chunks=st.lists(st.integers(1, 20000), min_size=1, max_size=8),
    t0=st.floats(0, 1e6),
)
def test_a_client_that_stays_ahead_never_underruns(
    config: dict[str, object], chunks: list[int], t0: float
) -> None:
    """All audio is there before the first pop; popping at every next_due never starves the
    avatar, whatever the lead, frame size, format or tolerance (0 included)."""
    pacer = make(**config)  # type: ignore[arg-type]
    rec = Recorder.of(pacer, t0)
    for samples in chunks:
        rec.push(samples * pacer.sample_bytes)
    rec.drain()
    assert pacer.playback.underruns == 0
    if pacer.enabled:
        # ... and the stream took its duration minus the lead, to a release piece.
        duration_s = pacer.bytes_sent / pacer.bytes_per_ms / 1000.0
        piece_s = pacer.release_bytes / pacer.bytes_per_ms / 1000.0
        expected = max(0.0, duration_s - pacer.lead_ms / 1000.0)
        assert expected - 1e-6 <= rec.now - t0 <= expected + piece_s + 1e-6


def test_prebuffer_holds_the_first_release_until_gathered_or_ended() -> None:
    pacer = Pacer(
        bytes_per_second=32000, sample_bytes=2, max_frame_ms=100, lead_ms=1000, prebuffer_ms=40
    )
    pacer.push(bytes(640))  # 20 ms: not enough yet
    assert pacer.pop_due(0.0) == [] and pacer.next_due(0.0) is None
    assert pacer.wants_audio()  # reading goes on while gathering
    pacer.push(bytes(640))  # 40 ms gathered: both go out together
    assert [len(f) for f in pacer.pop_due(0.02)] == [1280]
    pacer.push(bytes(640))  # later audio is not held back again
    assert [len(f) for f in pacer.pop_due(0.04)] == [640]


def test_prebuffer_that_never_fills_goes_out_at_the_end() -> None:
    pacer = Pacer(
        bytes_per_second=32000, sample_bytes=2, max_frame_ms=100, lead_ms=1000, prebuffer_ms=40
    )
    pacer.push(bytes(320))
    assert pacer.pop_due(0.0) == []
    pacer.finish()
    assert pacer.next_due(0.0) == 0.0
    assert [len(f) for f in pacer.pop_due(0.0)] == [320]
