"""The vendor's callbacks, applied to this gateway's drives.

A drive callback (EventType 4) names its DriveId: the live drive with that id takes the
vendor's word (Status 2: the avatar speaks; 4: it finished) and reports its playback events as
VENDOR within the grace window (``gateway/drive/speech.py``). A callback for a drive that ended
here a moment ago is answered 200 and dropped (the vendor's word came after the estimate); one
for a drive this gateway never had is answered 404. Task callbacks (EventType 3) are accepted;
what the task's end does to its drives is not built yet.
"""

from __future__ import annotations

import logging
import ssl
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gateway.callbacks.receiver import CallbackReceiver
from gateway.callbacks.verify import Callback, CallbackVerifier, DriveStatus
from gateway.config import GatewayConfig

if TYPE_CHECKING:
    from gateway.service.drive import Drive

log = logging.getLogger("gateway.callbacks")

#: Drive ids of drives that ended here, kept to tell a late callback from an unknown drive.
RECENT_DRIVES = 10_000


class CallbackRouter:
    """Receives the vendor's callbacks on ``server.callback_listen`` and applies them.

    Args:
        config: the profiles (their callback secrets) and the listen address and TLS.
        drives: this gateway's live drives.
        counted: called with each callback's outcome (for the metrics).
    """

    def __init__(
        self,
        config: GatewayConfig,
        drives: Callable[[], Iterable[Drive]],
        counted: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self._config = config
        self._drives = drives
        secrets: dict[int, list[str]] = {}
        for credentials in config.profiles.values():
            if credentials.callback_secret:
                secrets.setdefault(credentials.app_id, []).append(credentials.callback_secret)
        self._receiver = CallbackReceiver(CallbackVerifier(secrets), self._apply, counted=counted)
        self._recent: OrderedDict[str, None] = OrderedDict()

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
        return await self._receiver.start(server.callback_listen, tls)

    async def stop(self) -> None:
        await self._receiver.stop()

    def drive_ended(self, drive_id: str) -> None:
        """Remember that ``drive_id`` ended here (a callback may still come)."""
        if drive_id:
            self._recent[drive_id] = None
            while len(self._recent) > RECENT_DRIVES:
                self._recent.popitem(last=False)

    def _apply(self, callback: Callback) -> bool:
        if not isinstance(callback, DriveStatus):
            return True
        for drive in self._drives():
            if drive.drive_id == callback.drive_id:
                drive.vendor_status(callback.status)
                return True
        return callback.drive_id in self._recent
