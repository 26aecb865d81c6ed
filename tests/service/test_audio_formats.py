"""Any audio in, end to end: each encoding, rate and channel mode through gateway + simulator,
with the simulator receiving the right SampleRate, Channel and duration."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from dhgateway_client import DriveError, DriveOptions

from gateway.testing import Harness
from tests.service.conftest import chunks

SECONDS = 0.8


def tone(
    rate: int, channels: int, *, left_hz: float = 440.0, right_hz: float | None = None
) -> np.ndarray:
    """``SECONDS`` of float samples in [-0.5, 0.5], shape (n, channels)."""
    t = np.arange(int(rate * SECONDS)) / rate
    left = 0.5 * np.sin(2 * np.pi * left_hz * t)
    if channels == 1:
        return left[:, None]
    right = np.zeros_like(t) if right_hz is None else 0.5 * np.sin(2 * np.pi * right_hz * t)
    return np.stack([left, right], axis=1)


def encode(samples: np.ndarray, encoding: str) -> bytes:
    if encoding == "FLOAT32":
        return samples.astype("<f4").tobytes()
    ints = np.round(samples * 32767).astype("<i2")
    if encoding == "LINEAR16":
        return ints.tobytes()
    raise AssertionError(encoding)


def g711(samples: np.ndarray, law: str) -> bytes:
    """Reference G.711 encoder (ITU-T), vectorised, for the test input."""
    x = np.clip(np.round(samples[:, 0] * 32767), -32768, 32767).astype(np.int32)
    if law == "MULAW":
        sign = np.where(x < 0, 0x80, 0)
        mag = np.minimum(np.abs(x), 32635) + 0x84
        exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
        mantissa = (mag >> (exponent + 3)) & 0x0F
        return bytes((~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes())
    sign = np.where(x >= 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32767) >> 3
    exponent = np.where(mag >= 32, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4, 0)
    mantissa = np.where(exponent > 0, (mag >> exponent) & 0x0F, (mag >> 1) & 0x0F)
    return bytes(((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8).tobytes())


def wav_file(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


CASES = [
    # encoding, rate, channels, options, expected (rate, channel)
    ("LINEAR16", 22050, 1, {}, (24000, 1)),
    ("LINEAR16", 8000, 1, {}, (16000, 1)),
    ("LINEAR16", 48000, 1, {"output_sample_rate_hz": 16000}, (16000, 1)),
    ("FLOAT32", 48000, 2, {}, (24000, 1)),
    ("FLOAT32", 44100, 2, {"voice_channel": "LEFT"}, (24000, 1)),
    ("FLOAT32", 16000, 1, {}, (16000, 1)),
    ("MULAW", 8000, 1, {}, (16000, 1)),
    ("ALAW", 8000, 1, {}, (16000, 1)),
    ("WAV", 44100, 2, {}, (24000, 1)),
    ("WAV", 24000, 1, {}, (24000, 1)),
    ("LINEAR16", 24000, 2, {"keep_stereo": True, "voice_channel": "RIGHT"}, (24000, 2)),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("encoding", "rate", "channels", "extra", "expected"), CASES)
async def test_conversion_end_to_end(
    harness: Harness,
    encoding: str,
    rate: int,
    channels: int,
    extra: dict[str, object],
    expected: tuple[int, int],
) -> None:
    samples = tone(rate, channels, right_hz=880.0 if channels == 2 else None)
    if encoding in ("MULAW", "ALAW"):
        data = g711(samples, encoding)
    elif encoding == "WAV":
        data = wav_file(samples, rate)
    else:
        data = encode(samples, encoding)
    options = DriveOptions(
        encoding=encoding,  # type: ignore[arg-type]
        sample_rate_hz=0 if encoding == "WAV" else rate,
        channels=0 if encoding == "WAV" else channels,
        **extra,  # type: ignore[arg-type]
    )
    events = [e async for e in harness.client.drive("fmt", chunks(data, 1001), options)]
    assert events[-1].WhichOneof("event") == "completed", events
    out_rate, out_channels = expected
    assert events[0].started.output_sample_rate_hz == out_rate
    record = await harness.sim.wait_closed(events[0].drive_id, timeout=5)
    assert (record.sample_rate, record.channel) == (out_rate, out_channels)
    assert record.errors == [] and record.stopped_at is not None
    assert abs(record.audio_ms - SECONDS * 1000) <= 1.0
    if extra.get("keep_stereo"):
        assert record.voice_channel == 2
        assert record.audio == data  # no conversion needed: byte-exact
    out = np.frombuffer(record.audio, "<i2").astype(np.float64) / 32768
    if out_channels == 1:
        spectrum = np.abs(np.fft.rfft(out))

        def level(hz: float) -> float:
            return float(spectrum[round(hz * len(out) / out_rate)])

        # The left channel carries 440 Hz, the right one 880 Hz: MIX keeps both, LEFT one.
        assert level(440) > spectrum.max() * 0.9
        if channels == 2 and extra.get("voice_channel") != "LEFT":
            assert level(880) > spectrum.max() * 0.9
        else:
            assert level(880) < spectrum.max() / 100


@pytest.mark.asyncio
async def test_capabilities_list_exactly_what_is_accepted(harness: Harness) -> None:
    from dhgateway.v1 import gateway_pb2 as pb

    caps = await harness.client.capabilities()
    assert sorted(pb.Encoding.Name(e) for e in caps.encodings) == sorted(
        f"ENCODING_{name}" for name in ("LINEAR16", "FLOAT32", "WAV", "MULAW", "ALAW")
    )
    assert (caps.min_input_sample_rate_hz, caps.max_input_sample_rate_hz) == (8000, 48000)
    assert list(caps.channels) == [1, 2]
    assert list(caps.output_sample_rates_hz) == [16000, 24000]
    assert caps.max_chunk_bytes == harness.config.limits.max_chunk_bytes
    assert caps.pacing_lead_ms == harness.config.pacing.lead_ms
    assert len(caps.conflict_policies) == 3 and len(caps.voice_channels) == 3
    assert caps.interrupt and caps.text_drives
    assert list(caps.stop_modes) == [pb.STOP_MODE_FINISH, pb.STOP_MODE_INTERRUPT]
    # The edges are accepted; one step beyond is refused with a message naming what is.
    for rate, ok in ((8000, True), (48000, True), (7999, False), (48001, False)):
        options = DriveOptions(sample_rate_hz=rate)
        audio = [bytes(rate * 2 // 50)]
        try:
            events = [e async for e in harness.client.drive(f"edge-{rate}", audio, options)]
            assert ok and events[-1].WhichOneof("event") == "completed"
        except DriveError as error:
            assert not ok and error.reason == "UNSUPPORTED_FORMAT"
            assert "8000" in error.message and "48000" in error.message
