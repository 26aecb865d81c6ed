"""The drive core's own settings: built from the gateway's configuration at the edge.

``gateway.drive`` imports nothing from the rest of the gateway but its error types, so the core
is tested with plain numbers; ``gateway.service`` copies the validated ``PacingConfig`` into
:class:`PacingSettings` (the same field names).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.drive.progress import MAX_INTERVAL_S, MIN_INTERVAL_S


@dataclass(frozen=True, slots=True, kw_only=True)
class PacingSettings:
    """How a drive paces audio toward the avatar and how often it reports Progress.

    Attributes:
        enabled: False forwards audio as received (still split to ``max_frame_ms``).
        lead_ms: how far ahead of the avatar's estimated playhead audio may be sent.
        max_frame_ms: largest WebSocket frame, in milliseconds of audio.
        underrun_tolerance_ms: lateness forgiven before an underrun (a stutter) is counted.
        convert_prebuffer_ms: converted audio gathered before the first frame (0: none).
        progress_interval_ms: how often Progress is reported while audio flows.

    Raises:
        ValueError: a value out of range (the configuration layer reports it first, by name).
    """

    enabled: bool = True
    lead_ms: int = 1000
    max_frame_ms: int = 100
    underrun_tolerance_ms: float = 20
    convert_prebuffer_ms: int = 40
    progress_interval_ms: int = 500

    def __post_init__(self) -> None:
        if self.lead_ms <= 0 or self.max_frame_ms <= 0:
            raise ValueError("lead_ms and max_frame_ms must be positive")
        if not MIN_INTERVAL_S * 1000 <= self.progress_interval_ms <= MAX_INTERVAL_S * 1000:
            raise ValueError("progress_interval_ms must be between 250 and 1000")
        if self.underrun_tolerance_ms < 0:
            raise ValueError("underrun_tolerance_ms must not be negative")
        if not 0 <= self.convert_prebuffer_ms <= self.lead_ms:
            raise ValueError("convert_prebuffer_ms must be between 0 and lead_ms")
