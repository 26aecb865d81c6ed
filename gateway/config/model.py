"""The configuration's dataclasses: one frozen, validated dataclass per concern.

Each dataclass checks itself in ``__post_init__`` and reports *every* problem it finds at once,
as a :class:`~gateway.config.checks.ConfigProblems` listing ``(field, sentence)`` pairs, so a
bad value is found at start-up and never mid-drive. Units are in the field names (``_s``,
``_ms``, ``_bytes``). ``None`` turns an optional limit or feature off.
``GatewayConfig.for_test()`` gives the defaults the test suite uses (short timeouts, loopback).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.checks import (
    Checks,
    Problem,
    is_local_address,
    listen_problem,
)
from gateway.config.security import ANY_PROFILE, AuthConfig, TlsConfig
from gateway.drive.settings import DriveLimits, PacingSettings
from gateway.loops import EVENT_LOOPS
from gateway.registry.timing import LeaseTiming

VENDOR_API_URL = "https://aigc-digitalhuman-api.zegotech.cn/"
DEFAULT_PROFILE = "default"

#: CreateDigitalHumanStreamTask's default ``MaxIdleTime`` (zego-api.md §6).
DEFAULT_MAX_IDLE_TIME_S = 900.0

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: The usage metrics' own label values (``gateway/observability/usage.py``): the principal of
#: a drive no key authenticated, and both labels of the pairs beyond the cap. No API key or
#: profile may be named so, or its usage would mix with theirs.
ANONYMOUS_LABEL = "anonymous"
OTHER_LABEL = "other"
RESERVED_LABELS = frozenset({ANONYMOUS_LABEL, OTHER_LABEL})


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """One vendor account: the AppId, its ServerSecret, the secret that signs its callbacks
    ("" when none is configured), the timbre its text drives speak with when they name none
    (""), and the ``MaxIdleTime`` its tasks were created with (GetTask's idle deadline;
    the vendor's default 900 s); secrets are never printed (``repr=False``)."""

    app_id: int
    server_secret: str = field(repr=False)
    callback_secret: str = field(default="", repr=False)
    default_timbre_id: str = ""
    max_idle_time_s: float = DEFAULT_MAX_IDLE_TIME_S

    def __post_init__(self) -> None:
        checks = Checks()
        idle = self.max_idle_time_s
        if not 30 <= idle <= 86_400:
            checks.add("max_idle_time_s", f"must be in [30, 86400] s (the vendor's), got {idle!r}")
        if isinstance(self.app_id, bool) or not (0 < self.app_id < 2**32):
            checks.add("app_id", f"must be a Uint32 above 0, got {self.app_id!r}")
        if not self.server_secret:
            checks.add("server_secret", "must not be empty")
        checks.done()


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
    #: Warm the API's connection after this long without a call (0: off), below aiohttp's
    #: 15 s keep-alive, so a turn after a pause finds it open (gateway/upstream/warmup.py).
    api_warm_interval_s: float = 10.0
    #: The vendor's docs say to skip certificate verification; turn it on with a CA bundle.
    tls_verify: bool = False
    ca_file: str | None = None

    def __post_init__(self) -> None:
        checks = Checks()
        if not self.api_url.startswith(("http://", "https://")):
            checks.add("api_url", f"must be an http(s) URL, got {self.api_url!r}")
        checks.positive(
            self,
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
        )
        if self.api_warm_interval_s < 0:
            checks.add("api_warm_interval_s", f"must be >= 0, got {self.api_warm_interval_s}")
        checks.file("ca_file", self.ca_file)
        checks.done()

    @property
    def ws_end_bound_s(self) -> float:
        """The longest a drive told to end keeps its WebSocket open: a handshake under way
        completes, or a Stop waits out the send bound (ping interval + timeout); then the close
        (``ws_close_timeout_s``, plus ``DriveSession.close``'s 0.1 s) before it is aborted."""
        stall_s = self.ws_ping_interval_s + self.ws_ping_timeout_s
        return max(self.ws_handshake_timeout_s, stall_s) + self.ws_close_timeout_s + 0.1


@dataclass(frozen=True, kw_only=True)
class PacingConfig(PacingSettings):
    """The ``[pacing]`` section: the drive's own :class:`PacingSettings` (fields, defaults and
    ranges stated there once), its problems reported by setting name."""

    def __post_init__(self) -> None:
        checks = Checks()
        for name, message in self.problems():
            checks.add(name, message)
        checks.done()


@dataclass(frozen=True, kw_only=True)
class LimitsConfig(DriveLimits):
    """Bounds that keep one client from hurting the others; a drive's own bounds (chunk size,
    set-up buffer, idle and maximum time) are the :class:`DriveLimits` it inherits."""

    #: Concurrent drives of the whole gateway (RESOURCE_EXHAUSTED / GATEWAY_BUSY beyond).
    max_drives: int = 1000
    #: Concurrent drives of one API key that sets no ``max_drives`` of its own (None: no limit).
    max_drives_per_key: int | None = None
    queue_timeout_s: float = 30.0
    #: A Drive stream whose DriveConfig has not come this long after it opened ends
    #: (DEADLINE_EXCEEDED / CONFIG_TIMEOUT).
    config_timeout_s: float = 10.0
    #: How long a preempting drive waits for the holder's WebSocket to close.
    preempt_wait_s: float = 5.0
    #: Admission: refuse new drives (RESOURCE_EXHAUSTED / GATEWAY_OVERLOADED) while this
    #: process used more than this share of one core over the last second, or would with one
    #: more drive at the measured cost per drive (0: no check). From ``make bench`` on a 2-core
    #: VM shared with the simulator and the load generator: no stutter up to ~72 %, some at
    #: 75-80 %; raise it where the gateway has a core to itself ...
    admit_max_cpu: float = 0.7
    #: ... or while its event loop ran this late on average over the last second (0: no check).
    admit_max_loop_lag_ms: float = 5.0

    @classmethod
    def for_test(cls, **changes: Any) -> LimitsConfig:
        """Short waits, and no admission by load: in a test the process's CPU and loop lag
        are the test's (client, simulator and gateway in one loop), not the gateway's."""
        base: dict[str, Any] = {
            "idle_timeout_s": 5.0,
            "queue_timeout_s": 5.0,
            "preempt_wait_s": 2.0,
            "admit_max_cpu": 0.0,
            "admit_max_loop_lag_ms": 0.0,
        }
        return cls(**(base | changes))

    def __post_init__(self) -> None:
        checks = Checks()
        for name, message in self.problems():
            checks.add(name, message)
        checks.positive(
            self,
            "max_drives",
            "max_drives_per_key",
            "queue_timeout_s",
            "config_timeout_s",
            "preempt_wait_s",
        )
        if self.admit_max_cpu < 0:
            checks.add("admit_max_cpu", "must not be negative (0 turns the check off)")
        if self.admit_max_loop_lag_ms < 0:
            checks.add("admit_max_loop_lag_ms", "must not be negative (0 turns the check off)")
        checks.done()


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """The gRPC listener: address, TLS, HTTP/2 keepalive and stream limits, drain."""

    #: host:port, or unix:/path for a sidecar.
    listen: str = "127.0.0.1:50051"
    #: Where the vendor's callbacks are received (``POST /zego/callback``; the URL to give
    #: ZEGO support), host:port; TLS as the gRPC listener's. "" = none: playback events are
    #: the gateway's estimate alone.
    callback_listen: str = ""
    #: With callbacks, how long an estimated start or end of playback waits for the vendor's
    #: word before it is reported as the estimate.
    callback_grace_ms: int = 500
    tls: TlsConfig | None = None
    #: Serve a non-loopback address with neither TLS nor API keys (you were warned).
    allow_insecure: bool = False
    #: A second, plaintext listener serving only ``grpc.health.v1`` (for probes); "" = none.
    health_listen: str = ""
    #: SIGTERM/SIGINT: how long live drives may go on before they are stopped.
    drain_timeout_s: float = 20.0
    #: The server pings an idle connection this often (``grpc.keepalive_time_ms``) ...
    keepalive_time_s: float = 30.0
    #: ... and drops it when no answer comes within this (``grpc.keepalive_timeout_ms``).
    keepalive_timeout_s: float = 10.0
    #: Clients may ping no more often than this without data
    #: (``grpc.http2.min_ping_interval_without_data_ms``) ...
    min_ping_interval_s: float = 10.0
    #: ... and are sent GOAWAY after this many pings too early (``grpc.http2.max_ping_strikes``).
    max_ping_strikes: int = 2
    #: Concurrent streams (drives and calls) on one HTTP/2 connection.
    max_concurrent_streams: int = 1000
    #: ``redis://`` URL of what replicas share (the task registry, the vendor request rate);
    #: None: one process only.
    redis_url: str | None = None
    #: A drive's lease on its task, renewed every ``lease_renew_s``, lives this long unrenewed;
    #: a Redis call fails after ``redis_timeout_s``, retried once (docs/exclusivity.md).
    lease_ttl_s: float = 15.0
    lease_renew_s: float = 2.0
    redis_timeout_s: float = 1.0
    #: Let several gateway processes listen on the same host:port (SO_REUSEPORT; the kernel
    #: spreads connections over them). Needs ``redis_url``: the processes must share the
    #: task registry, or one task could be driven twice.
    reuse_port: bool = False
    #: The asyncio event loop: "uvloop" (libuv; less CPU per audio chunk) or "asyncio" (the
    #: standard library's).
    event_loop: str = "uvloop"

    def __post_init__(self) -> None:
        checks = Checks()
        if self.event_loop not in EVENT_LOOPS:
            checks.add("event_loop", f"must be uvloop or asyncio, got {self.event_loop!r}")
        if (problem := listen_problem(self.listen)) is not None:
            checks.add("listen", problem)
        if self.health_listen and (problem := listen_problem(self.health_listen)) is not None:
            checks.add("health_listen", problem)
        if self.callback_listen and (problem := listen_problem(self.callback_listen)) is not None:
            checks.add("callback_listen", problem)
        if self.callback_grace_ms < 0:
            checks.add("callback_grace_ms", "must not be negative")
        checks.positive(
            self,
            "drain_timeout_s",
            "keepalive_time_s",
            "keepalive_timeout_s",
            "min_ping_interval_s",
            "max_concurrent_streams",
            "lease_ttl_s",
            "lease_renew_s",
            "redis_timeout_s",
        )
        if self.max_ping_strikes < 0:
            checks.add("max_ping_strikes", "must not be negative")
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            checks.add("redis_url", "must be a redis://, rediss:// or unix:// URL")
        if self.reuse_port and self.redis_url is None:
            checks.add("reuse_port", "needs redis_url: processes sharing a port share tasks")
        if self.reuse_port and any(
            address.startswith("unix:") for address in (self.listen, self.health_listen)
        ):
            checks.add("reuse_port", "applies to host:port listeners, not unix: sockets")
        checks.done()


@dataclass(frozen=True, kw_only=True)
class ObservabilityConfig:
    """Metrics and logs."""

    #: host:port of the Prometheus endpoint (``/metrics``, ``/healthz``, ``/readyz``); "" = off.
    metrics_listen: str = "127.0.0.1:9464"
    #: ``json``, ``console``, or ``auto`` (JSON unless stderr is a terminal).
    log_format: str = "auto"
    log_level: str = "INFO"
    #: How many (API key, profile) pairs the usage metrics label per process; the drives of
    #: later pairs are counted as principal="other", profile="other".
    usage_label_limit: int = 100

    def __post_init__(self) -> None:
        checks = Checks()
        if isinstance(self.usage_label_limit, bool) or self.usage_label_limit < 0:
            checks.add("usage_label_limit", f"must be 0 or more, got {self.usage_label_limit!r}")
        if self.log_format not in ("auto", "json", "console"):
            checks.add("log_format", f"must be auto, json or console, got {self.log_format!r}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            checks.add(
                "log_level", f"must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}"
            )
        checks.done()


def lease_timing(server: ServerConfig, upstream: UpstreamConfig) -> LeaseTiming:
    """How the Redis registry keeps its leases under these settings."""
    return LeaseTiming(
        ttl_s=server.lease_ttl_s,
        renew_s=server.lease_renew_s,
        attempt_s=2 * server.redis_timeout_s,
        end_s=upstream.ws_end_bound_s,
    )


def cross_problems(
    profiles: Collection[str],
    default_profile: str,
    server: ServerConfig | None,
    auth: AuthConfig,
    upstream: UpstreamConfig | None = None,
) -> list[Problem]:
    """Problems between sections: profiles named but missing, an open insecure listener, a
    Redis lease too short for a drive to end in time.

    ``profiles`` are the names of the credential profiles; ``server`` (``upstream``) is None
    when it had problems of its own (what needs it is then not checked).
    """
    problems = []
    if server is not None and upstream is not None and server.redis_url is not None:
        if (problem := lease_timing(server, upstream).problem()) is not None:
            problems.append(Problem("server.lease_ttl_s", problem))
    for name in profiles:
        if not _PROFILE_NAME.match(name):
            problems.append(
                Problem(f"profiles.{name}", "is not a valid profile name (letters, digits, _.-)")
            )
        elif name in RESERVED_LABELS:
            problems.append(
                Problem(f"profiles.{name}", "is reserved: the usage metrics count under it")
            )
    if default_profile not in profiles:
        problems.append(
            Problem(
                "",
                f"no credentials for the default profile {default_profile!r}: set "
                "DHGW_ZEGO_APP_ID and DHGW_ZEGO_SERVER_SECRET (or DHGW_ZEGO_SERVER_SECRET_FILE)",
            )
        )
    for key in auth.api_keys:
        if key.name in RESERVED_LABELS:
            problems.append(
                Problem(
                    "auth.api_keys",
                    f"key name {key.name!r} is reserved: the usage metrics count under it",
                )
            )
        for profile in key.profiles:
            if profile != ANY_PROFILE and profile not in profiles:
                problems.append(
                    Problem(
                        "auth.api_keys", f"key {key.name!r} names an unknown profile {profile!r}"
                    )
                )
    if server is not None and not (
        is_local_address(server.listen)
        or server.tls is not None
        or auth.enabled
        or server.allow_insecure
    ):
        problems.append(
            Problem(
                "server.listen",
                f"{server.listen!r} is reachable from other machines, with neither TLS nor API "
                "keys: anyone there could spend the vendor account; configure TLS or API keys, "
                "or pass --allow-insecure (DHGW_ALLOW_INSECURE=on)",
            )
        )
    return problems


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """Everything the gateway needs; build it with :func:`load_config` or ``for_test()``."""

    profiles: Mapping[str, Credentials]
    default_profile: str = DEFAULT_PROFILE
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    pacing: PacingConfig = field(default_factory=PacingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)

    def __post_init__(self) -> None:
        checks = Checks()
        checks.problems.extend(
            cross_problems(
                self.profiles, self.default_profile, self.server, self.auth, self.upstream
            )
        )
        checks.done()

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
            limits=LimitsConfig.for_test(),
            server=ServerConfig(listen="127.0.0.1:0", drain_timeout_s=5.0),
            observability=ObservabilityConfig(metrics_listen="", log_format="console"),
        )
        return dataclasses.replace(config, **changes) if changes else config
