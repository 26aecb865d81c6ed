"""The vendor's callbacks, applied to this gateway's drives.

A drive callback (EventType 4) names its DriveId: the live drive with that id, audio or text,
takes the vendor's word (Status 2: the avatar speaks; 4: it finished; 3 fails a text drive) and
reports its playback events as VENDOR within the grace window (``gateway/drive/speech.py``). A
callback for a drive that ended here a moment ago is answered 200 and dropped (the vendor's
word came after the estimate); one for a drive this gateway never had is answered 404. Task
callbacks (EventType 3) go to the task room (:mod:`gateway.service.tasks`): a task's end ends
its drives TASK_ENDED.

Across replicas (``server.redis_url``) a callback reaches whichever replica the load balancer
chose: :mod:`gateway.service.callback_relay` carries it to the replica running its drive (a task
callback to every replica), which applies it as above. The receiving replica answers at once:
200 once it is placed (or for a retry of one any replica placed already), 404 when no replica
knows its drive or task, 503 when it cannot be placed now (Redis down, or that replica cut off
from it: the vendor retries). Drives must use the registry :meth:`CallbackRouter.naming`
returns, so that the relay learns their DriveIds.
"""

from __future__ import annotations

import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gateway.callbacks.receiver import CallbackReceiver, Placed
from gateway.callbacks.verify import Callback, CallbackVerifier, TaskStatus
from gateway.config import GatewayConfig
from gateway.registry.base import TaskRegistry
from gateway.service.callback_naming import NamingRegistry
from gateway.service.callback_relay import CallbackRelay, RelayObserver

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from gateway.service.drive_shell import DriveShell

log = logging.getLogger("gateway.callbacks")

#: Drive ids of drives that ended here, kept to tell a late callback from an unknown drive.
RECENT_DRIVES = 10_000
#: How long a drive's relay key outlives its longest drive (its playout, a slow end).
DRIVE_KEY_MARGIN_S = 60.0


class CallbackRouter:
    """Receives the vendor's callbacks on ``server.callback_listen`` and applies them.

    Args:
        config: the profiles (their callback secrets) and the listen address and TLS.
        drives: this gateway's live drives.
        counted: called with each callback's outcome (for the metrics).
        redis: the Redis replicas share, if any: callbacks are then placed on the replica
            that runs their drive, and task callbacks on every replica
            (:mod:`gateway.service.callback_relay`); whoever made it closes it.
        relay_observer: where the relay counts what it placed.
        on_task: takes each task callback (EventType 3) applied here (the task room's).
    """

    def __init__(
        self,
        config: GatewayConfig,
        drives: Callable[[], Iterable[DriveShell[Any]]],
        counted: Callable[[str], None] = lambda outcome: None,
        *,
        redis: aioredis.Redis | None = None,
        relay_observer: RelayObserver | None = None,
        on_task: Callable[[TaskStatus], None] = lambda callback: None,
    ) -> None:
        self._config = config
        self._drives = drives
        self._on_task = on_task
        secrets: dict[int, list[str]] = {}
        for credentials in config.profiles.values():
            if credentials.callback_secret:
                secrets.setdefault(credentials.app_id, []).append(credentials.callback_secret)
        verifier = CallbackVerifier(secrets)
        self._receiver = CallbackReceiver(verifier, self._place, counted=counted)
        self._recent: OrderedDict[str, None] = OrderedDict()
        #: Carries callbacks between replicas (None: one process, each applied here).
        self.relay: CallbackRelay | None = None
        if redis is not None:
            server = config.server
            drive_ttl_s = config.limits.max_drive_s + server.callback_grace_ms / 1000
            self.relay = CallbackRelay(
                redis,
                self._apply,
                self._knows,
                window_s=verifier.window_s,
                drive_ttl_s=drive_ttl_s + DRIVE_KEY_MARGIN_S,
                timeout_s=server.redis_timeout_s,
                observer=relay_observer,
            )

    @property
    def address(self) -> str:
        return self._receiver.address

    async def start(self) -> str:
        """Serve on ``server.callback_listen``; returns the bound address."""
        server = self._config.server
        tls = None
        if server.tls is not None:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(server.tls.cert_file, server.tls.key_file)
        if self.relay is not None:
            self.relay.start()
        return await self._receiver.start(server.callback_listen, tls)

    async def stop(self) -> None:
        await self._receiver.stop()
        if self.relay is not None:
            await self.relay.close()

    def naming(self, registry: TaskRegistry) -> TaskRegistry:
        """``registry``, telling the relay (if any) each drive's DriveId: the registry the
        drives must use."""
        return registry if self.relay is None else NamingRegistry(registry, self.relay)

    def drive_ended(self, drive_id: str) -> None:
        """Remember that ``drive_id`` ended here (a callback may still come)."""
        if drive_id:
            self._recent[drive_id] = None
            while len(self._recent) > RECENT_DRIVES:
                self._recent.popitem(last=False)
        if self.relay is not None:
            self.relay.drive_ended(drive_id)

    async def _place(self, callback: Callback) -> Placed:
        if self.relay is not None:
            return await self.relay.place(callback)
        return Placed.APPLIED if self._apply(callback) else Placed.UNKNOWN

    def _knows(self, drive_id: str) -> bool:
        if not drive_id:
            return False  # a drive still being set up has no DriveId yet
        return drive_id in self._recent or any(d.drive_id == drive_id for d in self._drives())

    def _apply(self, callback: Callback) -> bool:
        if isinstance(callback, TaskStatus):
            self._on_task(callback)
            return True
        for drive in self._drives():
            if drive.drive_id == callback.drive_id:
                drive.vendor_status(callback.status)
                return True
        return callback.drive_id in self._recent
