"""Audio formats: what clients may send, what the vendor is sent, and how one maps to the other.

The vendor accepts only signed 16-bit little-endian PCM at 16000 or 24000 Hz, mono, or interleaved
stereo announced with ``Channel`` = 2 and ``VoiceChannel`` (0 mixed, 1 left, 2 right). Everything
else a client may send is described by :class:`InputFormat` and converted by
:class:`~gateway.drive.audio.converter.Converter`.

Call :func:`validate_input` (or build a ``Converter``, which calls it) as soon as a drive's config
arrives, so that a bad format fails before anything is sent upstream.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.errors import InvalidDrive, Reason

MIN_INPUT_RATE_HZ = 8000
MAX_INPUT_RATE_HZ = 48000
OUTPUT_RATES_HZ: tuple[int, ...] = (16000, 24000)
SUPPORTED_CHANNELS: tuple[int, ...] = (1, 2)


class Encoding(enum.StrEnum):
    """How the client's audio bytes represent samples (the names of the proto's ``Encoding``)."""

    LINEAR16 = "LINEAR16"  # signed 16-bit little-endian PCM (s16le)
    FLOAT32 = "FLOAT32"  # 32-bit IEEE float little-endian (f32le), nominal range [-1, 1]
    MULAW = "MULAW"  # G.711 mu-law, 8 bits a sample
    ALAW = "ALAW"  # G.711 A-law, 8 bits a sample
    WAV = "WAV"  # a RIFF/WAVE file: its header decides encoding, rate and channels


class VoiceChannel(enum.StrEnum):
    """Which channel of a stereo input carries the voice."""

    MIX = "MIX"
    LEFT = "LEFT"
    RIGHT = "RIGHT"


# The vendor's ``VoiceChannel`` field (zego-api.md §8): 0 mixed, 1 left, 2 right.
VENDOR_VOICE_CHANNEL: dict[VoiceChannel, int] = {
    VoiceChannel.MIX: 0,
    VoiceChannel.LEFT: 1,
    VoiceChannel.RIGHT: 2,
}

# What the WAV reader understands, for messages and for GetCapabilities.
WAV_SAMPLE_FORMATS: tuple[str, ...] = (
    "PCM unsigned 8-bit",
    "PCM 16-bit",
    "PCM 24-bit",
    "PCM 32-bit",
    "IEEE float 32-bit",
    "IEEE float 64-bit",
    "G.711 mu-law",
    "G.711 A-law",
)


@dataclass(frozen=True, kw_only=True)
class InputFormat:
    """The format of a client's audio, as configured for a drive.

    For ``WAV``, ``sample_rate_hz`` and ``channels`` may be 0 ("take it from the header"); when
    they are not 0 the header must agree with them.
    """

    encoding: Encoding = Encoding.LINEAR16
    sample_rate_hz: int = 16000
    channels: int = 1
    voice_channel: VoiceChannel = VoiceChannel.MIX
    keep_stereo: bool = False


@dataclass(frozen=True, kw_only=True)
class OutputFormat:
    """The PCM sent to the vendor: s16le at ``sample_rate_hz``, ``channels`` interleaved.

    ``voice_channel`` is the vendor's ``VoiceChannel`` value (0 mix, 1 left, 2 right); it only
    means something when ``channels`` is 2. Put all three in the vendor's ``Start`` command.
    """

    sample_rate_hz: int
    channels: int
    voice_channel: int

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame (one sample of every channel)."""
        return 2 * self.channels

    @property
    def bytes_per_second(self) -> int:
        """Bytes of one second of output PCM."""
        return self.sample_rate_hz * self.frame_bytes

    def ms(self, nbytes: int) -> float:
        """The duration, in milliseconds, of ``nbytes`` of output PCM."""
        return nbytes * 1000.0 / self.bytes_per_second


@dataclass(frozen=True, kw_only=True)
class Capabilities:
    """What the converter accepts; the audio half of the ``GetCapabilities`` RPC."""

    encodings: tuple[Encoding, ...]
    min_input_rate_hz: int
    max_input_rate_hz: int
    channels: tuple[int, ...]
    output_rates_hz: tuple[int, ...]
    voice_channels: tuple[VoiceChannel, ...]
    wav_sample_formats: tuple[str, ...]


CAPABILITIES = Capabilities(
    encodings=tuple(Encoding),
    min_input_rate_hz=MIN_INPUT_RATE_HZ,
    max_input_rate_hz=MAX_INPUT_RATE_HZ,
    channels=SUPPORTED_CHANNELS,
    output_rates_hz=OUTPUT_RATES_HZ,
    voice_channels=tuple(VoiceChannel),
    wav_sample_formats=WAV_SAMPLE_FORMATS,
)

_ENCODINGS_TEXT = ", ".join(e.value for e in Encoding)
_VOICE_CHANNELS_TEXT = ", ".join(v.value for v in VoiceChannel)
RATES_TEXT = f"an integer sample rate from {MIN_INPUT_RATE_HZ} to {MAX_INPUT_RATE_HZ} Hz"
KEEP_STEREO_MONO = (
    "keep_stereo needs a stereo input (channels 2): a mono input is sent as mono; "
    "clear keep_stereo or send interleaved stereo"
)


def _unsupported(message: str, field: str) -> InvalidDrive:
    """UNSUPPORTED_FORMAT for ``field`` of ``DriveConfig.input`` (or of the config)."""
    return InvalidDrive(Reason.UNSUPPORTED_FORMAT, message, field=f"config.{field}")


def rate_supported(rate_hz: object) -> bool:
    """Whether ``rate_hz`` is an accepted input rate (an int in 8000..48000, not a bool)."""
    return (
        isinstance(rate_hz, int)
        and not isinstance(rate_hz, bool)
        and MIN_INPUT_RATE_HZ <= rate_hz <= MAX_INPUT_RATE_HZ
    )


def validate_input(fmt: InputFormat) -> None:
    """Check a client's input format; raise ``InvalidDrive(UNSUPPORTED_FORMAT)`` if it is unusable.

    The message says what is supported. For ``WAV`` a rate or channel count of 0 is accepted (the
    header decides); the header itself is checked when it arrives.
    """
    try:
        encoding = Encoding(fmt.encoding)
    except ValueError:
        raise _unsupported(
            f"encoding {fmt.encoding!r} is not supported: use one of {_ENCODINGS_TEXT}",
            "input.encoding",
        ) from None
    try:
        VoiceChannel(fmt.voice_channel)
    except ValueError:
        raise _unsupported(
            f"voice_channel {fmt.voice_channel!r} is not supported: use one of "
            f"{_VOICE_CHANNELS_TEXT}",
            "input.voice_channel",
        ) from None
    from_header = encoding is Encoding.WAV
    rate = fmt.sample_rate_hz
    if not (rate_supported(rate) or (from_header and rate == 0)):
        hint = " (or 0 to take it from the WAV header)" if from_header else ""
        raise _unsupported(
            f"sample_rate_hz {rate!r} is not supported: use {RATES_TEXT}{hint}",
            "input.sample_rate_hz",
        )
    channels = fmt.channels
    if channels not in SUPPORTED_CHANNELS and not (from_header and channels == 0):
        hint = " (or 0 to take it from the WAV header)" if from_header else ""
        raise _unsupported(
            f"channels {channels!r} is not supported: use 1 (mono) or 2 (interleaved stereo){hint}",
            "input.channels",
        )
    if fmt.keep_stereo and channels == 1:
        raise _unsupported(KEEP_STEREO_MONO, "input.keep_stereo")


def validate_output_rate(requested_rate_hz: int) -> None:
    """Check a requested output rate: 0 (choose) or one of the vendor's rates."""
    if requested_rate_hz != 0 and requested_rate_hz not in OUTPUT_RATES_HZ:
        raise _unsupported(
            f"output_sample_rate_hz {requested_rate_hz!r} is not supported: the avatar takes "
            f"16000 or 24000 Hz (or 0 to choose from the input rate)",
            "output_sample_rate_hz",
        )


def choose_output_rate(input_rate_hz: int, requested_rate_hz: int) -> int:
    """The output rate for an input rate: the requested one, else the closest vendor rate.

    0 means: the input rate when it is 16000 or 24000, else 24000 above 16000 Hz and 16000
    otherwise (so that nothing above 16 kHz loses bandwidth it had).
    """
    validate_output_rate(requested_rate_hz)
    if requested_rate_hz:
        return requested_rate_hz
    if input_rate_hz in OUTPUT_RATES_HZ:
        return input_rate_hz
    return 24000 if input_rate_hz > 16000 else 16000


def plan_output(fmt: InputFormat, requested_rate_hz: int) -> OutputFormat:
    """The vendor format for a client's format and requested output rate (0 = choose).

    Raises ``InvalidDrive(UNSUPPORTED_FORMAT)`` for an unusable format or rate, and for
    ``keep_stereo`` with a mono input. For ``WAV`` with a rate or channel count of 0, call it
    with the header's values filled in (the ``Converter`` does this); calling it earlier is a
    programming error (``ValueError``).
    """
    validate_input(fmt)
    validate_output_rate(requested_rate_hz)
    if fmt.sample_rate_hz == 0 or fmt.channels == 0:
        raise ValueError("plan_output needs a known sample rate and channel count")
    rate = choose_output_rate(fmt.sample_rate_hz, requested_rate_hz)
    if fmt.keep_stereo:
        return OutputFormat(
            sample_rate_hz=rate,
            channels=2,
            voice_channel=VENDOR_VOICE_CHANNEL[VoiceChannel(fmt.voice_channel)],
        )
    return OutputFormat(sample_rate_hz=rate, channels=1, voice_channel=0)
