"""The converter's streaming contract: chunking invariance, lengths, bypass, errors, accounting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soxr
from hypothesis import given, settings, strategies as st

from gateway.drive.audio import Converter, Encoding, InputFormat, VoiceChannel
from gateway.errors import InvalidDrive, Reason
from tests.drive.audio.support import (
    LIST_CHUNK,
    TAG_ALAW,
    TAG_FLOAT,
    TAG_MULAW,
    TAG_PCM,
    convert,
    make_wav,
    split_at,
)

L16 = Encoding.LINEAR16
F32 = Encoding.FLOAT32
WAV = Encoding.WAV
LEFT, RIGHT = VoiceChannel.LEFT, VoiceChannel.RIGHT

# (input format, requested output rate, WAV header fields or None for a raw encoding)
CASES: list[tuple[InputFormat, int, dict[str, int] | None]] = [
    (InputFormat(), 0, None),  # the bypass
    (InputFormat(encoding=L16, sample_rate_hz=44100, channels=2), 0, None),
    (InputFormat(encoding=L16, sample_rate_hz=16000, channels=2, voice_channel=LEFT), 0, None),
    (
        InputFormat(
            encoding=F32, sample_rate_hz=48000, channels=2, voice_channel=RIGHT, keep_stereo=True
        ),
        0,
        None,
    ),
    (InputFormat(encoding=F32, sample_rate_hz=22050), 16000, None),
    (InputFormat(encoding=F32, sample_rate_hz=24000, channels=2), 24000, None),
    (InputFormat(encoding=Encoding.MULAW, sample_rate_hz=8000), 0, None),
    (InputFormat(encoding=Encoding.ALAW, sample_rate_hz=8000, channels=2), 24000, None),
    (InputFormat(encoding=L16, sample_rate_hz=11025), 24000, None),
    (InputFormat(encoding=WAV, sample_rate_hz=0, channels=0), 0, {"bits": 16}),
    (
        InputFormat(encoding=WAV, sample_rate_hz=44100, channels=0),
        0,
        {"bits": 8, "rate": 44100, "channels": 2},
    ),
    (InputFormat(encoding=WAV, channels=0), 24000, {"bits": 24, "channels": 2}),
    (InputFormat(encoding=WAV, sample_rate_hz=0), 0, {"bits": 32, "rate": 32000}),
    (InputFormat(encoding=WAV, sample_rate_hz=0), 0, {"bits": 32, "tag": TAG_FLOAT, "rate": 8000}),
    (InputFormat(encoding=WAV, sample_rate_hz=0), 0, {"bits": 64, "tag": TAG_FLOAT}),
    (
        InputFormat(encoding=WAV, sample_rate_hz=8000),
        0,
        {"bits": 8, "tag": TAG_MULAW, "rate": 8000},
    ),
    (InputFormat(encoding=WAV, sample_rate_hz=0), 0, {"bits": 8, "tag": TAG_ALAW, "rate": 8000}),
    (InputFormat(encoding=WAV, sample_rate_hz=0), 0, {"bits": 16, "extensible": 1, "rate": 48000}),
]


def _input(fmt: InputFormat, header: dict[str, int] | None, payload: bytes) -> bytes:
    if header is None:
        return payload
    fields = {"tag": TAG_PCM, **header}
    return make_wav(
        payload,
        tag=fields["tag"],
        bits=fields["bits"],
        rate=fields.get("rate", 16000),
        channels=fields.get("channels", 1),
        extensible=bool(fields.get("extensible", 0)),
        before_data=[LIST_CHUNK],
        # A declared size of 0 means "until the end": then a trailer would be audio.
        trailing=LIST_CHUNK if payload else b"",
    )


def _frame_bytes(fmt: InputFormat, header: dict[str, int] | None) -> int:
    if header is not None:
        return header["bits"] // 8 * header.get("channels", 1)
    width = {L16: 2, F32: 4, Encoding.MULAW: 1, Encoding.ALAW: 1}[fmt.encoding]
    return width * fmt.channels


@pytest.mark.parametrize(("fmt", "requested", "header"), CASES)
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    frames=st.integers(min_value=0, max_value=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=25),
)
def test_chunking_invariance(
    fmt: InputFormat,
    requested: int,
    header: dict[str, int] | None,
    seed: int,
    frames: int,
    cuts: list[int],
) -> None:
    # Random bytes: for floats that includes NaN, inf and huge values, which must stay harmless.
    payload = np.random.default_rng(seed).bytes(frames * _frame_bytes(fmt, header))
    data = _input(fmt, header, payload)
    whole = convert(Converter(fmt, requested), [data])
    assert convert(Converter(fmt, requested), split_at(data, cuts)) == whole
    byte_by_byte = Converter(fmt, requested)
    if len(data) < 400:
        assert convert(byte_by_byte, [data[i : i + 1] for i in range(len(data))]) == whole


@settings(max_examples=60, deadline=None)
@given(
    rate=st.integers(min_value=8000, max_value=48000),
    requested=st.sampled_from([0, 16000, 24000]),
    channels=st.sampled_from([1, 2]),
    frames=st.integers(min_value=0, max_value=6000),
    chunk_frames=st.integers(min_value=1, max_value=2000),
)
def test_output_length_follows_the_rate_ratio(
    rate: int, requested: int, channels: int, frames: int, chunk_frames: int
) -> None:
    fmt = InputFormat(encoding=L16, sample_rate_hz=rate, channels=channels)
    conv = Converter(fmt, requested)
    data = bytes(frames * 2 * channels)
    step = chunk_frames * 2 * channels
    out = convert(conv, [data[i : i + step] for i in range(0, len(data), step)])
    assert conv.output is not None
    expected = frames * conv.output.sample_rate_hz / rate
    assert abs(len(out) / conv.output.frame_bytes - expected) <= 1
    assert conv.received_ms == pytest.approx(frames * 1000 / rate)


@settings(max_examples=40, deadline=None)
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20),
    rate=st.sampled_from([16000, 24000]),
    channels=st.sampled_from([1, 2]),
)
def test_bypass_is_byte_exact(data: bytes, cuts: list[int], rate: int, channels: int) -> None:
    frame = 2 * channels
    data = data[: len(data) - len(data) % frame]
    conv = Converter(InputFormat(sample_rate_hz=rate, channels=channels, keep_stereo=channels == 2))
    assert conv.passthrough
    assert conv.delay_ms == 0.0
    assert convert(conv, split_at(data, cuts)) == data
    assert conv.received_bytes == len(data)


def test_bypass_returns_what_is_complete_at_once() -> None:
    conv = Converter(InputFormat())
    assert conv.feed(b"\x01\x02\x03") == b"\x01\x02"
    assert conv.feed(b"\x04") == b"\x03\x04"
    assert conv.feed(b"") == b""
    assert conv.finish() == b""


def test_not_passthrough_when_converting() -> None:
    assert not Converter(InputFormat(channels=2)).passthrough
    assert not Converter(InputFormat(encoding=F32)).passthrough
    assert not Converter(InputFormat(sample_rate_hz=24000), 16000).passthrough
    assert not Converter(InputFormat(encoding=WAV)).passthrough


@pytest.mark.parametrize(
    ("fmt", "data", "left"),
    [
        (InputFormat(), b"\x00\x00\x01", 1),
        (InputFormat(channels=2), b"\x00\x00\x01\x00\x02", 1),
        (InputFormat(channels=2), b"\x00\x00\x01", 3),
        (InputFormat(encoding=F32, sample_rate_hz=48000), b"\x00" * 7, 3),
        (InputFormat(encoding=Encoding.MULAW, sample_rate_hz=8000, channels=2), b"\xff" * 3, 1),
    ],
)
def test_partial_sample_at_finish(fmt: InputFormat, data: bytes, left: int) -> None:
    conv = Converter(fmt)
    conv.feed(data)
    conv.finish()
    error = conv.partial_error
    assert error is not None and error.reason is Reason.PARTIAL_SAMPLE
    assert f"{left} byte(s) left over" in error.message


def test_lifecycle() -> None:
    conv = Converter(InputFormat(sample_rate_hz=48000))
    conv.feed(bytes(1920))
    assert conv.delay_ms > 0
    conv.finish()
    assert conv.finished
    assert conv.finish() == b""
    with pytest.raises(RuntimeError):
        conv.feed(b"\x00\x00")


def test_constructor_validates() -> None:
    with pytest.raises(InvalidDrive) as info:
        Converter(InputFormat(sample_rate_hz=96000))
    assert info.value.reason is Reason.UNSUPPORTED_FORMAT
    with pytest.raises(InvalidDrive) as info:
        Converter(InputFormat(encoding=WAV, sample_rate_hz=0), 44100)
    assert info.value.reason is Reason.UNSUPPORTED_FORMAT


def test_delay_is_returned_by_finish() -> None:
    # All input comes out: what the resampler held back (delay_ms) is in finish()'s result.
    conv = Converter(InputFormat(encoding=Encoding.MULAW, sample_rate_hz=8000))
    out = conv.feed(bytes(160) * 10)
    assert conv.output is not None
    held = conv.delay_ms
    assert held > 0
    tail = conv.finish()
    assert conv.output.ms(len(tail)) == pytest.approx(held, abs=0.1)
    assert conv.output.ms(len(out) + len(tail)) == pytest.approx(conv.received_ms)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    rate=st.integers(min_value=8000, max_value=48000),
    out_rate=st.sampled_from([16000, 24000]),
    channels=st.sampled_from([1, 2]),
    frames=st.integers(min_value=0, max_value=5000),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=30),
)
def test_soxr_stream_ignores_how_its_input_is_blocked(
    seed: int, rate: int, out_rate: int, channels: int, frames: int, cuts: list[int]
) -> None:
    # The converter feeds the resampler whatever whole frames each chunk completes, relying on
    # libsoxr's output depending only on the sample sequence (it queues input in a FIFO and
    # filters in fixed blocks). This checks that assumption on soxr itself.
    shape = (frames,) if channels == 1 else (frames, channels)
    x = np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)

    def stream(blocks: list[np.ndarray]) -> np.ndarray:
        s = soxr.ResampleStream(rate, out_rate, channels, dtype="float32", quality="HQ")
        outs = [s.resample_chunk(b) for b in blocks]
        outs.append(s.resample_chunk(x[:0], last=True))
        return np.concatenate(outs)

    bounds = [0, *sorted({c % (frames + 1) for c in cuts}), frames]
    blocked = stream([x[a:b] for a, b in itertools.pairwise(bounds)])
    assert np.array_equal(stream([x]), blocked)


def test_enum_values_may_be_plain_strings() -> None:
    fmt = InputFormat(encoding="WAV", sample_rate_hz=0, voice_channel="LEFT")  # type: ignore[arg-type]
    conv = Converter(fmt)
    assert conv.format.encoding is Encoding.WAV
    assert conv.format.voice_channel is VoiceChannel.LEFT
    assert convert(conv, [make_wav(b"\x01\x00")]) == b"\x01\x00"
