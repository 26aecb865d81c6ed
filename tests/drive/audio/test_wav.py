"""The incremental WAV reader, through the converter: layouts, chunk skipping, errors."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.audio import Converter, Encoding, InputFormat, OutputFormat, VoiceChannel
from gateway.drive.audio.codecs import SampleFormat
from gateway.drive.audio.wav import MAX_HEADER_BYTES
from gateway.errors import InvalidDrive, Reason
from tests.drive.audio.support import (
    TAG_ALAW,
    TAG_FLOAT,
    TAG_MULAW,
    TAG_PCM,
    chunk,
    convert,
    fmt_body,
    make_wav,
    split_at,
)

PAYLOAD = np.arange(-400, 400, 3, dtype="<i2").tobytes()
LIST = chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00")  # odd body: padded
FACT = chunk(b"fact", struct.pack("<I", 1234))


def wav_fmt(
    rate: int = 0,
    channels: int = 0,
    *,
    voice_channel: VoiceChannel = VoiceChannel.MIX,
    keep_stereo: bool = False,
) -> InputFormat:
    return InputFormat(
        encoding=Encoding.WAV,
        sample_rate_hz=rate,
        channels=channels,
        voice_channel=voice_channel,
        keep_stereo=keep_stereo,
    )


def _output(conv: Converter) -> OutputFormat | None:
    # A call, not the property, so mypy does not keep a narrowing across feed().
    return conv.output


def test_header_sets_the_output_and_pcm16_passes_through() -> None:
    conv = Converter(wav_fmt())
    assert _output(conv) is None
    assert not conv.passthrough
    wav = make_wav(PAYLOAD, before_fmt=[LIST], before_data=[FACT])
    assert conv.feed(wav[:30]) == b""
    assert _output(conv) is None
    assert conv.received_ms == 0.0
    out = conv.feed(wav[30:]) + conv.finish()
    assert out == PAYLOAD
    assert conv.output == OutputFormat(sample_rate_hz=16000, channels=1, voice_channel=0)
    assert conv.wav_header is not None
    assert conv.wav_header.sample_format is SampleFormat.S16
    assert conv.received_bytes == len(wav)
    assert conv.received_ms == pytest.approx(len(PAYLOAD) / 2 / 16)
    assert (conv.input_sample_rate_hz, conv.input_channels) == (16000, 1)


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_header_split_anywhere(cuts: list[int]) -> None:
    wav = make_wav(PAYLOAD, before_fmt=[LIST], before_data=[FACT, LIST], trailing=LIST)
    assert convert(Converter(wav_fmt(16000, 1)), split_at(wav, cuts)) == PAYLOAD


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_streaming_data_size_means_until_the_end(size: int) -> None:
    wav = make_wav(PAYLOAD, data_size=size)
    assert convert(Converter(wav_fmt()), [wav[:50], wav[50:]]) == PAYLOAD


def test_bytes_after_the_declared_data_are_ignored() -> None:
    wav = make_wav(PAYLOAD, trailing=LIST + b"\x01")
    conv = Converter(wav_fmt())
    assert convert(conv, [wav]) == PAYLOAD
    wav = make_wav(PAYLOAD, data_size=10, trailing=b"junk")
    assert convert(Converter(wav_fmt()), [wav]) == PAYLOAD[:10]


def test_truncated_data_is_fine_when_whole_frames() -> None:
    wav = make_wav(PAYLOAD, data_size=len(PAYLOAD) * 4)
    assert convert(Converter(wav_fmt()), [wav]) == PAYLOAD


def test_rf64_with_ds64() -> None:
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, 10, 5, 0))
    wav = make_wav(PAYLOAD, magic=b"RF64", before_fmt=[ds64], data_size=0xFFFFFFFF)
    assert convert(Converter(wav_fmt()), [wav]) == PAYLOAD[:10]


@pytest.mark.parametrize(
    ("tag", "bits", "expected"),
    [
        (TAG_PCM, 8, SampleFormat.U8),
        (TAG_PCM, 16, SampleFormat.S16),
        (TAG_PCM, 24, SampleFormat.S24),
        (TAG_PCM, 32, SampleFormat.S32),
        (TAG_FLOAT, 32, SampleFormat.F32),
        (TAG_FLOAT, 64, SampleFormat.F64),
        (TAG_MULAW, 8, SampleFormat.MULAW),
        (TAG_ALAW, 8, SampleFormat.ALAW),
    ],
)
@pytest.mark.parametrize("extensible", [False, True])
def test_formats_and_extensible(
    tag: int, bits: int, expected: SampleFormat, extensible: bool
) -> None:
    payload = bytes(range(48)) * 2
    conv = Converter(wav_fmt())
    convert(
        conv,
        [make_wav(payload, tag=tag, bits=bits, channels=2, rate=44100, extensible=extensible)],
    )
    assert conv.wav_header is not None
    assert conv.wav_header.sample_format is expected
    assert conv.output == OutputFormat(sample_rate_hz=24000, channels=1, voice_channel=0)


def test_keep_stereo_from_header() -> None:
    conv = Converter(wav_fmt(voice_channel=VoiceChannel.LEFT, keep_stereo=True))
    stereo = np.arange(20, dtype="<i2").tobytes()
    assert convert(conv, [make_wav(stereo, channels=2)]) == stereo
    assert conv.output == OutputFormat(sample_rate_hz=16000, channels=2, voice_channel=1)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00\x01\x02\x03", "does not start with a RIFF header"),
        (b"RIFX", "does not start with a RIFF header"),
        (b"RIFF\x00\x00\x00\x00AVI ", "not a WAVE file"),
        (b"RIFF\x00\x00\x00\x00WAVE" + b"data\x04\x00\x00\x00", "before any fmt chunk"),
        (b"RIFF\x00\x00\x00\x00WAVE" + chunk(b"fmt ", b"\x01\x00" * 4), "at least 16"),
        (b"RIFF\x00\x00\x00\x00WAVE" + b"\x00\xff\x10\x80xxxx", "garbage"),
        (b"RIFF\x00\x00\x00\x00WAVE" + b"fmt \x00\x00\x01\x00", "claims"),
        (
            b"RIFF\x00\x00\x00\x00WAVE"
            + chunk(b"fmt ", struct.pack("<HHIIHH", 1, 2, 16000, 64000, 2, 16)),
            "block align is 2",
        ),
        (
            b"RIFF\x00\x00\x00\x00WAVE"
            + chunk(b"fmt ", struct.pack("<HHIIHH", 1, 0, 16000, 0, 0, 16)),
            "0 channels",
        ),
    ],
)
def test_garbage_is_bad_wav(data: bytes, expected: str) -> None:
    conv = Converter(wav_fmt())
    with pytest.raises(InvalidDrive) as info:
        convert(conv, [data])
    assert info.value.reason is Reason.BAD_WAV
    assert expected in info.value.message


def test_truncated_header_is_bad_wav_at_finish() -> None:
    wav = make_wav(PAYLOAD)
    for cut in (0, 3, 12, 20, 40, 43):
        conv = Converter(wav_fmt())
        assert conv.feed(wav[:cut]) == b""
        with pytest.raises(InvalidDrive) as info:
            conv.finish()
        assert info.value.reason is Reason.BAD_WAV
        assert "before the WAV header was complete" in info.value.message


def test_endless_header_is_refused() -> None:
    conv = Converter(wav_fmt())
    conv.feed(make_wav(b"")[:12] + b"LIST" + struct.pack("<I", 0x7FFFFFFE))
    with pytest.raises(InvalidDrive) as info:
        for _ in range(MAX_HEADER_BYTES // 65536 + 2):
            conv.feed(bytes(65536))
    assert info.value.reason is Reason.BAD_WAV


@pytest.mark.parametrize(
    ("fmt", "header", "expected"),
    [
        (wav_fmt(22050), {"rate": 16000}, "says 16000 Hz but the config says sample_rate_hz=22050"),
        (wav_fmt(0, 1), {"channels": 2}, "says 2 channel(s) but the config says channels=1"),
        (wav_fmt(0, 2), {"channels": 1}, "says 1 channel(s) but the config says channels=2"),
    ],
)
def test_header_disagreeing_with_config(
    fmt: InputFormat, header: dict[str, int], expected: str
) -> None:
    with pytest.raises(InvalidDrive) as info:
        Converter(fmt).feed(make_wav(PAYLOAD, **header))  # type: ignore[arg-type]
    assert info.value.reason is Reason.BAD_WAV
    assert expected in info.value.message


@pytest.mark.parametrize(
    ("fmt", "wav", "expected"),
    [
        (wav_fmt(), make_wav(PAYLOAD, tag=2, bits=4), "tag 0x0002, 4 bits"),
        (wav_fmt(), make_wav(PAYLOAD, tag=TAG_PCM, bits=12), "tag 0x0001, 12 bits"),
        (wav_fmt(), make_wav(PAYLOAD, tag=TAG_FLOAT, bits=16), "IEEE float 32/64"),
        (wav_fmt(), make_wav(PAYLOAD, rate=96000), "96000 Hz"),
        (wav_fmt(), make_wav(PAYLOAD, rate=4000), "from 8000 to 48000 Hz"),
        (wav_fmt(), make_wav(PAYLOAD, channels=6), "6 channels"),
        (wav_fmt(keep_stereo=True), make_wav(PAYLOAD), "keep_stereo needs a stereo input"),
    ],
)
def test_unsupported_wav_formats(fmt: InputFormat, wav: bytes, expected: str) -> None:
    with pytest.raises(InvalidDrive) as info:
        Converter(fmt).feed(wav)
    assert info.value.reason is Reason.UNSUPPORTED_FORMAT
    assert expected in info.value.message


@pytest.mark.parametrize(
    ("offset", "patch", "expected"),
    [
        (24, b"\x55\x00", "tag 0x0055"),  # MP3's tag in the standard GUID
        (30, b"\x11", "sub-format GUID 01000000000011"),  # not a KSDATAFORMAT_SUBTYPE GUID
    ],
)
def test_unknown_extensible_subformat(offset: int, patch: bytes, expected: str) -> None:
    body = bytearray(fmt_body(TAG_PCM, 1, 16000, 16, extensible=True))
    body[offset : offset + len(patch)] = patch
    wav = b"RIFF\x00\x00\x00\x00WAVE" + chunk(b"fmt ", bytes(body)) + b"data\x00\x00\x00\x00"
    with pytest.raises(InvalidDrive) as info:
        Converter(wav_fmt()).feed(wav)
    assert info.value.reason is Reason.UNSUPPORTED_FORMAT
    assert expected in info.value.message


def test_short_extensible_fmt() -> None:
    body = fmt_body(TAG_PCM, 1, 16000, 16, extensible=True)[:30]
    wav = b"RIFF\x00\x00\x00\x00WAVE" + chunk(b"fmt ", body)
    with pytest.raises(InvalidDrive) as info:
        Converter(wav_fmt()).feed(wav)
    assert info.value.reason is Reason.BAD_WAV
    assert "shorter than 40 bytes" in info.value.message


def test_partial_frame_in_wav_payload() -> None:
    conv = Converter(wav_fmt())
    conv.feed(make_wav(PAYLOAD[:5], data_size=0))
    conv.finish()
    assert conv.partial_error is not None
    assert conv.partial_error.reason is Reason.PARTIAL_SAMPLE
