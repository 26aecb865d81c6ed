"""The streaming converter: client audio in, vendor PCM (s16le at 16000/24000 Hz) out.

Typical use, one converter per drive::

    conv = Converter(fmt, requested_output_rate_hz)  # may raise InvalidDrive(UNSUPPORTED_FORMAT)
    for chunk in client_chunks:
        pcm = conv.feed(chunk)  # may be b""; may raise InvalidDrive
        ...send pcm (conv.output says its format; None for WAV until its header is parsed)...
    pcm = conv.finish()  # the resampler's tail; may raise InvalidDrive

Output is chunking-invariant: the same input split anywhere (mid-sample, mid-frame, mid-header)
gives byte-identical output in total. That holds because partial frames are carried over here,
every later stage sees whole frames, and libsoxr's streaming resampler queues its input in an
internal FIFO and filters in fixed-size blocks, so its output depends only on the sample sequence
and never on how it was blocked (checked by the property tests in tests/drive/audio).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import soxr

from gateway.drive.audio.codecs import SampleFormat, Samples, mix_to_mono, quantise, to_float32
from gateway.drive.audio.formats import (
    KEEP_STEREO_MONO,
    RATES_TEXT,
    Encoding,
    InputFormat,
    OutputFormat,
    VoiceChannel,
    plan_output,
    rate_supported,
    validate_input,
    validate_output_rate,
)
from gateway.drive.audio.wav import WavHeader, WavReader
from gateway.errors import InvalidDrive, Reason

# soxr 'HQ' (20-bit precision, linear phase): its own SNR measured > 130 dB for 22.05/44.1/48 kHz
# -> 16/24 kHz, far cleaner than the s16 output can carry (~98 dB). 'VHQ' (> 150 dB) costs 10-30%
# more CPU and at some ratios (48 -> 16 kHz, 22.05 -> 16 kHz) doubles the streaming latency.
RESAMPLER_QUALITY = "HQ"

_RAW_FORMATS: dict[Encoding, SampleFormat] = {
    Encoding.LINEAR16: SampleFormat.S16,
    Encoding.FLOAT32: SampleFormat.F32,
    Encoding.MULAW: SampleFormat.MULAW,
    Encoding.ALAW: SampleFormat.ALAW,
}


class _Pipeline:
    """Decode, channel handling and resampling of whole frames, fixed once the format is known."""

    def __init__(
        self,
        sample_format: SampleFormat,
        rate_hz: int,
        channels: int,
        voice_channel: VoiceChannel,
        output: OutputFormat,
    ) -> None:
        self.sample_format = sample_format
        self.rate_hz = rate_hz
        self.channels = channels
        self.voice_channel = voice_channel
        self.output = output
        self.frame_bytes = sample_format.width * channels
        self.bypass = (
            sample_format is SampleFormat.S16
            and rate_hz == output.sample_rate_hz
            and channels == output.channels
        )
        self._resampler: Any = None
        if rate_hz != output.sample_rate_hz:
            self._resampler = soxr.ResampleStream(
                rate_hz,
                output.sample_rate_hz,
                output.channels,
                dtype="float32",
                quality=RESAMPLER_QUALITY,
            )

    @property
    def delay_ms(self) -> float:
        if self._resampler is None:
            return 0.0
        return float(self._resampler.delay()) * 1000.0 / self.output.sample_rate_hz

    def process(self, frames: bytes) -> bytes:
        """Convert whole input frames to output PCM (what is ready of it)."""
        if self.bypass:
            return frames
        x = self._route(self.sample_format.decode(frames, self.channels))
        if self._resampler is None:
            return quantise(x)
        x = to_float32(x)
        flat = x[:, 0] if self.output.channels == 1 else x
        return quantise(self._resampler.resample_chunk(np.ascontiguousarray(flat)))

    def flush(self) -> bytes:
        """End of stream: the resampler's remaining output."""
        if self._resampler is None:
            return b""
        shape = (0,) if self.output.channels == 1 else (0, self.output.channels)
        empty = np.zeros(shape, dtype=np.float32)
        return quantise(self._resampler.resample_chunk(empty, last=True))

    def _route(self, x: Samples) -> Samples:
        if self.channels == self.output.channels:
            return x
        if self.voice_channel is VoiceChannel.LEFT:
            return x[:, 0:1]
        if self.voice_channel is VoiceChannel.RIGHT:
            return x[:, 1:2]
        if self._resampler is not None:
            # Going to float anyway: average in float rather than floor in int16.
            x = to_float32(x)
        return mix_to_mono(x)


class Converter:
    """Fed chunks of client audio, drained of vendor PCM (s16le at the output rate).

    Construct one per drive: it validates the format and raises ``InvalidDrive``
    (UNSUPPORTED_FORMAT) at once. Feed every chunk in order with :meth:`feed` and send what it
    returns; call :meth:`finish` once at the end of the stream and send its result too. Not
    thread-safe; pure (no I/O, no clock).
    """

    def __init__(self, fmt: InputFormat, requested_output_rate_hz: int = 0) -> None:
        validate_input(fmt)
        validate_output_rate(requested_output_rate_hz)
        # Accept plain strings for the enums (e.g. "WAV"): from here on they are members.
        fmt = replace(
            fmt, encoding=Encoding(fmt.encoding), voice_channel=VoiceChannel(fmt.voice_channel)
        )
        self.format = fmt
        self.requested_output_rate_hz = requested_output_rate_hz
        self.received_bytes = 0  # raw input bytes fed, WAV header included
        self._audio_bytes = 0  # input audio payload bytes fed (no WAV header, no trailer)
        self._carry = b""  # a partial frame waiting for its other bytes
        self._finished = False
        #: Set by :meth:`finish` when the input ended mid-frame (PARTIAL_SAMPLE).
        self.partial_error: InvalidDrive | None = None
        self._wav: WavReader | None = None
        self._pipeline: _Pipeline | None = None
        if fmt.encoding is Encoding.WAV:
            self._wav = WavReader()
        else:
            self._pipeline = _Pipeline(
                _RAW_FORMATS[fmt.encoding],
                fmt.sample_rate_hz,
                fmt.channels,
                fmt.voice_channel,
                plan_output(fmt, requested_output_rate_hz),
            )

    @property
    def output(self) -> OutputFormat | None:
        """The vendor format of the PCM returned; None only for WAV until its header is parsed."""
        return None if self._pipeline is None else self._pipeline.output

    @property
    def input_sample_rate_hz(self) -> int:
        """The input's rate (for WAV: the header's; 0 until it is parsed)."""
        return 0 if self._pipeline is None else self._pipeline.rate_hz

    @property
    def input_channels(self) -> int:
        """The input's channel count (for WAV: the header's; 0 until it is parsed)."""
        return 0 if self._pipeline is None else self._pipeline.channels

    @property
    def wav_header(self) -> WavHeader | None:
        """The parsed WAV header (None for other encodings, or before it is complete)."""
        return None if self._wav is None else self._wav.header

    @property
    def received_ms(self) -> float:
        """Duration of the input audio fed so far (input domain; 0 before a WAV header)."""
        p = self._pipeline
        if p is None:
            return 0.0
        return self._audio_bytes * 1000.0 / (p.rate_hz * p.frame_bytes)

    @property
    def delay_ms(self) -> float:
        """Output the resampler holds back right now, in ms (0 without resampling).

        libsoxr trims its filter's own delay from the output, so this is pure buffering: input
        received but not yet returned. It varies with where its block boundary falls; ``finish``
        returns all of it.
        """
        return 0.0 if self._pipeline is None else self._pipeline.delay_ms

    @property
    def passthrough(self) -> bool:
        """True when the output is the input bytes themselves (LINEAR16 at the output rate with
        matching channels): only regrouped on frame boundaries. False for WAV (its header is
        stripped), though a 16-bit WAV at the output rate takes the same cheap path."""
        return self._wav is None and self._pipeline is not None and self._pipeline.bypass

    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` has been called."""
        return self._finished

    def feed(self, data: bytes) -> bytes:
        """Consume the next chunk (any size, split anywhere); return the output PCM ready now.

        The result may be ``b""`` (a partial frame, the WAV header, the resampler filling up).
        Raises ``InvalidDrive``: BAD_WAV for a malformed WAV header or one that disagrees with
        the config, UNSUPPORTED_FORMAT for a WAV header declaring a format that is not
        supported. Calling it after :meth:`finish` is a programming error (RuntimeError).
        """
        if self._finished:
            raise RuntimeError("Converter.feed() after finish()")
        self.received_bytes += len(data)
        if self._wav is not None:
            data = self._wav.feed(data)
            if self._pipeline is None:
                if self._wav.header is None:
                    return b""
                self._pipeline = self._start_wav(self._wav.header)
        if not data:
            return b""
        self._audio_bytes += len(data)
        pipeline = self._pipeline
        assert pipeline is not None
        if self._carry:
            data = self._carry + data
        whole = len(data) - len(data) % pipeline.frame_bytes
        if whole != len(data):
            self._carry = data[whole:]
            data = data[:whole]
        else:
            self._carry = b""
        if not data:
            return b""
        return pipeline.process(data)

    def finish(self) -> bytes:
        """End of stream: return the last output (the resampler's tail).

        When the input ended in the middle of a sample or frame, the whole frames before it are
        still flushed and returned, and :attr:`partial_error` (PARTIAL_SAMPLE) is set for the
        caller to raise once that audio is delivered. Raises ``InvalidDrive``: BAD_WAV when a
        WAV header never completed. Calling it again returns ``b""``.
        """
        if self._finished:
            return b""
        self._finished = True
        if self._wav is not None:
            self._wav.finish()
        pipeline = self._pipeline
        assert pipeline is not None
        if self._carry:
            self.partial_error = InvalidDrive(
                Reason.PARTIAL_SAMPLE,
                f"the audio ended in the middle of a frame: {len(self._carry)} byte(s) left over; "
                f"a frame is {pipeline.frame_bytes} bytes ({pipeline.channels} channel(s) of "
                f"{pipeline.sample_format.label} samples), so send whole frames",
            )
        return pipeline.flush()

    def _start_wav(self, header: WavHeader) -> _Pipeline:
        fmt = self.format
        label = header.sample_format.label
        if fmt.sample_rate_hz and fmt.sample_rate_hz != header.sample_rate_hz:
            raise InvalidDrive(
                Reason.BAD_WAV,
                f"the WAV header says {header.sample_rate_hz} Hz but the config says "
                f"sample_rate_hz={fmt.sample_rate_hz}; fix one (or set 0 to use the header's)",
                field="config.input.sample_rate_hz",
            )
        if fmt.channels and fmt.channels != header.channels:
            raise InvalidDrive(
                Reason.BAD_WAV,
                f"the WAV header says {header.channels} channel(s) but the config says "
                f"channels={fmt.channels}; fix one (or set 0 to use the header's)",
                field="config.input.channels",
            )
        if not rate_supported(header.sample_rate_hz):
            raise InvalidDrive(
                Reason.UNSUPPORTED_FORMAT,
                f"the WAV is {header.sample_rate_hz} Hz ({label}), which is not supported: "
                f"use {RATES_TEXT}",
            )
        if header.channels not in (1, 2):
            raise InvalidDrive(
                Reason.UNSUPPORTED_FORMAT,
                f"the WAV has {header.channels} channels, which is not supported: "
                f"use 1 (mono) or 2 (stereo)",
            )
        if fmt.keep_stereo and header.channels == 1:
            raise InvalidDrive(
                Reason.UNSUPPORTED_FORMAT,
                f"the WAV is mono: {KEEP_STEREO_MONO}",
                field="config.input.keep_stereo",
            )
        resolved = replace(fmt, sample_rate_hz=header.sample_rate_hz, channels=header.channels)
        return _Pipeline(
            header.sample_format,
            header.sample_rate_hz,
            header.channels,
            fmt.voice_channel,
            plan_output(resolved, self.requested_output_rate_hz),
        )
