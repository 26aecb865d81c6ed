"""``DriveByText``: the vendor's own TTS speaks a text (zego-api.md §10, §11b, §12, §14a).

The body, checked in this order (the first failure answers, Code 400000001 unless said):

- ``Text``: a string of 1 to 1800 characters, counted as Unicode code points (the vendor says
  "characters" and elsewhere says "bytes" where it means bytes, §6);
- ``InterruptMode``: absent, 0 (queue behind the current broadcast) or 1 (interrupt it);
- ``TTSConfig``: an object with a non-empty string ``TimbreId`` (400000004 when
  ``SimulatorConfig.timbres`` does not list it), and optional ``SpeechRate`` and ``PitchRate``,
  JSON integers in [-500, 500].

Where the vendor is silent (§17) the simulator chooses: the speech lasts ``text_ms_per_char``
per character at SpeechRate 0, ``2 ** (SpeechRate / 500)`` times faster otherwise (twice at
500, half at -500: the usual range of TTS speech rates, an inference), and plays on the avatar
as any drive does (:mod:`.playout`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_TEXT_CHARS", "TextDriveRecord", "TextRequest", "parse_text_drive", "render_ms"]

MAX_TEXT_CHARS = 1800
"""The longest ``Text`` (§11b)."""

RATE_BOUND = 500
"""``SpeechRate`` and ``PitchRate`` lie in [-500, 500] (§11b)."""

INVALID_PARAMS = 400000001
TIMBRE_NOT_FOUND = 400000004


@dataclass(frozen=True, slots=True, kw_only=True)
class TextRequest:
    """A valid DriveByText body."""

    text: str
    interrupt: bool
    timbre_id: str
    speech_rate: int = 0
    pitch_rate: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDriveRecord:
    """One DriveByText the simulator accepted. ``created_at`` is ``time.monotonic()``."""

    drive_id: str
    task_id: str
    created_at: float
    request: TextRequest
    render_ms: float
    """How long the avatar speaks it, uninterrupted."""

    def to_json(self) -> dict[str, Any]:
        request = self.request
        return {
            "drive_id": self.drive_id,
            "task_id": self.task_id,
            "created_at": self.created_at,
            "text": request.text,
            "characters": len(request.text),
            "interrupt_mode": int(request.interrupt),
            "timbre_id": request.timbre_id,
            "speech_rate": request.speech_rate,
            "pitch_rate": request.pitch_rate,
            "render_ms": self.render_ms,
        }


def render_ms(text: str, speech_rate: int, ms_per_char: float) -> float:
    """How long the avatar speaks ``text`` at ``speech_rate`` (see the module docstring)."""
    speed: float = 2.0 ** (speech_rate / RATE_BOUND)
    return len(text) * ms_per_char / speed


def _rate(tts: Mapping[str, Any], name: str) -> int | str:
    """An optional rate of ``TTSConfig``: its value, or the complaint about it."""
    value = tts.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        return f"TTSConfig.{name} must be an integer"
    if not -RATE_BOUND <= value <= RATE_BOUND:
        return f"TTSConfig.{name} must be in [-{RATE_BOUND}, {RATE_BOUND}]"
    return value


def parse_text_drive(
    body: Mapping[str, Any], timbres: Collection[str] | None
) -> TextRequest | tuple[int, str]:
    """The request of a DriveByText body, or the (Code, Message) that refuses it.

    ``TaskId`` is checked by the caller, as for every Action; ``timbres`` are the known
    TimbreIds (None: any).
    """
    text = body.get("Text")
    if not isinstance(text, str) or not text:
        return INVALID_PARAMS, "Text is required, a non-empty string"
    if len(text) > MAX_TEXT_CHARS:
        return INVALID_PARAMS, f"Text is longer than {MAX_TEXT_CHARS} characters"
    mode = body.get("InterruptMode", 0)
    if isinstance(mode, bool) or mode not in (0, 1):
        return INVALID_PARAMS, "InterruptMode must be 0 or 1"
    tts = body.get("TTSConfig")
    if not isinstance(tts, dict):
        return INVALID_PARAMS, "TTSConfig is required, an object"
    timbre = tts.get("TimbreId")
    if not isinstance(timbre, str) or not timbre:
        return INVALID_PARAMS, "TTSConfig.TimbreId is required, a non-empty string"
    speech, pitch = _rate(tts, "SpeechRate"), _rate(tts, "PitchRate")
    for value in (speech, pitch):
        if isinstance(value, str):
            return INVALID_PARAMS, value
    if timbres is not None and timbre not in timbres:
        return TIMBRE_NOT_FOUND, "timbre not found"
    assert isinstance(speech, int) and isinstance(pitch, int)
    return TextRequest(
        text=text,
        interrupt=mode == 1,
        timbre_id=timbre,
        speech_rate=speech,
        pitch_rate=pitch,
    )
