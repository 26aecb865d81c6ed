"""Who may call the gateway, and what they may drive.

Two checks, at the two places where the facts are known:

* :class:`AuthInterceptor` (a ``grpc.aio`` server interceptor) rejects every call without a
  valid ``authorization: Bearer <key>`` before the handler runs: UNAUTHENTICATED. The health
  service is exempt, so that Kubernetes' native gRPC probes (which send no metadata) work.
* The servicer asks :meth:`Authenticator.identify` for the caller's :class:`Principal` and
  checks the credentials profile and task id of each drive, StopDrive and ListDrives entry
  with :meth:`Principal.check`: PERMISSION_DENIED. It identifies the caller again rather than
  trusting the interceptor, so a servicer installed without it is still safe.

Keys are looked up by their SHA-256 (``gateway.config.ApiKey``): the comparison happens between
digests of what the caller sent, which tells an attacker nothing about a stored key.
:class:`KeySlots` counts each key's live drives for its ``max_drives``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from gateway.config import ANY_PROFILE, ApiKey, AuthConfig, LimitsConfig
from gateway.errors import DriveEnded, GatewayError, Reason
from gateway.service.status import to_grpc_status

#: Methods anyone may call: the health service, for probes.
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
_SCHEME = "bearer "


class AccessDenied(GatewayError):
    """The caller is not authenticated (UNAUTHENTICATED) or not allowed (PERMISSION_DENIED)."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an API key, or anyone when the gateway checks no keys."""

    name: str
    profiles: frozenset[str]
    tasks: tuple[str, ...]
    max_drives: int | None

    @classmethod
    def of(cls, key: ApiKey, limits: LimitsConfig) -> Principal:
        max_drives = key.max_drives if key.max_drives is not None else limits.max_drives_per_key
        return cls(key.name, frozenset(key.profiles), key.tasks, max_drives)

    def allows(self, profile: str, task_id: str) -> bool:
        """Whether this caller may drive ``task_id`` with the credentials ``profile``."""
        profile_ok = ANY_PROFILE in self.profiles or profile in self.profiles
        return profile_ok and any(fnmatchcase(task_id, pattern) for pattern in self.tasks)

    def check(self, profile: str, task_id: str) -> None:
        """Raise PERMISSION_DENIED unless :meth:`allows`.

        Checked before the profile is looked up, so that a caller learns nothing about the
        profiles it may not use.
        """
        if not self.allows(profile, task_id):
            raise AccessDenied(
                Reason.PERMISSION_DENIED,
                f"API key {self.name!r} may not drive task {task_id!r} with profile {profile!r}",
                task_id=task_id,
                profile=profile,
            )


ANYONE = Principal("", frozenset({ANY_PROFILE}), ("*",), None)


def key_digest(key: str) -> str:
    """The SHA-256 hex digest of an API key, as stored in the configuration."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Authenticator:
    """Turns a call's metadata into a :class:`Principal`."""

    def __init__(self, auth: AuthConfig, limits: LimitsConfig) -> None:
        self.enabled = auth.enabled
        self._by_digest = {key.sha256: Principal.of(key, limits) for key in auth.api_keys}

    def identify(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
        """The caller of a call with ``metadata``.

        Raises:
            AccessDenied: UNAUTHENTICATED (no key, a malformed header, an unknown key).
        """
        if not self.enabled:
            return ANYONE
        values = [v for k, v in metadata or () if k == "authorization"]
        if len(values) == 1 and isinstance(values[0], str):
            header = values[0]
            if header[: len(_SCHEME)].lower() == _SCHEME:
                principal = self._by_digest.get(key_digest(header[len(_SCHEME) :].strip()))
                if principal is not None:
                    return principal
        raise AccessDenied(
            Reason.UNAUTHENTICATED,
            "a valid API key is required: send the metadata 'authorization: Bearer <key>'",
        )


class KeySlots:
    """Live drives per API key, for each key's ``max_drives``."""

    def __init__(self) -> None:
        self._live: Counter[str] = Counter()

    def live(self, principal: Principal) -> int:
        return self._live[principal.name]

    @contextmanager
    def hold(self, principal: Principal) -> Iterator[None]:
        """Count one drive of ``principal`` while the block runs.

        Raises:
            DriveEnded: GATEWAY_BUSY when the key is at its limit.
        """
        limit = principal.max_drives
        if limit is not None and self._live[principal.name] >= limit:
            raise DriveEnded(
                Reason.GATEWAY_BUSY,
                f"API key {principal.name!r} is at its limit of {limit} drives",
                api_key=principal.name,
                limit=str(limit),
            )
        self._live[principal.name] += 1
        try:
            yield
        finally:
            self._live[principal.name] -= 1
            if not self._live[principal.name]:
                del self._live[principal.name]


_Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
_Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable[_Handler]]
if TYPE_CHECKING:  # generic in the stubs only
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor


class AuthInterceptor(_ServerInterceptor):
    """Rejects unauthenticated calls (UNAUTHENTICATED) before their handler runs."""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator

    async def intercept_service(
        self, continuation: _Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> _Handler:
        # None (despite the stubs) for an unknown method: grpc answers UNIMPLEMENTED.
        handler: _Handler | None = await continuation(handler_call_details)
        if handler is None:
            return handler  # type: ignore[return-value]
        if not self._authenticator.enabled:
            return handler
        if handler_call_details.method.startswith(EXEMPT_PREFIXES):
            return handler
        try:
            self._authenticator.identify(handler_call_details.invocation_metadata)
        except AccessDenied as exc:
            return _denying(handler, exc)
        return handler


def _denying(handler: _Handler, error: GatewayError) -> _Handler:
    """A handler of the same shape as ``handler`` that ends the call with ``error``."""
    status = to_grpc_status(error)

    async def deny(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(status.code, status.details, status.trailing_metadata)

    options = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny, **options)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny, **options)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny, **options)
    return grpc.unary_unary_rpc_method_handler(deny, **options)
