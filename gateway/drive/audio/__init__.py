"""Pure streaming audio conversion: any supported client audio to the vendor's PCM.

The vendor takes only s16le at 16000 or 24000 Hz, mono or interleaved stereo. This package turns
LINEAR16 / FLOAT32 / G.711 mu-law and A-law / WAV input at 8000..48000 Hz, mono or stereo, into
that, chunk by chunk: see :class:`Converter`. Pure code: no I/O, no asyncio, no clock.
"""

from __future__ import annotations

from gateway.drive.audio.converter import Converter
from gateway.drive.audio.formats import (
    CAPABILITIES,
    Encoding,
    InputFormat,
    OutputFormat,
    VoiceChannel,
    plan_output,
    validate_input,
)

#: The faces callers use; everything else is imported from its module.
__all__ = [
    "CAPABILITIES",
    "Converter",
    "Encoding",
    "InputFormat",
    "OutputFormat",
    "VoiceChannel",
    "plan_output",
    "validate_input",
]
