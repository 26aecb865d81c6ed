"""The gateway's shared parts: configuration, the vendor client, the registry, the live drives.

One :class:`GatewayApp` per process; the servicer holds it. Whoever creates it closes it
(``async with GatewayApp(config) as app``).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from gateway.config import Credentials, GatewayConfig
from gateway.drive.core import Completion
from gateway.errors import DriveEnded, InvalidDrive, Reason
from gateway.registry.base import TaskRegistry, task_key
from gateway.registry.memory import MemoryRegistry
from gateway.service.drive import Drive
from gateway.upstream import UpstreamClient


class GatewayApp:
    """Everything the drives of one gateway process share.

    Args:
        config: the validated configuration.
        registry: the exclusivity registry (default: in-process).
    """

    def __init__(self, config: GatewayConfig, *, registry: TaskRegistry | None = None) -> None:
        self.config = config
        self.registry: TaskRegistry = registry or MemoryRegistry()
        self.upstream = UpstreamClient(config.upstream)
        self.drives: set[Drive] = set()
        self.draining = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the vendor client; drives must have ended before."""
        await self.upstream.close()

    def credentials(self, profile: str) -> Credentials:
        """The credentials of ``profile`` ("" = default).

        Raises:
            InvalidDrive: UNKNOWN_PROFILE.
        """
        found = self.config.credentials(profile)
        if found is None:
            raise InvalidDrive(Reason.UNKNOWN_PROFILE, f"no credentials profile named {profile!r}")
        return found

    def admit(self) -> None:
        """Check that a new drive may begin.

        Raises:
            DriveEnded: DRAINING while shutting down; GATEWAY_BUSY at the drive limit.
        """
        if self.draining:
            raise DriveEnded(Reason.DRAINING, "the gateway is shutting down")
        limit = self.config.limits.max_drives
        if len(self.drives) >= limit:
            raise DriveEnded(Reason.GATEWAY_BUSY, f"the gateway is at its limit of {limit} drives")

    async def run(self, drive: Drive) -> Completion:
        """Run ``drive`` as one of this gateway's live drives."""
        self.drives.add(drive)
        try:
            return await drive.run()
        finally:
            self.drives.discard(drive)

    def active_drive(self, app_id: int, task_id: str) -> Drive | None:
        """The drive holding the task in this process, if any."""
        holder = self.registry.holder(task_key(app_id, task_id))
        return holder if isinstance(holder, Drive) else None

    async def wait_idle(self, timeout_s: float) -> None:
        """Wait until no drive is live, at most ``timeout_s``."""
        drives = list(self.drives)
        if drives:
            await asyncio.wait([asyncio.ensure_future(d.wait_finished(timeout_s)) for d in drives])

    def end_all(self, reason: DriveEnded) -> None:
        """End every live drive (Stop sent) with ``reason``."""
        for drive in list(self.drives):
            drive.end(reason)
