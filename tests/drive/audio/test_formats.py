"""Formats: validation messages, the output plan, capabilities."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.drive.audio import (
    CAPABILITIES,
    Encoding,
    InputFormat,
    OutputFormat,
    VoiceChannel,
    plan_output,
    validate_input,
)
from gateway.errors import InvalidDrive, Reason


def _unsupported(fmt: InputFormat, requested: int = 0) -> InvalidDrive:
    with pytest.raises(InvalidDrive) as info:
        plan_output(fmt, requested)
    assert info.value.reason is Reason.UNSUPPORTED_FORMAT
    return info.value


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sample_rate_hz": 7999}, "from 8000 to 48000 Hz"),
        ({"sample_rate_hz": 48001}, "from 8000 to 48000 Hz"),
        ({"sample_rate_hz": 0}, "from 8000 to 48000 Hz"),
        ({"sample_rate_hz": 96000}, "integer sample rate"),
        ({"sample_rate_hz": 44100.5}, "integer sample rate"),
        ({"sample_rate_hz": True}, "integer sample rate"),
        ({"channels": 0}, "1 (mono) or 2"),
        ({"channels": 6}, "1 (mono) or 2"),
        ({"encoding": "OPUS"}, "LINEAR16, FLOAT32, MULAW, ALAW, WAV"),
        ({"voice_channel": "CENTER"}, "MIX, LEFT, RIGHT"),
        ({"keep_stereo": True}, "keep_stereo needs a stereo input"),
        (
            {"encoding": Encoding.WAV, "sample_rate_hz": 5},
            "or 0 to take it from the WAV header",
        ),
        ({"encoding": Encoding.WAV, "channels": 3}, "or 0 to take it from the WAV header"),
    ],
)
def test_unsupported_inputs_say_what_is_supported(changes: dict[str, Any], expected: str) -> None:
    fmt = InputFormat(**changes)
    with pytest.raises(InvalidDrive) as info:
        validate_input(fmt)
    assert info.value.reason is Reason.UNSUPPORTED_FORMAT
    assert expected in info.value.message
    assert _unsupported(fmt).message == info.value.message


@pytest.mark.parametrize("requested", [8000, 22050, 44100, 48000, -1, 1])
def test_unsupported_output_rates(requested: int) -> None:
    error = _unsupported(InputFormat(), requested)
    assert "16000 or 24000" in error.message


def test_wav_accepts_zero_rate_and_channels() -> None:
    validate_input(InputFormat(encoding=Encoding.WAV, sample_rate_hz=0, channels=0))
    validate_input(InputFormat(encoding=Encoding.WAV, channels=0, keep_stereo=True))
    with pytest.raises(ValueError, match="known sample rate"):
        plan_output(InputFormat(encoding=Encoding.WAV, sample_rate_hz=0), 0)


@pytest.mark.parametrize(
    ("rate", "requested", "expected"),
    [
        (16000, 0, 16000),
        (24000, 0, 24000),
        (8000, 0, 16000),
        (11025, 0, 16000),
        (16001, 0, 24000),
        (22050, 0, 24000),
        (44100, 0, 24000),
        (48000, 0, 24000),
        (48000, 16000, 16000),
        (8000, 24000, 24000),
        (24000, 16000, 16000),
    ],
)
def test_output_rate_choice(rate: int, requested: int, expected: int) -> None:
    out = plan_output(InputFormat(sample_rate_hz=rate), requested)
    assert out == OutputFormat(sample_rate_hz=expected, channels=1, voice_channel=0)


@pytest.mark.parametrize(
    ("voice", "vendor"),
    [(VoiceChannel.MIX, 0), (VoiceChannel.LEFT, 1), (VoiceChannel.RIGHT, 2)],
)
def test_stereo_plans(voice: VoiceChannel, vendor: int) -> None:
    mono = plan_output(InputFormat(channels=2, voice_channel=voice), 0)
    assert mono == OutputFormat(sample_rate_hz=16000, channels=1, voice_channel=0)
    kept = plan_output(InputFormat(channels=2, voice_channel=voice, keep_stereo=True), 24000)
    assert kept == OutputFormat(sample_rate_hz=24000, channels=2, voice_channel=vendor)


def test_output_format_arithmetic() -> None:
    out = OutputFormat(sample_rate_hz=24000, channels=2, voice_channel=1)
    assert out.frame_bytes == 4
    assert out.bytes_per_second == 96000
    assert out.ms(960) == pytest.approx(10.0)
    mono = OutputFormat(sample_rate_hz=16000, channels=1, voice_channel=0)
    assert mono.ms(640) == pytest.approx(20.0)


def test_capabilities() -> None:
    assert set(CAPABILITIES.encodings) == set(Encoding)
    assert (CAPABILITIES.min_input_rate_hz, CAPABILITIES.max_input_rate_hz) == (8000, 48000)
    assert CAPABILITIES.channels == (1, 2)
    assert CAPABILITIES.output_rates_hz == (16000, 24000)
    assert CAPABILITIES.voice_channels == (VoiceChannel.MIX, VoiceChannel.LEFT, VoiceChannel.RIGHT)
    with pytest.raises(AttributeError):
        CAPABILITIES.channels = (1,)  # type: ignore[misc]


def test_enum_values_match_the_proto_names() -> None:
    assert [e.value for e in Encoding] == ["LINEAR16", "FLOAT32", "MULAW", "ALAW", "WAV"]
    assert Encoding("WAV") is Encoding.WAV
    assert [v.value for v in VoiceChannel] == ["MIX", "LEFT", "RIGHT"]
