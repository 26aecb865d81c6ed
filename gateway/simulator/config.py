"""Configuration of the vendor-cloud simulator.

One frozen dataclass, validated on construction. The defaults are the vendor's documented
values (zego-api.md §2, §5); tests shrink or disable them explicitly.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "SAMPLE_RATES",
    "SAMPLE_WIDTH_BYTES",
    "SimulatorConfig",
]

SAMPLE_RATES = (16000, 24000)
"""The only ``Payload.SampleRate`` values of the Start command (zego-api.md §8)."""

DEFAULT_SAMPLE_RATE = 16000
"""``SampleRate`` when the Start command omits it (zego-api.md §8)."""

SAMPLE_WIDTH_BYTES = 2
"""16-bit PCM: the vendor's examples assume it; no API page states it (zego-api.md §9)."""

_UINT32_MAX = 2**32 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorConfig:
    """How the simulated cloud behaves.

    Args:
        app_id: the one AppId the simulator accepts (an Uint32, zego-api.md §2).
        server_secret: the ServerSecret that signs requests (zego-api.md §3). Never logged.
        host: the address to bind; WebSocket addresses handed out name this host
            (``127.0.0.1`` when it is a wildcard).
        port: the port to bind; 0 picks a free one (read it back from ``Simulator.port``).
        tasks: the TaskIds that exist; ``None`` accepts any TaskId. Unknown tasks get
            Code 400000005 (zego-api.md §14a).
        requests_per_second: admitted API requests per AppId in any sliding one-second window
            (zego-api.md §5); beyond it Code 400010009. ``None`` disables the limit.
        underrun_tolerance_ms: how late audio may arrive, relative to 1x playback, before it
            counts as one underrun (stutter) of the playback model.
        tls: serve ``https``/``wss`` with a throwaway certificate authority (trustme).
        timestamp_tolerance_s: the allowed clock deviation of ``Timestamp``; the vendor allows
            10 minutes (zego-api.md §2).
        websocket_close_timeout_s: how long a server-initiated close waits for the client's
            close frame (simulator shutdown only; the vendor never closes first, §8).
    """

    app_id: int
    server_secret: str
    host: str = "127.0.0.1"
    port: int = 0
    tasks: Collection[str] | None = None
    requests_per_second: int | None = 10
    underrun_tolerance_ms: float = 20.0
    tls: bool = False
    timestamp_tolerance_s: float = 600.0
    websocket_close_timeout_s: float = 1.0
    #: Keep every byte of audio (``DriveRecord.audio``); benchmarks turn it off and keep only
    #: the frames' arrival times and sizes.
    keep_audio: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.app_id, bool) or not 0 < self.app_id <= _UINT32_MAX:
            raise ValueError(f"app_id must be an Uint32 above 0, got {self.app_id!r}")
        if not self.server_secret:
            raise ValueError("server_secret must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if self.requests_per_second is not None and self.requests_per_second < 1:
            raise ValueError("requests_per_second must be >= 1 or None")
        if self.underrun_tolerance_ms < 0:
            raise ValueError("underrun_tolerance_ms must be >= 0")
        if self.timestamp_tolerance_s < 0:
            raise ValueError("timestamp_tolerance_s must be >= 0")
        if self.websocket_close_timeout_s <= 0:
            raise ValueError("websocket_close_timeout_s must be > 0")
        if self.tasks is not None:
            if isinstance(self.tasks, str):
                # A bare string is a Collection[str] of characters: almost surely a mistake.
                raise ValueError("tasks must be a collection of TaskIds, not a string")
            # Freeze a caller's list so that later mutation cannot change the simulator.
            object.__setattr__(self, "tasks", frozenset(self.tasks))

    def __repr__(self) -> str:
        # The secret must never reach a log line, and reprs end up in logs.
        return (
            f"SimulatorConfig(app_id={self.app_id}, server_secret='***', host={self.host!r}, "
            f"port={self.port}, tasks={self.tasks!r}, "
            f"requests_per_second={self.requests_per_second}, "
            f"underrun_tolerance_ms={self.underrun_tolerance_ms}, tls={self.tls})"
        )

    @property
    def advertised_host(self) -> str:
        """The host, as written in the URLs the simulator hands out (IPv6 in brackets)."""
        if self.host in ("", "0.0.0.0", "::"):
            return "127.0.0.1"
        if ":" in self.host:
            return f"[{self.host}]"
        return self.host
