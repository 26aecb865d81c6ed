"""The drive's WebSocket messages, encoded and decoded: pure, no I/O (zego-api.md §8-§9).

Commands are JSON text frames ``{"Action", "SequenceID", "Payload"}``; audio is raw s16le PCM
in binary frames. The vendor documents no message in the other direction: :func:`decode`
accepts anything and never raises.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "SAMPLE_RATES",
    "SAMPLE_WIDTH_BYTES",
    "UpstreamMessage",
    "check_format",
    "decode",
    "start_command",
    "stop_command",
]

SAMPLE_RATES = (16000, 24000)
"""The only ``SampleRate`` values the Start command accepts (zego-api.md §8)."""

SAMPLE_WIDTH_BYTES = 2
"""s16le: the vendor's examples assume 16-bit samples; no API page states it (§9)."""


@dataclass(frozen=True, slots=True)
class UpstreamMessage:
    """A message the vendor sent on the drive's WebSocket (none is documented, §8).

    Attributes:
        kind: the frame type.
        data: the message as received.
        parsed_json: the decoded JSON of a text message, or None when it is not JSON.
    """

    kind: Literal["text", "binary"]
    data: str | bytes
    parsed_json: Any | None = None


EventCallback = Callable[[UpstreamMessage], None]
"""Called from the reader task for each message; it must not block, and its errors are logged."""


def check_format(sample_rate: int, channels: int, voice_channel: int | None) -> None:
    """Raise ValueError unless the Start command can announce this audio format."""
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"sample_rate must be one of {SAMPLE_RATES}, got {sample_rate!r}")
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels!r}")
    if voice_channel is not None and (channels != 2 or voice_channel not in (0, 1, 2)):
        raise ValueError("voice_channel must be 0, 1 or 2, and only with channels=2")


def _command(action: str, payload: Mapping[str, object]) -> str:
    # SequenceID is in the vendor's examples, not in its tables (§8, §16): one uuid4 each.
    message = {"Action": action, "SequenceID": str(uuid.uuid4()), "Payload": dict(payload)}
    return json.dumps(message, separators=(",", ":"))


def start_command(
    drive_id: str, sample_rate: int, channels: int = 1, voice_channel: int | None = None
) -> str:
    """The Start command; call :func:`check_format` first.

    Mono keeps the shape documented since 2025 (no ``Channel``); ``Channel`` and
    ``VoiceChannel`` (when given) are sent only for stereo, the 2026 addition.
    """
    payload: dict[str, object] = {"DriveId": drive_id, "SampleRate": sample_rate}
    if channels == 2:
        payload["Channel"] = 2
        if voice_channel is not None:
            payload["VoiceChannel"] = voice_channel
    return _command("Start", payload)


def stop_command(drive_id: str) -> str:
    """The Stop command."""
    return _command("Stop", {"DriveId": drive_id})


def decode(message: str | bytes) -> UpstreamMessage:
    """Whatever the vendor sent, as an event; a text message that is not JSON is kept as is."""
    if isinstance(message, str):
        try:
            parsed: Any | None = json.loads(message)
        except ValueError:
            parsed = None
        return UpstreamMessage("text", message, parsed)
    return UpstreamMessage("binary", bytes(message), None)
