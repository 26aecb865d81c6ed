"""Configuration: one frozen, validated dataclass per concern.

Each dataclass checks itself in ``__post_init__`` and raises :class:`~gateway.errors.ConfigError`
with one clear sentence, so a bad value is found at start-up and never mid-drive. Units are in
the field names (``_s``, ``_ms``, ``_bytes``). ``GatewayConfig.for_test()`` gives the defaults
the test suite uses (short timeouts, loopback).

Loading (flags > ``DHGW_*`` environment) lives in :func:`load_config`, a pure function of the
environment mapping and the flag overrides.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError

VENDOR_API_URL = "https://aigc-digitalhuman-api.zegotech.cn/"
DEFAULT_PROFILE = "default"


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """One vendor account: the AppId and its ServerSecret (never printed: ``repr=False``)."""

    app_id: int
    server_secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not (0 < self.app_id < 2**32):
            raise ConfigError(f"app_id must be a Uint32 above 0, got {self.app_id!r}")
        if not self.server_secret:
            raise ConfigError("server_secret must not be empty")


@dataclass(frozen=True, kw_only=True)
class UpstreamConfig:
    """How the gateway talks to the vendor's HTTP API and WebSocket."""

    api_url: str = VENDOR_API_URL
    connect_timeout_s: float = 3.0
    request_timeout_s: float = 10.0
    #: Total time spent retrying transport errors, 5xx and "busy" answers.
    retry_budget_s: float = 5.0
    #: Total time spent retrying rate-limit answers: waiting beats failing an utterance.
    rate_limit_budget_s: float = 15.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 2.0
    #: The vendor's documented limit for one AppId.
    requests_per_second: float = 10.0
    ws_handshake_timeout_s: float = 5.0
    #: Keepalive: a ping every interval; no pong within the timeout means the connection is dead.
    ws_ping_interval_s: float = 1.0
    ws_ping_timeout_s: float = 1.0
    ws_close_timeout_s: float = 2.0
    #: The vendor's docs say to skip certificate verification; turn it on with a CA bundle.
    tls_verify: bool = False
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.api_url.startswith(("http://", "https://")):
            raise ConfigError(f"api_url must be an http(s) URL, got {self.api_url!r}")
        for name in (
            "connect_timeout_s",
            "request_timeout_s",
            "retry_budget_s",
            "rate_limit_budget_s",
            "backoff_initial_s",
            "backoff_max_s",
            "requests_per_second",
            "ws_handshake_timeout_s",
            "ws_ping_interval_s",
            "ws_ping_timeout_s",
            "ws_close_timeout_s",
        ):
            _positive(name, getattr(self, name))
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise ConfigError(f"ca_file {self.ca_file!r} does not exist")


@dataclass(frozen=True, kw_only=True)
class PacingConfig:
    """How audio is paced toward the avatar (see ``gateway/drive/pacing.py``)."""

    enabled: bool = True
    #: How far ahead of the avatar's estimated playhead audio may be sent.
    lead_ms: int = 1000
    #: Largest WebSocket frame, in milliseconds of audio.
    max_frame_ms: int = 100
    #: Audio later than this behind the playhead counts as an underrun (a stutter).
    underrun_tolerance_ms: int = 20

    def __post_init__(self) -> None:
        _positive("lead_ms", self.lead_ms)
        _positive("max_frame_ms", self.max_frame_ms)
        if self.underrun_tolerance_ms < 0:
            raise ConfigError("underrun_tolerance_ms must not be negative")


@dataclass(frozen=True, kw_only=True)
class LimitsConfig:
    """Bounds that keep one client from hurting the others."""

    max_drives: int = 1000
    max_chunk_bytes: int = 512 * 1024
    #: Audio kept while a drive is being set up (before Start); the client is held back beyond.
    setup_buffer_bytes: int = 4 * 1024 * 1024
    idle_timeout_s: float = 10.0
    max_drive_s: float = 3600.0
    queue_timeout_s: float = 30.0
    #: How long a preempting drive waits for the holder's WebSocket to close.
    preempt_wait_s: float = 5.0

    def __post_init__(self) -> None:
        for name in (
            "max_drives",
            "max_chunk_bytes",
            "setup_buffer_bytes",
            "idle_timeout_s",
            "max_drive_s",
            "queue_timeout_s",
            "preempt_wait_s",
        ):
            _positive(name, getattr(self, name))


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """The gRPC listener."""

    listen: str = "127.0.0.1:50051"

    def __post_init__(self) -> None:
        if not self.listen:
            raise ConfigError("listen must not be empty")


@dataclass(frozen=True, kw_only=True)
class ObservabilityConfig:
    """Metrics and logs."""

    #: host:port of the Prometheus endpoint (``/metrics``, ``/healthz``, ``/readyz``); "" = off.
    metrics_listen: str = "127.0.0.1:9464"
    #: ``json``, ``console``, or ``auto`` (JSON unless stderr is a terminal).
    log_format: str = "auto"
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.log_format not in ("auto", "json", "console"):
            raise ConfigError(f"log_format must be auto, json or console, got {self.log_format!r}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(
                f"log_level must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}"
            )


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """Everything the gateway needs; build it with :func:`load_config` or ``for_test()``."""

    profiles: Mapping[str, Credentials]
    default_profile: str = DEFAULT_PROFILE
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    pacing: PacingConfig = field(default_factory=PacingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)

    def __post_init__(self) -> None:
        if self.default_profile not in self.profiles:
            raise ConfigError(
                f"no credentials for the default profile {self.default_profile!r}: "
                "set DHGW_ZEGO_APP_ID and DHGW_ZEGO_SERVER_SECRET (or DHGW_ZEGO_SERVER_SECRET_FILE)"
            )

    def credentials(self, profile: str) -> Credentials | None:
        """The credentials of ``profile`` ("" = the default), or None when there is none."""
        return self.profiles.get(profile or self.default_profile)

    def replace(self, **changes: Any) -> GatewayConfig:
        """A copy with some top-level fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def for_test(
        cls, *, app_id: int, server_secret: str, api_url: str, **changes: Any
    ) -> GatewayConfig:
        """Test defaults: loopback, short timeouts and budgets, so failures show in seconds."""
        config = cls(
            profiles={DEFAULT_PROFILE: Credentials(app_id=app_id, server_secret=server_secret)},
            upstream=UpstreamConfig(
                api_url=api_url,
                connect_timeout_s=1.0,
                request_timeout_s=2.0,
                retry_budget_s=2.0,
                rate_limit_budget_s=4.0,
                backoff_initial_s=0.02,
                backoff_max_s=0.2,
                ws_handshake_timeout_s=2.0,
                ws_ping_interval_s=0.5,
                ws_ping_timeout_s=0.5,
                ws_close_timeout_s=1.0,
            ),
            limits=LimitsConfig(idle_timeout_s=5.0, queue_timeout_s=5.0, preempt_wait_s=2.0),
            server=ServerConfig(listen="127.0.0.1:0"),
            observability=ObservabilityConfig(metrics_listen="", log_format="console"),
        )
        return dataclasses.replace(config, **changes) if changes else config


def load_config(environ: Mapping[str, str] | None = None, **flags: Any) -> GatewayConfig:
    """Build the configuration from ``DHGW_*`` variables, with ``flags`` (not None) winning.

    Raises:
        ConfigError: one sentence naming the variable at fault.
    """
    env = dict(os.environ if environ is None else environ)
    given = {k: v for k, v in flags.items() if v is not None}

    def get(name: str, default: str | None = None) -> str | None:
        flag = name.lower()
        if flag in given:
            return str(given[flag])
        return env.get(f"DHGW_{name}", default)

    def number(name: str, kind: type[int] | type[float], default: float) -> Any:
        raw = get(name)
        if raw is None or raw == "":
            return kind(default)
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(f"DHGW_{name} must be a number, got {raw!r}") from None

    def boolean(name: str, default: bool) -> bool:
        raw = get(name)
        if raw is None or raw == "":
            return default
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "on", "yes"):
            return True
        if lowered in ("0", "false", "off", "no"):
            return False
        raise ConfigError(f"DHGW_{name} must be on or off, got {raw!r}")

    app_id_raw = get("ZEGO_APP_ID")
    secret = get("ZEGO_SERVER_SECRET")
    secret_file = get("ZEGO_SERVER_SECRET_FILE")
    if not secret and secret_file:
        try:
            secret = Path(secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"DHGW_ZEGO_SERVER_SECRET_FILE cannot be read: {exc}") from exc
    profiles: dict[str, Credentials] = {}
    if app_id_raw or secret:
        if not app_id_raw or not secret:
            raise ConfigError(
                "set both DHGW_ZEGO_APP_ID and DHGW_ZEGO_SERVER_SECRET (or _SECRET_FILE)"
            )
        try:
            app_id = int(app_id_raw)
        except ValueError:
            raise ConfigError(f"DHGW_ZEGO_APP_ID must be a number, got {app_id_raw!r}") from None
        profiles[DEFAULT_PROFILE] = Credentials(app_id=app_id, server_secret=secret)

    defaults_up = UpstreamConfig()
    defaults_limits = LimitsConfig()
    defaults_pacing = PacingConfig()
    return GatewayConfig(
        profiles=profiles,
        upstream=UpstreamConfig(
            api_url=get("ZEGO_API_URL", VENDOR_API_URL) or VENDOR_API_URL,
            tls_verify=boolean("ZEGO_TLS_VERIFY", defaults_up.tls_verify),
            ca_file=get("ZEGO_CA_FILE") or None,
            rate_limit_budget_s=number(
                "RATE_LIMIT_BUDGET_S", float, defaults_up.rate_limit_budget_s
            ),
        ),
        pacing=PacingConfig(
            enabled=boolean("PACING", defaults_pacing.enabled),
            lead_ms=number("PACING_LEAD_MS", int, defaults_pacing.lead_ms),
            max_frame_ms=number("MAX_FRAME_MS", int, defaults_pacing.max_frame_ms),
        ),
        limits=LimitsConfig(
            max_drives=number("MAX_DRIVES", int, defaults_limits.max_drives),
            idle_timeout_s=number("IDLE_TIMEOUT_S", float, defaults_limits.idle_timeout_s),
            max_drive_s=number("MAX_DRIVE_S", float, defaults_limits.max_drive_s),
            queue_timeout_s=number("QUEUE_TIMEOUT_S", float, defaults_limits.queue_timeout_s),
        ),
        server=ServerConfig(listen=get("LISTEN", "127.0.0.1:50051") or "127.0.0.1:50051"),
        observability=ObservabilityConfig(
            metrics_listen=get("METRICS_LISTEN", "127.0.0.1:9464") or "",
            log_format=get("LOG_FORMAT", "auto") or "auto",
            log_level=get("LOG_LEVEL", "INFO") or "INFO",
        ),
    )
