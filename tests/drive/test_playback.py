"""PlaybackModel: the avatar's estimated playhead and its underrun count, on hand-made schedules.

Times are plain numbers (seconds); nothing here reads a clock.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.playback import EPSILON_MS, PlaybackModel

FRAME_MS = 20.0


def real_time(
    model: PlaybackModel, frames: int, *, t0: float = 0.0, jitter: list[float] | None = None
) -> None:
    """Send ``frames`` 20 ms frames at 1x from ``t0``; frame i delayed by ``jitter[i]`` seconds."""
    for i in range(frames):
        delay = jitter[i] if jitter else 0.0
        model.on_send(t0 + i * FRAME_MS / 1000.0 + delay, FRAME_MS)


def test_nothing_sent_yet() -> None:
    model = PlaybackModel(tolerance_ms=20)
    assert model.anchor is None
    assert model.playhead_ms(5.0) == 0.0
    assert model.lead_ms(5.0) == 0.0
    assert model.late_ms(5.0) == 0.0
    assert model.drained_at() is None
    assert model.underruns == 0


def test_first_frame_anchors_playback() -> None:
    model = PlaybackModel(tolerance_ms=20)
    model.on_send(100.0, 40.0)
    assert model.anchor == 100.0
    assert model.sent_ms == 40.0
    assert model.playhead_ms(100.0) == 0.0
    assert model.lead_ms(100.0) == 40.0
    assert model.playhead_ms(100.010) == pytest.approx(10.0)
    assert model.lead_ms(100.010) == pytest.approx(30.0)
    # The playhead never passes the audio that was sent.
    assert model.playhead_ms(101.0) == 40.0
    assert model.lead_ms(101.0) == 0.0
    assert model.late_ms(100.060) == pytest.approx(20.0)
    assert model.drained_at() == pytest.approx(100.040)


@pytest.mark.parametrize("tolerance_ms", [0.0, 20.0])
@pytest.mark.parametrize("t0", [0.0, 1234.567, 98765.4321, 1e6])
def test_real_time_sender_never_underruns(t0: float, tolerance_ms: float) -> None:
    """Regression: with tolerance 0, float noise in ``now - anchor`` made frames sent exactly on
    time look a few femtoseconds late: 1440 phantom underruns in a minute at t0=1234.567."""
    model = PlaybackModel(tolerance_ms=tolerance_ms)
    real_time(model, 3000, t0=t0)  # one minute
    assert model.underruns == 0
    assert model.sent_ms == pytest.approx(60_000.0)
    assert model.anchor == t0
    # Right after the last frame was sent, exactly that frame is ahead of the playhead.
    last = t0 + 2999 * FRAME_MS / 1000.0
    assert model.lead_ms(last) == pytest.approx(FRAME_MS, abs=1e-3)
    assert model.drained_at() == pytest.approx(t0 + 60.0)


def test_a_300_ms_gap_is_one_underrun_and_reanchors() -> None:
    model = PlaybackModel(tolerance_ms=20)
    real_time(model, 50)  # 1 s of audio, 0.00 .. 0.98
    assert model.underruns == 0
    # The avatar runs dry at 1.00; the next frame arrives 300 ms after that.
    model.on_send(1.300, FRAME_MS)
    assert model.underruns == 1
    # Playback resumed with that frame: sample 0 "would have played" 300 ms later.
    assert model.anchor == pytest.approx(0.300)
    assert model.playhead_ms(1.300) == pytest.approx(1000.0)
    assert model.lead_ms(1.300) == pytest.approx(FRAME_MS)
    assert model.late_ms(1.300) == 0.0
    # 1x again from the new anchor: no further underrun, the gap is counted once.
    for i in range(1, 50):
        model.on_send(1.300 + i * FRAME_MS / 1000.0, FRAME_MS)
    assert model.underruns == 1
    assert model.drained_at() == pytest.approx(1.300 + 1.0)


def test_two_gaps_count_twice() -> None:
    model = PlaybackModel(tolerance_ms=20)
    model.on_send(0.0, 100.0)
    model.on_send(0.5, 100.0)  # 400 ms late
    model.on_send(1.0, 100.0)  # 400 ms late again, measured from the new anchor
    assert model.underruns == 2
    assert model.anchor == pytest.approx(0.8)


def test_lateness_is_compared_strictly_with_the_tolerance() -> None:
    exactly = PlaybackModel(tolerance_ms=20)
    exactly.on_send(0.0, 100.0)
    exactly.on_send(0.125, 100.0)  # 25 ms late: over
    assert exactly.underruns == 1

    within = PlaybackModel(tolerance_ms=20)
    within.on_send(0.0, 100.0)
    within.on_send(0.119, 100.0)  # 19 ms late: jitter
    assert within.underruns == 0
    # Forgiven lateness does not move the anchor.
    assert within.anchor == 0.0


@pytest.mark.parametrize("tolerance_ms", [20.0, 50.0])
def test_jitter_within_tolerance_is_not_an_underrun(tolerance_ms: float) -> None:
    model = PlaybackModel(tolerance_ms=tolerance_ms)
    # Every frame late by up to 90% of the tolerance, in a fixed irregular pattern.
    pattern = [0.0, 0.9, 0.3, 0.0, 0.7, 0.5, 0.1, 0.9, 0.0, 0.2]
    jitter = [pattern[i % len(pattern)] * tolerance_ms / 1000.0 for i in range(1000)]
    real_time(model, 1000, jitter=jitter)
    assert model.underruns == 0
    assert model.anchor == 0.0


def test_a_slow_sender_accumulates_lateness_until_it_counts() -> None:
    # 20 ms frames every 21 ms: each frame 1 ms later than the one before. Forgiven lateness does
    # not move the anchor, so it adds up: frame 21 is 21 ms late, over the 20.5 ms tolerance.
    model = PlaybackModel(tolerance_ms=20.5)
    for i in range(21):
        model.on_send(i * 0.021, FRAME_MS)
    assert model.underruns == 0
    model.on_send(21 * 0.021, FRAME_MS)
    assert model.underruns == 1
    # Re-anchored on frame 21: lateness starts over and counts again at frame 42.
    for i in range(22, 42):
        model.on_send(i * 0.021, FRAME_MS)
    assert model.underruns == 1
    model.on_send(42 * 0.021, FRAME_MS)
    assert model.underruns == 2


def test_early_audio_builds_lead() -> None:
    model = PlaybackModel(tolerance_ms=20)
    for _ in range(10):
        model.on_send(0.0, 100.0)
    assert model.lead_ms(0.0) == 1000.0
    assert model.lead_ms(0.25) == pytest.approx(750.0)
    assert model.playhead_ms(0.25) == pytest.approx(250.0)
    assert model.late_ms(0.25) == 0.0
    assert model.late_ms(1.5) == pytest.approx(500.0)
    assert model.underruns == 0


def test_zero_tolerance_counts_any_real_lateness() -> None:
    model = PlaybackModel(tolerance_ms=0)
    model.on_send(0.0, 20.0)
    model.on_send(0.02001, 20.0)  # 10 microseconds: less than a sample at 48 kHz, but late
    assert model.underruns == 1
    assert EPSILON_MS < 0.01


@settings(max_examples=200, deadline=None)
@given(
    t0=st.floats(0, 1e6),
    tolerance_ms=st.floats(0, 100),
    schedule=st.lists(
        st.tuples(st.floats(0, 0.5), st.floats(0.1, 200)),  # (wait before sending, duration)
        min_size=1,
        max_size=60,
    ),
)
def test_model_invariants(
    t0: float, tolerance_ms: float, schedule: list[tuple[float, float]]
) -> None:
    """Against a straightforward reference: underruns, anchor, and playhead bounds."""
    model = PlaybackModel(tolerance_ms=tolerance_ms)
    # Reference model: when the audio sent so far will have played out.
    play_end: float | None = None
    underruns = 0
    now = t0
    for wait, duration in schedule:
        now += wait
        if play_end is None:
            play_end = now
        elif (now - play_end) * 1000.0 > tolerance_ms + EPSILON_MS:
            underruns += 1
            play_end = now
        play_end += duration / 1000.0
        model.on_send(now, duration)
        assert model.underruns == underruns
        assert model.drained_at() == pytest.approx(play_end, abs=1e-6)
        # The playhead is between 0 and what was sent, and the lead is what is left of it.
        playhead = model.playhead_ms(now)
        assert -1e-6 <= playhead <= model.sent_ms
        assert model.lead_ms(now) == pytest.approx(model.sent_ms - playhead)
        # Lead and lateness are how far the end of the sent audio is from now, either way.
        for probe in (now, now + wait, now + duration / 1000.0):
            assert model.lead_ms(probe) == pytest.approx(
                max(0.0, (play_end - probe) * 1000.0), abs=1e-3
            )
            assert model.late_ms(probe) == pytest.approx(
                max(0.0, (probe - play_end) * 1000.0), abs=1e-3
            )
        # Right after a send the avatar waits at most the forgiven jitter.
        assert model.late_ms(now) <= tolerance_ms + 1e-6
    assert model.sent_ms == pytest.approx(sum(d for _, d in schedule))


def test_the_first_frame_is_the_start_whatever_the_stalls() -> None:
    model = PlaybackModel(tolerance_ms=20)
    model.on_send(1.0, 100.0)
    model.on_send(1.5, 100.0)  # 400 ms late: re-anchored
    assert model.first_sent_at == 1.0
    assert model.anchor == pytest.approx(1.4)
