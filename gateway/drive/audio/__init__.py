"""Pure streaming audio conversion: any supported client audio to the vendor's PCM.

The vendor takes only s16le at 16000 or 24000 Hz, mono or interleaved stereo. This package turns
LINEAR16 / FLOAT32 / G.711 mu-law and A-law / WAV input at 8000..48000 Hz, mono or stereo, into
that, chunk by chunk: see :class:`Converter`. Pure code: no I/O, no asyncio, no clock.
"""

from __future__ import annotations

from gateway.drive.audio.converter import RESAMPLER_QUALITY, Converter
from gateway.drive.audio.formats import (
    CAPABILITIES,
    MAX_INPUT_RATE_HZ,
    MIN_INPUT_RATE_HZ,
    OUTPUT_RATES_HZ,
    VENDOR_VOICE_CHANNEL,
    Capabilities,
    Encoding,
    InputFormat,
    OutputFormat,
    VoiceChannel,
    choose_output_rate,
    plan_output,
    validate_input,
    validate_output_rate,
)
from gateway.drive.audio.wav import WavHeader

__all__ = [
    "CAPABILITIES",
    "MAX_INPUT_RATE_HZ",
    "MIN_INPUT_RATE_HZ",
    "OUTPUT_RATES_HZ",
    "RESAMPLER_QUALITY",
    "VENDOR_VOICE_CHANNEL",
    "Capabilities",
    "Converter",
    "Encoding",
    "InputFormat",
    "OutputFormat",
    "VoiceChannel",
    "WavHeader",
    "choose_output_rate",
    "plan_output",
    "validate_input",
    "validate_output_rate",
]
