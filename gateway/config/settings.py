"""The table of settings: each one's TOML key, ``DHGW_*`` variable and ``--flag``.

One row per scalar setting, so the loader, the CLI flags, ``dh-gateway config`` and the
reference in ``docs/configuration.md`` (written from it by ``scripts/gen_config_docs.py``)
agree. A setting's variable is ``DHGW_<ENV>`` and its flag ``--<env-in-lower-case>`` (the
existing names, such as ``DHGW_LISTEN`` and ``DHGW_ZEGO_API_URL``, are kept as they were).
Credential profiles (``[profiles.NAME]``) and API keys (``[[auth.api_keys]]``) are tables, not
rows; their variables are listed in :data:`PROFILE_ENV` and :data:`API_KEYS_ENV`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from gateway.config.model import (
    LimitsConfig,
    ObservabilityConfig,
    PacingConfig,
    ServerConfig,
    UpstreamConfig,
)

Kind = Literal["str", "int", "float", "bool"]

#: The default profile's credentials from the environment (flags: the lower-case names,
#: except the secret itself, which never goes on a command line).
PROFILE_ENV = (
    "ZEGO_APP_ID",
    "ZEGO_SERVER_SECRET",
    "ZEGO_SERVER_SECRET_FILE",
    "ZEGO_CALLBACK_SECRET",
    "ZEGO_CALLBACK_SECRET_FILE",
    "ZEGO_DEFAULT_TIMBRE_ID",
    "ZEGO_MAX_IDLE_TIME_S",
)
#: Comma-separated SHA-256 hex digests of API keys; replaces the file's ``[[auth.api_keys]]``.
API_KEYS_ENV = "API_KEY_SHA256"
#: The TOML file to read (``--config``).
CONFIG_FILE_ENV = "CONFIG"

_SECTIONS: dict[str, type[Any]] = {
    "server": ServerConfig,
    "upstream": UpstreamConfig,
    "pacing": PacingConfig,
    "limits": LimitsConfig,
    "observability": ObservabilityConfig,
}


@dataclass(frozen=True)
class Setting:
    """One scalar setting.

    Attributes:
        section: the TOML table ("" = top level; "server.tls" for TLS).
        key: the TOML key, which is also the dataclass field.
        env: the variable's name without ``DHGW_``.
        kind: how text from a variable or a flag is read.
        help: one line for ``--help``.
        flag: whether ``dh-gateway serve`` / ``config`` take it as a flag.
        optional: "" from a variable or flag means None (unset).
        empty_is_value: "" is a value ("off"), not "use the default".
        switch: the flag takes no value (``--allow-insecure``).
    """

    section: str
    key: str
    env: str
    kind: Kind
    help: str
    flag: bool = True
    optional: bool = False
    empty_is_value: bool = False
    switch: bool = False

    @property
    def path(self) -> str:
        """The dotted TOML path, such as ``limits.max_drives``."""
        return f"{self.section}.{self.key}" if self.section else self.key

    @property
    def variable(self) -> str:
        return f"DHGW_{self.env}"

    @property
    def dest(self) -> str:
        """The keyword of :func:`~gateway.config.load_config` and the argparse ``dest``."""
        return self.env.lower()

    @property
    def option(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def default(self) -> Any:
        """The dataclass default (None for TLS files, which have none)."""
        cls = _SECTIONS.get(self.section)
        if cls is None:
            return "default" if self.key == "default_profile" else None
        for item in dataclasses.fields(cls):
            if item.name == self.key:
                return item.default
        raise AssertionError(f"{self.path} is not a field of {cls.__name__}")


S = Setting
SETTINGS: tuple[Setting, ...] = (
    S("", "default_profile", "DEFAULT_PROFILE", "str", "credentials profile of drives naming none"),
    # The listener.
    S("server", "listen", "LISTEN", "str", "host:port or unix:/path to listen on"),
    S("server", "callback_listen", "CALLBACK_LISTEN", "str",
      "host:port receiving the vendor's callbacks (empty: none)", empty_is_value=True),
    S("server", "callback_grace_ms", "CALLBACK_GRACE_MS", "int",
      "how long a playback estimate waits for the vendor's callback"),
    S("server", "allow_insecure", "ALLOW_INSECURE", "bool",
      "listen beyond loopback with neither TLS nor API keys", switch=True),
    S("server", "health_listen", "HEALTH_LISTEN", "str",
      "extra plaintext listener with grpc.health.v1 only (probes)"),
    S("server", "drain_timeout_s", "DRAIN_TIMEOUT_S", "float",
      "on SIGTERM/SIGINT, live drives may finish for this long"),
    S("server", "keepalive_time_s", "KEEPALIVE_TIME_S", "float",
      "ping an idle client connection this often"),
    S("server", "keepalive_timeout_s", "KEEPALIVE_TIMEOUT_S", "float",
      "drop a connection whose ping is unanswered this long"),
    S("server", "min_ping_interval_s", "MIN_PING_INTERVAL_S", "float",
      "clients may ping no more often than this"),
    S("server", "max_ping_strikes", "MAX_PING_STRIKES", "int",
      "early pings tolerated before GOAWAY"),
    S("server", "max_concurrent_streams", "MAX_CONCURRENT_STREAMS", "int",
      "concurrent streams on one HTTP/2 connection"),
    S("server", "redis_url", "REDIS_URL", "str",
      "Redis shared by replicas for task exclusivity (unset: this process only)", optional=True),
    S("server", "lease_ttl_s", "LEASE_TTL_S", "float",
      "a drive's hold on its task lives this long in Redis unrenewed"),
    S("server", "lease_renew_s", "LEASE_RENEW_S", "float",
      "renew a drive's hold on its task this often"),
    S("server", "redis_timeout_s", "REDIS_TIMEOUT_S", "float",
      "a Redis call counts as failed after this (retried once)"),
    S("server", "reuse_port", "REUSE_PORT", "bool",
      "several processes share the listen address (SO_REUSEPORT; needs REDIS_URL)"),
    S("server", "event_loop", "EVENT_LOOP", "str", "uvloop or asyncio"),
    S("server.tls", "cert_file", "TLS_CERT_FILE", "str", "PEM certificate chain: serve TLS",
      optional=True),
    S("server.tls", "key_file", "TLS_KEY_FILE", "str", "PEM private key of the certificate",
      optional=True),
    S("server.tls", "client_ca_file", "TLS_CLIENT_CA_FILE", "str",
      "PEM CA bundle: require client certificates (mutual TLS)", optional=True),
    # Limits.
    S("limits", "max_drives", "MAX_DRIVES", "int", "concurrent drives of the gateway"),
    S("limits", "max_drives_per_key", "MAX_DRIVES_PER_KEY", "int",
      "concurrent drives of one API key (unless the key sets its own)", optional=True),
    S("limits", "max_chunk_bytes", "MAX_CHUNK_BYTES", "int", "largest audio message"),
    S("limits", "setup_buffer_bytes", "SETUP_BUFFER_BYTES", "int",
      "audio buffered while a drive is set up"),
    S("limits", "idle_timeout_s", "IDLE_TIMEOUT_S", "float",
      "the client silent this long while audio is wanted ends a drive"),
    S("limits", "max_drive_s", "MAX_DRIVE_S", "float", "longest drive"),
    S("limits", "format_timeout_s", "FORMAT_TIMEOUT_S", "float",
      "how long a WAV drive may wait for its header (empty: the idle timeout)", optional=True),
    S("limits", "text_ms_per_char", "TEXT_MS_PER_CHAR", "float",
      "a text drive's estimated speech per character, without callbacks"),
    S("limits", "queue_timeout_s", "QUEUE_TIMEOUT_S", "float", "default wait of a QUEUE drive"),
    S("limits", "config_timeout_s", "CONFIG_TIMEOUT_S", "float",
      "a Drive stream must send its DriveConfig within this"),
    S("limits", "preempt_wait_s", "PREEMPT_WAIT_S", "float",
      "how long a PREEMPT drive waits for the holder to close"),
    S("limits", "admit_max_cpu", "ADMIT_MAX_CPU", "float",
      "refuse new drives above this share of one core (0: off)"),
    S("limits", "admit_max_loop_lag_ms", "ADMIT_MAX_LOOP_LAG_MS", "float",
      "refuse new drives while the event loop runs this late (0: off)"),
    # Pacing.
    S("pacing", "enabled", "PACING", "bool", "pace audio to the avatar's playback"),
    S("pacing", "lead_ms", "PACING_LEAD_MS", "int", "how far ahead of the playhead audio may go"),
    S("pacing", "max_frame_ms", "MAX_FRAME_MS", "int", "largest WebSocket frame, in ms of audio"),
    S("pacing", "underrun_tolerance_ms", "UNDERRUN_TOLERANCE_MS", "int",
      "lateness counted as an underrun"),
    S("pacing", "convert_prebuffer_ms", "CONVERT_PREBUFFER_MS", "int",
      "converted audio gathered before the first frame (resampler blocks)"),
    S("pacing", "progress_interval_ms", "PROGRESS_INTERVAL_MS", "int",
      "Progress reports every this many ms (250-1000)"),
    # The vendor.
    S("upstream", "api_url", "ZEGO_API_URL", "str", "the vendor API's base URL"),
    S("upstream", "tls_verify", "ZEGO_TLS_VERIFY", "bool", "verify the vendor's certificates"),
    S("upstream", "ca_file", "ZEGO_CA_FILE", "str", "CA bundle for the vendor", optional=True),
    S("upstream", "rate_limit_budget_s", "RATE_LIMIT_BUDGET_S", "float",
      "time spent waiting out the vendor's rate limit"),
    S("upstream", "connect_timeout_s", "UPSTREAM_CONNECT_TIMEOUT_S", "float", "vendor connect"),
    S("upstream", "request_timeout_s", "UPSTREAM_REQUEST_TIMEOUT_S", "float", "vendor request"),
    S("upstream", "retry_budget_s", "UPSTREAM_RETRY_BUDGET_S", "float", "time spent retrying"),
    S("upstream", "backoff_initial_s", "UPSTREAM_BACKOFF_INITIAL_S", "float", "first backoff"),
    S("upstream", "backoff_max_s", "UPSTREAM_BACKOFF_MAX_S", "float", "longest backoff"),
    S("upstream", "requests_per_second", "UPSTREAM_REQUESTS_PER_SECOND", "float",
      "vendor API calls per second and AppId (all replicas on one redis_url together)"),
    S("upstream", "ws_handshake_timeout_s", "UPSTREAM_WS_HANDSHAKE_TIMEOUT_S", "float",
      "WebSocket handshake"),
    S("upstream", "ws_ping_interval_s", "UPSTREAM_WS_PING_INTERVAL_S", "float",
      "WebSocket ping interval"),
    S("upstream", "ws_ping_timeout_s", "UPSTREAM_WS_PING_TIMEOUT_S", "float",
      "WebSocket pong timeout"),
    S("upstream", "ws_close_timeout_s", "UPSTREAM_WS_CLOSE_TIMEOUT_S", "float",
      "WebSocket close handshake"),
    S("upstream", "api_warm_interval_s", "UPSTREAM_API_WARM_INTERVAL_S", "float",
      "keep the API connection open: a HEAD after this long idle (0 = off)"),
    # Observability.
    S("observability", "metrics_listen", "METRICS_LISTEN", "str",
      'host:port of the metrics endpoint ("" = off)', empty_is_value=True),
    S("observability", "log_format", "LOG_FORMAT", "str", "auto, json or console"),
    S("observability", "usage_label_limit", "USAGE_LABEL_LIMIT", "int",
      "(API key, profile) pairs the usage metrics label; the rest count as other"),
    # A global flag of dh-gateway (before the command), so no per-command flag.
    S("observability", "log_level", "LOG_LEVEL", "str", "DEBUG, INFO, WARNING, ERROR",
      flag=False),
)  # fmt: skip

BY_DEST = {setting.dest: setting for setting in SETTINGS}
#: Flags that are not rows: the default profile's AppId and secret file.
PROFILE_FLAGS = ("zego_app_id", "zego_server_secret_file")
