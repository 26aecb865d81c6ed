"""Configuration: frozen, validated dataclasses, and their loading from flags, environment, TOML.

* :mod:`gateway.config.model`: one dataclass per concern, each validating itself
  (:mod:`gateway.config.checks`: how they collect and report problems); those of TLS and the
  API keys in :mod:`gateway.config.security`.
* :mod:`gateway.config.settings`: the table of settings (TOML key, ``DHGW_*`` variable, flag).
* :mod:`gateway.config.load`: :func:`load_config` (flags > environment > TOML file > defaults).
* :mod:`gateway.config.dump`: the effective configuration as TOML or JSON, secrets masked.
"""

from gateway.config.checks import ConfigProblems, is_local_address
from gateway.config.load import load_config
from gateway.config.model import (
    Credentials,
    GatewayConfig,
    LimitsConfig,
    ObservabilityConfig,
    PacingConfig,
    ServerConfig,
    UpstreamConfig,
)
from gateway.config.security import ANY_PROFILE, ApiKey, AuthConfig, TlsConfig

__all__ = [
    "ANY_PROFILE",
    "ApiKey",
    "AuthConfig",
    "ConfigProblems",
    "Credentials",
    "GatewayConfig",
    "LimitsConfig",
    "ObservabilityConfig",
    "PacingConfig",
    "ServerConfig",
    "TlsConfig",
    "UpstreamConfig",
    "is_local_address",
    "load_config",
]
