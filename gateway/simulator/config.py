"""Configuration of the vendor-cloud simulator.

One frozen dataclass, validated on construction. The defaults are the vendor's documented
values (zego-api.md §2, §5); tests shrink or disable them explicitly.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "CALLBACK_RETRY_DELAYS_S",
    "DEFAULT_SAMPLE_RATE",
    "SAMPLE_RATES",
    "SAMPLE_WIDTH_BYTES",
    "VENDOR_MAX_IDLE_TIME_S",
    "VENDOR_TTL_S",
    "SimulatorConfig",
]

SAMPLE_RATES = (16000, 24000)
"""The only ``Payload.SampleRate`` values of the Start command (zego-api.md §8)."""

DEFAULT_SAMPLE_RATE = 16000
"""``SampleRate`` when the Start command omits it (zego-api.md §8)."""

SAMPLE_WIDTH_BYTES = 2
"""16-bit PCM: the vendor's examples assume it; no API page states it (zego-api.md §9)."""

CALLBACK_RETRY_DELAYS_S = (2.0, 4.0, 8.0, 16.0, 32.0)
"""After a non-2xx answer the vendor retries up to 5 times, each this long after the previous
try (zego-api.md §12); ``SimulatorConfig.callback_retry_scale`` scales them for tests."""

VENDOR_MAX_IDLE_TIME_S = 900.0
"""CreateDigitalHumanStreamTask's default ``MaxIdleTime`` (zego-api.md §6)."""

VENDOR_TTL_S = 86400.0
"""CreateDigitalHumanStreamTask's default ``TTL`` (zego-api.md §6)."""

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
            close frame (simulator shutdown, or the end of the connection's task).
        callback_url: where to POST the server callbacks (zego-api.md §12); ``None``: none
            are sent (nor recorded). Needs ``callback_secret``.
        callback_secret: the CallbackSecret that signs callbacks (§12). Never logged.
        callback_timestamp_unit: the callbacks' ``Timestamp``: ``"ms"`` as the docs table
            says, or ``"s"`` as their examples show (§16).
        callback_retry_scale: multiplies the vendor's retry delays (2/4/8/16/32 s, §12).
        callback_timeout_s: how long one callback POST may take before it counts as failed.
        callback_cafile: a PEM CA bundle to verify an ``https`` callback URL with (else the
            system's trust store).
        render_latency_ms: from a drive's first audio to the avatar speaking it (Status 2);
            its playback runs this much behind the audio's arrival.
        task_init_s: how long a task stays Status 1 (initializing) after the simulator first
            sees it; DriveByWsStream answers 400000006 meanwhile (§11, §14a).
        task_max_idle_s: end a task (Status 5) not driven for this long (``MaxIdleTime``, §6;
            the vendor's default is 900 s); ``None``: never.
        task_ttl_s: end a task (Status 5) this long after it was first seen (``TTL``, §6; the
            vendor's default is 86400 s); ``None``: never.
        text_ms_per_char: how long the avatar speaks one character of a DriveByText ``Text`` at
            SpeechRate 0 (the vendor documents no rate: :mod:`.text`).
        timbres: the TimbreIds that exist; ``None`` accepts any. DriveByText with another gets
            Code 400000004 (zego-api.md §14a).
        advertised_port: the port written in the URLs it hands out (``WssAddress``), e.g. a
            proxy's in front of it; ``None``: the port it listens on.
        keepalive_timeout_s: how long an idle HTTP keep-alive connection stays open before
            the simulator closes it, as a vendor's front end does (aiohttp's default: 75 s).
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
    callback_url: str | None = None
    callback_secret: str | None = None
    callback_timestamp_unit: Literal["ms", "s"] = "ms"
    callback_retry_scale: float = 1.0
    callback_timeout_s: float = 5.0
    callback_cafile: str | None = None
    render_latency_ms: float = 0.0
    task_init_s: float = 0.0
    task_max_idle_s: float | None = None
    task_ttl_s: float | None = None
    text_ms_per_char: float = 120.0
    timbres: Collection[str] | None = None
    advertised_port: int | None = None
    keepalive_timeout_s: float = 75.0

    def __post_init__(self) -> None:
        if isinstance(self.app_id, bool) or not 0 < self.app_id <= _UINT32_MAX:
            raise ValueError(f"app_id must be an Uint32 above 0, got {self.app_id!r}")
        if not self.server_secret:
            raise ValueError("server_secret must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if self.advertised_port is not None and not 0 < self.advertised_port <= 65535:
            raise ValueError(f"advertised_port must be in [1, 65535], got {self.advertised_port}")
        if self.keepalive_timeout_s <= 0:
            raise ValueError("keepalive_timeout_s must be > 0")
        if self.requests_per_second is not None and self.requests_per_second < 1:
            raise ValueError("requests_per_second must be >= 1 or None")
        if self.underrun_tolerance_ms < 0:
            raise ValueError("underrun_tolerance_ms must be >= 0")
        if self.timestamp_tolerance_s < 0:
            raise ValueError("timestamp_tolerance_s must be >= 0")
        if self.websocket_close_timeout_s <= 0:
            raise ValueError("websocket_close_timeout_s must be > 0")
        self._check_callbacks()
        if self.render_latency_ms < 0 or self.task_init_s < 0:
            raise ValueError("render_latency_ms and task_init_s must be >= 0")
        for name in ("task_max_idle_s", "task_ttl_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 or None")
        if self.text_ms_per_char <= 0:
            raise ValueError("text_ms_per_char must be > 0")
        for name in ("tasks", "timbres"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str):
                # A bare string is a Collection[str] of characters: almost surely a mistake.
                raise ValueError(f"{name} must be a collection of ids, not a string")
            # Freeze a caller's list so that later mutation cannot change the simulator.
            object.__setattr__(self, name, frozenset(value))

    def _check_callbacks(self) -> None:
        if self.callback_url is not None:
            url = urlsplit(self.callback_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError("callback_url must be an http:// or https:// URL")
            if not self.callback_secret:
                raise ValueError("callback_url needs a callback_secret")
        if self.callback_timestamp_unit not in ("ms", "s"):
            raise ValueError("callback_timestamp_unit must be 'ms' or 's'")
        if self.callback_retry_scale < 0:
            raise ValueError("callback_retry_scale must be >= 0")
        if self.callback_timeout_s <= 0:
            raise ValueError("callback_timeout_s must be > 0")

    def __repr__(self) -> str:
        # The secret must never reach a log line, and reprs end up in logs.
        return (
            f"SimulatorConfig(app_id={self.app_id}, server_secret='***', host={self.host!r}, "
            f"port={self.port}, tasks={self.tasks!r}, "
            f"requests_per_second={self.requests_per_second}, "
            f"underrun_tolerance_ms={self.underrun_tolerance_ms}, tls={self.tls}, "
            f"callback_url={self.callback_origin!r}, callback_secret="
            f"{None if self.callback_secret is None else '***'}, "
            f"render_latency_ms={self.render_latency_ms}, "
            f"task_max_idle_s={self.task_max_idle_s}, task_ttl_s={self.task_ttl_s})"
        )

    @property
    def callback_origin(self) -> str | None:
        """The callback URL's scheme, host and port only: what a log line may show of it."""
        if self.callback_url is None:
            return None
        url = urlsplit(self.callback_url)
        host = url.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = "" if url.port is None else f":{url.port}"
        return f"{url.scheme}://{host}{port}"

    @property
    def advertised_host(self) -> str:
        """The host, as written in the URLs the simulator hands out (IPv6 in brackets)."""
        if self.host in ("", "0.0.0.0", "::"):
            return "127.0.0.1"
        if ":" in self.host:
            return f"[{self.host}]"
        return self.host
