"""Barge-in: what silences a drive's avatar now, and what the client may send after it.

Three things interrupt a drive: the client's ``Interrupt`` on its own stream, a PREEMPT by a
newer drive and a StopDrive INTERRUPT (both ends from outside, whose reason says
``interrupts``). A StopDrive FINISH does not: the avatar plays what it was sent, and only an
interrupt may cut that play-out short.

Once interrupted, nothing more is sent, the audio the core holds is dropped, and while the
avatar may still speak the drive the vendor is owed an ``InterruptDriveTask``: the shell calls
it after the last frame and settles the debt (:class:`Interruption`), and the playhead stops
where the avatar went silent.

Pure code: time comes in as ``now``.
"""

from __future__ import annotations

from gateway.errors import DriveEnded, GatewayError, InvalidDrive, Reason


def interrupts(reason: GatewayError | None) -> bool:
    """Whether an end from outside wants the avatar silent now (PREEMPT, StopDrive INTERRUPT)."""
    return isinstance(reason, DriveEnded) and reason.interrupts


def finishes(reason: GatewayError | None) -> bool:
    """Whether an end from outside lets the avatar play what it was sent (StopDrive FINISH)."""
    return (
        reason is not None and reason.reason is Reason.STOPPED_BY_REQUEST and not interrupts(reason)
    )


class Interruption:
    """The client's Interrupt of one drive, and whether the vendor was asked for silence."""

    def __init__(self) -> None:
        #: When the client's Interrupt came (None: it sent none).
        self.asked_at: float | None = None
        #: The vendor was asked to interrupt the task (or asking it failed).
        self.settled = False

    def ask(self, now: float) -> None:
        """The client's Interrupt arrived at ``now``.

        Raises:
            InvalidDrive: INTERRUPT_REPEATED for a second one.
        """
        if self.asked_at is not None:
            raise InvalidDrive(
                Reason.INTERRUPT_REPEATED, "an Interrupt may come once: nothing may follow it"
            )
        self.asked_at = now

    def check_input(self, what: str) -> None:
        """The client sent ``what`` ("audio", "a mark").

        Raises:
            InvalidDrive: AUDIO_AFTER_INTERRUPT when it came after the Interrupt.
        """
        if self.asked_at is not None:
            raise InvalidDrive(
                Reason.AUDIO_AFTER_INTERRUPT,
                f"{what} after the Interrupt: nothing may follow it but the half-close",
            )
