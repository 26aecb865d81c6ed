"""The registry the drives use when callbacks cross replicas: it names each drive to the relay.

A drive learns its DriveId when the vendor grants it, and tells the registry at once
(``TaskRegistry.update``); :class:`NamingRegistry` passes that on to the
:class:`~gateway.service.callback_relay.CallbackRelay`, so that a callback for the drive that
reaches another replica is carried here, before the vendor can send the first one.
"""

from __future__ import annotations

from typing import Any

from gateway.registry.base import Holder, Lease, TaskRegistry
from gateway.service.callback_relay import CallbackRelay

__all__ = ["NamingRegistry"]


class NamingRegistry:
    """A :class:`~gateway.registry.base.TaskRegistry` that also tells the relay each drive's
    DriveId once the vendor granted it (``update``); the rest is ``registry``'s."""

    def __init__(self, registry: TaskRegistry, relay: CallbackRelay) -> None:
        self._registry = registry
        self._relay = relay

    async def update(self, lease: Lease) -> None:
        await self._registry.update(lease)
        await self._relay.drive_named(lease.key, lease.holder.drive_id)

    # The rest is passed through as given: the wrapped registry's own signature decides.

    async def acquire(self, key: str, holder: Holder, *args: Any, **kwargs: Any) -> Lease:
        return await self._registry.acquire(key, holder, *args, **kwargs)

    async def release(self, lease: Lease, *args: Any, **kwargs: Any) -> None:
        await self._registry.release(lease, *args, **kwargs)

    async def stop(self, key: str, timeout_s: float, *args: Any, **kwargs: Any) -> Any:
        return await self._registry.stop(key, timeout_s, *args, **kwargs)

    def holder(self, key: str) -> Holder | None:
        return self._registry.holder(key)
