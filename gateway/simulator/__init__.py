"""A faithful stand-in for the vendor's digital-human cloud, for tests and demos.

Built only from the vendor's documented protocol (``zego-api.md``): the signed HTTP API with
``DriveByWsStream``, ``DriveByText``, ``InterruptDriveTask``, ``StopDigitalHumanStreamTask``
and ``GetDigitalHumanStreamTaskStatus`` (§2-§7, §11, §11b), the WebSocket drive (§8-§9), the
tasks' lives (MaxIdleTime, TTL, §6) and the signed server callbacks (§12). It records
everything it receives and sends, models the avatar's playback to count stutters and to say
what it played (:class:`Playout`), and has fault switches. It must never import the
gateway's own client code, so that a client bug cannot hide itself here.

Typical use::

    config = SimulatorConfig(app_id=1234567890, server_secret="s" * 32)
    async with Simulator(config) as sim:
        ...  # point the client at sim.http_url
        record = await sim.wait_closed(sim.drives[0].drive_id)
        assert record.underruns == 0 and record.clean_close

Where the vendor's documentation is silent (zego-api.md §17), the simulator chooses:

- API errors come with HTTP 200 and a non-zero ``Code`` (the samples assume 200, §4); the
  common gateway codes of §14b are used for missing or malformed common parameters.
- The signature must be exactly the lowercase hex digest (§3); uppercase is 100000005.
- The rate limit counts admitted requests per AppId in a sliding one-second window (§5).
- One token per DriveId, good for one connection attempt: unknown token 401, spent 403.
- Protocol errors on the WebSocket are recorded and the connection is kept open; the server
  sends nothing, answers pings, never closes first (except on its own shutdown, 1001).
- An invalid Start (bad SampleRate/Channel/VoiceChannel/DriveId) does not start the drive;
  ``SampleRate`` etc. must be JSON integers (``16000.0``, ``true`` and ``null`` are invalid).
- A second Start, or a Start after Stop, is an error: a DriveId drives once (§8).
- A binary frame that is not whole samples is an error but its bytes are kept.
- PCM is 16-bit (§9); durations derive from SampleRate and Channel.
- Callbacks, task lives and playback follow :mod:`.callbacks`, :mod:`.tasks` and
  :mod:`.playout`, whose docstrings list their own choices.
- Two connections of one task overlap when the second is accepted while the kernel still
  sees the first as established (Linux ``TCP_INFO``; elsewhere, until the server reads EOF).
"""

from __future__ import annotations

from .api import Codes, signature
from .app import Simulator
from .callbacks import CallbackAttempt, CallbackRecord, callback_signature
from .config import CALLBACK_RETRY_DELAYS_S, SimulatorConfig
from .faults import Fault
from .playout import DriveStatus, Playout, PlayoutOutcome
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
from .tasks import TaskEnd, TaskRecord, TaskStatus
from .text import TextDriveRecord, TextRequest

__all__ = [
    "CALLBACK_RETRY_DELAYS_S",
    "ApiCall",
    "CallbackAttempt",
    "CallbackRecord",
    "CloseReason",
    "Codes",
    "DriveErrorKind",
    "DriveRecord",
    "DriveStatus",
    "Fault",
    "HandshakeRejection",
    "Overlap",
    "PlaybackModel",
    "Playout",
    "PlayoutOutcome",
    "Simulator",
    "SimulatorConfig",
    "TaskEnd",
    "TaskRecord",
    "TaskStatus",
    "TextDriveRecord",
    "TextRequest",
    "callback_signature",
    "run_standalone",
    "signature",
]
