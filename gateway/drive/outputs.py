"""What the drive core hands its shell: when to look again and why, and the final accounting."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Due(enum.Enum):
    """What :meth:`DriveCore.next_deadline` wakes the shell for."""

    FORMAT_TIMEOUT = "format_timeout"  # a WAV header did not come in time
    FRAMES = "frames"  # the pacer has audio to release
    PLAYBACK = "playback"  # the avatar may have begun, reached a mark, or finished
    PROGRESS = "progress"  # a Progress report may be due
    IDLE_TIMEOUT = "idle_timeout"  # the client stayed silent too long
    MAX_DURATION = "max_duration"  # the drive reached its longest


@dataclass(frozen=True, slots=True)
class Deadline:
    """The latest time the shell must call the core again, and why."""

    at: float
    due: Due


@dataclass(frozen=True, slots=True)
class Completion:
    """The final accounting of a drive (the Completed event)."""

    received_ms: int
    sent_ms: int
    bytes_sent: int
    frames_sent: int
    underruns: int
    stop_lag_ms: int
    #: Audio received but never sent, dropped by an interrupt.
    dropped_ms: int = 0
    #: What the avatar played (as in PlaybackFinished).
    played_ms: int = 0
    #: The drive was interrupted (the client's Interrupt).
    interrupted: bool = False
    #: From config to the first audio frame sent (0: none was).
    time_to_first_frame_ms: int = 0
    #: From config to PlaybackStarted (0: the avatar never spoke).
    time_to_speaking_ms: int = 0
    #: The audio the avatar was driven with: ``sent_ms``, or a text drive's rendered length.
    billed_ms: int = 0
