"""The sans-I/O heart of one drive: its whole state, inputs in, what to do next out.

Theory of operation
-------------------
:class:`DriveCore` owns everything a drive knows: where it is in its life (the
:class:`~gateway.drive.machine.DriveMachine` table), the audio path (converter, then pacer),
the progress schedule, and what ends it and when. The asyncio shell
(``gateway/service/drive.py``) owns the gRPC stream, the WebSocket, the registry and the
clock; it feeds the core every input and performs what the core asks, and it keeps no state of
the drive's own. Every input takes ``now`` (seconds, any monotonic clock), so the core is
tested with plain numbers.

Inputs:

* lifecycle: :meth:`queued`, :meth:`admitted`, :meth:`started` (the Start command went out);
* the client: :meth:`receive_audio` per chunk, :meth:`receive_end` at half-close,
  :meth:`receive_interrupt` for a barge-in (nothing is sent from then on; the audio held is
  dropped);
* failures: :meth:`fail` (the client's stream or the connection failed; the first one wins) and
  :meth:`end` (from outside: preempt, StopDrive, drain, a lease not kept);
* silence: while :attr:`silence_owed` (an interrupt, a PREEMPT or a StopDrive INTERRUPT, and
  the avatar may still speak this drive) the shell asks the vendor to interrupt the task,
  then reports :meth:`silenced` (the playhead stops where the avatar went silent) or
  :meth:`silence_failed` (the avatar plays what it has);
* frames: :meth:`frames_due` hands out the frames to send now, in order, and counts them in
  flight until :meth:`frames_written`, so two senders never interleave;
* marks: :meth:`receive_mark` between chunks (reported when the audio before it was played);
* the end: :meth:`finish` once the drive is over, whatever ended it (True: send Stop now);
  for a drive that completed, :meth:`play_out` once the Stop went out (the task stays held
  until :meth:`playback_due` reported the finish); then :meth:`released` once the connection
  is closed and the task released.

Outputs: :meth:`next_deadline` says when the shell must look again and why (frames, progress,
playback, or a limit); the shell sleeps until then or until an input, then asks
:meth:`end_due` (why the drive must end now, if it must), :meth:`frames_due`,
:meth:`progress_due` and :meth:`playback_due` (what the avatar played: ``speech.py``); it
reads from the client only while :meth:`wants_audio`, and leaves the streaming loop once
:attr:`flushed`.

Idle means "the client sent nothing while the gateway wanted audio": the idle clock runs only
while the drive streams, the core wants audio and no frame is in flight, so a large chunk that
takes its time to pace out never counts as silence.

Errors found in the client's audio raise :class:`~gateway.errors.InvalidDrive`; a stream that
ended mid-sample still releases every whole sample first (``end_error`` is raised by the shell
after the Stop, so nothing that was sent is lost).
"""

from __future__ import annotations

from gateway.drive.audio import Converter, OutputFormat
from gateway.drive.interrupt import Interruption, finishes, interrupts
from gateway.drive.machine import DriveEvent, DriveMachine, DriveState, Lifecycle
from gateway.drive.outputs import Completion, Deadline, Due
from gateway.drive.pacing import Pacer
from gateway.drive.progress import ProgressSchedule, ProgressSnapshot
from gateway.drive.settings import DriveLimits, PacingSettings
from gateway.drive.speech import PlaybackEvent, SpeechTracker
from gateway.errors import DriveEnded, GatewayError, InvalidDrive, Reason

#: The states of a live drive: it takes audio and can be ended from outside. Past them it is
#: ending anyway, and interrupting it could cut the Stop frame and turn a Completed into an error.
_LIVE = frozenset({DriveState.IDLE, DriveState.QUEUED, DriveState.SETTING_UP, DriveState.STREAMING})
#: Where an end from outside is taken: a live drive, or one playing out (its Stop is out, so
#: only PREEMPT, StopDrive or a drain can cut the avatar's last words short).
_ENDABLE = _LIVE | {DriveState.PLAYING_OUT}


class DriveCore(Lifecycle):
    """One drive's state, from config to closed. See the module docstring for the protocol.

    Args:
        converter: converts the client's format to the vendor's PCM.
        pacing: pacing settings.
        limits: chunk size, set-up buffer, idle and maximum time.
        now: when the drive began (its config arrived).
        vendor_grace_s: how long an estimated start or finish of playback waits for the
            vendor's callback (0: no callbacks are received).
    """

    def __init__(
        self,
        converter: Converter,
        *,
        pacing: PacingSettings,
        limits: DriveLimits,
        now: float,
        vendor_grace_s: float = 0.0,
    ) -> None:
        self.converter = converter
        self.pacing = pacing
        self.limits = limits
        self.machine = DriveMachine()
        self.began_at = now
        self.pacer: Pacer | None = None
        self.progress = ProgressSchedule(interval_s=pacing.progress_interval_ms / 1000)
        self.started_at: float | None = None
        self.input_ended = False
        #: An error found at the end of the input, to raise once everything before it was sent.
        self.end_error: InvalidDrive | None = None
        #: Why the drive cannot go on (the client's stream or the connection failed).
        self.failure: GatewayError | None = None
        #: Why the gateway ended the drive from outside.
        self.ended: GatewayError | None = None
        #: When :meth:`finish` decided that Stop goes out (None: no Stop was owed).
        self.stop_sent_at: float | None = None
        self.speech = SpeechTracker(vendor_grace_s=vendor_grace_s)
        self.interruption = Interruption()  # the client's Interrupt (``interrupt.py``)
        self._in_flight = False  # frames handed out and not yet written
        self._idle_since: float | None = None  # when the core began waiting for the client

    # Lifecycle inputs (and ``Lifecycle``'s: state, queued, admitted).

    def started(self, now: float) -> None:
        """The Start command was sent: audio may flow from now on."""
        self.machine.handle(DriveEvent.START)
        self.started_at = now
        self.progress.start(now)
        self._track_idle(now)

    def end(self, reason: GatewayError) -> bool:
        """End the drive from outside with ``reason``.

        Returns True when the reason was taken: the shell must then interrupt whatever the
        drive awaits. False when it is ending already (by itself, or an earlier reason wins).
        """
        if self.state not in _ENDABLE:
            return False
        if self.ended is not None and not (finishes(self.ended) and interrupts(reason)):
            return False  # the first reason wins; only an interrupt cuts a StopDrive FINISH
        if self.state is DriveState.PLAYING_OUT and finishes(reason):
            return False  # StopDrive FINISH lets the avatar finish what was sent: this one is
        self.ended = reason
        return True

    def fail(self, error: GatewayError) -> None:
        """The client's stream or the connection failed; the first failure is the one reported."""
        if self.failure is None:
            self.failure = error

    def finish(self, now: float) -> bool:
        """The drive is over, whatever ended it; safe to repeat.

        Returns True exactly once, when Start went out and Stop not yet: the shell must send
        Stop now. From here on the drive cannot be ended from outside.
        """
        if self.state is DriveState.STREAMING:
            self.machine.handle(DriveEvent.STOP)
            self.stop_sent_at = now
            return True
        if self.state in _LIVE:
            self.machine.handle(DriveEvent.ABANDON)  # nothing was started: nothing is owed
        return False

    def play_out(self) -> None:
        """A completed drive's Stop went out: the avatar plays the rest, the task stays held
        until :meth:`playback_due` reported the finish (the drive may be ended meanwhile)."""
        self.machine.handle(DriveEvent.PLAY_OUT)

    @property
    def played_out(self) -> bool:
        """Whether the finish of playback was reported (or nothing was ever played)."""
        return self.speech.finished or self.pacer is None or self.pacer.playback.anchor is None

    def cut(self, now: float) -> None:
        """The drive ends short of playing all it sent (a failure, an end from outside):
        :meth:`playback_due` reports the finish at once, interrupted. Not while silence is
        owed: the avatar plays until the vendor interrupts it (:meth:`silenced` cuts)."""
        if not self.silence_owed:
            self.speech.cut(now, self.pacer.playback if self.pacer else None)

    # Interrupts: the avatar silent now.

    @property
    def interrupting(self) -> bool:
        """Whether the drive is interrupted: the client's Interrupt, a PREEMPT, a StopDrive
        INTERRUPT."""
        return self.interruption.asked_at is not None or interrupts(self.ended)

    @property
    def finishing(self) -> bool:
        """Whether a StopDrive FINISH ended the drive while it streamed: the shell must send
        Stop and let the avatar play out what was sent (:meth:`play_out`) before it ends."""
        return self.state is DriveState.STREAMING and finishes(self.ended)

    @property
    def silence_owed(self) -> bool:
        """True while the drive is interrupted and the avatar may still speak it (audio was
        sent, its finish not reported) and the vendor was not asked yet: the shell must call
        InterruptDriveTask, after the last frame, then :meth:`silenced` or
        :meth:`silence_failed`."""
        playback = self.pacer.playback if self.pacer else None
        return (
            self.interrupting
            and not self.interruption.settled
            and playback is not None
            and playback.anchor is not None
            and not self.speech.finished
        )

    def receive_interrupt(self, now: float) -> None:
        """The client's Interrupt: nothing is sent from now on, what the core holds is dropped.
        The shell must end the drive (Stop, the silence owed) and complete it.

        Raises:
            InvalidDrive: INTERRUPT_REPEATED for a second one.
        """
        self.interruption.ask(now)

    def silenced(self, at: float) -> None:
        """The vendor interrupted the task; the avatar went silent at ``at``: what it had
        played then is what it played."""
        self.interruption.settled = True
        self.speech.cut(at, self.pacer.playback if self.pacer else None)

    def silence_failed(self) -> None:
        """The vendor could not be asked: the avatar plays what it has (the estimate runs on
        until the shell cuts the drive or it played out)."""
        self.interruption.settled = True

    def released(self) -> None:
        """The connection is closed and the task released (after :meth:`finish`)."""
        if self.state in (DriveState.STOPPING, DriveState.PLAYING_OUT):
            self.machine.handle(DriveEvent.CLOSE)

    # The client's audio.

    def receive_audio(self, data: bytes, now: float) -> None:
        """Take one chunk of client audio.

        The caller must not call it after :meth:`receive_end` (the converter raises
        RuntimeError: a bug, not a client error).

        Raises:
            InvalidDrive: CHUNK_TOO_LARGE; BAD_WAV or UNSUPPORTED_FORMAT from a WAV header;
                AUDIO_AFTER_INTERRUPT.
        """
        self.interruption.check_input("audio")
        limit = self.limits.max_chunk_bytes
        if len(data) > limit:
            raise InvalidDrive(
                Reason.CHUNK_TOO_LARGE,
                f"audio chunk of {len(data)} bytes exceeds the maximum of {limit}",
            )
        self._push(self.converter.feed(data))
        self._idle_since = None  # the client answered; the clock restarts if still wanted
        self._track_idle(now)

    def receive_end(self, now: float) -> None:
        """The client half-closed: flush the converter (its tail goes out paced, then Stop;
        after an Interrupt it is dropped)."""
        self.input_ended = True
        if self.interruption.asked_at is not None:
            return
        try:
            self._push(self.converter.finish())
        except InvalidDrive as exc:
            self.end_error = exc
        else:
            self.end_error = self.converter.partial_error
        if self.pacer is not None:
            self.pacer.finish()  # a prebuffer that never filled goes out now
        self._track_idle(now)

    def receive_mark(self, name: str, now: float) -> None:
        """A mark after the audio received so far.

        Raises:
            InvalidDrive: BAD_MARK: an empty or too long name, or too many marks;
                AUDIO_AFTER_INTERRUPT.
        """
        self.interruption.check_input("a mark")
        self.speech.add_mark(name, self.converter.received_ms)

    def played_ms(self, now: float) -> int:
        """Milliseconds of the drive's audio the avatar played by ``now`` (or at the cut)."""
        return round(self.speech.played_ms(now, self.pacer.playback if self.pacer else None))

    def playback_due(self, now: float) -> list[PlaybackEvent]:
        """What the avatar did by ``now`` that was not reported yet, in order."""
        playback = self.pacer.playback if self.pacer else None
        return self.speech.due(now, playback, stopped=self.stop_sent_at is not None)

    @property
    def output(self) -> OutputFormat | None:
        """The vendor format; None until known (a WAV stream before its header)."""
        return self.converter.output

    def wants_audio(self) -> bool:
        """Whether the shell should read another chunk from the client now."""
        if self.input_ended or self.state not in _LIVE or self.interruption.asked_at is not None:
            return False
        if self.started_at is None:
            return self.buffered_bytes < self.limits.setup_buffer_bytes
        return self.pacer is None or self.pacer.wants_audio()

    @property
    def buffered_bytes(self) -> int:
        """Converted PCM waiting to be sent."""
        return self.pacer.pending_bytes if self.pacer else 0

    @property
    def flushed(self) -> bool:
        """True when the input ended and every byte of it was released."""
        return self.input_ended and self.buffered_bytes == 0

    # Frames and reports.

    def frames_due(self, now: float) -> list[bytes]:
        """Frames to send now, in order; none before :meth:`started`, after :meth:`finish`
        (nothing follows the Stop) or while earlier frames are in flight. The caller must send
        them all, then call :meth:`frames_written`."""
        if self.state is not DriveState.STREAMING or self.pacer is None or self._in_flight:
            return []
        if self.interruption.asked_at is not None:
            return []  # nothing follows an Interrupt
        frames = self.pacer.pop_due(now)
        if frames:
            self._in_flight = True
            self._idle_since = None  # the gateway is busy: the client is not being asked
        return frames

    @property
    def frames_in_flight(self) -> bool:
        """Whether frames handed out by :meth:`frames_due` are still being sent."""
        return self._in_flight

    def frames_written(self, now: float) -> None:
        """The frames of the last :meth:`frames_due` are sent (or their sending failed)."""
        self._in_flight = False
        self._track_idle(now)

    def next_deadline(self, now: float) -> Deadline | None:
        """The latest time to call the core again, and why (None: only an input can matter).

        Frames are not due while others are in flight: their sender looks again when done.
        """
        limits = self.limits
        if self.output is None and not self.input_ended and self.failure is None:
            return Deadline(self.began_at + limits.format_wait_s, Due.FORMAT_TIMEOUT)
        if self.started_at is None:
            return None
        candidates = [Deadline(self.started_at + limits.max_drive_s, Due.MAX_DURATION)]
        if self._idle_since is not None:
            candidates.append(Deadline(self._idle_since + limits.idle_timeout_s, Due.IDLE_TIMEOUT))
        if (progress_at := self.progress.next_at()) is not None:
            candidates.append(Deadline(progress_at, Due.PROGRESS))
        if self.pacer is not None and not self._in_flight:
            if (frames_at := self.pacer.next_due(now)) is not None:
                candidates.append(Deadline(frames_at, Due.FRAMES))
        playback = self.pacer.playback if self.pacer else None
        stopped = self.stop_sent_at is not None
        if (heard_at := self.speech.next_at(now, playback, stopped)) is not None:
            candidates.append(Deadline(heard_at, Due.PLAYBACK))
        if self.state not in _LIVE:  # past the Stop, only playback is still to come
            candidates = [c for c in candidates if c.due is Due.PLAYBACK]
        return min(candidates, key=lambda d: d.at, default=None)

    def end_due(self, now: float) -> GatewayError | None:
        """Why the drive must end at ``now``, if it must: a failure, an end from outside, or a
        limit reached (MAX_DURATION, IDLE_TIMEOUT)."""
        if self.failure is not None or self.ended is not None:
            return self.failure or self.ended
        limits = self.limits
        if self.output is None and not self.input_ended:
            if now >= self.began_at + limits.format_wait_s:
                return DriveEnded(
                    Reason.FORMAT_TIMEOUT,
                    f"no complete WAV header within {limits.format_wait_s:g} s",
                )
            return None
        if self.started_at is None:
            return None
        if now >= self.started_at + limits.max_drive_s:
            return DriveEnded(Reason.MAX_DURATION, f"drive exceeded {limits.max_drive_s:g} s")
        if self._idle_since is not None and now >= self._idle_since + limits.idle_timeout_s:
            return DriveEnded(
                Reason.IDLE_TIMEOUT,
                f"no audio for {limits.idle_timeout_s:g} s while the gateway wanted it",
            )
        return None

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
            played_ms=round(playback.playhead_ms(now)) if playback else 0,
        )

    # Accounting.

    @property
    def setup_ms(self) -> int | None:
        """From config to Start, once started."""
        if self.started_at is None:
            return None
        return round((self.started_at - self.began_at) * 1000)

    @property
    def time_to_first_frame_ms(self) -> int | None:
        """From config to the first audio frame handed out to be sent (None: none was)."""
        first = self.pacer.playback.first_sent_at if self.pacer else None
        return None if first is None else round((first - self.began_at) * 1000)

    @property
    def time_to_speaking_ms(self) -> int | None:
        """From config to PlaybackStarted being reported (None: it was not)."""
        spoke = self.speech.started_at
        return None if spoke is None else round((spoke - self.began_at) * 1000)

    @property
    def bytes_sent(self) -> int:
        """PCM bytes released to the shell."""
        return self.pacer.bytes_sent if self.pacer else 0

    @property
    def sent_ms(self) -> float:
        """Milliseconds of audio released to the shell."""
        return self.pacer.sent_ms() if self.pacer else 0.0

    @property
    def billed_ms(self) -> float:
        """Milliseconds of audio the avatar was driven with: all that was sent to it."""
        return self.sent_ms

    def completed(self) -> Completion:
        """The final accounting (after :meth:`finish`)."""
        pacer = self.pacer
        last = pacer.last_frame_at if pacer else None
        stop_at = self.stop_sent_at
        finish = self.speech.finish_event
        dropped_ms = self.converter.received_ms - self.sent_ms if self.interrupting else 0.0
        return Completion(
            received_ms=round(self.converter.received_ms),
            sent_ms=round(self.sent_ms),
            bytes_sent=self.bytes_sent,
            frames_sent=pacer.frames_sent if pacer else 0,
            underruns=pacer.playback.underruns if pacer else 0,
            stop_lag_ms=round((stop_at - last) * 1000)
            if last is not None and stop_at is not None
            else 0,
            time_to_first_frame_ms=self.time_to_first_frame_ms or 0,
            time_to_speaking_ms=self.time_to_speaking_ms or 0,
            dropped_ms=max(0, round(dropped_ms)),
            played_ms=finish.played_ms if finish else 0,
            interrupted=self.interrupting,
            billed_ms=round(self.billed_ms),
        )

    # Internals.

    def _track_idle(self, now: float) -> None:
        """Start the idle clock when the core begins to want audio; stop it when it does not."""
        if self.started_at is None or self._in_flight or not self.wants_audio():
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now

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
