"""A faithful stand-in for the vendor's digital-human cloud, for tests and demos.

Built only from the vendor's documented protocol (``zego-api.md``): the signed HTTP API with
``DriveByWsStream`` (§2-§7) and the WebSocket drive (§8-§9). It records everything it receives,
models the avatar's playback to count stutters, and has fault switches. It must never import
the gateway's own client code, so that a client bug cannot hide itself here.

Typical use::

    config = SimulatorConfig(app_id=1234567890, server_secret="s" * 32)
    async with Simulator(config) as sim:
        ...  # point the client at sim.http_url
        record = await sim.wait_closed(sim.drives[0].drive_id)
        assert record.underruns == 0 and record.clean_close
"""

from __future__ import annotations

from .api import Codes, signature
from .app import Simulator
from .config import SimulatorConfig
from .faults import Fault
from .records import (
    ApiCall,
    CloseReason,
    DriveErrorKind,
    DriveRecord,
    HandshakeRejection,
    Overlap,
    PlaybackModel,
)
from .standalone import run_standalone

__all__ = [
    "ApiCall",
    "CloseReason",
    "Codes",
    "DriveErrorKind",
    "DriveRecord",
    "Fault",
    "HandshakeRejection",
    "Overlap",
    "PlaybackModel",
    "Simulator",
    "SimulatorConfig",
    "run_standalone",
    "signature",
]
