"""A text drive's pure core: its checks, its estimate, the vendor's word, and what it owes."""

from __future__ import annotations

import pytest

from gateway.drive.machine import DriveState
from gateway.drive.outputs import Due
from gateway.drive.settings import DriveLimits
from gateway.drive.spec import TextRequest
from gateway.drive.speech import Heard, PlaybackEvent, Source
from gateway.drive.text import (
    MAX_TEXT_CHARS,
    TextCore,
    estimate_ms,
    resolve_timbre,
    text_request,
)
from gateway.errors import DriveEnded, InvalidDrive, Reason, UpstreamError

LIMITS = DriveLimits(text_ms_per_char=100.0, max_drive_s=60.0)


def core(text: str = "abcdefghij", grace_s: float = 0.0, **fields: int) -> TextCore:
    request = TextRequest(text=text, timbre_id="tb", **fields)
    return TextCore(request, limits=LIMITS, now=10.0, vendor_grace_s=grace_s)


def speaking(text: str = "abcdefghij", grace_s: float = 0.0, at: float = 10.5) -> TextCore:
    started = core(text, grace_s)
    started.admitted()
    started.asking()
    started.started(at)
    return started


def shown(events: list[PlaybackEvent]) -> list[tuple[Heard, Source, int, bool]]:
    return [(e.kind, e.source, e.played_ms, e.interrupted) for e in events]


@pytest.mark.parametrize(
    "text", ["a", "中" * MAX_TEXT_CHARS, "😀" * MAX_TEXT_CHARS, " x ", "e\u0301" * 900]
)
def test_texts_of_1_to_1800_code_points_are_taken(text: str) -> None:
    assert text_request(text, "", 0, 0).text == text


@pytest.mark.parametrize("text", ["", " ", "\n\t ", "x" * (MAX_TEXT_CHARS + 1), "😀" * 1801])
def test_empty_blank_and_long_texts_are_bad_text(text: str) -> None:
    with pytest.raises(InvalidDrive) as caught:
        text_request(text, "tb", 0, 0)
    assert caught.value.reason is Reason.BAD_TEXT


@pytest.mark.parametrize(
    ("timbre", "speech", "pitch"),
    [("tb", 501, 0), ("tb", -501, 0), ("tb", 0, 501), ("tb", 0, -501), ("t" * 257, 0, 0)],
)
def test_rates_and_timbres_out_of_range_are_invalid_config(
    timbre: str, speech: int, pitch: int
) -> None:
    with pytest.raises(InvalidDrive) as caught:
        text_request("hi", timbre, speech, pitch)
    assert caught.value.reason is Reason.INVALID_CONFIG
    assert text_request("hi", "t" * 256, -500, 500).pitch_rate == 500


def test_the_timbre_is_the_configs_else_the_profiles_else_required() -> None:
    assert resolve_timbre(TextRequest(text="hi", timbre_id="mine"), "profile") == "mine"
    assert resolve_timbre(TextRequest(text="hi"), "profile") == "profile"
    with pytest.raises(InvalidDrive) as caught:
        resolve_timbre(TextRequest(text="hi"), "")
    assert caught.value.reason is Reason.TIMBRE_REQUIRED


def test_the_estimate_follows_the_length_and_the_speech_rate() -> None:
    assert estimate_ms(TextRequest(text="abcd"), 100.0) == pytest.approx(400.0)
    assert estimate_ms(TextRequest(text="abcd", speech_rate=500), 100.0) == pytest.approx(200.0)
    assert estimate_ms(TextRequest(text="abcd", speech_rate=-500), 100.0) == pytest.approx(800.0)


def test_without_callbacks_the_estimate_starts_and_finishes_the_speech() -> None:
    drive = core()
    assert drive.next_deadline(10.0) is None and drive.end_due(10.0) is None
    assert drive.setup_ms is None
    drive.queued()
    drive.admitted()
    drive.asking()
    assert drive.playback is None and drive.playback_due(10.2) == []
    drive.started(10.5)
    setup_ms: int | None = drive.setup_ms  # known once started (mypy kept the None above)
    assert (drive.state, setup_ms, drive.sent_ms) == (DriveState.STREAMING, 500, 0.0)
    assert shown(drive.playback_due(10.5)) == [(Heard.STARTED, Source.ESTIMATED, 0, False)]
    deadline = drive.next_deadline(10.5)
    assert deadline is not None and deadline.due is Due.PLAYBACK
    assert deadline.at == pytest.approx(11.5)  # 10 characters at 100 ms
    assert drive.played_ms(11.0) == 500
    assert shown(drive.playback_due(11.5)) == [(Heard.FINISHED, Source.ESTIMATED, 1000, False)]
    assert drive.played_out and not drive.finish(11.5)
    after = drive.next_deadline(11.5)  # nothing more to hear: only the longest time is left
    assert after is not None and after.due is Due.MAX_DURATION
    drive.cut(11.5)  # after the finish: nothing more to report
    assert drive.playback_due(12.0) == []
    drive.released()
    assert drive.state is DriveState.CLOSED
    assert drive.completed().sent_ms == drive.completed().frames_sent == 0
    assert drive.completed().billed_ms == 1000  # the rendered length: 10 characters at 100 ms


def test_the_vendors_word_moves_the_start_and_measures_the_speech() -> None:
    drive = speaking(grace_s=0.5)
    assert drive.playback_due(10.6) == []  # the estimate waits for the vendor
    assert drive.vendor_status(2, 10.8)
    assert shown(drive.playback_due(10.8)) == [(Heard.STARTED, Source.VENDOR, 0, False)]
    deadline = drive.next_deadline(10.8)
    assert deadline is not None and deadline.at == pytest.approx(10.8 + 1.0 + 0.5)
    assert drive.vendor_status(4, 11.6)
    assert shown(drive.playback_due(11.6)) == [(Heard.FINISHED, Source.VENDOR, 800, False)]
    assert not drive.vendor_status(4, 11.7)  # already finished
    assert not drive.finish(11.6)
    assert drive.billed_ms == pytest.approx(800.0)  # the vendor's length, not the estimate's


def test_an_estimate_the_vendor_does_not_confirm_is_reported_after_the_grace() -> None:
    drive = speaking(grace_s=0.5)
    assert shown(drive.playback_due(11.0)) == [(Heard.STARTED, Source.ESTIMATED, 0, False)]
    assert drive.vendor_status(2, 11.1)  # late: the start was reported, not moved
    assert drive.playback_due(11.9) == []
    assert shown(drive.playback_due(12.0)) == [(Heard.FINISHED, Source.ESTIMATED, 1000, False)]


def test_a_drive_cut_while_speaking_owes_an_interrupt_and_says_what_was_heard() -> None:
    drive = speaking()
    drive.playback_due(10.5)
    assert drive.end(DriveEnded(Reason.PREEMPTED, "newer"))
    assert not drive.end(DriveEnded(Reason.DRAINING, "second"))  # the first reason wins
    assert drive.end_due(10.8) is drive.ended
    assert drive.finish(10.8)  # the avatar may still speak it
    assert not drive.finish(10.9)
    drive.cut(10.8)
    assert shown(drive.playback_due(10.8)) == [(Heard.FINISHED, Source.ESTIMATED, 300, True)]
    assert drive.played_ms(11.0) == 300


def test_stop_drive_lets_a_speaking_text_finish_but_ends_one_being_set_up() -> None:
    drive = speaking()
    assert not drive.end(DriveEnded(Reason.STOPPED_BY_REQUEST, "stop"))
    waiting = core()
    waiting.admitted()
    assert waiting.end(DriveEnded(Reason.STOPPED_BY_REQUEST, "stop"))
    assert not waiting.finish(10.1)  # never asked: nothing is owed
    assert waiting.state is DriveState.CLOSED
    assert not waiting.end(DriveEnded(Reason.PREEMPTED, "late"))


def test_a_request_sent_but_unanswered_owes_an_interrupt_unless_refused() -> None:
    asked = core()
    asked.admitted()
    asked.asking()
    assert asked.finish(10.1)
    refused = core()
    refused.admitted()
    refused.asking()
    refused.refused()
    assert not refused.finish(10.1)


def test_the_vendors_failure_ends_the_drive_and_other_statuses_change_nothing() -> None:
    waiting = core()
    assert not waiting.vendor_status(2, 10.0)  # before the answer: not this drive's yet
    drive = speaking()
    assert not drive.vendor_status(1, 10.6)
    assert drive.vendor_status(3, 10.6)
    failure = drive.end_due(10.6)
    assert isinstance(failure, UpstreamError) and failure.reason is Reason.UPSTREAM_ERROR
    drive.fail(DriveEnded(Reason.IDLE_TIMEOUT, "second"))
    assert drive.failure is failure


def test_a_speech_beyond_the_longest_drive_ends_it() -> None:
    drive = speaking(text="x" * 1000)  # 100 s by the estimate, above max_drive_s
    drive.playback_due(10.5)
    deadline = drive.next_deadline(10.5)
    assert deadline is not None and deadline.due is Due.MAX_DURATION
    assert drive.end_due(70.4) is None
    error = drive.end_due(70.5)
    assert isinstance(error, DriveEnded) and error.reason is Reason.MAX_DURATION
    drive.cut(70.5)
    assert drive.next_deadline(70.5) == deadline  # the cut is due at once, not later
    drive.released()  # not finished yet: still speaking
    assert drive.state is DriveState.STREAMING
