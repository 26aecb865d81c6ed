"""The avatar's playhead, estimated from what was sent and when.

The vendor documents no feedback on the WebSocket, so the gateway keeps its own model of the
avatar: playback runs at 1x from the moment the first frame was sent. Audio sent later than the
playhead needs it (by more than a tolerance, the avatar's jitter buffer) is an **underrun**: the
avatar stuttered. After an underrun the model re-anchors, i.e. playback resumes from the moment the
late audio arrived, so a stall is never followed by a burst beyond the pacing lead.

Pure code: time comes in as ``now`` (seconds, any monotonic origin).
"""

from __future__ import annotations

#: Float noise allowed when comparing lateness with the tolerance (a microsecond, far below one
#: sample): audio sent exactly when the avatar runs dry is on time, whatever the clock's origin.
EPSILON_MS = 1e-3


class PlaybackModel:
    """Where the avatar's playhead is, given the audio sent so far.

    The caller must report every frame it sends with :meth:`on_send`, in order, with the time it
    was sent; everything else is derived.
    """

    def __init__(self, *, tolerance_ms: float) -> None:
        self.tolerance_ms = tolerance_ms
        #: When sample 0 would have played had playback never stalled; None before the first frame.
        self.anchor: float | None = None
        #: When the first frame was sent: the estimated start of playback (a stall moves the
        #: anchor, never this).
        self.first_sent_at: float | None = None
        #: Milliseconds of audio sent.
        self.sent_ms = 0.0
        #: How many times the avatar ran out of audio while it was being fed.
        self.underruns = 0

    def late_ms(self, now: float) -> float:
        """How long the avatar has been waiting for audio at ``now`` (0 when it has some)."""
        if self.anchor is None:
            return 0.0
        return max(0.0, (now - self.anchor) * 1000.0 - self.sent_ms)

    def playhead_ms(self, now: float) -> float:
        """Milliseconds of the sent audio the avatar has played by ``now``."""
        if self.anchor is None:
            return 0.0
        return min(self.sent_ms, (now - self.anchor) * 1000.0)

    def lead_ms(self, now: float) -> float:
        """How far the sent audio is ahead of the playhead at ``now``."""
        return self.sent_ms - self.playhead_ms(now)

    def on_send(self, now: float, duration_ms: float) -> None:
        """Record a frame of ``duration_ms`` sent at ``now``; counts an underrun if it came late."""
        if self.anchor is None:
            self.anchor = self.first_sent_at = now
        elif self.late_ms(now) > self.tolerance_ms + EPSILON_MS:
            self.underruns += 1
            # Playback resumes with this frame: the silence is not "owed" to the avatar.
            self.anchor = now - self.sent_ms / 1000.0
        self.sent_ms += duration_ms

    def drained_at(self) -> float | None:
        """When the avatar will have played everything sent so far (None before the first frame)."""
        if self.anchor is None:
            return None
        return self.anchor + self.sent_ms / 1000.0
