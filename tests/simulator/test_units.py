"""The simulator's pure parts, driven synchronously: numbers in, records out."""

from __future__ import annotations

import json

import pytest

from gateway.simulator import (
    DriveErrorKind as Kind,
    DriveRecord,
    Fault,
    PlaybackModel,
    SimulatorConfig,
    signature,
)
from gateway.simulator.faults import FaultBook
from gateway.simulator.protocol import TextOutcome, receive_binary, receive_text
from gateway.simulator.state import SimState

from .helpers import APP_ID, SECRET


def test_signature_matches_the_official_test_vector() -> None:
    # zego-api.md §3: the vector from the vendor's Go sample.
    got = signature(12345, "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", 1615186943)
    assert got == "43e5cfcca828314675f91b001390566a"


# The playback model.


def test_playback_real_time_sender_never_underruns() -> None:
    model = PlaybackModel(tolerance_ms=20)
    for i in range(100):  # 20 ms frames arriving exactly on time, with 15 ms of jitter
        model.feed(i * 0.020 + (0.015 if i % 2 else 0.0), 0.020)
    assert model.underruns == 0


def test_playback_one_gap_counts_once() -> None:
    model = PlaybackModel(tolerance_ms=20)
    t = 0.0
    for _ in range(10):
        model.feed(t, 0.020)
        t += 0.020
    t += 0.300  # a 300 ms stall
    for _ in range(10):  # then a sender that keeps exactly 1x from the new anchor
        model.feed(t, 0.020)
        t += 0.020
    assert model.underruns == 1
    assert model.gaps_ms == [pytest.approx(300.0, abs=1e-6)]


def test_playback_lateness_within_tolerance_accumulates_until_it_counts() -> None:
    model = PlaybackModel(tolerance_ms=20)
    t = 0.0
    for _ in range(8):  # each frame 5 ms later: the 6th is 25 ms late, then re-anchored
        model.feed(t, 0.020)
        t += 0.025
    assert model.underruns == 1
    assert model.gaps_ms == [pytest.approx(25.0)]


def test_playback_tracks_how_far_ahead_the_sender_ran() -> None:
    model = PlaybackModel(tolerance_ms=20)
    for _ in range(10):  # 200 ms of audio in one burst
        model.feed(1.0, 0.020)
    assert model.max_buffer_ms == pytest.approx(200.0)
    assert model.play_end == pytest.approx(1.2)


# The WebSocket protocol rules (zego-api.md §8).


def _record() -> DriveRecord:
    return DriveRecord(drive_id="d1", task_id="t1", created_at=0.0)


def _start(**payload: object) -> str:
    return json.dumps({"Action": "Start", "Payload": {"DriveId": "d1", **payload}})


def test_start_defaults_and_stop_lag() -> None:
    record = _record()
    assert receive_text(record, _start(), 1.0) is TextOutcome.STARTED
    assert (record.sample_rate, record.channel, record.voice_channel) == (16000, 1, 0)
    assert receive_binary(record, b"\x00" * 3200, 1.1)  # 100 ms
    stop = json.dumps({"Action": "Stop", "Payload": {"DriveId": "d1"}})
    assert receive_text(record, stop, 1.3) is TextOutcome.STOPPED
    assert record.stop_lag_ms == pytest.approx(200.0)
    assert record.audio_ms == pytest.approx(100.0)
    assert record.errors == []


def test_stereo_24k_durations() -> None:
    record = _record()
    receive_text(record, _start(SampleRate=24000, Channel=2, VoiceChannel=1), 0.0)
    receive_binary(record, b"\x00" * 9600, 0.0)  # 24000 Hz x 2 ch x 2 B = 96 B/ms
    assert record.audio_ms == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"SampleRate": 44100}, Kind.BAD_SAMPLE_RATE),
        ({"SampleRate": 16000.0}, Kind.BAD_SAMPLE_RATE),
        ({"SampleRate": True}, Kind.BAD_SAMPLE_RATE),
        ({"SampleRate": None}, Kind.BAD_SAMPLE_RATE),
        ({"Channel": 3}, Kind.BAD_CHANNEL),
        ({"Channel": 0}, Kind.BAD_CHANNEL),
        ({"VoiceChannel": 3}, Kind.BAD_VOICE_CHANNEL),
        ({"DriveId": "other"}, Kind.WRONG_DRIVE_ID),
        ({"DriveId": 7}, Kind.BAD_PAYLOAD),
    ],
)
def test_invalid_start_is_recorded_and_does_not_start(
    payload: dict[str, object], kind: Kind
) -> None:
    record = _record()
    assert receive_text(record, _start(**payload), 0.0) is TextOutcome.REJECTED
    assert record.error_kinds == [kind]
    assert record.started_at is None
    assert record.start is not None  # the first Start is kept for inspection
    assert not receive_binary(record, b"\x00\x00", 0.1)
    assert record.error_kinds == [kind, Kind.AUDIO_BEFORE_START]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("not json", Kind.INVALID_JSON),
        ("[1, 2]", Kind.INVALID_JSON),
        ('{"Action": "Pause", "Payload": {"DriveId": "d1"}}', Kind.UNKNOWN_ACTION),
        ('{"Payload": {"DriveId": "d1"}}', Kind.UNKNOWN_ACTION),
        ('{"Action": "Start"}', Kind.BAD_PAYLOAD),
        ('{"Action": "Stop", "Payload": {"DriveId": "d1"}}', Kind.STOP_BEFORE_START),
    ],
)
def test_bad_text_frames(text: str, kind: Kind) -> None:
    record = _record()
    assert receive_text(record, text, 0.0) is TextOutcome.REJECTED
    assert record.error_kinds == [kind]
    assert record.text_messages == [text]


def test_sequence_errors_are_recorded_once_each() -> None:
    record = _record()
    stop = json.dumps({"Action": "Stop", "Payload": {"DriveId": "d1"}})
    receive_binary(record, b"\x00\x00", 0.0)
    receive_binary(record, b"\x00\x00", 0.0)
    receive_text(record, _start(), 0.1)
    receive_text(record, _start(), 0.2)
    receive_binary(record, b"\x00\x00\x00", 0.3)  # 1.5 samples
    receive_text(record, stop, 0.4)
    receive_text(record, stop, 0.5)
    receive_binary(record, b"\x00\x00", 0.6)
    assert record.error_kinds == [
        Kind.AUDIO_BEFORE_START,
        Kind.SECOND_START,
        Kind.PARTIAL_SAMPLES,
        Kind.SECOND_STOP,
        Kind.AUDIO_AFTER_STOP,
    ]
    assert record.rejected_frames == 3
    assert record.audio == b"\x00\x00\x00"  # the partial frame is kept, byte-exact


def test_a_command_sent_as_binary_is_flagged() -> None:
    record = _record()
    receive_binary(record, _start().encode(), 0.0)
    assert record.error_kinds == [Kind.COMMAND_AS_BINARY, Kind.AUDIO_BEFORE_START]
    assert record.started_at is None


def test_partial_samples_depend_on_channels() -> None:
    record = _record()
    receive_text(record, _start(Channel=2), 0.0)
    receive_binary(record, b"\x00" * 6, 0.0)  # 1.5 stereo frames
    assert record.error_kinds == [Kind.PARTIAL_SAMPLES]


# Faults and rate limit.


def test_fault_book_counts_sides_apart_and_task_shadows_global() -> None:
    book = FaultBook()
    book.set(Fault(force_code=400010002, refuse_handshake=True, times=1), "t1")
    book.set(Fault(api_delay_s=0.5))
    assert book.take_ws("t1") is not None  # the WS side has its own count
    first = book.take_api("t1", "DriveByWsStream")
    assert first is not None and first.force_code == 400010002
    second = book.take_api("t1", "DriveByWsStream")  # t1's API use is spent: global now
    assert second is not None and second.api_delay_s == 0.5
    assert book.take_ws("t1") is None  # the global fault has no WS switch
    book.discard(None)
    assert book.take_api("t2", "DriveByWsStream") is None


def test_fault_action_filter() -> None:
    book = FaultBook()
    book.set(Fault(force_code=1, action="DriveByWsStream", times=1))
    assert book.take_api(None, "GetDigitalHumanStreamTaskStatus") is None
    assert book.take_api("t", "DriveByWsStream") is not None
    assert book.take_api("t", "DriveByWsStream") is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"force_code": 0},
        {"http_status": 200},
        {"times": 0},
        {"api_delay_s": -1.0},
        {"drop_after_bytes": -1},
    ],
)
def test_fault_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Fault.from_json(kwargs)


def test_fault_json_round_trip_and_unknown_field() -> None:
    fault = Fault(silent_after_bytes=10, times=3)
    assert Fault.from_json(fault.to_json()) == fault
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_json({"explode": True})


def test_rate_window_slides() -> None:
    state = SimState(SimulatorConfig(app_id=APP_ID, server_secret=SECRET))
    assert all(state.admit(APP_ID, 10.0 + i * 0.01) for i in range(10))
    assert not state.admit(APP_ID, 10.5)  # 11th inside the window
    assert state.admit(APP_ID + 1, 10.5)  # per AppId
    assert state.admit(APP_ID, 11.0 + 0.001)  # the first one left the window
    assert not state.admit(APP_ID, 11.0 + 0.002)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"app_id": 0},
        {"app_id": 2**32},
        {"server_secret": ""},
        {"requests_per_second": 0},
        {"tasks": "t1"},
        {"port": 70000},
    ],
)
def test_config_validation(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"app_id": APP_ID, "server_secret": SECRET}
    with pytest.raises(ValueError):
        SimulatorConfig(**{**base, **kwargs})  # type: ignore[arg-type]


def test_config_hides_the_secret_and_freezes_tasks() -> None:
    tasks = ["a", "b"]
    config = SimulatorConfig(app_id=APP_ID, server_secret=SECRET, tasks=tasks)
    tasks.append("c")
    assert config.tasks == frozenset({"a", "b"})
    assert SECRET not in repr(config)
