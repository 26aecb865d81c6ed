"""Sample decoding: G.711 against the ITU reference, float safety, PCM widths, channel routing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gateway.drive.audio import Converter, Encoding, InputFormat, VoiceChannel
from gateway.drive.audio.codecs import ALAW_TABLE, MULAW_TABLE
from tests.drive.audio.support import (
    TAG_FLOAT,
    TAG_PCM,
    alaw2linear,
    convert,
    linear2alaw,
    linear2ulaw,
    make_wav,
    ulaw2linear,
)

CODES = bytes(range(256))


def _decode(
    encoding: Encoding, data: bytes, channels: int = 1, voice: VoiceChannel = VoiceChannel.MIX
) -> list[int]:
    """Through a converter that needs no resampling (16 kHz in and out)."""
    fmt = InputFormat(
        encoding=encoding, sample_rate_hz=16000, channels=channels, voice_channel=voice
    )
    conv = Converter(fmt)
    return [int(v) for v in np.frombuffer(convert(conv, [data]), dtype="<i2")]


def test_g711_known_values() -> None:
    assert MULAW_TABLE[0x00] == -32124
    assert MULAW_TABLE[0x80] == 32124
    assert MULAW_TABLE[0xFF] == 0
    assert MULAW_TABLE[0x7F] == 0
    assert ALAW_TABLE[0xD5] == 8
    assert ALAW_TABLE[0x55] == -8
    assert ALAW_TABLE[0xAA] == 32256
    assert ALAW_TABLE[0x2A] == -32256


def test_g711_tables_equal_the_reference_decoders() -> None:
    assert MULAW_TABLE.tolist() == [ulaw2linear(c) for c in range(256)]
    assert ALAW_TABLE.tolist() == [alaw2linear(c) for c in range(256)]


def test_g711_through_the_converter() -> None:
    assert _decode(Encoding.MULAW, CODES) == [ulaw2linear(c) for c in range(256)]
    assert _decode(Encoding.ALAW, CODES) == [alaw2linear(c) for c in range(256)]


def test_g711_code_round_trip() -> None:
    # Every code decodes to a value the reference encoder maps back to the same code, except
    # mu-law's "negative zero" 0x7F, which decodes to 0 like 0xFF.
    for code in range(256):
        expected = 0xFF if code == 0x7F else code
        assert linear2ulaw(int(MULAW_TABLE[code])) == expected
        assert linear2alaw(int(ALAW_TABLE[code])) == code


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-32768, max_value=32767))
def test_g711_sample_round_trip(x: int) -> None:
    # Decoding the reference encoding lands within a quantisation step of the sample (the
    # encoder truncates to 14/13 bits first); steps grow with the segment, so the bound is
    # relative: G.711 keeps about 5 bits of mantissa plus a 3-bit exponent.
    mu = int(MULAW_TABLE[linear2ulaw(x)])
    if abs(x) <= 32124:
        assert abs(mu - x) <= 8 + abs(x) // 32
    a = int(ALAW_TABLE[linear2alaw(x)])
    if abs(x) <= 32256:
        assert abs(a - x) <= 8 + abs(x) // 32


def test_float_is_clipped_safely() -> None:
    values = [np.nan, np.inf, -np.inf, 2.0, -2.0, 0.5, -0.5, 1.0, -1.0, 1e30, 0.0, -0.0]
    data = np.array(values, dtype="<f4").tobytes()
    assert _decode(Encoding.FLOAT32, data) == [
        0, 32767, -32768, 32767, -32768, 16384, -16384, 32767, -32768, 32767, 0, 0,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("bits", "samples", "expected"),
    [
        (8, bytes([0, 128, 255, 129]), [-32768, 0, 32512, 256]),
        (16, np.array([-32768, 0, 32767, -1], "<i2").tobytes(), [-32768, 0, 32767, -1]),
        (24, bytes.fromhex("ffff7f 000080 000100 ffffff"), [32767, -32768, 1, 0]),
        (
            32,
            np.array([2**31 - 1, -(2**31), 1 << 16, -(1 << 16)], "<i4").tobytes(),
            [32767, -32768, 1, -1],
        ),
    ],
)
def test_wav_pcm_widths(bits: int, samples: bytes, expected: list[int]) -> None:
    wav = make_wav(samples, tag=TAG_PCM, bits=bits)
    assert _decode(Encoding.WAV, wav) == expected


def test_wav_float64() -> None:
    data = np.array([0.25, np.nan, -np.inf, 3.0, -1e300], "<f8").tobytes()
    assert _decode(Encoding.WAV, make_wav(data, tag=TAG_FLOAT, bits=64)) == [
        8192, 0, -32768, 32767, -32768,
    ]  # fmt: skip


def _stereo(pairs: list[tuple[int, int]]) -> bytes:
    return np.array(pairs, dtype="<i2").tobytes()


def test_stereo_mix_averages_without_overflow() -> None:
    pairs = [(32767, 32767), (-32768, -32768), (32767, -32768), (1, 2), (-1, 0), (100, 300)]
    mixed = _decode(Encoding.LINEAR16, _stereo(pairs), channels=2)
    assert mixed == [32767, -32768, -1, 1, -1, 200]


@pytest.mark.parametrize(("voice", "index"), [(VoiceChannel.LEFT, 0), (VoiceChannel.RIGHT, 1)])
def test_stereo_pick(voice: VoiceChannel, index: int) -> None:
    pairs = [(1, -1), (1000, -2000), (32767, -32768)]
    picked = _decode(Encoding.LINEAR16, _stereo(pairs), channels=2, voice=voice)
    assert picked == [p[index] for p in pairs]


def test_keep_stereo_passes_interleaved_frames() -> None:
    data = _stereo([(1, -1), (1000, -2000), (32767, -32768)])
    conv = Converter(InputFormat(channels=2, voice_channel=VoiceChannel.RIGHT, keep_stereo=True))
    assert conv.passthrough
    assert conv.output is not None
    assert (conv.output.channels, conv.output.voice_channel) == (2, 2)
    assert convert(conv, [data]) == data


def test_float_stereo_mix_to_mono() -> None:
    data = np.array([[0.5, 0.25], [1.0, -1.0], [np.nan, 0.5]], "<f4").tobytes()
    assert _decode(Encoding.FLOAT32, data, channels=2) == [12288, 0, 8192]
