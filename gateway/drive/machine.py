"""The drive's lifecycle as an explicit state table.

Theory of operation
-------------------
A drive is one gRPC stream mapped to one upstream DriveId and one WebSocket. Its life, seen from
the vendor's side (the side with obligations)::

    IDLE ─QUEUE─▶ QUEUED ─ADMIT─▶ SETTING_UP ─START─▶ STREAMING ─STOP─▶ STOPPING ─CLOSE─▶ CLOSED
      │              │                │                                   │             ▲
      └─ADMIT────────┼───────────────▶┤                          PLAY_OUT │             │
      │              │                │                                   ▼             │
      │              │                │                            PLAYING_OUT ─CLOSE───┤
      IDLE, QUEUED, SETTING_UP ──ABANDON (nothing was started: nothing is owed) ────────┘

Rules:

1. Everything that decides what the vendor is owed lives in :data:`TRANSITIONS`; the shell never
   reasons about states itself, it asks :attr:`DriveMachine.stop_owed`.
2. Once ``START`` happened (the Start command was sent), the only way out is ``STOP``: there is no
   ``ABANDON`` from ``STREAMING``. A drive that reached Start always gets its Stop, whatever failed.
3. An event that is not in the table is a bug in the caller: :class:`DriveStateError` is raised
   and the state does not change.
4. A drive that completed (its Stop went out after all its audio) is ``PLAYING_OUT`` until the
   avatar played what was sent: the task stays held, so a next drive does not cut off the
   utterance's last words (a new WebSocket drive interrupts the avatar, zego-api.md §10).

The client's side (config, audio, half-close) is tracked by the shell and the pacer, not here:
it never creates an obligation toward the vendor.
"""

from __future__ import annotations

import enum


class DriveState(enum.Enum):
    """Where a drive is in its life (see the module docstring)."""

    IDLE = "idle"
    QUEUED = "queued"
    SETTING_UP = "setting_up"
    STREAMING = "streaming"
    STOPPING = "stopping"
    PLAYING_OUT = "playing_out"
    CLOSED = "closed"


class DriveEvent(enum.Enum):
    """What happened to a drive."""

    QUEUE = "queue"  # the task is busy and the drive waits its turn
    ADMIT = "admit"  # the drive holds the task; setting up begins
    START = "start"  # the Start command was sent upstream
    STOP = "stop"  # the Stop command was sent (or the connection is gone)
    PLAY_OUT = "play_out"  # a completed drive's Stop went out: the avatar plays the rest
    CLOSE = "close"  # the WebSocket is closed and the task released
    ABANDON = "abandon"  # the drive ended before any Start: nothing is owed upstream


IDLE, QUEUED, SETTING_UP, STREAMING, STOPPING, PLAYING_OUT, CLOSED = DriveState

TRANSITIONS: dict[tuple[DriveState, DriveEvent], DriveState] = {
    (IDLE, DriveEvent.QUEUE): QUEUED,
    (IDLE, DriveEvent.ADMIT): SETTING_UP,
    (IDLE, DriveEvent.ABANDON): CLOSED,
    (QUEUED, DriveEvent.ADMIT): SETTING_UP,
    (QUEUED, DriveEvent.ABANDON): CLOSED,
    (SETTING_UP, DriveEvent.START): STREAMING,
    (SETTING_UP, DriveEvent.ABANDON): CLOSED,
    (STREAMING, DriveEvent.STOP): STOPPING,
    (STOPPING, DriveEvent.CLOSE): CLOSED,
    (STOPPING, DriveEvent.PLAY_OUT): PLAYING_OUT,
    (PLAYING_OUT, DriveEvent.CLOSE): CLOSED,
}


class DriveStateError(RuntimeError):
    """An event arrived in a state that does not accept it: a bug in the caller."""


class DriveMachine:
    """The state of one drive; feed it events with :meth:`handle`."""

    def __init__(self) -> None:
        self.state = IDLE

    def handle(self, event: DriveEvent) -> DriveState:
        """Apply ``event``; returns the new state.

        Raises:
            DriveStateError: ``event`` is not allowed in the current state (state unchanged).
        """
        try:
            self.state = TRANSITIONS[self.state, event]
        except KeyError:
            raise DriveStateError(
                f"{event.name} is not allowed in state {self.state.name}"
            ) from None
        return self.state

    @property
    def stop_owed(self) -> bool:
        """True when Start was sent and Stop not yet: the caller must send Stop before leaving."""
        return self.state is STREAMING

    @property
    def finished(self) -> bool:
        """True once the drive is closed."""
        return self.state is CLOSED


class Lifecycle:
    """The lifecycle inputs every kind of drive core takes, on its ``machine``."""

    machine: DriveMachine

    @property
    def state(self) -> DriveState:
        return self.machine.state

    def queued(self) -> None:
        """The task is busy: the drive waits its turn."""
        self.machine.handle(DriveEvent.QUEUE)

    def admitted(self) -> None:
        """The drive holds the task; its set-up begins."""
        self.machine.handle(DriveEvent.ADMIT)
