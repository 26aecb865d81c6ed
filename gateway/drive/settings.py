"""The drive core's own settings, and the one place their fields, defaults and ranges are stated.

``gateway.drive`` imports nothing from the rest of the gateway but its error types, so the core
is tested with plain numbers. The configuration's ``[pacing]`` and ``[limits]`` sections
(``gateway.config.PacingConfig``, ``LimitsConfig``) are subclasses that report ``problems()``
by setting name, so a drive takes ``config.pacing`` and ``config.limits`` as they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from gateway.drive.progress import MAX_INTERVAL_S, MIN_INTERVAL_S


def _not_positive(owner: object, names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (name, f"must be a positive number, got {value!r}")
        for name in names
        if (value := getattr(owner, name)) is not None
        and (isinstance(value, bool) or not (math.isfinite(value) and value > 0))
    ]


class _Checked:
    """Settings that check themselves once built: every problem of ``problems()`` at once."""

    def __post_init__(self) -> None:
        if problems := self.problems():
            raise ValueError("; ".join(f"{name} {message}" for name, message in problems))

    def problems(self) -> list[tuple[str, str]]:
        """Each field out of range, with what is wrong with it (empty when all are valid)."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class PacingSettings(_Checked):
    """How audio is paced toward the avatar (see ``pacing.py``), and how often the client hears
    how far it got.

    Raises:
        ValueError: a value out of range (every problem of :meth:`problems`, in one message).
    """

    enabled: bool = True
    #: How far ahead of the avatar's estimated playhead audio may be sent.
    lead_ms: int = 1000
    #: Largest WebSocket frame, in milliseconds of audio.
    max_frame_ms: int = 100
    #: Audio later than this behind the playhead counts as an underrun (a stutter).
    underrun_tolerance_ms: int = 20
    #: Converted audio leaves the resampler in blocks (about 35 ms): gather this much before
    #: the first frame so the avatar starts with a cushion (0: none). Not used when no
    #: conversion is needed.
    convert_prebuffer_ms: int = 40
    #: How often a drive reports Progress while audio flows. The contract allows 250-1000: each
    #: report costs about 0.15 ms of CPU, a tenth of a 100 ms-chunk stream's second
    #: (docs/performance.md).
    progress_interval_ms: int = 500

    def problems(self) -> list[tuple[str, str]]:
        """Each field out of range, with what is wrong with it (empty when all are valid)."""
        found = _not_positive(self, ("lead_ms", "max_frame_ms"))
        low, high = round(MIN_INTERVAL_S * 1000), round(MAX_INTERVAL_S * 1000)
        if not low <= self.progress_interval_ms <= high:
            found.append(
                (
                    "progress_interval_ms",
                    f"must be between {low} and {high} (the contract's bounds)",
                )
            )
        if self.underrun_tolerance_ms < 0:
            found.append(("underrun_tolerance_ms", "must not be negative"))
        if not 0 <= self.convert_prebuffer_ms <= self.lead_ms:
            found.append(("convert_prebuffer_ms", "must be between 0 and lead_ms"))
        return found


@dataclass(frozen=True, kw_only=True)
class DriveLimits(_Checked):
    """Bounds on one drive: how big its chunks, how long it may stay silent or run.

    Raises:
        ValueError: a value out of range (every problem of :meth:`problems`, in one message).
    """

    #: Largest audio message; the gRPC message limit is this plus room for the framing.
    max_chunk_bytes: int = 512 * 1024
    #: Audio kept while a drive is being set up (before Start); the client is held back beyond.
    setup_buffer_bytes: int = 4 * 1024 * 1024
    #: A streaming drive ends (IDLE_TIMEOUT) when the client sends nothing for this long while
    #: the gateway wants audio (time it spends pacing out what it already has does not count).
    idle_timeout_s: float = 10.0
    #: A drive ends (MAX_DURATION) this long after its Start.
    max_drive_s: float = 3600.0
    #: A WAV drive whose header is not complete this long after its config ends
    #: (FORMAT_TIMEOUT); it waits for its header before it takes the task. None: the idle
    #: timeout.
    format_timeout_s: float | None = None
    #: A text drive's speech is estimated at this many ms per character (at speech_rate 0;
    #: ``gateway/drive/text.py``) where no vendor callback says when it ended: about 8
    #: characters a second, between English (~14) and Chinese (~4) TTS. A pure estimate.
    text_ms_per_char: float = 120.0

    @property
    def format_wait_s(self) -> float:
        """How long a drive may wait for its audio format."""
        return self.idle_timeout_s if self.format_timeout_s is None else self.format_timeout_s

    def problems(self) -> list[tuple[str, str]]:
        """Each field out of range, with what is wrong with it (empty when all are valid)."""
        return _not_positive(self, tuple(f.name for f in fields(DriveLimits)))
