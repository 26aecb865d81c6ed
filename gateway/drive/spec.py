"""What a client asked for: the validated, protobuf-free form of ``DriveConfig``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.drive.audio import InputFormat


@dataclass(frozen=True, slots=True)
class MarkRequest:
    """A client's mark between audio chunks (``DriveRequest.mark``)."""

    name: str


@dataclass(frozen=True, slots=True)
class InterruptRequest:
    """A client's barge-in (``DriveRequest.interrupt``): the avatar silent now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TextRequest:
    """What a text drive says (``DriveConfig.text``), checked by ``gateway/drive/text.py``.

    Attributes:
        text: 1 to 1800 characters (code points), not only white space.
        timbre_id: the vendor's voice; "" means the profile's default.
        speech_rate, pitch_rate: the vendor's SpeechRate and PitchRate, -500 to 500.
    """

    text: str
    timbre_id: str = ""
    speech_rate: int = 0
    pitch_rate: int = 0


class ConflictPolicy(enum.StrEnum):
    """What to do when the task already has an active drive."""

    REJECT = "REJECT"
    PREEMPT = "PREEMPT"
    QUEUE = "QUEUE"


@dataclass(frozen=True, kw_only=True)
class DriveSpec:
    """One drive's configuration, checked by the servicer before any upstream call.

    Attributes:
        task_id: the vendor's stream task.
        input: the client's audio format.
        output_rate_hz: 16000, 24000, or 0 for the contract's automatic choice.
        on_conflict: what to do when the task is busy.
        queue_timeout_s: how long a QUEUE drive may wait (None: the gateway's default).
        labels: free-form, logged and listed.
        profile: the credentials profile ("" = the default).
        text: a text drive (the vendor's TTS speaks it; no audio); None: an audio drive.
    """

    task_id: str
    input: InputFormat = field(default_factory=InputFormat)
    output_rate_hz: int = 0
    on_conflict: ConflictPolicy = ConflictPolicy.REJECT
    queue_timeout_s: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    profile: str = ""
    text: TextRequest | None = None
