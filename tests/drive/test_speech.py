"""What the avatar played: PlaybackStarted, MarkPlayed, PlaybackFinished, each once, in order,
at the playhead's times; the vendor's word within the grace window."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.playback import PlaybackModel
from gateway.drive.speech import Heard, PlaybackEvent, Source, SpeechTracker
from gateway.errors import InvalidDrive, Reason
from tests.drive.test_core import BPS, Shell, audio, make_core


def kinds(heard: list[tuple[float, PlaybackEvent]]) -> list[Heard]:
    return [event.kind for _, event in heard]


def test_a_completed_drive_starts_reaches_its_marks_and_finishes_at_the_playhead() -> None:
    shell = Shell(make_core(), now=10.0)
    shell.start()
    shell.core.receive_mark("hello", shell.now)  # before any audio: at 0 ms
    shell.feed(audio(0, BPS // 5))  # 200 ms
    shell.core.receive_mark("world", shell.now)
    shell.feed(audio(BPS // 5, BPS // 5))
    shell.core.receive_mark("end", shell.now)
    shell.end()
    shell.run_to_flushed()
    assert shell.core.finish(shell.now)
    shell.core.play_out()
    shell.wait_until(shell.now + 2.0)
    assert kinds(shell.heard) == [Heard.STARTED, Heard.MARK, Heard.MARK, Heard.MARK, Heard.FINISHED]
    times = {event.name or event.kind.value: t for t, event in shell.heard}
    assert times["started"] == 10.0 and times["hello"] == 10.0
    assert times["world"] == pytest.approx(10.2) and times["end"] == pytest.approx(10.4)
    assert times["finished"] == pytest.approx(10.4)
    marks = [event for _, event in shell.heard if event.kind is Heard.MARK]
    assert [(m.name, m.at_ms) for m in marks] == [("hello", 0), ("world", 200), ("end", 400)]
    finished = shell.heard[-1][1]
    assert (finished.played_ms, finished.interrupted) == (400, False)
    assert {event.source for _, event in shell.heard} == {Source.ESTIMATED}
    assert shell.core.played_out and shell.core.next_deadline(shell.now) is None


def test_a_cut_drive_finishes_at_once_interrupted_and_drops_unplayed_marks() -> None:
    shell = Shell(make_core(), now=0.0)
    shell.start()
    shell.feed(audio(0, BPS))  # 1 s, all within the lead: sent at once
    shell.core.receive_mark("never heard", shell.now)
    shell.wait_until(0.3)
    shell.core.cut(shell.now)
    shell.service()
    assert kinds(shell.heard) == [Heard.STARTED, Heard.FINISHED]
    finished = shell.heard[-1][1]
    assert finished.interrupted and finished.played_ms == 300
    shell.wait_until(5.0)
    assert len(shell.heard) == 2  # each once


def test_nothing_played_nothing_reported() -> None:
    core = make_core()
    core.admitted()
    core.started(0.0)
    core.receive_mark("m", 0.0)
    core.receive_end(0.0)
    assert core.finish(0.0)
    core.play_out()
    assert core.playback_due(10.0) == [] and core.played_out


def test_the_vendor_confirms_within_the_grace_window() -> None:
    playback = PlaybackModel(tolerance_ms=20)
    tracker = SpeechTracker(vendor_grace_s=0.3)
    playback.on_send(1.0, 500)
    assert tracker.due(1.1, playback, stopped=False) == []  # waiting for the vendor
    assert tracker.next_at(1.1, playback, stopped=False) == pytest.approx(1.3)
    tracker.vendor_started(1.15)
    [started] = tracker.due(1.15, playback, stopped=False)
    assert (started.kind, started.source) == (Heard.STARTED, Source.VENDOR)
    # The vendor never says it ended: the estimate, once the grace window passed.
    assert tracker.due(1.6, playback, stopped=True) == []
    [finished] = tracker.due(1.8, playback, stopped=True)
    assert (finished.kind, finished.source, finished.played_ms) == (
        Heard.FINISHED,
        Source.ESTIMATED,
        500,
    )


def test_the_vendor_saying_it_ended_finishes_at_once() -> None:
    playback = PlaybackModel(tolerance_ms=20)
    tracker = SpeechTracker(vendor_grace_s=0.3)
    playback.on_send(0.0, 1000)
    tracker.vendor_started(0.05)
    tracker.due(0.05, playback, stopped=True)
    tracker.vendor_finished(0.9)  # a little ahead of the estimate (1.0)
    [finished] = tracker.due(0.9, playback, stopped=True)
    assert (finished.source, finished.played_ms, finished.interrupted) == (
        Source.VENDOR,
        1000,
        False,
    )


@pytest.mark.parametrize("name", ["", "x" * 257])
def test_bad_mark_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidDrive) as caught:
        make_core().receive_mark(name, 0.0)
    assert caught.value.reason is Reason.BAD_MARK


def test_too_many_marks_are_refused() -> None:
    core = make_core()
    for i in range(1000):
        core.receive_mark(f"m{i}", 0.0)
    with pytest.raises(InvalidDrive, match="at most 1000 marks"):
        core.receive_mark("one more", 0.0)


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["audio", "mark", "wait"]), st.integers(0, 6400)),
        max_size=30,
    ),
    cut_at=st.one_of(st.none(), st.floats(0, 3)),
)
def test_each_event_once_in_order_whatever_happens(
    steps: list[tuple[str, int]], cut_at: float | None
) -> None:
    shell = Shell(make_core(idle_timeout_s=600.0))
    shell.start()
    marks = 0
    for kind, size in steps:
        if kind == "audio":
            shell.feed(audio(len(shell.fed), size - size % 2))
        elif kind == "mark":
            shell.core.receive_mark(f"m{marks}", shell.now)
            marks += 1
        else:
            shell.wait_until(shell.now + size / 10_000)
        if cut_at is not None and shell.now >= cut_at:
            shell.core.cut(shell.now)
            break
    else:
        shell.end()
        shell.run_to_flushed()
        if shell.core.finish(shell.now):
            shell.core.play_out()
    shell.wait_until(shell.now + 3.0)
    got = kinds(shell.heard)
    if shell.sent:
        assert got[0] is Heard.STARTED and got[-1] is Heard.FINISHED
        assert got.count(Heard.STARTED) == got.count(Heard.FINISHED) == 1
        names = [event.name for _, event in shell.heard if event.kind is Heard.MARK]
        assert names == sorted(names, key=lambda n: int(n[1:]))  # in the order they came
        times = [t for t, _ in shell.heard]
        assert times == sorted(times)
        if cut_at is None:
            assert len(names) == marks and shell.heard[-1][1].played_ms == round(
                len(shell.sent) / 32
            )
    else:
        assert got == []


def test_the_timings_say_how_far_the_vendor_was_from_the_estimate() -> None:
    playback = PlaybackModel(tolerance_ms=20)
    tracker = SpeechTracker(vendor_grace_s=0.3)
    tracker.add_mark("half", 250)
    playback.on_send(1.0, 250)
    playback.on_send(1.5, 250)  # 250 ms late: a stall moves the anchor, not the start
    tracker.vendor_started(1.04)
    tracker.vendor_started(1.2)  # a retry: the first word counts
    tracker.due(1.04, playback, stopped=False)
    tracker.vendor_finished(1.82)  # the estimate: the re-anchored playhead drains at 1.75
    tracker.vendor_finished(1.9)
    tracker.due(1.82, playback, stopped=True)
    timings = tracker.timings(playback)
    assert (timings.started, timings.finished, timings.marks) == (Source.VENDOR, Source.VENDOR, 1)
    assert timings.estimated_start == 1.0
    assert timings.estimated_end == pytest.approx(1.75)
    assert timings.start_skew_s == pytest.approx(0.04)
    assert timings.end_skew_s == pytest.approx(0.07)
    assert timings.finished_at == 1.82


def test_the_timings_of_an_estimate_alone_and_of_a_vendor_ahead_of_it() -> None:
    playback = PlaybackModel(tolerance_ms=20)
    tracker = SpeechTracker()
    playback.on_send(0.0, 1000)
    tracker.due(0.0, playback, stopped=True)
    tracker.due(1.0, playback, stopped=True)
    alone = tracker.timings(playback)
    assert (alone.started, alone.finished) == (Source.ESTIMATED, Source.ESTIMATED)
    assert alone.start_skew_s is None and alone.end_skew_s is None
    assert (alone.estimated_end, alone.finished_at) == (1.0, 1.0)
    ahead = SpeechTracker(vendor_grace_s=0.3)
    ahead.due(0.0, playback, stopped=True)
    ahead.vendor_finished(0.9)  # the model thought 100 ms were left
    ahead.due(0.9, playback, stopped=True)
    assert ahead.timings(playback).end_skew_s == pytest.approx(-0.1)


def test_a_cut_drive_has_no_estimated_end_to_compare() -> None:
    playback = PlaybackModel(tolerance_ms=20)
    tracker = SpeechTracker(vendor_grace_s=0.3)
    playback.on_send(0.0, 1000)
    tracker.cut(0.4, playback)
    tracker.cut(0.5, playback)  # the first cut counts
    tracker.due(0.4, playback, stopped=False)
    assert tracker.played_ms(0.6, playback) == pytest.approx(400)
    tracker.vendor_finished(0.45)
    timings = tracker.timings(playback)
    assert (timings.started, timings.finished, timings.finished_at) == (
        Source.ESTIMATED,
        Source.ESTIMATED,
        0.4,
    )
    assert timings.estimated_end is None and timings.end_skew_s is None


def test_the_vendors_word_without_any_audio_has_nothing_to_compare() -> None:
    tracker = SpeechTracker(vendor_grace_s=0.3)
    tracker.vendor_started(0.1)
    tracker.vendor_finished(0.2)
    [started, finished] = tracker.due(0.2, None, stopped=True)
    assert (started.source, finished.source, finished.played_ms) == (
        Source.VENDOR,
        Source.VENDOR,
        0,
    )
    timings = tracker.timings(None)
    assert timings.estimated_start is None and timings.estimated_end is None
    assert timings.start_skew_s is None and timings.end_skew_s is None
