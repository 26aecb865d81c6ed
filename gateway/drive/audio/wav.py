"""An incremental RIFF/WAVE reader: strips the header off a stream, whatever its chunking.

Feed it the client's bytes in any pieces (split anywhere, even inside the header); it returns
the bytes of the ``data`` chunk's payload as they become available, and sets :attr:`header`
as soon as the ``fmt `` chunk and the start of ``data`` have been seen.

Understood: ``RIFF`` and ``RF64`` files; PCM 8 (unsigned) / 16 / 24 / 32-bit, IEEE float 32 / 64,
G.711 mu-law (tag 7) and A-law (tag 6), and ``WAVE_FORMAT_EXTENSIBLE`` with the PCM or float
sub-format GUID. Chunks other than ``fmt ``/``ds64``/``data`` (LIST, fact, ...) are skipped.
A ``data`` size of 0 or 0xFFFFFFFF (streaming writers) means "until the end of the stream";
bytes after a declared ``data`` size (trailing chunks) are ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gateway.drive.audio.codecs import SampleFormat
from gateway.errors import InvalidDrive, Reason

# A header larger than this (big LIST/cover-art chunks before ``data``) is refused rather than
# buffered without bound.
MAX_HEADER_BYTES = 1 << 20
# A ``fmt `` or ``ds64`` chunk is tens of bytes; a huge one is garbage, not a format.
_MAX_FORMAT_CHUNK_BYTES = 1024

_TAG_PCM = 0x0001
_TAG_FLOAT = 0x0003
_TAG_ALAW = 0x0006
_TAG_MULAW = 0x0007
_TAG_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_*: {tag-0000-0010-8000-00aa00389b71}; bytes 2.. of the GUID as stored.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_STREAMING_SIZES = (0, 0xFFFFFFFF)

_FORMATS: dict[tuple[int, int], SampleFormat] = {
    (_TAG_PCM, 8): SampleFormat.U8,
    (_TAG_PCM, 16): SampleFormat.S16,
    (_TAG_PCM, 24): SampleFormat.S24,
    (_TAG_PCM, 32): SampleFormat.S32,
    (_TAG_FLOAT, 32): SampleFormat.F32,
    (_TAG_FLOAT, 64): SampleFormat.F64,
    (_TAG_ALAW, 8): SampleFormat.ALAW,
    (_TAG_MULAW, 8): SampleFormat.MULAW,
}
_SUPPORTED_TEXT = (
    "PCM 8 (unsigned)/16/24/32-bit, IEEE float 32/64-bit, G.711 mu-law or A-law "
    "(also as WAVE_FORMAT_EXTENSIBLE)"
)


def _bad(message: str) -> InvalidDrive:
    return InvalidDrive(Reason.BAD_WAV, message)


@dataclass(frozen=True, kw_only=True)
class WavHeader:
    """What a WAV header declared.

    ``data_bytes`` is the declared payload size, or None for "until the end of the stream".
    """

    sample_format: SampleFormat
    sample_rate_hz: int
    channels: int
    data_bytes: int | None

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame (one sample of every channel)."""
        return self.sample_format.width * self.channels


def parse_fmt(body: bytes) -> tuple[SampleFormat, int, int]:
    """Parse a ``fmt `` chunk's body into (sample format, rate, channels).

    Raises BAD_WAV for a malformed chunk and UNSUPPORTED_FORMAT for a well-formed one this
    gateway cannot decode (ADPCM, MP3, 12-bit PCM, ...).
    """
    if len(body) < 16:
        raise _bad(f"the WAV fmt chunk is {len(body)} bytes long; it needs at least 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _TAG_EXTENSIBLE:
        if len(body) < 40:
            raise _bad("the WAV fmt chunk says WAVE_FORMAT_EXTENSIBLE but is shorter than 40 bytes")
        guid = body[24:40]
        if guid[2:] != _GUID_TAIL:
            raise InvalidDrive(
                Reason.UNSUPPORTED_FORMAT,
                f"the WAV sub-format GUID {guid.hex()} is not supported: use {_SUPPORTED_TEXT}",
            )
        tag = struct.unpack_from("<H", guid)[0]
    if channels == 0 or rate == 0:
        raise _bad(f"the WAV fmt chunk declares {channels} channels at {rate} Hz")
    sample_format = _FORMATS.get((tag, bits))
    if sample_format is None:
        raise InvalidDrive(
            Reason.UNSUPPORTED_FORMAT,
            f"the WAV format (tag 0x{tag:04x}, {bits} bits a sample) is not supported: "
            f"use {_SUPPORTED_TEXT}",
        )
    if block_align != sample_format.width * channels:
        raise _bad(
            f"the WAV fmt chunk's block align is {block_align} but {channels} channel(s) of "
            f"{bits}-bit samples need {sample_format.width * channels}"
        )
    return sample_format, rate, channels


class WavReader:
    """Strips a WAV header off a byte stream, incrementally.

    Call :meth:`feed` with every piece of the stream in order; it returns the part of the
    ``data`` payload it carried (possibly ``b""``) and raises ``InvalidDrive`` (BAD_WAV, or
    UNSUPPORTED_FORMAT for a well-formed but undecodable format) as soon as the bytes seen prove
    the header wrong. At the end call :meth:`finish`, which raises BAD_WAV when the header never
    completed.
    """

    def __init__(self) -> None:
        self.header: WavHeader | None = None
        self.header_bytes = 0  # bytes consumed before the data payload
        self._buf = bytearray()
        self._riff_seen = False
        self._rf64 = False
        self._rf64_data_bytes: int | None = None
        self._fmt: tuple[SampleFormat, int, int] | None = None
        self._skip = 0  # bytes of an ignored chunk still to drop
        self._remaining: int | None = None  # payload bytes still to pass on (None: unbounded)

    def feed(self, data: bytes) -> bytes:
        """Consume the next piece of the stream; return the ``data`` payload bytes in it."""
        if self.header is not None:
            return self._payload(data)
        self._buf += data
        if self._parse() is None:
            return b""
        rest = bytes(self._buf)
        self._buf.clear()
        return self._payload(rest)

    def finish(self) -> None:
        """End of stream: raise BAD_WAV if the header never completed."""
        if self.header is None:
            seen = self.header_bytes + len(self._buf)
            raise _bad(f"the audio ended after {seen} bytes, before the WAV header was complete")

    def _payload(self, data: bytes) -> bytes:
        if self._remaining is None:
            return data
        take = data[: self._remaining]
        self._remaining -= len(take)
        return take

    def _consume(self, n: int) -> bytes:
        head = bytes(self._buf[:n])
        self._drop(n)
        return head

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self.header_bytes += n
        if self.header_bytes > MAX_HEADER_BYTES:
            raise _bad(f"no WAV data chunk in the first {MAX_HEADER_BYTES} bytes")

    def _parse(self) -> WavHeader | None:
        """Parse what the buffer holds; return the header once complete."""
        if not self._riff_seen and not self._parse_riff():
            return None
        while self.header is None:
            if self._skip:
                dropped = min(self._skip, len(self._buf))
                self._drop(dropped)
                self._skip -= dropped
                if self._skip:
                    return None
            if len(self._buf) < 8:
                return None
            chunk_id = bytes(self._buf[:4])
            if not all(0x20 <= b <= 0x7E for b in chunk_id):
                raise _bad(
                    f"garbage where a WAV chunk id was expected (bytes {chunk_id.hex()} at "
                    f"offset {self.header_bytes})"
                )
            size = struct.unpack_from("<I", self._buf, 4)[0]
            if chunk_id == b"data":
                self._start_data(size)
                break
            if chunk_id in (b"fmt ", b"ds64"):
                if size > _MAX_FORMAT_CHUNK_BYTES:
                    raise _bad(f"the WAV {chunk_id.decode()!r} chunk claims {size} bytes")
                padded = size + (size & 1)
                if len(self._buf) < 8 + padded:
                    return None
                body = self._consume(8 + padded)[8 : 8 + size]
                self._chunk(chunk_id, body)
            else:
                self._drop(8)
                self._skip = size + (size & 1)  # chunks are padded to an even size
        return self.header

    def _parse_riff(self) -> bool:
        have = bytes(self._buf[:12])
        magic = have[:4]
        if not (b"RIFF".startswith(magic) or b"RF64".startswith(magic)):
            raise _bad(f"the audio does not start with a RIFF header (it starts {have[:4]!r})")
        if len(have) > 8 and not b"WAVE".startswith(have[8:12]):
            raise _bad(f"a RIFF file but not a WAVE file (form type {have[8:12]!r})")
        if len(have) < 12:
            return False
        self._rf64 = magic == b"RF64"
        self._drop(12)
        self._riff_seen = True
        return True

    def _chunk(self, chunk_id: bytes, body: bytes) -> None:
        if chunk_id == b"fmt ":
            self._fmt = parse_fmt(body)
        elif self._rf64 and len(body) >= 16:
            # ds64: riff size, data size, sample count (all 64-bit).
            self._rf64_data_bytes = struct.unpack_from("<Q", body, 8)[0]

    def _start_data(self, size: int) -> None:
        if self._fmt is None:
            raise _bad("the WAV data chunk comes before any fmt chunk")
        self._drop(8)
        declared: int | None = size
        if size == 0xFFFFFFFF and self._rf64_data_bytes:
            declared = self._rf64_data_bytes
        elif size in _STREAMING_SIZES:
            declared = None
        sample_format, rate, channels = self._fmt
        self._remaining = declared
        self.header = WavHeader(
            sample_format=sample_format, sample_rate_hz=rate, channels=channels, data_bytes=declared
        )
