"""The drive core's own settings, and the one place their fields, defaults and ranges are stated.

``gateway.drive`` imports nothing from the rest of the gateway but its error types, so the core
is tested with plain numbers. The configuration's ``[pacing]`` section
(``gateway.config.PacingConfig``) is a subclass that reports :meth:`PacingSettings.problems`
by setting name, so a drive takes ``config.pacing`` as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.drive.progress import MAX_INTERVAL_S, MIN_INTERVAL_S


@dataclass(frozen=True, kw_only=True)
class PacingSettings:
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

    def __post_init__(self) -> None:
        if problems := self.problems():
            raise ValueError("; ".join(f"{name} {message}" for name, message in problems))

    def problems(self) -> list[tuple[str, str]]:
        """Each field out of range, with what is wrong with it (empty when all are valid)."""
        found = [
            (name, f"must be a positive number, got {value!r}")
            for name in ("lead_ms", "max_frame_ms")
            if isinstance(value := getattr(self, name), bool)
            or not (math.isfinite(value) and value > 0)
        ]
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
