"""The sans-I/O core of a text drive: the vendor's TTS speaks a text (``DriveByText``).

Theory of operation
-------------------
A text drive has no audio and no WebSocket: one vendor call hands over the whole text, and the
avatar speaks it. Its life is the audio drive's table (:mod:`gateway.drive.machine`) with other
meanings::

    IDLE ─QUEUE─▶ QUEUED ─ADMIT─▶ SETTING_UP ─START─▶ STREAMING ─STOP─▶ STOPPING ─CLOSE─▶ CLOSED

``START`` is the vendor's answer (the avatar speaks from there), ``STREAMING`` lasts while it
speaks, ``STOP`` is the end of its speech (or of the drive), ``CLOSE`` the task released. Once
the request may have reached the vendor (:meth:`TextCore.asking`), a drive that ends before the
avatar finished owes the vendor an interrupt, as an audio drive owes its Stop: nobody else owns
what the avatar says (:meth:`TextCore.finish` says so).

What the avatar played is the :class:`~gateway.drive.speech.SpeechTracker`'s account, fed with
an estimate: the text lasts ``text_ms_per_char`` per character, ``2 ** (speech_rate / 500)``
times faster (twice at 500, half at -500: the vendor documents no rate, an inference), from the
vendor's answer. The vendor's callbacks correct it: Status 2 (driving) moves the start to its
word, Status 4 (ended) makes what was played the time between the start and its word.

Characters are counted as Unicode code points (the vendor says "characters" where it means them
and "bytes" where it means bytes, zego-api.md §6, §11b): an emoji or a CJK character is one.

Pure code: time comes in as ``now``.
"""

from __future__ import annotations

from gateway.drive.interrupt import Interruption, finishes, interrupts
from gateway.drive.machine import DriveEvent, DriveMachine, DriveState, Lifecycle
from gateway.drive.outputs import Completion, Deadline, Due
from gateway.drive.playback import PlaybackModel
from gateway.drive.settings import DriveLimits
from gateway.drive.spec import TextRequest
from gateway.drive.speech import PlaybackEvent, SpeechTracker
from gateway.errors import DriveEnded, GatewayError, InvalidDrive, Reason, UpstreamError

#: The longest text, in characters (code points): the vendor's limit (zego-api.md §11b).
MAX_TEXT_CHARS = 1800
#: ``speech_rate`` and ``pitch_rate`` lie in [-RATE_BOUND, RATE_BOUND] (the vendor's range).
RATE_BOUND = 500
#: The longest timbre id, in UTF-8 bytes.
MAX_TIMBRE_BYTES = 256

#: The fields of a text drive's config, as paths from the Drive stream's DriveRequest.
_TEXT = "config.text.text"
_TIMBRE = "config.text.timbre_id"

_LIVE = frozenset({DriveState.IDLE, DriveState.QUEUED, DriveState.SETTING_UP})


def text_request(text: str, timbre_id: str, speech_rate: int, pitch_rate: int) -> TextRequest:
    """A checked :class:`TextRequest` (its timbre may still be the profile's: "").

    Raises:
        InvalidDrive: BAD_TEXT (empty, only white space, or above :data:`MAX_TEXT_CHARS`);
            INVALID_CONFIG (a rate out of range, a timbre id above 256 bytes).
    """
    if not text.strip():
        raise InvalidDrive(
            Reason.BAD_TEXT, "DriveConfig.text.text is empty: say something", field=_TEXT
        )
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidDrive(
            Reason.BAD_TEXT,
            f"DriveConfig.text.text has {len(text)} characters (code points): "
            f"at most {MAX_TEXT_CHARS}, the vendor's limit",
            field=_TEXT,
        )
    for name, rate in (("speech_rate", speech_rate), ("pitch_rate", pitch_rate)):
        if not -RATE_BOUND <= rate <= RATE_BOUND:
            raise InvalidDrive(
                Reason.INVALID_CONFIG,
                f"DriveConfig.text.{name} must be in [-{RATE_BOUND}, {RATE_BOUND}], got {rate}",
                field=f"config.text.{name}",
            )
    if len(timbre_id.encode()) > MAX_TIMBRE_BYTES:
        raise InvalidDrive(
            Reason.INVALID_CONFIG,
            f"DriveConfig.text.timbre_id is longer than {MAX_TIMBRE_BYTES} bytes",
            field=_TIMBRE,
        )
    return TextRequest(
        text=text, timbre_id=timbre_id, speech_rate=speech_rate, pitch_rate=pitch_rate
    )


def resolve_timbre(request: TextRequest, default_timbre_id: str) -> str:
    """The timbre to speak with: the request's, else the profile's default.

    Raises:
        InvalidDrive: TIMBRE_REQUIRED when neither names one (the vendor requires one).
    """
    timbre = request.timbre_id or default_timbre_id
    if not timbre:
        raise InvalidDrive(
            Reason.TIMBRE_REQUIRED,
            "a text drive needs a timbre: set DriveConfig.text.timbre_id, or the profile's "
            "default_timbre_id",
            field=_TIMBRE,
        )
    return timbre


def estimate_ms(request: TextRequest, ms_per_char: float) -> float:
    """How long the avatar speaks ``request``, by the estimate (see the module docstring)."""
    speed: float = 2.0 ** (request.speech_rate / RATE_BOUND)
    return len(request.text) * ms_per_char / speed


class TextCore(Lifecycle):
    """One text drive's state, from config to closed. See the module docstring.

    Args:
        request: what to say (checked).
        limits: the drive's bounds (its longest time, the estimate's ms per character).
        now: when the drive began (its config arrived).
        vendor_grace_s: how long an estimated start or finish waits for the vendor's
            callback (0: no callbacks are received).
    """

    def __init__(
        self,
        request: TextRequest,
        *,
        limits: DriveLimits,
        now: float,
        vendor_grace_s: float = 0.0,
    ) -> None:
        self.request = request
        self.limits = limits
        self.machine = DriveMachine()
        self.began_at = now
        self.estimate_ms = estimate_ms(request, limits.text_ms_per_char)
        self.started_at: float | None = None
        #: Why the drive cannot go on (the client's stream failed, or the vendor's drive did).
        self.failure: GatewayError | None = None
        #: Why the gateway ended the drive from outside.
        self.ended: GatewayError | None = None
        self.speech = SpeechTracker(vendor_grace_s=vendor_grace_s)
        self.interruption = Interruption()  # the client's Interrupt (``interrupt.py``)
        self._playback = PlaybackModel(tolerance_ms=0)
        self._asked = False

    # Lifecycle inputs (and ``Lifecycle``'s: state, queued, admitted).

    def asking(self) -> None:
        """The DriveByText request goes out: from here the avatar may speak it."""
        self._asked = True

    def refused(self) -> None:
        """The vendor refused the request (a non-zero Code): it will not speak it."""
        self._asked = False

    def started(self, now: float) -> None:
        """The vendor accepted the text at ``now``: the avatar speaks it (by the estimate)."""
        self.machine.handle(DriveEvent.START)
        self.started_at = now
        self._playback.on_send(now, self.estimate_ms)

    def end(self, reason: GatewayError) -> bool:
        """End the drive from outside with ``reason``; True when the shell must interrupt
        what the drive awaits. A StopDrive (STOPPED_BY_REQUEST) lets a drive that is speaking
        finish: all of its text was handed over, as an audio drive playing out."""
        if self.state not in _LIVE | {DriveState.STREAMING}:
            return False
        if self.ended is not None and not (finishes(self.ended) and interrupts(reason)):
            return False  # the first reason wins; only an interrupt cuts a StopDrive FINISH
        if self.state is DriveState.STREAMING and finishes(reason):
            return False  # a StopDrive FINISH: the avatar says all of it
        self.ended = reason
        return True

    # Interrupts: the avatar silent now.

    def receive_interrupt(self, now: float) -> None:
        """The client's Interrupt: the shell must silence the avatar (InterruptDriveTask, then
        :meth:`silenced`) and complete the drive.

        Raises:
            InvalidDrive: INTERRUPT_REPEATED for a second one.
        """
        self.interruption.ask(now)

    @property
    def interrupting(self) -> bool:
        """Whether the drive is interrupted: the client's Interrupt, a PREEMPT, a StopDrive
        INTERRUPT."""
        return self.interruption.asked_at is not None or interrupts(self.ended)

    @property
    def silence_owed(self) -> bool:
        """True while the client's Interrupt waits for the vendor's silence: the avatar may
        still speak this text (the vendor answered, its finish not reported)."""
        asked = self.interruption.asked_at is not None and not self.interruption.settled
        return asked and self.started_at is not None and not self.speech.finished

    def silenced(self, at: float) -> None:
        """The vendor interrupted the task (or could not be asked); the avatar went silent at
        ``at``: what it had said then is what it said."""
        self.interruption.settled = True
        self.speech.cut(at, self.playback)

    def fail(self, error: GatewayError) -> None:
        """The client's stream failed, or the vendor's drive; the first failure is reported."""
        if self.failure is None:
            self.failure = error

    def vendor_status(self, status: int, now: float) -> bool:
        """The vendor's callback for this drive: 2 driving, 3 failed, 4 ended (zego-api.md
        §12); returns whether it changed anything."""
        playback = self._playback
        if self.started_at is None or self.speech.finished:
            return False
        if status == 2:
            if not self.speech.started:
                playback.anchor = now  # the estimate runs from the vendor's word
            self.speech.vendor_started(now)
        elif status == 4:
            assert playback.anchor is not None  # set when the vendor answered
            playback.sent_ms = max(0.0, (now - playback.anchor) * 1000.0)
            self.speech.vendor_finished(now)
        elif status == 3:
            self.fail(UpstreamError(Reason.UPSTREAM_ERROR, "the vendor's text drive failed"))
        else:
            return False
        return True

    def finish(self, now: float) -> bool:
        """The drive is over, whatever ended it; safe to repeat.

        Returns True exactly once when the avatar may still be speaking this text (the drive
        ends before its playback finished, after the request may have reached the vendor):
        the shell must interrupt the task before it lets go of it.
        """
        if self.state is DriveState.STREAMING:
            self.machine.handle(DriveEvent.STOP)
            return not self.speech.finished
        if self.state in _LIVE:
            self.machine.handle(DriveEvent.ABANDON)
            return self._asked
        return False

    def cut(self, now: float) -> None:
        """The drive ends short of its playback's end: :meth:`playback_due` reports the
        finish at once, interrupted."""
        self.speech.cut(now, self.playback)

    def released(self) -> None:
        """The task is released (after :meth:`finish`)."""
        if self.state is DriveState.STOPPING:
            self.machine.handle(DriveEvent.CLOSE)

    # Outputs.

    @property
    def playback(self) -> PlaybackModel | None:
        """The estimated playhead, once the vendor answered."""
        return self._playback if self.started_at is not None else None

    @property
    def played_out(self) -> bool:
        """Whether the finish of playback was reported."""
        return self.speech.finished

    def playback_due(self, now: float) -> list[PlaybackEvent]:
        """What the avatar did by ``now`` that was not reported yet, in order."""
        return self.speech.due(now, self.playback, stopped=True)

    def played_ms(self, now: float) -> int:
        """Milliseconds of the text the avatar spoke by ``now`` (or at the cut)."""
        return round(self.speech.played_ms(now, self.playback))

    def next_deadline(self, now: float) -> Deadline | None:
        """When the shell must look again (None before the vendor's answer)."""
        if self.started_at is None:
            return None
        candidates = [Deadline(self.started_at + self.limits.max_drive_s, Due.MAX_DURATION)]
        if (heard_at := self.speech.next_at(now, self.playback, True)) is not None:
            candidates.append(Deadline(heard_at, Due.PLAYBACK))
        return min(candidates, key=lambda d: d.at)

    def end_due(self, now: float) -> GatewayError | None:
        """Why the drive must end at ``now``, if it must: a failure, an end from outside, or
        its longest time (MAX_DURATION) while the avatar still speaks."""
        if self.failure is not None or self.ended is not None:
            return self.failure or self.ended
        max_s = self.limits.max_drive_s
        if self.started_at is not None and now >= self.started_at + max_s:
            return DriveEnded(Reason.MAX_DURATION, f"drive exceeded {max_s:g} s")
        return None

    # Accounting.

    @property
    def setup_ms(self) -> int | None:
        """From config to the vendor's answer, once answered."""
        if self.started_at is None:
            return None
        return round((self.started_at - self.began_at) * 1000)

    @property
    def sent_ms(self) -> float:
        """Audio sent: none (the vendor speaks the text itself)."""
        return 0.0

    @property
    def billed_ms(self) -> float:
        """Milliseconds of speech the avatar was driven with: the text's rendered length, as
        the vendor measured it once it said the avatar finished, else the estimate; 0 until
        the vendor accepted the text. A text cut short was still handed over whole."""
        return self._playback.sent_ms if self.started_at is not None else 0.0

    def completed(self) -> Completion:
        """The final accounting (after :meth:`finish`): a text drive sends no audio."""
        finish, spoke_at = self.speech.finish_event, self.speech.started_at
        return Completion(
            received_ms=0,
            sent_ms=0,
            bytes_sent=0,
            frames_sent=0,
            underruns=0,
            stop_lag_ms=0,
            played_ms=0 if finish is None else finish.played_ms,
            interrupted=self.interrupting,
            time_to_speaking_ms=0 if spoke_at is None else round((spoke_at - self.began_at) * 1000),
            billed_ms=round(self.billed_ms),
        )
