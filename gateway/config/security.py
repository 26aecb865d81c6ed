"""Who may call the gateway and how: TLS on the listener, and the clients' API keys.

Frozen, validated dataclasses like the rest of :mod:`gateway.config.model`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from gateway.config.checks import Checks

__all__ = ["ANY_PROFILE", "ApiKey", "AuthConfig", "TlsConfig"]

#: In an API key's ``profiles``: every credentials profile.
ANY_PROFILE = "*"

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, kw_only=True)
class TlsConfig:
    """TLS on the gRPC listener; a ``client_ca_file`` makes it mutual (client certificates)."""

    cert_file: str
    key_file: str
    #: CA bundle that client certificates must chain to; None: clients need no certificate.
    client_ca_file: str | None = None

    def __post_init__(self) -> None:
        checks = Checks()
        checks.file("cert_file", self.cert_file)
        checks.file("key_file", self.key_file)
        checks.file("client_ca_file", self.client_ca_file)
        checks.done()


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """One client key: stored as the SHA-256 of the key, never the key itself.

    Keys are random tokens (``dh-gateway api-key`` makes one with 256 bits), so a fast hash is
    enough: nobody can guess a preimage, and a slow KDF would cost every RPC. A key may drive
    the credential ``profiles`` listed ("*": all) and the task ids matching one of ``tasks``
    (shell globs, case-sensitive).
    """

    name: str
    sha256: str = field(repr=False)
    profiles: tuple[str, ...] = (ANY_PROFILE,)
    tasks: tuple[str, ...] = ("*",)
    #: Concurrent drives of this key (None: ``limits.max_drives_per_key``).
    max_drives: int | None = None

    def __post_init__(self) -> None:
        checks = Checks()
        if not self.name:
            checks.add("name", "must not be empty")
        if not _SHA256_HEX.match(self.sha256):
            checks.add("sha256", "must be 64 lowercase hex digits (the SHA-256 of the key)")
        if not self.profiles:
            checks.add("profiles", 'must list at least one profile ("*" for all)')
        if not self.tasks or not all(self.tasks):
            checks.add("tasks", 'must list non-empty task id patterns ("*" for all)')
        checks.positive(self, "max_drives")
        checks.done()


@dataclass(frozen=True, kw_only=True)
class AuthConfig:
    """Who may call the gateway: no keys means no API key check (TLS may still be mutual)."""

    api_keys: tuple[ApiKey, ...] = ()

    def __post_init__(self) -> None:
        checks = Checks()
        for attribute in ("name", "sha256"):
            values = [getattr(key, attribute) for key in self.api_keys]
            for value in sorted({v for v in values if values.count(v) > 1}):
                shown = value if attribute == "name" else value[:8] + "..."
                checks.add("api_keys", f"has two keys with the {attribute} {shown!r}")
        checks.done()

    @property
    def enabled(self) -> bool:
        """Whether calls must carry an API key."""
        return bool(self.api_keys)
