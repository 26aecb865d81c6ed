"""What the avatar played of one drive: PlaybackStarted, MarkPlayed, PlaybackFinished.

Theory of operation
-------------------
The avatar's playhead is the :class:`~gateway.drive.playback.PlaybackModel`'s estimate (1x from
the first frame, re-anchored after a stall). From it, :class:`SpeechTracker` derives three
kinds of event, each reported once per drive and in this order:

* **started**: the first frame went out (the playhead began to move);
* **mark**: the playhead passed the point of the audio where the client put a mark (marks in
  the order they came);
* **finished**: the Stop went out and the playhead passed the last audio sent (or the drive was
  cut short: then at once, ``interrupted`` when less was played than sent).

The vendor's callbacks (EventType 4, Status 2 driving and 4 ended) may confirm the estimate.
With ``vendor_grace_s`` > 0 (the gateway receives callbacks), an estimated start or finish
waits up to that long for the vendor's word and is reported VENDOR when it came in time,
ESTIMATED when it did not; with 0 it is reported ESTIMATED at once. A vendor's word that
comes first is reported at once. Marks are always estimated: the vendor says nothing of them.

Pure code: time comes in as ``now``; the caller asks :meth:`SpeechTracker.due` after every
input and at :meth:`SpeechTracker.next_at`, and :meth:`SpeechTracker.timings` once the drive
is over (how the estimate and the vendor's word compared: the metrics' skew).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from gateway.drive.playback import PlaybackModel
from gateway.errors import InvalidDrive, Reason

#: Marks per drive, and the longest mark name in bytes (UTF-8).
MAX_MARKS = 1000
MAX_MARK_NAME_BYTES = 256


class Source(enum.Enum):
    """How the gateway knows what the avatar played."""

    ESTIMATED = "estimated"
    VENDOR = "vendor"


class Heard(enum.Enum):
    """The kinds of playback event."""

    STARTED = "started"
    MARK = "mark"
    FINISHED = "finished"


@dataclass(frozen=True, slots=True)
class PlaybackEvent:
    """One thing the avatar did: began, reached a mark, or stopped speaking."""

    kind: Heard
    source: Source
    #: FINISHED: milliseconds of the drive's audio played.
    played_ms: int = 0
    #: FINISHED: cut short before everything sent was played.
    interrupted: bool = False
    #: MARK: the client's name for it, and where it is in the audio (ms).
    name: str = ""
    at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackTimings:
    """What one drive reported, and when the estimate and the vendor each said the avatar began
    and stopped (the tracker's clock; None where one of them said nothing).

    Attributes:
        started, finished: how PlaybackStarted / PlaybackFinished were reported (None: not).
        marks: MarkPlayed events reported.
        estimated_start: the first frame went out.
        vendor_start: the vendor's Status 2 arrived.
        estimated_end: the playhead passed the last audio after the Stop; None for a drive cut
            short (its end is the cut, not the playhead's).
        vendor_end: the vendor's Status 4 arrived.
        finished_at: when PlaybackFinished was reported.
    """

    started: Source | None = None
    finished: Source | None = None
    marks: int = 0
    estimated_start: float | None = None
    vendor_start: float | None = None
    estimated_end: float | None = None
    vendor_end: float | None = None
    finished_at: float | None = None

    @property
    def start_skew_s(self) -> float | None:
        """The vendor's start minus the estimate's (> 0: the vendor said it later)."""
        return _skew(self.estimated_start, self.vendor_start)

    @property
    def end_skew_s(self) -> float | None:
        """The vendor's end minus the estimate's (> 0: the vendor said it later)."""
        return _skew(self.estimated_end, self.vendor_end)


def _skew(estimated: float | None, vendor: float | None) -> float | None:
    return None if estimated is None or vendor is None else vendor - estimated


class SpeechTracker:
    """The playback events of one drive, from its playhead.

    Args:
        vendor_grace_s: how long an estimated start or finish waits for the vendor's word
            (0: callbacks are not received; report the estimate at once).
    """

    def __init__(self, *, vendor_grace_s: float = 0.0) -> None:
        self.vendor_grace_s = vendor_grace_s
        self._marks: deque[tuple[str, float]] = deque()
        self._marks_taken = 0
        self.started = False  # PlaybackStarted reported
        #: When PlaybackStarted was reported (the tracker's clock); None until it was.
        self.started_at: float | None = None
        self.finished = False  # PlaybackFinished reported
        self._vendor_started_at: float | None = None
        self._vendor_finished_at: float | None = None
        self._cut: tuple[float, float] | None = None  # (when, played ms) of an interrupted end
        self._reported: dict[Heard, Source] = {}  # how STARTED and FINISHED were reported
        self._marks_played = 0
        self._estimated_end: float | None = None  # the playhead's end, for a drive not cut
        self._finished_at: float | None = None
        #: The PlaybackFinished reported (None until then): what the avatar played.
        self.finish_event: PlaybackEvent | None = None

    # Inputs.

    def add_mark(self, name: str, at_ms: float) -> None:
        """A mark after ``at_ms`` of the drive's audio.

        Raises:
            InvalidDrive: BAD_MARK: an empty or too long name, or too many marks.
        """
        size = len(name.encode())
        if not 0 < size <= MAX_MARK_NAME_BYTES:
            raise InvalidDrive(
                Reason.BAD_MARK,
                f"a mark's name must be 1 to {MAX_MARK_NAME_BYTES} bytes, got {size}",
                field="mark.name",
            )
        if self._marks_taken >= MAX_MARKS:
            raise InvalidDrive(Reason.BAD_MARK, f"a drive may carry at most {MAX_MARKS} marks")
        self._marks_taken += 1
        self._marks.append((name, at_ms))

    def vendor_started(self, now: float) -> None:
        """The vendor said the avatar is driving this drive (Status 2)."""
        if self._vendor_started_at is None:
            self._vendor_started_at = now

    def vendor_finished(self, now: float) -> None:
        """The vendor said the drive ended (Status 4)."""
        if self._vendor_finished_at is None:
            self._vendor_finished_at = now

    def cut(self, now: float, playback: PlaybackModel | None) -> None:
        """The drive was cut short at ``now``: what was played so far is all that is played."""
        if self._cut is None:
            self._cut = (now, playback.playhead_ms(now) if playback else 0.0)

    # Outputs.

    def due(self, now: float, playback: PlaybackModel | None, stopped: bool) -> list[PlaybackEvent]:
        """The events due at ``now``, in order (each once). ``stopped``: the Stop went out."""
        events: list[PlaybackEvent] = []
        if self.finished:
            return events
        if not self.started:
            source = self._started_source(now, playback)
            if source is None:
                return events  # nothing played yet: no mark, no finish either
            self.started = True
            self.started_at = now
            self._reported[Heard.STARTED] = source
            events.append(PlaybackEvent(Heard.STARTED, source))
        played_ms = self._played_ms(now, playback)
        while self._marks and self._marks[0][1] <= played_ms + 1e-6:
            name, at_ms = self._marks.popleft()
            self._marks_played += 1
            events.append(
                PlaybackEvent(Heard.MARK, Source.ESTIMATED, name=name, at_ms=round(at_ms))
            )
        finished = self._finished_source(now, playback, stopped)
        if finished is not None:
            self.finished = True
            self._marks.clear()  # past the end: never played
            sent_ms = playback.sent_ms if playback else 0.0
            interrupted = self._cut is not None and played_ms < sent_ms - 1e-6
            if self._cut is None:
                played_ms = sent_ms  # all of it (the playhead's float arithmetic aside)
                self._estimated_end = playback.drained_at() if playback else None
            self._reported[Heard.FINISHED] = finished
            self._finished_at = now
            self.finish_event = PlaybackEvent(
                Heard.FINISHED, finished, played_ms=round(played_ms), interrupted=interrupted
            )
            events.append(self.finish_event)
        return events

    def next_at(self, now: float, playback: PlaybackModel | None, stopped: bool) -> float | None:
        """When :meth:`due` may next have something (None: only an input can change it)."""
        if self.finished or playback is None or playback.anchor is None:
            return None
        if self._cut is not None:
            return now
        candidates: list[float] = []
        if not self.started:
            candidates.append(playback.anchor + self.vendor_grace_s)
        if self._marks and self._marks[0][1] <= playback.sent_ms + 1e-6:
            candidates.append(self._time_of(playback, self._marks[0][1]))
        if stopped:
            drained = playback.drained_at()
            assert drained is not None
            candidates.append(drained + self.vendor_grace_s)
        return max(now, min(candidates)) if candidates else None

    def timings(self, playback: PlaybackModel | None) -> PlaybackTimings:
        """What was reported and when each side said the avatar began and stopped (call it
        once the drive is over; ``playback`` is its playhead model)."""
        return PlaybackTimings(
            started=self._reported.get(Heard.STARTED),
            finished=self._reported.get(Heard.FINISHED),
            marks=self._marks_played,
            estimated_start=playback.first_sent_at if playback else None,
            vendor_start=self._vendor_started_at,
            estimated_end=self._estimated_end,
            vendor_end=self._vendor_finished_at,
            finished_at=self._finished_at,
        )

    # Internals.

    def _started_source(self, now: float, playback: PlaybackModel | None) -> Source | None:
        if self._vendor_started_at is not None:
            return Source.VENDOR
        if playback is None or playback.anchor is None:
            return None
        if now >= playback.anchor + self.vendor_grace_s or self._cut is not None:
            return Source.ESTIMATED
        return None

    def _finished_source(
        self, now: float, playback: PlaybackModel | None, stopped: bool
    ) -> Source | None:
        if self._cut is not None:
            return Source.ESTIMATED
        if self._vendor_finished_at is not None and stopped:
            return Source.VENDOR
        if not stopped or playback is None:
            return None
        drained = playback.drained_at()
        if drained is not None and now >= drained + self.vendor_grace_s:
            return Source.ESTIMATED
        return None

    def played_ms(self, now: float, playback: PlaybackModel | None) -> float:
        """What the avatar played by ``now``: all of it once the vendor said it ended, what it
        had played when the drive was cut, else the playhead."""
        return self._played_ms(now, playback)

    def _played_ms(self, now: float, playback: PlaybackModel | None) -> float:
        if self._cut is not None:
            return self._cut[1]
        if self._vendor_finished_at is not None and playback is not None:
            return playback.sent_ms
        return playback.playhead_ms(now) if playback else 0.0

    @staticmethod
    def _time_of(playback: PlaybackModel, at_ms: float) -> float:
        """When the playhead reaches ``at_ms`` (playback must have begun)."""
        assert playback.anchor is not None
        return playback.anchor + at_ms / 1000.0
