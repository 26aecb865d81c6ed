"""DriveCore's lifecycle: what ends a drive and when, who may end it, what is owed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.audio import Encoding, InputFormat
from gateway.drive.machine import DriveState
from gateway.drive.outputs import Deadline, Due
from gateway.errors import DriveEnded, InvalidDrive, Reason, UpstreamDisconnected
from tests.drive.test_core import BPS, Shell, audio, complete, make_core, start

WAV = InputFormat(encoding=Encoding.WAV, sample_rate_hz=0, channels=0)


def limit_reached(shell: Shell) -> DriveEnded:
    """Sleep from deadline to deadline (as the shell does) until the core says the drive ends."""
    for _ in range(10_000):
        deadline = shell.core.next_deadline(shell.now)
        assert deadline is not None
        shell.now = deadline.at
        if (error := shell.core.end_due(shell.now)) is not None:
            assert isinstance(error, DriveEnded)
            return error
        for _frame in shell.core.frames_due(shell.now):
            pass
        shell.core.frames_written(shell.now)
        shell.core.progress_due(shell.now)
        shell.core.playback_due(shell.now)
    pytest.fail("no limit was reached")


# The idle timeout: the client silent while the gateway wants audio.


def test_a_silent_client_times_out_one_idle_timeout_after_it_was_asked() -> None:
    shell = Shell(make_core(idle_timeout_s=2.0), now=100.0)
    shell.start()
    shell.feed(audio(0, 3200))  # 100 ms: sent at once, more is wanted at once
    shell.wait_until(101.0)
    deadline = shell.core.next_deadline(shell.now)
    assert deadline is not None and deadline.due is Due.PROGRESS
    error = limit_reached(shell)
    assert error.reason is Reason.IDLE_TIMEOUT
    assert shell.now == pytest.approx(102.0)


def test_a_large_chunk_paced_out_slowly_is_not_idleness() -> None:
    """12 s of audio in one message (issue 16): the gateway did not want more for ~11 s."""
    shell = Shell(make_core(idle_timeout_s=10.0))
    shell.start()
    shell.feed(audio(0, 12 * BPS))
    assert not shell.core.wants_audio()
    for _ in range(10_000):  # pace it out until the core asks for more
        if shell.core.wants_audio():
            break
        deadline = shell.core.next_deadline(shell.now)
        assert deadline is not None and deadline.due is not Due.IDLE_TIMEOUT
        shell.now = deadline.at
        shell.service()
    assert shell.now > 10.0  # longer than the idle timeout since the chunk arrived
    shell.end()
    shell.run_to_flushed()
    assert bytes(shell.sent) == bytes(shell.fed)
    assert complete(shell.core, shell.now).bytes_sent == 12 * BPS


def test_frames_in_flight_stop_the_idle_clock_and_are_not_due_again() -> None:
    core = make_core(idle_timeout_s=1.0)
    start(core, 0.0)
    core.receive_audio(audio(0, 3200), 0.0)
    frames = core.frames_due(0.0)
    assert frames and core.frames_due(0.0) == []  # one sender at a time
    core.receive_audio(audio(3200, 3200), 0.5)  # the reader took more meanwhile
    assert core.frames_due(0.5) == []
    deadline = core.next_deadline(5.0)
    assert deadline is not None and deadline.due is Due.PROGRESS
    assert core.end_due(5.0) is None  # a send blocked by the peer is not the client's silence
    core.frames_written(5.0)
    assert core.frames_due(5.0) != []
    core.frames_written(5.0)
    assert core.end_due(5.9) is None
    assert isinstance(error := core.end_due(6.0), DriveEnded)
    assert error.reason is Reason.IDLE_TIMEOUT


def test_no_idle_clock_before_start_or_after_the_end() -> None:
    core = make_core(idle_timeout_s=1.0)
    assert core.next_deadline(0.0) is None and core.end_due(100.0) is None
    start(core, 100.0)
    core.receive_end(100.0)
    assert core.flushed and core.end_due(1000.0) is None
    deadline = core.next_deadline(100.0)
    assert deadline is not None and deadline.due is not Due.IDLE_TIMEOUT


def test_max_duration_counts_from_start() -> None:
    shell = Shell(make_core(max_drive_s=3.0, idle_timeout_s=60.0, now=10.0), now=10.0)
    shell.feed(audio(0, 3200))
    shell.now = 20.0
    shell.start()
    for i in range(29):  # a real-time client, 100 ms at a time
        shell.wait_until(20.0 + i * 0.1)
        shell.feed(audio(len(shell.fed), 3200))
    assert shell.core.next_deadline(shell.now) is not None
    error = limit_reached(shell)
    assert error.reason is Reason.MAX_DURATION and shell.now == pytest.approx(23.0)
    assert shell.core.setup_ms == 10_000


# Ending: from outside, by failure, by itself; what is owed.


def test_end_from_outside_is_taken_once_while_live() -> None:
    core = make_core()
    first = DriveEnded(Reason.PREEMPTED, "preempted")
    assert core.end(first)
    assert not core.end(DriveEnded(Reason.DRAINING, "draining"))  # the first reason wins
    assert core.end_due(0.0) is first
    assert not core.finish(0.0)  # never started: nothing owed
    assert core.state is DriveState.CLOSED


def test_a_drive_ending_by_itself_cannot_be_ended_from_outside() -> None:
    core = make_core()
    start(core, 0.0)
    core.receive_end(0.0)
    assert core.flushed and core.finish(1.0)  # Stop owed, once
    assert not core.finish(2.0)
    assert not core.end(DriveEnded(Reason.PREEMPTED, "too late"))
    assert core.ended is None and core.stop_sent_at == 1.0
    assert not core.wants_audio()
    core.released()
    assert core.state is DriveState.CLOSED


def test_the_first_failure_wins_and_ends_the_drive() -> None:
    core = make_core()
    start(core, 0.0)
    lost = UpstreamDisconnected("gone", bytes_sent=0)
    core.fail(lost)
    core.fail(InvalidDrive(Reason.CHUNK_TOO_LARGE, "later"))
    assert core.end_due(0.0) is lost
    assert core.finish(0.0)  # Start went out: Stop is owed whatever failed


EVENTS = st.sampled_from(
    ["queue", "admit", "start", "audio", "end_input", "end", "fail", "tick", "finish", "release"]
)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(EVENTS, max_size=40))
def test_any_order_of_inputs_keeps_the_promises(events: list[str]) -> None:
    """Whatever happens, in whatever order: Stop is owed exactly when Start went out, it is
    asked for at most once, nothing flows after the end, and the state table is never broken."""
    core = make_core(idle_timeout_s=1.0)
    now = 0.0
    stops = 0
    finished = False
    for event in events:
        now += 0.3
        state = core.state
        if event == "queue" and state is DriveState.IDLE:
            core.queued()
        elif event == "admit" and state in (DriveState.IDLE, DriveState.QUEUED):
            core.admitted()
        elif event == "start" and state is DriveState.SETTING_UP:
            core.started(now)
        elif event == "audio" and not core.input_ended and not finished:
            core.receive_audio(audio(0, 640), now)
        elif event == "end_input" and not core.input_ended and not finished:
            core.receive_end(now)
        elif event == "end":
            core.end(DriveEnded(Reason.STOPPED_BY_REQUEST, "stopped"))
        elif event == "fail":
            core.fail(UpstreamDisconnected("gone", bytes_sent=0))
        elif event == "tick":
            core.frames_due(now)
            core.frames_written(now)
            core.end_due(now)
        elif event == "finish":
            started = core.state is DriveState.STREAMING
            owes = core.finish(now)
            assert owes == started
            stops += owes
            finished = True
        elif event == "release" and finished:
            core.released()
        if finished:
            assert core.frames_due(now) == []
            assert not core.wants_audio()
    assert stops <= 1
    if core.finish(now):
        stops += 1
    assert stops == (1 if core.started_at is not None else 0)


# The format deadline: a WAV drive waits for its header, not forever.


@pytest.mark.parametrize(("format_timeout_s", "expected_at"), [(None, 7.0), (2.0, 3.0)])
def test_a_wav_header_that_never_completes_ends_at_the_format_deadline(
    format_timeout_s: float | None, expected_at: float
) -> None:
    core = make_core(fmt=WAV, idle_timeout_s=6.0, format_timeout_s=format_timeout_s, now=1.0)
    core.receive_audio(b"RIFF\x00\x00", 1.5)  # a header cut short
    assert core.output is None
    assert core.next_deadline(1.5) == Deadline(expected_at, Due.FORMAT_TIMEOUT)
    assert core.end_due(expected_at - 0.001) is None
    error = core.end_due(expected_at)
    assert isinstance(error, DriveEnded) and error.reason is Reason.FORMAT_TIMEOUT


def test_a_known_format_has_no_format_deadline() -> None:
    core = make_core(idle_timeout_s=0.1)
    assert core.output is not None
    assert core.next_deadline(100.0) is None and core.end_due(100.0) is None


def test_a_drive_playing_out_is_cut_by_preempt_but_not_by_stop_drive() -> None:
    core = make_core()
    start(core, 0.0)
    core.receive_audio(audio(0, BPS), 0.0)
    core.frames_due(0.0)
    core.frames_written(0.0)
    core.receive_end(0.0)
    assert core.finish(0.0)
    core.play_out()
    assert core.state is DriveState.PLAYING_OUT and not core.wants_audio()
    assert not core.end(DriveEnded(Reason.STOPPED_BY_REQUEST, "stop"))  # it finishes anyway
    preempted = DriveEnded(Reason.PREEMPTED, "preempted")
    assert core.end(preempted) and core.end_due(0.5) is preempted
