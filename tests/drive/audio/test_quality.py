"""Conversion quality: tones keep their frequency, phase and purity; speech keeps its duration."""

from __future__ import annotations

import wave

import numpy as np
import pytest
import soxr

from gateway.drive.audio import Converter, Encoding, InputFormat, VoiceChannel
from tests.drive.audio.support import SPEECH_WAV, convert, s16

TONE_HZ = 1000.0
AMPLITUDE = 0.5


def _tone(rate: int, seconds: float, hz: float = TONE_HZ) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return AMPLITUDE * np.sin(2 * np.pi * hz * t)


def _encode(x: np.ndarray, encoding: Encoding) -> bytes:
    if encoding is Encoding.FLOAT32:
        return bytes(x.astype("<f4").tobytes())
    return bytes(np.rint(x * 32767).astype("<i2").tobytes())


def _in_chunks(data: bytes, rate: int, frame_bytes: int, ms: int = 20) -> list[bytes]:
    step = rate * ms // 1000 * frame_bytes
    return [data[i : i + step] for i in range(0, len(data), step)]


def _fit_tone(y: np.ndarray, rate: int, hz: float) -> tuple[float, float, float]:
    """Least-squares fit of a tone at ``hz``: (amplitude, delay in samples, SNR in dB)."""
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * hz * t), np.cos(2 * np.pi * hz * t)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, y, rcond=None)
    fitted = basis @ np.array([a, b])
    noise = y - fitted
    snr = 10 * np.log10(np.sum(fitted**2) / np.sum(noise**2))
    delay = -np.arctan2(b, a) / (2 * np.pi * hz) * rate
    return float(np.hypot(a, b)), float(delay), float(snr)


@pytest.mark.parametrize("in_rate", [44100, 48000])
@pytest.mark.parametrize("out_rate", [16000, 24000])
@pytest.mark.parametrize("encoding", [Encoding.FLOAT32, Encoding.LINEAR16])
def test_sine_is_resampled_cleanly(in_rate: int, out_rate: int, encoding: Encoding) -> None:
    conv = Converter(InputFormat(encoding=encoding, sample_rate_hz=in_rate), out_rate)
    width = 4 if encoding is Encoding.FLOAT32 else 2
    out = s16(convert(conv, _in_chunks(_encode(_tone(in_rate, 2.0), encoding), in_rate, width)))
    assert len(out) == 2 * out_rate

    # The spectral peak is at 1 kHz (1 s windows give 1 Hz bins).
    middle = out[out_rate // 2 : out_rate // 2 + out_rate]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    assert np.argmax(spectrum) * out_rate / len(middle) == pytest.approx(TONE_HZ, abs=1)

    # Away from the edges the output is the ideal tone at the output rate: same amplitude, no
    # delay (soxr trims its filter delay, which keeps lip-sync), and noise at s16's own floor.
    amplitude, delay, snr = _fit_tone(out[out_rate // 10 : -out_rate // 10], out_rate, TONE_HZ)
    assert amplitude == pytest.approx(AMPLITUDE, rel=1e-3)
    assert abs(delay) < 0.01
    assert snr > 85  # >= 60 dB required; s16 quantisation of a -6 dBFS tone is ~92 dB


def test_content_above_the_output_nyquist_does_not_alias() -> None:
    # A 10 kHz tone cannot exist at 16 kHz: away from the edges nothing of it may come out
    # (it would alias to 6 kHz); at most one LSB of s16.
    tone = _encode(_tone(48000, 1.0, 10000.0), Encoding.FLOAT32)
    conv = Converter(InputFormat(encoding=Encoding.FLOAT32, sample_rate_hz=48000), 16000)
    out = s16(convert(conv, _in_chunks(tone, 48000, 4)))
    assert np.max(np.abs(out[1600:-1600])) * 32768 <= 1


def _speech() -> tuple[np.ndarray, int]:
    with wave.open(str(SPEECH_WAV), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        return s16(w.readframes(w.getnframes())), w.getframerate()


def test_speech_asset() -> None:
    speech, rate = _speech()
    assert 2.0 <= len(speech) / rate <= 4.0
    assert np.max(np.abs(speech)) > 0.5  # normalised, not silence


def test_speech_wav_through_the_converter_is_its_payload() -> None:
    data = SPEECH_WAV.read_bytes()
    conv = Converter(InputFormat(encoding=Encoding.WAV, sample_rate_hz=0, channels=0))
    out = convert(conv, _in_chunks(data, 16000, 2))
    assert out == data[44:]  # sox writes the canonical 44-byte header
    assert conv.received_ms == pytest.approx(len(out) / 32)


def test_speech_round_trip_through_48k_stereo_float() -> None:
    speech, rate = _speech()
    up = soxr.resample(speech, rate, 48000, quality="VHQ").astype(np.float32)
    stereo = np.stack([up, up], axis=1)  # identical channels: the mix is the voice itself
    conv = Converter(
        InputFormat(encoding=Encoding.FLOAT32, sample_rate_hz=48000, channels=2), 16000
    )
    out = s16(convert(conv, _in_chunks(stereo.astype("<f4").tobytes(), 48000, 8)))
    assert conv.received_ms == pytest.approx(len(up) / 48)
    assert abs(len(out) / 16 - len(speech) / 16) <= 1.0  # ms
    # Same waveform, not just the same length: two band-limited resamplings away from the clip.
    n = min(len(out), len(speech))
    error = out[:n] - speech[:n]
    assert 10 * np.log10(np.sum(speech[:n] ** 2) / np.sum(error**2)) > 40


def _peak_hz(y: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spectrum) * rate / len(y))


def _two_tones(rate: int) -> bytes:
    # Left 1 kHz, right 1.5 kHz: a swapped or smeared channel shows up as the wrong peak.
    left, right = _tone(rate, 1.0), _tone(rate, 1.0, 1500.0)
    return np.stack([left, right], axis=1).astype("<f4").tobytes()


@pytest.mark.parametrize(
    ("voice", "expected_hz"), [(VoiceChannel.LEFT, 1000.0), (VoiceChannel.RIGHT, 1500.0)]
)
def test_stereo_pick_while_resampling(voice: VoiceChannel, expected_hz: float) -> None:
    fmt = InputFormat(
        encoding=Encoding.FLOAT32, sample_rate_hz=44100, channels=2, voice_channel=voice
    )
    out = s16(convert(Converter(fmt, 16000), _in_chunks(_two_tones(44100), 44100, 8)))
    assert _peak_hz(out[4000:12000], 16000) == pytest.approx(expected_hz, abs=2)
    _, _, snr = _fit_tone(out[1600:-1600], 16000, expected_hz)
    assert snr > 85


def test_keep_stereo_while_resampling() -> None:
    fmt = InputFormat(
        encoding=Encoding.FLOAT32,
        sample_rate_hz=44100,
        channels=2,
        voice_channel=VoiceChannel.RIGHT,
        keep_stereo=True,
    )
    conv = Converter(fmt, 24000)
    out = s16(convert(conv, _in_chunks(_two_tones(44100), 44100, 8))).reshape(-1, 2)
    assert conv.output is not None
    assert (conv.output.channels, conv.output.voice_channel) == (2, 2)
    assert len(out) == 24000
    for channel, hz in ((0, 1000.0), (1, 1500.0)):
        _, delay, snr = _fit_tone(out[2400:-2400, channel], 24000, hz)
        assert abs(delay) < 0.01
        assert snr > 85


def test_stereo_mix_while_resampling() -> None:
    fmt = InputFormat(encoding=Encoding.FLOAT32, sample_rate_hz=48000, channels=2)
    out = s16(convert(Converter(fmt, 24000), _in_chunks(_two_tones(48000), 48000, 8)))
    middle = out[2400:-2400]
    t = np.arange(len(out)) / 24000
    ideal = 0.5 * (_tone(24000, 1.0) + AMPLITUDE * np.sin(2 * np.pi * 1500 * t))
    error = middle - ideal[2400:-2400]
    assert 10 * np.log10(np.sum(ideal[2400:-2400] ** 2) / np.sum(error**2)) > 85
