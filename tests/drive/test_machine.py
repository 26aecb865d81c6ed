"""DriveMachine: the transition table; a started drive always gets its Stop."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.machine import (
    CLOSED,
    IDLE,
    PLAYING_OUT,
    QUEUED,
    SETTING_UP,
    STOPPING,
    STREAMING,
    TRANSITIONS,
    DriveEvent,
    DriveMachine,
    DriveState,
    DriveStateError,
)

EXPECTED = {
    (IDLE, DriveEvent.QUEUE): QUEUED,
    (IDLE, DriveEvent.ADMIT): SETTING_UP,
    (IDLE, DriveEvent.ABANDON): CLOSED,
    (QUEUED, DriveEvent.ADMIT): SETTING_UP,
    (QUEUED, DriveEvent.ABANDON): CLOSED,
    (SETTING_UP, DriveEvent.START): STREAMING,
    (SETTING_UP, DriveEvent.ABANDON): CLOSED,
    (STREAMING, DriveEvent.STOP): STOPPING,
    (STOPPING, DriveEvent.CLOSE): CLOSED,
    (STOPPING, DriveEvent.PLAY_OUT): PLAYING_OUT,
    (PLAYING_OUT, DriveEvent.CLOSE): CLOSED,
}


def machine_in(state: DriveState) -> DriveMachine:
    machine = DriveMachine()
    machine.state = state
    return machine


def reachable() -> set[DriveState]:
    seen = {IDLE}
    frontier = [IDLE]
    while frontier:
        state = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is state and target not in seen:
                seen.add(target)
                frontier.append(target)
    return seen


def test_the_table_is_the_documented_one() -> None:
    assert TRANSITIONS == EXPECTED


def test_a_new_machine_is_idle() -> None:
    machine = DriveMachine()
    assert machine.state is IDLE
    assert not machine.stop_owed
    assert not machine.finished


def test_every_state_is_reachable_and_closed_is_final() -> None:
    assert reachable() == set(DriveState)
    assert not [key for key in TRANSITIONS if key[0] is CLOSED]


def test_no_abandon_once_started() -> None:
    """Rule 2: from STREAMING (and STOPPING) nothing leads to CLOSED except through STOP."""
    assert {event for (state, event) in TRANSITIONS if state is STREAMING} == {DriveEvent.STOP}
    assert (STREAMING, DriveEvent.ABANDON) not in TRANSITIONS
    assert (STREAMING, DriveEvent.CLOSE) not in TRANSITIONS


@pytest.mark.parametrize(("state", "event"), list(itertools.product(DriveState, DriveEvent)))
def test_every_state_event_pair(state: DriveState, event: DriveEvent) -> None:
    """Either the table has it and the machine lands there, or DriveStateError and no change."""
    machine = machine_in(state)
    if (state, event) in TRANSITIONS:
        assert machine.handle(event) is TRANSITIONS[state, event]
        assert machine.state is TRANSITIONS[state, event]
        assert machine.state in DriveState
    else:
        with pytest.raises(DriveStateError, match=f"{event.name}.*{state.name}"):
            machine.handle(event)
        assert machine.state is state


@pytest.mark.parametrize("state", list(DriveState))
def test_stop_owed_exactly_while_streaming(state: DriveState) -> None:
    machine = machine_in(state)
    assert machine.stop_owed is (state is STREAMING)
    assert machine.finished is (state is CLOSED)


def test_the_happy_paths() -> None:
    machine = DriveMachine()
    for event in (DriveEvent.QUEUE, DriveEvent.ADMIT, DriveEvent.START):
        machine.handle(event)
    owed_before = machine.stop_owed
    assert machine.handle(DriveEvent.STOP) is STOPPING
    owed_after = machine.stop_owed
    assert (owed_before, owed_after) == (True, False)
    assert machine.handle(DriveEvent.CLOSE) is CLOSED
    assert machine.finished

    direct = DriveMachine()
    direct.handle(DriveEvent.ADMIT)
    assert direct.handle(DriveEvent.ABANDON) is CLOSED
    assert not direct.stop_owed


@settings(max_examples=200, deadline=None)
@given(
    start=st.sampled_from(sorted(reachable(), key=lambda s: s.value)),
    events=st.lists(st.sampled_from(list(DriveEvent)), max_size=30),
)
def test_random_event_sequences(start: DriveState, events: list[DriveEvent]) -> None:
    """Any event sequence from any reachable state, including forbidden events (the h2 check)."""
    machine = machine_in(start)
    path = [machine.state]
    for event in events:
        before = machine.state
        try:
            after = machine.handle(event)
        except DriveStateError:
            assert (before, event) not in TRANSITIONS
            assert machine.state is before
            continue
        assert (before, event) in TRANSITIONS
        assert after is TRANSITIONS[before, event] is machine.state
        path.append(after)
        # STOP is owed exactly while streaming.
        assert machine.stop_owed is (after is STREAMING)
    # Every path to CLOSED that went through STREAMING went through STOPPING after it.
    if CLOSED in path:
        assert path.index(CLOSED) == len(path) - 1, "CLOSED is final"
        if STREAMING in path:
            streaming = path.index(STREAMING)
            assert path[streaming + 1] is STOPPING
            assert STOPPING in path[streaming : path.index(CLOSED)]
    # Leaving while stop_owed is impossible: the only move out of STREAMING is STOP.
    if machine.state is STREAMING:
        assert machine.stop_owed


@settings(max_examples=200, deadline=None)
@given(events=st.lists(st.sampled_from(list(DriveEvent)), max_size=30))
def test_start_is_always_followed_by_stop_before_close(events: list[DriveEvent]) -> None:
    """Applying only the allowed events: once START happened, CLOSE comes only after STOP."""
    machine = DriveMachine()
    applied: list[DriveEvent] = []
    for event in events:
        if (machine.state, event) in TRANSITIONS:
            machine.handle(event)
            applied.append(event)
    if DriveEvent.START in applied and machine.finished:
        start = applied.index(DriveEvent.START)
        assert DriveEvent.STOP in applied[start:]
        assert DriveEvent.ABANDON not in applied[start:]
    # The table has no cycles: each event happens at most once, a drive lives at most 6 steps.
    assert len(applied) == len(set(applied)) <= 6
