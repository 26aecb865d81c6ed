"""The WebSocket commands and the decoding of whatever the vendor sends (pure)."""

from __future__ import annotations

import json
import uuid

import pytest

from gateway.upstream.codec import (
    UpstreamMessage,
    check_format,
    decode,
    start_command,
    stop_command,
)


def test_mono_start_keeps_the_2025_shape() -> None:
    message = json.loads(start_command("d1", 16000))
    assert message["Action"] == "Start"
    assert uuid.UUID(message["SequenceID"]).version == 4
    assert message["Payload"] == {"DriveId": "d1", "SampleRate": 16000}


def test_stereo_start_names_the_channels() -> None:
    payload = json.loads(start_command("d1", 24000, 2, 2))["Payload"]
    assert payload == {"DriveId": "d1", "SampleRate": 24000, "Channel": 2, "VoiceChannel": 2}
    assert "VoiceChannel" not in json.loads(start_command("d1", 24000, 2))["Payload"]


def test_stop_and_fresh_sequence_ids() -> None:
    first, second = json.loads(stop_command("d1")), json.loads(stop_command("d1"))
    assert first["Action"] == "Stop" and first["Payload"] == {"DriveId": "d1"}
    assert first["SequenceID"] != second["SequenceID"]


@pytest.mark.parametrize(
    ("rate", "channels", "voice"),
    [(8000, 1, None), (16000, 0, None), (16000, 1, 1), (16000, 2, 3)],
)
def test_check_format_refuses(rate: int, channels: int, voice: int | None) -> None:
    with pytest.raises(ValueError):
        check_format(rate, channels, voice)


def test_check_format_accepts() -> None:
    check_format(16000, 1, None)
    check_format(24000, 2, 0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"Action":"Ack"}', UpstreamMessage("text", '{"Action":"Ack"}', {"Action": "Ack"})),
        ("not json {", UpstreamMessage("text", "not json {", None)),
        ("[1, 2]", UpstreamMessage("text", "[1, 2]", [1, 2])),
        (b"\x00\xff", UpstreamMessage("binary", b"\x00\xff", None)),
    ],
)
def test_decode_never_raises(raw: str | bytes, expected: UpstreamMessage) -> None:
    assert decode(raw) == expected
