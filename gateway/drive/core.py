"""The sans-I/O heart of one drive: client audio in, WebSocket frames and reports out.

:class:`DriveCore` ties the audio :class:`~gateway.drive.audio.Converter`, the :class:`Pacer` and
the :class:`ProgressSchedule` together. The asyncio shell (``gateway/service/drive.py``) owns the
gRPC stream, the WebSocket and the clock; it feeds this object and drains it:

* ``receive_audio(data, now)`` for every chunk, ``receive_end(now)`` at half-close;
* ``start(now)`` once the Start command is sent (nothing is released before);
* after every input, and whenever ``next_deadline()`` passes: ``frames_due(now)`` (send them in
  order), then ``progress_due(now)`` (report it when not None);
* read more from the client only while ``wants_audio()``;
* leave when ``flushed``, then send Stop and report ``completed(now)``.

Errors found in the client's audio raise :class:`~gateway.errors.InvalidDrive`; a stream that
ended mid-sample still releases every whole sample first (``end_error`` is raised by the shell
after the Stop, so nothing that was sent is lost).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.drive.audio import Converter, OutputFormat
from gateway.drive.pacing import Pacer
from gateway.drive.progress import ProgressSchedule, ProgressSnapshot
from gateway.drive.settings import PacingSettings
from gateway.errors import InvalidDrive, Reason


@dataclass(frozen=True, slots=True)
class Completion:
    """The final accounting of a drive (the Completed event)."""

    received_ms: int
    sent_ms: int
    bytes_sent: int
    frames_sent: int
    underruns: int
    stop_lag_ms: int


class DriveCore:
    """Audio in, frames out, for one drive. See the module docstring for the calling protocol.

    Args:
        converter: converts the client's format to the vendor's PCM.
        pacing: pacing settings.
        max_chunk_bytes: larger chunks are refused (CHUNK_TOO_LARGE).
        setup_buffer_bytes: audio kept while the drive is set up; reading pauses beyond it.
    """

    def __init__(
        self,
        converter: Converter,
        *,
        pacing: PacingSettings,
        max_chunk_bytes: int,
        setup_buffer_bytes: int,
    ) -> None:
        self.converter = converter
        self.pacing = pacing
        self.max_chunk_bytes = max_chunk_bytes
        self.setup_buffer_bytes = setup_buffer_bytes
        self.pacer: Pacer | None = None
        self.progress = ProgressSchedule(interval_s=pacing.progress_interval_ms / 1000)
        self.started_at: float | None = None
        self.input_ended = False
        #: An error found at the end of the input, to raise once everything before it was sent.
        self.end_error: InvalidDrive | None = None

    # Inputs.

    def receive_audio(self, data: bytes, now: float) -> None:
        """Take one chunk of client audio.

        The caller must not call it after :meth:`receive_end` (the converter raises
        RuntimeError: a bug, not a client error).

        Raises:
            InvalidDrive: CHUNK_TOO_LARGE; BAD_WAV or UNSUPPORTED_FORMAT from a WAV header.
        """
        if len(data) > self.max_chunk_bytes:
            raise InvalidDrive(
                Reason.CHUNK_TOO_LARGE,
                f"audio chunk of {len(data)} bytes exceeds the maximum of {self.max_chunk_bytes}",
            )
        self._push(self.converter.feed(data))

    def receive_end(self, now: float) -> None:
        """The client half-closed: flush the converter (its tail goes out paced, then Stop)."""
        self.input_ended = True
        try:
            self._push(self.converter.finish())
        except InvalidDrive as exc:
            self.end_error = exc
        else:
            self.end_error = self.converter.partial_error
        if self.pacer is not None:
            self.pacer.finish()  # a prebuffer that never filled goes out now

    def start(self, now: float) -> None:
        """The Start command was sent: audio may flow from now on."""
        self.started_at = now
        self.progress.start(now)

    # Outputs.

    @property
    def output(self) -> OutputFormat | None:
        """The vendor format; None until known (a WAV stream before its header)."""
        return self.converter.output

    def wants_audio(self) -> bool:
        """Whether the shell should read another chunk from the client now."""
        if self.input_ended:
            return False
        if self.started_at is None:
            return self.buffered_bytes < self.setup_buffer_bytes
        return self.pacer is None or self.pacer.wants_audio()

    @property
    def buffered_bytes(self) -> int:
        """Converted PCM waiting to be sent."""
        return self.pacer.pending_bytes if self.pacer else 0

    @property
    def flushed(self) -> bool:
        """True when the input ended and every byte of it was released."""
        return self.input_ended and self.buffered_bytes == 0

    def frames_due(self, now: float) -> list[bytes]:
        """Frames to send now, in order (none before :meth:`start`)."""
        if self.started_at is None or self.pacer is None:
            return []
        return self.pacer.pop_due(now)

    def next_deadline(self, now: float) -> float | None:
        """The latest time to call :meth:`frames_due` and :meth:`progress_due` again."""
        if self.started_at is None:
            return None
        candidates = [self.progress.next_at()]
        if self.pacer is not None:
            candidates.append(self.pacer.next_due(now))
        return min((c for c in candidates if c is not None), default=None)

    def progress_due(self, now: float) -> ProgressSnapshot | None:
        """A Progress report when one is due, else None."""
        if not self.progress.due(
            now, received_bytes=self.converter.received_bytes, sent_bytes=self.bytes_sent
        ):
            return None
        return self.snapshot(now)

    def snapshot(self, now: float) -> ProgressSnapshot:
        """The accounting at ``now``."""
        playback = self.pacer.playback if self.pacer else None
        return ProgressSnapshot(
            received_ms=round(self.converter.received_ms),
            sent_ms=round(self.sent_ms),
            lead_ms=round(playback.lead_ms(now)) if playback else 0,
            underruns=playback.underruns if playback else 0,
        )

    @property
    def bytes_sent(self) -> int:
        """PCM bytes released to the shell."""
        return self.pacer.bytes_sent if self.pacer else 0

    @property
    def sent_ms(self) -> float:
        """Milliseconds of audio released to the shell."""
        return self.pacer.sent_ms() if self.pacer else 0.0

    def completed(self, stop_sent_at: float) -> Completion:
        """The final accounting, given when the Stop was sent."""
        pacer = self.pacer
        last = pacer.last_frame_at if pacer else None
        return Completion(
            received_ms=round(self.converter.received_ms),
            sent_ms=round(self.sent_ms),
            bytes_sent=self.bytes_sent,
            frames_sent=pacer.frames_sent if pacer else 0,
            underruns=pacer.playback.underruns if pacer else 0,
            stop_lag_ms=round((stop_sent_at - last) * 1000) if last is not None else 0,
        )

    # Internals.

    def _push(self, pcm: bytes) -> None:
        if not pcm:
            return
        if self.pacer is None:
            output = self.converter.output
            # A converter only produces PCM once it knows the output format.
            assert output is not None
            self.pacer = Pacer(
                bytes_per_second=output.bytes_per_second,
                sample_bytes=output.frame_bytes,
                max_frame_ms=self.pacing.max_frame_ms,
                lead_ms=self.pacing.lead_ms,
                enabled=self.pacing.enabled,
                tolerance_ms=self.pacing.underrun_tolerance_ms,
                prebuffer_ms=0 if self.converter.passthrough else self.pacing.convert_prebuffer_ms,
            )
        self.pacer.push(pcm)
