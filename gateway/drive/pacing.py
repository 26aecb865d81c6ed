"""Pacing and framing: when each byte of PCM may go to the avatar, and in which frames.

Theory of operation
-------------------
The client pushes converted PCM (whole samples) into the :class:`Pacer`; the shell asks it which
frames are due *now* and, when nothing is due but audio is pending, when to ask again.

* Audio that is due goes out at once, never held back. With pacing on, audio is due while the sent
  audio stays within ``lead_ms`` of the avatar's estimated playhead (:class:`PlaybackModel`); past
  that, it goes out at 1x. With pacing off everything is due on arrival.
* A frame holds whole samples and at most ``max_frame_ms`` of audio. Small chunks that are due
  together are coalesced into one frame (fewer WebSocket messages, same bytes in the same order).
* While held back, the pacer releases audio in pieces of ``min(max_frame_ms, lead_ms)`` so a
  flooding client costs about ten frames a second, not one per chunk.
* A converted stream leaves the resampler in blocks (about 35 ms at 48 kHz -> 24 kHz), not in
  the client's rhythm. With ``prebuffer_ms`` the first release waits until that much audio is
  pending (or the input ended), so the avatar starts with a cushion one block deep instead of
  stuttering on the blocks' jitter.
* :meth:`Pacer.wants_audio` tells the shell whether to read more from the client: only while less
  than one frame is pending. Reading no faster than sending is what lets HTTP/2 flow control push
  back on a client that floods, so memory per drive stays bounded.

Pure code: time comes in as ``now``.
"""

from __future__ import annotations

from gateway.drive.playback import EPSILON_MS, PlaybackModel


class Pacer:
    """Holds converted PCM and releases it as frames when it is due.

    Args:
        bytes_per_second: of the PCM pushed in (output rate x channels x 2).
        sample_bytes: size of one sample frame (2 x channels); frames never split one.
        max_frame_ms: largest frame, in milliseconds of audio.
        lead_ms: how far ahead of the playhead audio may be sent.
        enabled: False forwards audio as received (still split to ``max_frame_ms``).
        tolerance_ms: lateness the playback model forgives before counting an underrun.
        prebuffer_ms: audio to gather before the first release (0: none).
    """

    def __init__(
        self,
        *,
        bytes_per_second: int,
        sample_bytes: int,
        max_frame_ms: int,
        lead_ms: int,
        enabled: bool = True,
        tolerance_ms: float = 20.0,
        prebuffer_ms: float = 0.0,
    ) -> None:
        self.bytes_per_ms = bytes_per_second / 1000.0
        self.sample_bytes = sample_bytes
        self.max_frame_bytes = self._whole(max_frame_ms * self.bytes_per_ms)
        self.release_bytes = self._whole(min(max_frame_ms, lead_ms) * self.bytes_per_ms)
        self.lead_ms = float(lead_ms)
        self.enabled = enabled
        self.playback = PlaybackModel(tolerance_ms=tolerance_ms)
        self._pending = bytearray()
        self._prebuffer_bytes = int(prebuffer_ms * self.bytes_per_ms)
        self._primed = self._prebuffer_bytes == 0  # the first release may happen
        self.bytes_sent = 0
        self.frames_sent = 0
        #: When the last frame was released (None before the first).
        self.last_frame_at: float | None = None

    def _whole(self, nbytes: float) -> int:
        """``nbytes`` rounded down to whole samples, at least one sample."""
        return max(self.sample_bytes, int(nbytes) // self.sample_bytes * self.sample_bytes)

    # Inputs.

    def push(self, pcm: bytes) -> None:
        """Queue PCM for sending. ``pcm`` must hold whole samples (the converter guarantees it)."""
        if len(pcm) % self.sample_bytes:
            raise ValueError(
                f"{len(pcm)} bytes is not a whole number of {self.sample_bytes}-byte samples"
            )
        self._pending += pcm
        if not self._primed and len(self._pending) >= self._prebuffer_bytes:
            self._primed = True

    def finish(self) -> None:
        """The input ended: whatever is pending may go, prebuffered or not."""
        self._primed = True

    # Outputs.

    @property
    def pending_bytes(self) -> int:
        """Bytes pushed and not yet released."""
        return len(self._pending)

    def wants_audio(self) -> bool:
        """Whether the shell should read more audio from the client now."""
        return not self._primed or len(self._pending) < self.max_frame_bytes

    def _budget_bytes(self, now: float) -> int:
        if not self.enabled:
            return len(self._pending)
        playback = self.playback
        # Lateness within the tolerance does not re-anchor the model: the moment audio arrives,
        # the playhead jumps past it. Count it now, or a second pop at the same ``now`` would
        # find more audio due (every frame due at ``now`` goes out in one pop).
        late_ms = playback.late_ms(now)
        forgiven_ms = late_ms if late_ms <= playback.tolerance_ms + EPSILON_MS else 0.0
        allowed_ms = playback.playhead_ms(now) + forgiven_ms + self.lead_ms - playback.sent_ms
        # The epsilon keeps float rounding at a deadline from shaving a sample off the piece.
        allowed = int(allowed_ms * self.bytes_per_ms + 1e-3)
        return allowed // self.sample_bytes * self.sample_bytes

    def pop_due(self, now: float) -> list[bytes]:
        """Release every frame due at ``now``; the caller must send them in order, right away."""
        if not self._primed:
            return []
        budget = min(len(self._pending), self._budget_bytes(now))
        if budget <= 0 or budget < min(len(self._pending), self.release_bytes):
            # Held back: wait until a whole release piece fits rather than trickle tiny frames.
            return []
        frames: list[bytes] = []
        view = memoryview(self._pending)
        offset = 0
        while offset < budget:
            size = min(self.max_frame_bytes, budget - offset)
            frames.append(bytes(view[offset : offset + size]))
            self.playback.on_send(now, size / self.bytes_per_ms)
            offset += size
        view.release()
        del self._pending[:budget]
        self.bytes_sent += budget
        self.frames_sent += len(frames)
        self.last_frame_at = now
        return frames

    def next_due(self, now: float) -> float | None:
        """When to call :meth:`pop_due` again; None when nothing is pending (wait for input)."""
        if not self._primed:
            return None  # gathering the prebuffer: more input (or its end) comes first
        if not self._pending:
            return None
        if not self.enabled or self.playback.anchor is None:
            return now
        piece = min(len(self._pending), self.release_bytes)
        # The playhead must reach this point before ``piece`` fits within the lead.
        needed_ms = self.playback.sent_ms + piece / self.bytes_per_ms - self.lead_ms
        if self.playback.playhead_ms(now) >= needed_ms:
            return now
        return max(now, self.playback.anchor + needed_ms / 1000.0)

    def sent_ms(self) -> float:
        """Milliseconds of audio released so far."""
        return self.bytes_sent / self.bytes_per_ms
