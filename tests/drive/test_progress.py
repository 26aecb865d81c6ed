"""ProgressSchedule: at most four reports a second, and at least one a second while audio flows."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.progress import MAX_INTERVAL_S, MIN_INTERVAL_S, ProgressSchedule

#: Float slack when comparing times built by repeated addition.
SLACK_S = 1e-9


@pytest.mark.parametrize("interval_s", [0.0, 0.2, 0.249, 1.01, 5.0, -1.0])
def test_interval_outside_the_contract_is_refused(interval_s: float) -> None:
    with pytest.raises(ValueError, match="interval_s"):
        ProgressSchedule(interval_s=interval_s)


@pytest.mark.parametrize("interval_s", [MIN_INTERVAL_S, 0.5, MAX_INTERVAL_S])
def test_bounds_are_allowed(interval_s: float) -> None:
    assert ProgressSchedule(interval_s=interval_s).interval_s == interval_s


def test_nothing_is_due_before_start() -> None:
    schedule = ProgressSchedule()
    assert schedule.next_at() is None
    assert not schedule.due(100.0, received_bytes=10, sent_bytes=10)
    assert schedule.next_at() is None


def test_first_report_one_interval_after_start() -> None:
    schedule = ProgressSchedule(interval_s=0.5)
    schedule.start(10.0)
    assert schedule.next_at() == 10.5
    assert not schedule.due(10.2, received_bytes=100, sent_bytes=0)
    assert not schedule.due(10.499, received_bytes=100, sent_bytes=0)
    assert schedule.next_at() == 10.5  # an early look does not push the report back
    assert schedule.due(10.5, received_bytes=100, sent_bytes=0)
    assert schedule.next_at() == 11.0


def test_a_stalled_drive_is_not_reported_again() -> None:
    schedule = ProgressSchedule(interval_s=0.5)
    schedule.start(0.0)
    assert schedule.due(0.5, received_bytes=1, sent_bytes=1)
    assert not schedule.due(1.0, received_bytes=1, sent_bytes=1)
    assert not schedule.due(1.5, received_bytes=1, sent_bytes=1)
    # Audio flows again: reported at the next look one interval on.
    assert not schedule.due(1.7, received_bytes=1, sent_bytes=2)
    assert schedule.due(2.0, received_bytes=1, sent_bytes=2)


def test_nothing_received_nothing_reported() -> None:
    schedule = ProgressSchedule()
    schedule.start(0.0)
    for i in range(1, 10):
        assert not schedule.due(i * 0.5, received_bytes=0, sent_bytes=0)


def test_either_amount_counts_as_flow() -> None:
    schedule = ProgressSchedule(interval_s=0.25)
    schedule.start(0.0)
    assert schedule.due(0.25, received_bytes=1, sent_bytes=0)  # received only
    assert schedule.due(0.50, received_bytes=1, sent_bytes=1)  # sent only (held-back audio)
    assert not schedule.due(0.75, received_bytes=1, sent_bytes=1)


# A random drive: (time to the next step, bytes received in it, bytes sent in it).
steps = st.lists(
    st.tuples(
        st.floats(0.0, 1.5),
        st.sampled_from([0, 0, 1, 640, 3200]),
        st.sampled_from([0, 0, 1, 3200]),
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(
    interval_s=st.floats(MIN_INTERVAL_S, MAX_INTERVAL_S),
    t0=st.floats(0, 1e6),
    script=steps,
)
def test_cadence_over_random_drives(
    interval_s: float, t0: float, script: list[tuple[float, int, int]]
) -> None:
    """The caller looks at every next_at() and after every input (as DriveCore's shell does)."""
    schedule = ProgressSchedule(interval_s=interval_s)
    schedule.start(t0)
    now = t0
    received = sent = 0
    reported: list[tuple[float, tuple[int, int]]] = []
    last_amounts = (0, 0)
    # Times at which a look saw amounts different from the last report: (time, amounts).
    unreported_since: float | None = None

    def look(at: float) -> None:
        nonlocal last_amounts, unreported_since
        amounts = (received, sent)
        if amounts != last_amounts and unreported_since is None:
            unreported_since = at
        if schedule.due(at, received_bytes=received, sent_bytes=sent):
            # Only a change is reported, and it carries the current amounts.
            assert amounts != last_amounts
            reported.append((at, amounts))
            last_amounts = amounts
            unreported_since = None
        # Every change is reported within one interval of the first look that saw it.
        if unreported_since is not None:
            assert at - unreported_since <= interval_s + SLACK_S

    for dt, got, out in script:
        target = now + dt
        # Wake at every next_at() on the way (bounded: dt <= 1.5 s and interval >= 0.25 s).
        for _ in range(10):
            next_at = schedule.next_at()
            assert next_at is not None
            if next_at > target:
                break
            now = next_at
            look(now)
        else:
            pytest.fail("next_at() did not move forward")
        now = target
        received += got
        sent += out
        look(now)

    times = [at for at, _ in reported]
    # At most four reports a second: any five reports span at least a second (and never two
    # within one interval).
    for earlier, later in itertools.pairwise(times):
        assert later - earlier >= interval_s - SLACK_S
    for i in range(len(times) - 4):
        assert times[i + 4] - times[i] >= 1.0 - SLACK_S
    # Amounts only grow, so every report differs from the one before.
    amounts = [a for _, a in reported]
    assert len(set(amounts)) == len(amounts)


@settings(max_examples=100, deadline=None)
@given(
    interval_s=st.floats(MIN_INTERVAL_S, MAX_INTERVAL_S),
    gaps=st.lists(st.floats(0.001, 0.3), min_size=1, max_size=200),
)
def test_flowing_audio_is_reported_at_least_once_a_second(
    interval_s: float, gaps: list[float]
) -> None:
    """Audio flows (amounts grow between every two looks): reports never more than 1 s apart."""
    schedule = ProgressSchedule(interval_s=interval_s)
    schedule.start(0.0)
    now = 0.0
    count = 0
    reports = [0.0]
    for gap in gaps:
        target = now + gap
        for _ in range(3):  # gap <= 0.3 s, interval >= 0.25 s: at most two wakes
            next_at = schedule.next_at()
            assert next_at is not None
            if next_at > target:
                break
            now = next_at
            count += 1
            if schedule.due(now, received_bytes=count, sent_bytes=count):
                reports.append(now)
        else:
            pytest.fail("next_at() did not move forward")
        now = target
        count += 1
        if schedule.due(now, received_bytes=count, sent_bytes=count):
            reports.append(now)
    reports.append(now)  # the drive ends here
    assert all(b - a <= min(1.0, interval_s) + SLACK_S for a, b in itertools.pairwise(reports))
