"""Barge-in in the drive core: the client's Interrupt, PREEMPT and StopDrive INTERRUPT silence
the avatar; StopDrive FINISH lets it play what it was sent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.drive.interrupt import Interruption, finishes, interrupts
from gateway.drive.machine import DriveState
from gateway.drive.speech import Heard
from gateway.errors import DriveEnded, InvalidDrive, Reason
from gateway.registry.base import preempted, stopped
from tests.drive.test_core import BPS, Shell, audio, make_core


def now(read: Callable[[], bool]) -> bool:
    """A property's value now (read through a call, so that the type checker does not keep
    what an earlier assert said of it)."""
    return read()


def streaming(sent_s: float = 2.0) -> Shell:
    """A drive that sent ``sent_s`` of audio at t=0 (the pacing lead allows 1 s at once, the
    rest paced), then ran to t=0.5 with one half-second chunk still held back."""
    shell = Shell(make_core())
    shell.start()
    shell.feed(audio(0, int(sent_s * BPS)))
    shell.wait_until(0.5)
    return shell


def test_the_reasons_that_interrupt() -> None:
    assert interrupts(preempted()) and interrupts(stopped(interrupt=True))
    assert not interrupts(stopped()) and not interrupts(None)
    assert finishes(stopped()) and not finishes(stopped(interrupt=True))
    assert not finishes(preempted()) and not finishes(DriveEnded(Reason.DRAINING, "x"))


def test_an_interrupt_stops_sending_and_drops_what_is_held() -> None:
    shell = streaming()
    core = shell.core
    assert core.buffered_bytes > 0
    core.receive_interrupt(shell.now)
    assert core.frames_due(shell.now + 5) == [] and not core.wants_audio()
    assert core.interrupting and core.silence_owed
    core.cut(shell.now)  # not while the vendor is owed its interrupt: the avatar still speaks
    assert core.playback_due(shell.now) == []
    assert core.finish(0.6)
    core.silenced(0.62)  # the vendor's answer: silent since then
    assert not now(lambda: core.silence_owed)
    [finished] = core.playback_due(0.7)
    assert finished.kind is Heard.FINISHED and finished.interrupted
    assert finished.played_ms == 620
    completion = core.completed()
    assert completion.interrupted and completion.played_ms == 620
    assert completion.sent_ms + completion.dropped_ms == completion.received_ms == 2000
    assert completion.dropped_ms > 0


def test_the_client_may_send_nothing_after_its_interrupt_but_the_half_close() -> None:
    shell = streaming()
    core = shell.core
    core.receive_interrupt(shell.now)
    sends: tuple[Callable[[], None], ...] = (
        lambda: core.receive_interrupt(shell.now),
        lambda: core.receive_audio(audio(0, 640), shell.now),
        lambda: core.receive_mark("m", shell.now),
    )
    for send in sends:
        with pytest.raises(InvalidDrive) as caught:
            send()
        assert caught.value.reason in (Reason.INTERRUPT_REPEATED, Reason.AUDIO_AFTER_INTERRUPT)
    core.receive_end(shell.now)  # the tail is dropped, not sent
    assert core.input_ended and core.frames_due(shell.now + 5) == []


def test_an_interrupt_before_any_audio_owes_no_silence() -> None:
    core = make_core()
    core.admitted()
    core.receive_interrupt(0.0)
    assert core.interrupting and not core.silence_owed
    assert not core.finish(0.1)  # nothing was started: nothing is owed
    assert core.completed().interrupted and core.completed().played_ms == 0


def test_when_the_vendor_cannot_be_asked_the_avatar_plays_what_it_has() -> None:
    shell = streaming()
    core = shell.core
    core.receive_interrupt(shell.now)
    assert core.finish(shell.now)
    core.silence_failed()
    assert not core.silence_owed
    core.play_out()
    shell.wait_until(3.0)
    [finished] = [e for _, e in shell.heard if e.kind is Heard.FINISHED]
    assert not finished.interrupted and finished.played_ms == round(core.sent_ms)
    assert core.played_out


def test_preempt_and_stop_interrupt_owe_silence_and_cut_where_it_came() -> None:
    for reason in (preempted(), stopped(interrupt=True)):
        shell = streaming()
        core = shell.core
        assert core.end(reason) and core.silence_owed and not core.finishing
        assert core.finish(shell.now)
        core.silenced(0.75)
        [event] = core.playback_due(0.8)
        assert event.interrupted and event.played_ms == 750


def test_stop_finish_lets_the_avatar_play_and_an_interrupt_may_still_cut_it() -> None:
    shell = streaming()
    core = shell.core
    assert core.end(stopped()) and core.finishing and not now(lambda: core.silence_owed)
    assert core.finish(shell.now)
    core.play_out()
    assert core.state is DriveState.PLAYING_OUT and not now(lambda: core.finishing)
    assert not core.end(stopped())  # a second FINISH changes nothing
    interrupt = stopped(interrupt=True)
    assert core.end(interrupt) and core.ended is interrupt and core.silence_owed
    core.silenced(1.0)
    [event] = core.playback_due(1.0)
    assert event.interrupted and event.played_ms == 1000


def test_interruption_alone() -> None:
    interruption = Interruption()
    interruption.check_input("audio")  # nothing asked yet
    interruption.ask(1.0)
    assert interruption.asked_at == 1.0 and not interruption.settled
    with pytest.raises(InvalidDrive, match="after the Interrupt"):
        interruption.check_input("audio")
