"""What the gateway reports about itself, and the no-op default.

The drive shell (``gateway/service/drive.py``) and :class:`~gateway.service.app.GatewayApp` call
an :class:`Observer` at a handful of lifecycle points: a drive queued, started, finished; a
WebSocket opened or lost; an upstream API attempt. Never per audio chunk: the accounting the
drive keeps anyway (bytes, frames, underruns) is handed over once, in :class:`DriveEnd`.

The calls must not block and must not raise: they run inside the drive's own task.
:class:`~gateway.observability.metrics.MetricsObserver` is the real implementation;
:class:`NullObserver` keeps everything working when metrics are off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gateway.drive.core import DriveCore
from gateway.drive.speech import PlaybackTimings
from gateway.upstream import Attempt

__all__ = ["DriveEnd", "NullObserver", "Observer", "Tenant"]


@dataclass(frozen=True, slots=True)
class Tenant:
    """Whom a drive's usage is counted for: names from the gateway's own configuration only,
    never a client's strings (they become metric labels).

    Attributes:
        principal: the name of the API key that authenticated the call; "" when the gateway
            checks no keys (or the caller was not identified).
        profile: the credentials profile the drive used, resolved (the default profile's
            name for ""); "" when the drive ended before its profile was known to exist.
    """

    principal: str = ""
    profile: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DriveEnd:
    """How one drive ended, with its final accounting.

    Attributes:
        status: the gRPC status code name the client got (``OK``, ``ABORTED``, ...).
        reason: the :class:`~gateway.errors.Reason` value; ``COMPLETED`` for a success,
            ``CANCELLED`` when the client went away, ``INTERNAL`` for a bug.
        received_s: seconds of client audio received (input domain).
        sent_s: seconds of audio sent to the vendor.
        frames_sent: WebSocket binary frames sent.
        underruns: times the avatar's playhead caught up with the audio sent.
        stop_lag_s: from the last frame to the Stop command, for a drive that ran out of
            audio (None otherwise: an idle timeout's "lag" would be the timeout).
        dropped: the vendor's WebSocket was lost mid-drive.
        playback: what the drive reported of the avatar's playback, and when the estimate and
            the vendor each said it began and stopped (the skew).
        playout_wait_s: from the Stop to PlaybackFinished, for a drive that completed and
            played out (how long its stream stayed open for the avatar to finish); else None.
        time_to_first_frame_s: from the config to the first audio frame sent (None: none was).
        time_to_speaking_s: from the config to PlaybackStarted (None: it was not reported).
        tenant: whose drive it was.
        billed_s: the audio the avatar was driven with (``Completed.billed_ms``): the audio
            sent, or a text drive's rendered length.
        played_s: what the avatar played, as its PlaybackFinished said (0: none was
            reported); ``playback.finished`` says whether the vendor confirmed it.
    """

    status: str
    reason: str
    received_s: float
    sent_s: float
    frames_sent: int
    underruns: int
    stop_lag_s: float | None
    dropped: bool = False
    playback: PlaybackTimings = field(default_factory=PlaybackTimings)
    playout_wait_s: float | None = None
    time_to_first_frame_s: float | None = None
    time_to_speaking_s: float | None = None
    tenant: Tenant = field(default_factory=Tenant)
    billed_s: float = 0.0
    played_s: float = 0.0

    @classmethod
    def of(
        cls,
        core: DriveCore,
        *,
        status: str,
        reason: str,
        stop_sent_at: float | None = None,
        dropped: bool = False,
        tenant: Tenant | None = None,
    ) -> DriveEnd:
        """The end of a drive, from the accounting its core kept.

        Args:
            core: the drive's core, after the drive.
            status, reason: how it ended.
            stop_sent_at: when the Stop went out (the core's clock), for a drive that ran out of
                audio; None otherwise.
            dropped: the vendor's WebSocket was lost.
            tenant: whose drive it was.
        """
        pacer = core.pacer
        last_frame = pacer.last_frame_at if pacer is not None else None
        first_frame = pacer.playback.first_sent_at if pacer is not None else None
        spoke = core.speech.started_at
        playback = core.speech.timings(pacer.playback if pacer is not None else None)
        played_out_at = playback.finished_at if playback.estimated_end is not None else None
        finish = core.speech.finish_event
        return cls(
            status=status,
            reason=reason,
            received_s=core.converter.received_ms / 1000,
            sent_s=core.sent_ms / 1000,
            frames_sent=pacer.frames_sent if pacer is not None else 0,
            underruns=pacer.playback.underruns if pacer is not None else 0,
            stop_lag_s=(
                stop_sent_at - last_frame
                if stop_sent_at is not None and last_frame is not None
                else None
            ),
            dropped=dropped,
            playback=playback,
            playout_wait_s=(
                played_out_at - stop_sent_at
                if stop_sent_at is not None and played_out_at is not None
                else None
            ),
            time_to_first_frame_s=None if first_frame is None else first_frame - core.began_at,
            time_to_speaking_s=None if spoke is None else spoke - core.began_at,
            tenant=tenant or Tenant(),
            billed_s=core.billed_ms / 1000,
            played_s=0.0 if finish is None else finish.played_ms / 1000,
        )

    def log_fields(self) -> dict[str, object]:
        """The accounting as log fields, in milliseconds; the API key's name, stop_lag_ms, the
        playback skews, playout_wait_ms and the times to the first frame and to speaking only
        when known."""
        fields: dict[str, object] = {
            "status": self.status,
            "received_ms": round(self.received_s * 1000),
            "sent_ms": round(self.sent_s * 1000),
            "billed_ms": round(self.billed_s * 1000),
            "frames_sent": self.frames_sent,
            "underruns": self.underruns,
        }
        if self.tenant.principal:
            fields["principal"] = self.tenant.principal  # a key's name, never the key
        if self.stop_lag_s is not None:
            fields["stop_lag_ms"] = round(self.stop_lag_s * 1000)
        known = {
            "playback_start_skew_ms": self.playback.start_skew_s,
            "playback_end_skew_ms": self.playback.end_skew_s,
            "playout_wait_ms": self.playout_wait_s,
            "time_to_first_frame_ms": self.time_to_first_frame_s,
            "time_to_speaking_ms": self.time_to_speaking_s,
        }
        fields.update((k, round(v * 1000, 1)) for k, v in known.items() if v is not None)
        return fields


class Observer(Protocol):
    """Receives the gateway's lifecycle events (see the module docstring)."""

    def drive_queued(self) -> None:
        """A drive began to wait for its task (QUEUE policy)."""
        ...

    def drive_started(self, setup_s: float) -> None:
        """A drive sent Start, ``setup_s`` after its config arrived (what the client waited)."""
        ...

    def drive_finished(self, end: DriveEnd) -> None:
        """A drive ended (clean-up done: Stop sent, WebSocket closed, task released)."""
        ...

    def drive_refused(self, reason: str, tenant: Tenant | None = None) -> None:
        """A drive was refused before it began (GATEWAY_BUSY, DRAINING); ``tenant``: whose, as
        far as it was known (None: not at all)."""
        ...

    def ws_connect(self, *, ok: bool) -> None:
        """A drive's WebSocket opened (``ok``) or its handshake failed."""
        ...

    def limiter_waited(self, wait_s: float) -> None:
        """An API request waited ``wait_s`` for its turn at the rate limiter."""
        ...

    def upstream_attempt(self, attempt: Attempt) -> None:
        """One request to the vendor's API ended (``UpstreamClient(on_attempt=...)``)."""
        ...


class NullObserver:
    """The observer that observes nothing (metrics off)."""

    def drive_queued(self) -> None:
        pass

    def drive_started(self, setup_s: float) -> None:
        pass

    def drive_finished(self, end: DriveEnd) -> None:
        pass

    def drive_refused(self, reason: str, tenant: Tenant | None = None) -> None:
        pass

    def ws_connect(self, *, ok: bool) -> None:
        pass

    def limiter_waited(self, wait_s: float) -> None:
        pass

    def upstream_attempt(self, attempt: Attempt) -> None:
        pass
