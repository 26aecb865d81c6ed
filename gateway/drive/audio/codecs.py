"""Sample decoders and the float-to-s16 quantiser, vectorised with numpy.

Every decoder takes bytes holding WHOLE frames (the caller keeps the partial-sample carry) and
returns a 2-D array of shape ``(frames, channels)``: ``int16`` when the source is 16 bits or fewer
(so those paths stay exact), else ``float32`` in the nominal range [-1, 1]. Nothing here loops in
Python per sample; G.711 decodes through a 256-entry table with numpy indexing.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Samples: TypeAlias = npt.NDArray[Any]  # int16 or float32, shape (frames, channels)
Float32Array: TypeAlias = npt.NDArray[np.float32]
Int16Array: TypeAlias = npt.NDArray[np.int16]

# s16 full scale: int16 / 32768 maps onto [-1, 1), and back exactly.
S16_SCALE = 32768.0


# --- G.711 (ITU-T G.711, the classic Sun reference implementation's 16-bit scaling) -----------


def _mulaw_table() -> Int16Array:
    # Codes are sent inverted; the 8-bit code is sign | 3-bit segment | 4-bit mantissa, with a
    # bias of 0x84 (132) so that segment boundaries are powers of two.
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_table() -> Int16Array:
    # Even bits are inverted (XOR 0x55); segment 0 is linear, the others double each step.
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


MULAW_TABLE: Int16Array = _mulaw_table()
ALAW_TABLE: Int16Array = _alaw_table()
MULAW_TABLE.setflags(write=False)
ALAW_TABLE.setflags(write=False)


# --- decoders ------------------------------------------------------------------------------------


def _frames(flat: npt.NDArray[Any], channels: int) -> npt.NDArray[Any]:
    return flat.reshape(-1, channels)


def _decode_s16(buf: bytes, channels: int) -> Samples:
    return _frames(np.frombuffer(buf, dtype="<i2"), channels)


def _decode_u8(buf: bytes, channels: int) -> Samples:
    # WAV's 8-bit PCM is unsigned with 128 as zero.
    raw = np.frombuffer(buf, dtype=np.uint8).astype(np.int16)
    return _frames((raw - 128) << 8, channels)


def _decode_s24(buf: bytes, channels: int) -> Samples:
    # Widen each 3-byte sample into the top of an int32 (the sign comes along for free).
    raw = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 3)
    wide = np.zeros((raw.shape[0], 4), dtype=np.uint8)
    wide[:, 1:] = raw
    ints = wide.view("<i4").reshape(-1)
    return _frames(ints.astype(np.float32) * np.float32(1.0 / 2**31), channels)


def _decode_s32(buf: bytes, channels: int) -> Samples:
    ints = np.frombuffer(buf, dtype="<i4")
    return _frames(ints.astype(np.float32) * np.float32(1.0 / 2**31), channels)


def sanitise_float(x: Float32Array) -> Float32Array:
    """In place: NaN becomes 0, +-inf and anything beyond +-1 is clipped to +-1; returns ``x``.

    Done before resampling because one NaN or inf would smear over the resampler's whole filter.
    """
    # isnan + copyto is ~5x cheaper than np.nan_to_num; clip then takes care of the infinities.
    np.copyto(x, np.float32(0.0), where=np.isnan(x))
    np.clip(x, -1.0, 1.0, out=x)
    return x


def _decode_f32(buf: bytes, channels: int) -> Samples:
    x = np.frombuffer(buf, dtype="<f4").astype(np.float32)  # a writable copy
    return _frames(sanitise_float(x), channels)


def _decode_f64(buf: bytes, channels: int) -> Samples:
    x = np.frombuffer(buf, dtype="<f8")
    # Clip in float64 first: a huge double would overflow float32 into inf, which is fine, but
    # clipping first keeps the warning machinery (and filterwarnings=error) out of it.
    clipped = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    return _frames(clipped.astype(np.float32), channels)


def _decode_mulaw(buf: bytes, channels: int) -> Samples:
    return _frames(MULAW_TABLE[np.frombuffer(buf, dtype=np.uint8)], channels)


def _decode_alaw(buf: bytes, channels: int) -> Samples:
    return _frames(ALAW_TABLE[np.frombuffer(buf, dtype=np.uint8)], channels)


class SampleFormat(enum.Enum):
    """A byte layout of one sample: what the decoders understand (raw encodings and WAV's)."""

    S16 = ("PCM 16-bit", 2, _decode_s16)
    U8 = ("PCM unsigned 8-bit", 1, _decode_u8)
    S24 = ("PCM 24-bit", 3, _decode_s24)
    S32 = ("PCM 32-bit", 4, _decode_s32)
    F32 = ("IEEE float 32-bit", 4, _decode_f32)
    F64 = ("IEEE float 64-bit", 8, _decode_f64)
    MULAW = ("G.711 mu-law", 1, _decode_mulaw)
    ALAW = ("G.711 A-law", 1, _decode_alaw)

    def __init__(self, label: str, width: int, decoder: Callable[[bytes, int], Samples]) -> None:
        self.label = label
        self.width = width
        self._decoder = decoder

    def decode(self, buf: bytes, channels: int) -> Samples:
        """Decode whole frames (``len(buf)`` a multiple of ``width * channels``).

        Returns shape ``(frames, channels)``: int16 for S16/U8/G.711, float32 in [-1, 1] else.
        """
        return self._decoder(buf, channels)


def to_float32(x: Samples) -> Float32Array:
    """Samples as float32 in [-1, 1] (int16 scaled by 1/32768; float32 returned as is)."""
    if x.dtype == np.float32:
        return x
    return x.astype(np.float32) * np.float32(1.0 / S16_SCALE)


def mix_to_mono(x: Samples) -> Samples:
    """The average of the two channels of ``(frames, 2)`` samples, as ``(frames, 1)``.

    int16 is summed in int32 and halved with a floor, so it cannot overflow and stays integer.
    """
    if x.dtype == np.int16:
        total = x[:, 0].astype(np.int32) + x[:, 1]
        return (total >> 1).astype(np.int16).reshape(-1, 1)
    return ((x[:, 0] + x[:, 1]) * np.float32(0.5)).reshape(-1, 1)


def quantise(x: Samples) -> bytes:
    """Samples (int16, or float in [-1, 1], any shape) as interleaved s16le bytes.

    Floats are scaled by 32768, rounded to nearest and clipped to the int16 range (a resampler's
    overshoot near full scale must saturate, not wrap).
    """
    if x.dtype == np.int16:
        return x.astype("<i2", copy=False).tobytes()
    y = np.multiply(x, np.float32(S16_SCALE), dtype=np.float32)
    np.rint(y, out=y)
    np.minimum(y, np.float32(S16_SCALE - 1.0), out=y)
    np.maximum(y, np.float32(-S16_SCALE), out=y)
    return y.astype("<i2").tobytes()
