"""What the simulator records: API calls, drives, overlaps, and the playback model.

Plain data, no I/O and no clock: times are ``time.monotonic()`` readings passed in by the
servers. Everything here renders to JSON for ``GET /_sim/state``.
"""

from __future__ import annotations

import enum
import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .config import SAMPLE_WIDTH_BYTES

__all__ = [
    "ApiCall",
    "CloseReason",
    "DriveErrorKind",
    "DriveRecord",
    "HandshakeRejection",
    "Overlap",
    "PlaybackModel",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiCall:
    """One HTTP API request, whatever its outcome.

    ``code`` is ``None`` when no envelope was sent (a forced HTTP error). ``time`` is the
    ``time.monotonic()`` reading at arrival.
    """

    time: float
    action: str | None
    app_id: int | None
    task_id: str | None
    code: int | None
    request_id: str | None
    drive_id: str | None = None
    http_status: int = 200
    message: str = ""
    method: str = "POST"

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "action": self.action,
            "app_id": self.app_id,
            "task_id": self.task_id,
            "code": self.code,
            "request_id": self.request_id,
            "drive_id": self.drive_id,
            "http_status": self.http_status,
            "message": self.message,
            "method": self.method,
        }


class Overlap(NamedTuple):
    """Two WebSocket connections open at once on one task: the rule of zego-api.md §8 broken.

    ``drive_id_a`` was already open when ``drive_id_b`` connected at ``at`` (monotonic).
    """

    task_id: str
    drive_id_a: str
    drive_id_b: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HandshakeRejection:
    """A WebSocket handshake the simulator refused (HTTP status, before any upgrade)."""

    time: float
    status: int
    reason: str
    drive_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "status": self.status,
            "reason": self.reason,
            "drive_id": self.drive_id,
        }


class DriveErrorKind(enum.StrEnum):
    """The first word of each ``DriveRecord.errors`` entry: what the client did wrong."""

    INVALID_JSON = "invalid_json"
    UNKNOWN_ACTION = "unknown_action"
    BAD_PAYLOAD = "bad_payload"
    WRONG_DRIVE_ID = "wrong_drive_id"
    BAD_SAMPLE_RATE = "bad_sample_rate"
    BAD_CHANNEL = "bad_channel"
    BAD_VOICE_CHANNEL = "bad_voice_channel"
    SECOND_START = "second_start"
    STOP_BEFORE_START = "stop_before_start"
    SECOND_STOP = "second_stop"
    AUDIO_BEFORE_START = "audio_before_start"
    AUDIO_AFTER_STOP = "audio_after_stop"
    PARTIAL_SAMPLES = "partial_samples"
    COMMAND_AS_BINARY = "command_as_binary"
    TOKEN_REUSED = "token_reused"
    HANDSHAKE_REFUSED = "handshake_refused"
    TASK_ENDED = "task_ended"
    PROTOCOL_ERROR = "protocol_error"


class CloseReason(enum.StrEnum):
    """Who or what ended a drive's connection."""

    CLIENT = "client"
    """The client sent a close frame (a clean close)."""
    CONNECTION_LOST = "connection_lost"
    """The TCP connection ended without a close frame."""
    PROTOCOL_ERROR = "protocol_error"
    """The WebSocket library failed the connection (bad frame, bad UTF-8, too big)."""
    FAULT_DROP = "fault_drop"
    """``Fault.drop_after_bytes`` aborted the connection."""
    FAULT_REFUSED = "fault_refused"
    """``Fault.refuse_handshake`` refused the upgrade; there never was a connection."""
    SHUTDOWN = "shutdown"
    """The simulator stopped while the connection was open."""
    TASK_ENDED = "task_ended"
    """The drive's task ended (closed with 1000), or had ended before the handshake."""


ABNORMAL_CLOSURE = 1006
"""The close code when no close frame was received (RFC 6455 §7.1.5)."""


#: Float noise forgiven when comparing an arrival with the playhead (1 µs, far below a sample):
#: a frame arriving exactly when playback runs dry is on time, whatever the clock's origin.
_EPSILON_S = 1e-6


class PlaybackModel:
    """The avatar plays received audio at 1x from the first audio frame; count the stutters.

    Playback is a clock anchored at the first frame's arrival. Frame ``i`` is due when the
    audio before it has played out (``play_end``). If it arrives later than that by more than
    ``tolerance_ms``, playback ran dry: one underrun, and playback re-anchors on that frame's
    arrival. Later frames are measured against the new anchor, so one gap counts once.
    Lateness within the tolerance is jitter the player absorbs: the clock is not moved, so a
    sender slightly slower than real time accumulates lateness until it does count.
    """

    def __init__(self, tolerance_ms: float) -> None:
        self.tolerance_s = tolerance_ms / 1000.0
        self.play_end: float | None = None
        """When the audio received so far has played out (monotonic seconds)."""
        self.underruns = 0
        self.gaps_ms: list[float] = []
        """The silence of each underrun: how late its frame was, in ms."""
        self.max_buffer_ms = 0.0
        """The most audio ever queued ahead of playback (ms): how far ahead the sender ran."""

    def feed(self, arrival: float, duration_s: float) -> bool:
        """Account for one audio frame; returns whether it caused an underrun."""
        underrun = False
        if self.play_end is None:
            self.play_end = arrival + duration_s
        elif arrival > self.play_end + self.tolerance_s + _EPSILON_S:
            underrun = True
            self.underruns += 1
            self.gaps_ms.append((arrival - self.play_end) * 1000.0)
            self.play_end = arrival + duration_s
        else:
            self.play_end += duration_s
        self.max_buffer_ms = max(self.max_buffer_ms, (self.play_end - arrival) * 1000.0)
        return underrun


@dataclass(eq=False, kw_only=True)
class DriveRecord:
    """Everything one drive (one DriveByWsStream grant) did on the simulated cloud.

    Times are ``time.monotonic()`` readings, ``None`` until the event happens. Audio is only
    what arrived between a valid Start and a valid Stop (``frames``: arrival and size of each);
    rejected frames are counted in ``rejected_frames`` and described in ``errors``.
    ``received`` logs every frame of the connection, accepted or not: (arrival, WebSocket
    message type name, size in bytes). ``errors`` holds each distinct message
    once, in first-seen order; each starts with a :class:`DriveErrorKind` and a colon.
    """

    drive_id: str
    task_id: str
    created_at: float
    underrun_tolerance_ms: float = 20.0
    start: dict[str, Any] | None = None
    sample_rate: int | None = None
    channel: int | None = None
    voice_channel: int | None = None
    # Arrival times and sizes in flat arrays, not a list of tuples: a long drive makes hundreds of
    # thousands of frames, and as GC-tracked tuples they made every full collection stall the
    # simulator for tens of milliseconds (seen as simultaneous "underruns" in benchmarks).
    _arrivals: array[float] = field(default_factory=lambda: array("d"), init=False, repr=False)
    _sizes: array[int] = field(default_factory=lambda: array("q"), init=False, repr=False)
    # The log of every frame, flat for the same reason: a tuple per frame kept the young
    # generation growing, and each young collection of 50 000 of them paused for ~16 ms.
    _received_at: array[float] = field(default_factory=lambda: array("d"), init=False, repr=False)
    _received_kinds: list[str] = field(default_factory=list, init=False, repr=False)
    _received_sizes: array[int] = field(default_factory=lambda: array("q"), init=False, repr=False)
    connected_at: float | None = None
    started_at: float | None = None
    first_audio_at: float | None = None
    last_audio_at: float | None = None
    stopped_at: float | None = None
    closed_at: float | None = None
    close_code: int | None = None
    close_reason: CloseReason | None = None
    errors: list[str] = field(default_factory=list)
    text_messages: list[str] = field(default_factory=list)
    rejected_frames: int = 0
    rejected_bytes: int = 0
    pings: int = 0
    connect_attempts: int = 0
    #: False: ``audio`` stays empty (benchmarks); sizes and times are still recorded.
    keep_audio: bool = True
    _chunks: list[bytes] = field(default_factory=list, init=False, repr=False)
    _playback: PlaybackModel = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._playback = PlaybackModel(self.underrun_tolerance_ms)

    # Derived values.

    def log_frame(self, arrival: float, kind: str, size: int) -> None:
        """Add one frame of the connection, accepted or not, to :attr:`received`."""
        self._received_at.append(arrival)
        self._received_kinds.append(sys.intern(kind))
        self._received_sizes.append(size)

    @property
    def received(self) -> list[tuple[float, str, int]]:
        """Every frame of the connection: (arrival, WebSocket message type name, size)."""
        return list(zip(self._received_at, self._received_kinds, self._received_sizes, strict=True))

    @property
    def audio(self) -> bytes:
        """All accepted PCM, in arrival order, byte for byte."""
        return b"".join(self._chunks)

    @property
    def frames(self) -> list[tuple[float, int]]:
        """Each accepted frame's arrival (monotonic seconds) and size (bytes), in order."""
        return list(zip(self._arrivals, self._sizes, strict=True))

    @property
    def audio_bytes(self) -> int:
        return sum(self._sizes)

    @property
    def frame_count(self) -> int:
        return len(self._sizes)

    @property
    def bytes_per_second(self) -> int:
        """PCM bytes per second of this drive's format (the defaults before a Start)."""
        rate = self.sample_rate or 16000
        return rate * (self.channel or 1) * SAMPLE_WIDTH_BYTES

    @property
    def audio_ms(self) -> float:
        """The duration of the accepted audio at 1x."""
        return self.audio_bytes * 1000.0 / self.bytes_per_second

    @property
    def clean_close(self) -> bool:
        """Whether the client ended the connection with a close frame."""
        return self.close_reason is CloseReason.CLIENT

    @property
    def stop_lag_ms(self) -> float | None:
        """From the last audio frame's arrival to the Stop's arrival; ``None`` without both."""
        if self.stopped_at is None or self.last_audio_at is None:
            return None
        return (self.stopped_at - self.last_audio_at) * 1000.0

    @property
    def playback(self) -> PlaybackModel:
        """The playback model fed by this drive's audio."""
        return self._playback

    @property
    def underruns(self) -> int:
        return self.playback.underruns

    @property
    def underrun_gaps_ms(self) -> list[float]:
        return list(self.playback.gaps_ms)

    @property
    def playback_end_at(self) -> float | None:
        """When the avatar finishes playing what it received (monotonic), per the model."""
        return self.playback.play_end

    @property
    def max_buffer_ms(self) -> float:
        return self.playback.max_buffer_ms

    @property
    def error_kinds(self) -> list[DriveErrorKind]:
        """The kinds of ``errors``, in the same order."""
        return [DriveErrorKind(e.split(":", 1)[0]) for e in self.errors]

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    # Mutators (called by the WebSocket server and the protocol rules).

    def add_error(self, kind: DriveErrorKind, detail: str) -> None:
        """Record one error; an identical message is kept only once."""
        message = f"{kind}: {detail}"
        if message not in self.errors:
            self.errors.append(message)

    def add_audio(self, arrival: float, data: bytes) -> None:
        """Accept one audio frame: record it and feed the playback model."""
        self._arrivals.append(arrival)
        self._sizes.append(len(data))
        if self.keep_audio:
            self._chunks.append(data)
        if self.first_audio_at is None:
            self.first_audio_at = arrival
        self.last_audio_at = arrival
        self.playback.feed(arrival, len(data) / self.bytes_per_second)

    def mark_closed(self, at: float, reason: CloseReason, code: int | None) -> None:
        """Record the end of the connection; later calls are ignored."""
        if self.closed_at is None:
            self.closed_at = at
            self.close_reason = reason
            self.close_code = None if code is None else int(code)

    def to_json(self) -> dict[str, Any]:
        """The record without the PCM itself (``GET /_sim/drives/<id>/audio`` serves it)."""
        return {
            "drive_id": self.drive_id,
            "task_id": self.task_id,
            "created_at": self.created_at,
            "start": self.start,
            "sample_rate": self.sample_rate,
            "channel": self.channel,
            "voice_channel": self.voice_channel,
            "bytes": self.audio_bytes,
            "frame_count": self.frame_count,
            "frames": [[t, n] for t, n in zip(self._arrivals, self._sizes, strict=True)],
            "received": [list(entry) for entry in self.received],
            "audio_ms": self.audio_ms,
            "connected_at": self.connected_at,
            "started_at": self.started_at,
            "first_audio_at": self.first_audio_at,
            "last_audio_at": self.last_audio_at,
            "stopped_at": self.stopped_at,
            "closed_at": self.closed_at,
            "close_code": self.close_code,
            "close_reason": None if self.close_reason is None else str(self.close_reason),
            "clean_close": self.clean_close,
            "errors": list(self.errors),
            "underruns": self.underruns,
            "underrun_gaps_ms": self.underrun_gaps_ms,
            "max_buffer_ms": self.max_buffer_ms,
            "playback_end_at": self.playback_end_at,
            "stop_lag_ms": self.stop_lag_ms,
            "text_messages": list(self.text_messages),
            "rejected_frames": self.rejected_frames,
            "rejected_bytes": self.rejected_bytes,
            "pings": self.pings,
            "connect_attempts": self.connect_attempts,
        }
