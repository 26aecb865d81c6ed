"""What a drive's events said so far: the avatar's speaking state, read as the events pass."""

from __future__ import annotations

from dataclasses import dataclass

from dhgateway.v1 import gateway_pb2 as pb


@dataclass
class Playback:
    """The avatar's playback of one drive, as its events have told it so far.

    :class:`~dhgateway_client.aio.Drive` updates it from each event before yielding that event,
    so a caller reading it inside its ``async for`` sees the state that event made.

    Attributes:
        drive_id: the vendor's DriveId ("" until the gateway knows it).
        started: ``playback_started`` came: the avatar began to speak this drive.
        finished: ``playback_finished`` came: it stopped.
        played_ms: how much of the drive's audio it played (the playhead of the last
            ``progress``, then ``playback_finished``'s exact figure).
        interrupted: the drive was cut short (an interrupt, a stop, a PREEMPT).
        last_mark: the name of the last ``mark_played`` ("" if none): the last word heard.
        source: how the gateway knew the last playback event (ESTIMATED or VENDOR).
        completed: the ``completed`` event's accounting (``dropped_ms``,
            ``time_to_first_frame_ms``, ``time_to_speaking_ms``...), None until it came.
    """

    drive_id: str = ""
    started: bool = False
    finished: bool = False
    played_ms: int = 0
    interrupted: bool = False
    last_mark: str = ""
    source: pb.PlaybackSource.ValueType = pb.PLAYBACK_SOURCE_UNSPECIFIED
    completed: pb.Completed | None = None

    @property
    def speaking(self) -> bool:
        """Whether the avatar speaks this drive now (started and not finished)."""
        return self.started and not self.finished

    def update(self, event: pb.DriveEvent) -> None:
        """Take in one event of the drive's stream."""
        if event.drive_id:
            self.drive_id = event.drive_id
        kind = event.WhichOneof("event")
        if kind == "progress":
            self.played_ms = max(self.played_ms, event.progress.played_ms)
        elif kind == "playback_started":
            self.started = True
            self.source = event.playback_started.source
        elif kind == "mark_played":
            self.last_mark = event.mark_played.name
            self.source = event.mark_played.source
        elif kind == "playback_finished":
            self.finished = True
            self.played_ms = event.playback_finished.played_ms
            self.interrupted = event.playback_finished.interrupted
            self.source = event.playback_finished.source
        elif kind == "completed":
            self.completed = event.completed
            self.interrupted = self.interrupted or event.completed.interrupted
            if event.completed.played_ms:
                self.played_ms = event.completed.played_ms


@dataclass(frozen=True)
class StopResult:
    """What ``StopDrive`` answered.

    Attributes:
        drive_id: the DriveId of the drive that was stopped ("" if it had none yet).
        played_ms: how much of its audio the avatar played (INTERRUPT: when it went silent).
        interrupted: whether the avatar was cut short.
    """

    drive_id: str
    played_ms: int
    interrupted: bool
