"""Helpers for the audio tests: WAV builders, chunk splitting, reference G.711 (ITU-T G.711)."""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from gateway.drive.audio import Converter

SPEECH_WAV = Path(__file__).resolve().parents[3] / "gateway" / "assets" / "speech-16k.wav"

TAG_PCM = 1
TAG_FLOAT = 3
TAG_ALAW = 6
TAG_MULAW = 7
TAG_EXTENSIBLE = 0xFFFE
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    """A RIFF chunk, padded to an even size."""
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def fmt_body(tag: int, channels: int, rate: int, bits: int, *, extensible: bool = False) -> bytes:
    """A ``fmt `` chunk body; with ``extensible`` it is WAVE_FORMAT_EXTENSIBLE wrapping ``tag``."""
    block = channels * bits // 8
    head_tag = TAG_EXTENSIBLE if extensible else tag
    body = struct.pack("<HHIIHH", head_tag, channels, rate, rate * block, block, bits)
    if extensible:
        guid = struct.pack("<H", tag) + GUID_TAIL
        body += struct.pack("<HHI", 22, bits, 3 if channels == 2 else 4) + guid
    return body


def make_wav(
    payload: bytes,
    *,
    tag: int = TAG_PCM,
    channels: int = 1,
    rate: int = 16000,
    bits: int = 16,
    extensible: bool = False,
    before_fmt: Sequence[bytes] = (),
    before_data: Sequence[bytes] = (),
    data_size: int | None = None,
    trailing: bytes = b"",
    magic: bytes = b"RIFF",
) -> bytes:
    """A WAV file; ``data_size`` overrides the declared payload size (0/0xFFFFFFFF: streaming)."""
    declared = len(payload) if data_size is None else data_size
    body = (
        b"WAVE"
        + b"".join(before_fmt)
        + chunk(b"fmt ", fmt_body(tag, channels, rate, bits, extensible=extensible))
        + b"".join(before_data)
        + b"data"
        + struct.pack("<I", declared)
        + payload
        + trailing
    )
    return magic + struct.pack("<I", len(body)) + body


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo ``len(data) + 1``, in any order)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def convert(conv: Converter, chunks: Iterable[bytes]) -> bytes:
    """Feed every chunk, then finish; the whole output."""
    out = [conv.feed(c) for c in chunks]
    out.append(conv.finish())
    return b"".join(out)


def s16(data: bytes) -> np.ndarray:
    """s16le bytes as float64 in [-1, 1)."""
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0


# --- reference G.711, transcribed from the ITU-T G.711 reference (Sun Microsystems' g711.c) ---

_SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_SEG_AEND = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _search(value: int, table: Sequence[int]) -> int:
    for i, end in enumerate(table):
        if value <= end:
            return i
    return len(table)


def linear2ulaw(pcm: int) -> int:
    """Encode one 16-bit sample to mu-law."""
    pcm >>= 2
    if pcm < 0:
        pcm, mask = -pcm, 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159) + (0x84 >> 2)
    seg = _search(pcm, _SEG_UEND)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0xF)) ^ mask


def ulaw2linear(code: int) -> int:
    """Decode one mu-law code to a 16-bit sample."""
    u = ~code & 0xFF
    t = ((u & 0x0F) << 3) + 0x84
    t <<= (u & 0x70) >> 4
    return 0x84 - t if u & 0x80 else t - 0x84


def linear2alaw(pcm: int) -> int:
    """Encode one 16-bit sample to A-law."""
    pcm >>= 3
    if pcm >= 0:
        mask = 0xD5
    else:
        mask, pcm = 0x55, -pcm - 1
    seg = _search(pcm, _SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= (pcm >> 1 if seg < 2 else pcm >> seg) & 0x0F
    return aval ^ mask


def alaw2linear(code: int) -> int:
    """Decode one A-law code to a 16-bit sample."""
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


LIST_CHUNK = chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00")  # odd body: padded
