"""The WebSocket drive protocol rules (zego-api.md §8, §9), without I/O.

The WebSocket server feeds each received message to :func:`receive_text` or
:func:`receive_binary` with its arrival time; they validate it against the drive's state,
update the :class:`DriveRecord`, and say what happened. Nothing here closes a connection:
the vendor documents no server reaction to a protocol error (§17), so the simulator records
the error and keeps listening; the record is the evidence a test asserts on.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from .config import DEFAULT_SAMPLE_RATE, SAMPLE_RATES, SAMPLE_WIDTH_BYTES
from .records import DriveErrorKind as Kind, DriveRecord

__all__ = ["TextOutcome", "receive_binary", "receive_text"]

_CHANNELS = (1, 2)  # Payload.Channel: 1 mono (default), 2 stereo interleaved (§8)
_VOICE_CHANNELS = (0, 1, 2)  # Payload.VoiceChannel: 0 mixed (default), 1 left, 2 right (§8)


class TextOutcome(enum.Enum):
    """What a text frame turned out to be."""

    STARTED = "started"
    """A valid Start: the drive is now started."""
    STOPPED = "stopped"
    """A valid Stop: the drive is now stopped."""
    REJECTED = "rejected"
    """Anything else; an error was recorded."""


def _is_int(value: object) -> bool:
    # JSON true/false parse as bool, a subclass of int; a Go server would reject them, and a
    # float such as 16000.0 does not unmarshal into a Go int either.
    return isinstance(value, int) and not isinstance(value, bool)


def _int_field(
    payload: dict[str, Any], name: str, default: int, allowed: tuple[int, ...]
) -> int | None:
    value = payload.get(name, default)
    if _is_int(value) and value in allowed:
        return int(value)
    return None


def receive_text(record: DriveRecord, text: str, now: float) -> TextOutcome:
    """Apply one text frame (a JSON command, §8) to ``record``.

    The caller must pass every text frame of the connection, in order, with its arrival time.
    """
    record.text_messages.append(text)
    try:
        message = json.loads(text)
    except ValueError:
        record.add_error(Kind.INVALID_JSON, "a text frame is not JSON")
        return TextOutcome.REJECTED
    if not isinstance(message, dict):
        record.add_error(Kind.INVALID_JSON, "a text frame is not a JSON object")
        return TextOutcome.REJECTED
    action = message.get("Action")
    if action == "Start":
        return _start(record, message, now)
    if action == "Stop":
        return _stop(record, message, now)
    record.add_error(Kind.UNKNOWN_ACTION, f"Action {action!r} is neither Start nor Stop (§8)")
    return TextOutcome.REJECTED


def _payload_drive_id(record: DriveRecord, message: dict[str, Any], action: str) -> bool:
    payload = message.get("Payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("DriveId"), str):
        record.add_error(Kind.BAD_PAYLOAD, f"{action} needs Payload.DriveId, a string (§8)")
        return False
    if payload["DriveId"] != record.drive_id:
        # Each connection's token belongs to one DriveId (§7): another id is a client mix-up.
        record.add_error(Kind.WRONG_DRIVE_ID, f"{action} names another DriveId than this drive's")
        return False
    return True


def _start(record: DriveRecord, message: dict[str, Any], now: float) -> TextOutcome:
    if record.started_at is not None:
        # A DriveId drives once (§8 "a new DriveId every time"); a repeated Start is a bug.
        record.add_error(Kind.SECOND_START, "a second Start on this drive")
        return TextOutcome.REJECTED
    if record.start is None:
        record.start = message
    if not _payload_drive_id(record, message, "Start"):
        return TextOutcome.REJECTED
    payload: dict[str, Any] = message["Payload"]
    sample_rate = _int_field(payload, "SampleRate", DEFAULT_SAMPLE_RATE, SAMPLE_RATES)
    channel = _int_field(payload, "Channel", 1, _CHANNELS)
    voice_channel = _int_field(payload, "VoiceChannel", 0, _VOICE_CHANNELS)
    ok = True
    if sample_rate is None:
        record.add_error(
            Kind.BAD_SAMPLE_RATE, f"SampleRate {payload.get('SampleRate')!r} not in {SAMPLE_RATES}"
        )
        ok = False
    if channel is None:
        record.add_error(Kind.BAD_CHANNEL, f"Channel {payload.get('Channel')!r} not in {_CHANNELS}")
        ok = False
    if voice_channel is None:
        record.add_error(
            Kind.BAD_VOICE_CHANNEL,
            f"VoiceChannel {payload.get('VoiceChannel')!r} not in {_VOICE_CHANNELS}",
        )
        ok = False
    if not ok:
        # An invalid Start does not start the drive: the audio that follows is rejected too.
        return TextOutcome.REJECTED
    record.start = message
    record.sample_rate = sample_rate
    record.channel = channel
    record.voice_channel = voice_channel
    record.started_at = now
    return TextOutcome.STARTED


def _stop(record: DriveRecord, message: dict[str, Any], now: float) -> TextOutcome:
    if record.stopped_at is not None:
        record.add_error(Kind.SECOND_STOP, "a second Stop on this drive")
        return TextOutcome.REJECTED
    if not _payload_drive_id(record, message, "Stop"):
        return TextOutcome.REJECTED
    if record.started_at is None:
        record.add_error(Kind.STOP_BEFORE_START, "Stop before a valid Start")
        return TextOutcome.REJECTED
    record.stopped_at = now
    return TextOutcome.STOPPED


def _looks_like_command(data: bytes) -> bool:
    if not data.startswith(b"{") or len(data) > 65536:
        return False
    try:
        message = json.loads(data)
    except ValueError:
        return False
    return isinstance(message, dict) and "Action" in message


def receive_binary(record: DriveRecord, data: bytes, now: float) -> bool:
    """Apply one binary frame (raw PCM, §8-§9) to ``record``; returns whether it was accepted.

    Audio is accepted between a valid Start and a valid Stop. A frame that is not whole
    samples (2 bytes x channels) is recorded as an error but still accepted, so that
    ``record.audio`` stays the exact byte stream the client sent.
    """
    if _looks_like_command(data):
        # Not an error the vendor would see (it would play it as noise), but surely a client
        # bug: commands are text frames (§8).
        record.add_error(Kind.COMMAND_AS_BINARY, "a JSON command arrived as a binary frame")
    if record.started_at is None or record.stopped_at is not None:
        kind = Kind.AUDIO_BEFORE_START if record.started_at is None else Kind.AUDIO_AFTER_STOP
        what = "before a valid Start" if record.started_at is None else "after Stop"
        record.add_error(kind, f"binary audio {what} (§8)")
        record.rejected_frames += 1
        record.rejected_bytes += len(data)
        return False
    frame_size = SAMPLE_WIDTH_BYTES * (record.channel or 1)
    if len(data) % frame_size:
        record.add_error(
            Kind.PARTIAL_SAMPLES,
            f"a binary frame is not whole {frame_size}-byte samples (16-bit x channels, §9)",
        )
    record.add_audio(now, data)
    return True
