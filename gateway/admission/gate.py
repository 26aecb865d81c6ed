"""The admission gate: may a new drive begin?

One gate per process; the RPC handler asks it (:meth:`AdmissionGate.admit`) before a drive
touches the registry or the vendor, so a refusal costs the least it can. In order it refuses:

* while the gateway drains: UNAVAILABLE / DRAINING (retry on another replica);
* at ``limits.max_drives`` live drives: RESOURCE_EXHAUSTED / GATEWAY_BUSY;
* while the :class:`~gateway.admission.gauge.LoadGauge` finds the process past its measured
  capacity: RESOURCE_EXHAUSTED / GATEWAY_OVERLOADED, with the load, a retry hint and, once
  known, the capacity in the ErrorInfo's metadata.

The gate counts what the gauge's sampler reports: refusals (their CPU is load only while
refusing) and set-ups that are over (their CPU is not streaming cost). The caller tells it
when a drive begins (:meth:`AdmissionGate.drive_began`), hands it its live drives, and starts
and stops it with the event loop. The decision itself is pure (:meth:`AdmissionGate.refusal`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from gateway.admission.gauge import WINDOW_S, LoadGauge
from gateway.admission.sampler import LoadSampler
from gateway.drive.machine import DriveState
from gateway.errors import DriveEnded, Reason, draining

__all__ = ["AdmissionGate", "LiveDrive"]

#: The states of a drive whose set-up is not over yet.
_BEFORE_STREAMING = frozenset({DriveState.IDLE, DriveState.QUEUED, DriveState.SETTING_UP})


class LiveDrive(Protocol):
    """What the gate reads of a live drive: where it is in its life."""

    @property
    def state(self) -> DriveState: ...


class AdmissionGate:
    """Whether a new drive may begin, and the load gauge that helps decide it.

    Args:
        gauge: the process's load, judged against its thresholds.
        max_drives: the most live drives (GATEWAY_BUSY at that many).
        drives: the live drives, read at each decision and sample.

    Attributes:
        refused: drives refused so far (:meth:`admit`).
        begun: drives begun so far (:meth:`drive_began`), live or ended.
    """

    def __init__(
        self,
        gauge: LoadGauge,
        *,
        max_drives: int,
        drives: Callable[[], Collection[LiveDrive]],
    ) -> None:
        self.gauge = gauge
        self.max_drives = max_drives
        self._drives = drives
        self.refused = 0
        self.begun = 0
        self._draining = False
        self._sampler = LoadSampler(
            gauge,
            lambda: len(self._drives()),
            setups=self.setups_done,
            refusals=lambda: self.refused,
        )

    def start(self) -> None:
        """Start sampling the load (inside the running loop)."""
        self._sampler.start()

    async def stop(self) -> None:
        """Stop sampling the load (before the loop closes)."""
        await self._sampler.stop()

    def admit(self) -> None:
        """Check that a new drive may begin; a refusal is counted.

        Raises:
            DriveEnded: DRAINING, GATEWAY_BUSY or GATEWAY_OVERLOADED (see :meth:`refusal`).
        """
        if (refusal := self.refusal()) is not None:
            self.refused += 1
            raise refusal

    def refusal(self) -> DriveEnded | None:
        """Why a new drive may not begin now (None: it may); counts nothing."""
        if self._draining:
            return draining()
        live = len(self._drives())
        if live >= self.max_drives:
            limit = self.max_drives
            return DriveEnded(Reason.GATEWAY_BUSY, f"the gateway is at its limit of {limit} drives")
        if (overload := self.gauge.overload(live)) is None:
            return None
        metadata = {
            "cpu_percent": f"{overload.cpu_share * 100:.0f}",
            "loop_lag_ms": f"{overload.loop_lag_ms:.1f}",
            "retry_after_ms": f"{WINDOW_S * 1000:.0f}",
        }
        if overload.capacity is not None:
            metadata["capacity_drives"] = str(overload.capacity)
        overloaded = DriveEnded(Reason.GATEWAY_OVERLOADED, overload.message)
        overloaded.with_metadata(metadata)
        return overloaded

    @property
    def draining(self) -> bool:
        """Whether the gateway is shutting down (new drives get DRAINING)."""
        return self._draining

    def start_draining(self) -> None:
        """Refuse every new drive from now on (DRAINING)."""
        self._draining = True

    def drive_began(self) -> None:
        """Count a drive that begins (it is live until it ends)."""
        self.begun += 1

    def setups_done(self) -> int:
        """How many drives have got through their set-up so far: those begun, less the live
        ones still before streaming (a count that only grows; the gauge takes their CPU off a
        drive's cost).

        Counted when a set-up is over, not when it begins, so the count never runs ahead of
        the CPU the set-ups used. A drive that ends before streaming counts as set up once it
        ends, whatever part of its set-up it did.
        """
        setting_up = sum(1 for d in self._drives() if d.state in _BEFORE_STREAMING)
        return self.begun - setting_up

    def load_now(self) -> tuple[float, float, int | None]:
        """The gauge's reading for the metrics: CPU share, loop lag in seconds, capacity."""
        return self.gauge.cpu_share, self.gauge.loop_lag_ms / 1000, self.gauge.capacity
