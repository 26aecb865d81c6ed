"""The admission gate with plain numbers: draining, the drive limit, the measured load, and the
counts it keeps for the gauge (no event loop: the sampler is never started)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gateway.admission.gate import AdmissionGate
from gateway.admission.gauge import LoadGauge
from gateway.drive.machine import DriveState
from gateway.errors import DriveEnded, Reason


@dataclass
class FakeDrive:
    state: DriveState = DriveState.STREAMING


def gate(
    drives: list[FakeDrive], *, max_drives: int = 10, gauge: LoadGauge | None = None
) -> AdmissionGate:
    gauge = gauge or LoadGauge(max_cpu=0.8, max_loop_lag_ms=5)
    return AdmissionGate(gauge, max_drives=max_drives, drives=lambda: drives)


def refused(subject: AdmissionGate) -> DriveEnded:
    with pytest.raises(DriveEnded) as caught:
        subject.admit()
    return caught.value


def busy_gauge(*, share: float = 0.9, drives: int = 0) -> LoadGauge:
    """A gauge after one second at ``share`` of a core (threshold 0.8) with ``drives`` live."""
    gauge = LoadGauge(max_cpu=0.8, max_loop_lag_ms=0)
    for tick in range(11):
        gauge.add(tick / 10, share * tick / 10, 0.0, drives)
    return gauge


def test_an_idle_gate_admits_and_counts_nothing() -> None:
    subject = gate([])
    subject.admit()
    assert (subject.refused, subject.begun, subject.draining) == (0, 0, False)


def test_at_the_drive_limit_it_is_busy() -> None:
    drives = [FakeDrive(), FakeDrive()]
    subject = gate(drives, max_drives=2)
    error = refused(subject)
    assert error.reason is Reason.GATEWAY_BUSY
    assert error.message == "the gateway is at its limit of 2 drives"
    assert subject.refused == 1
    drives.pop()  # one ended: room again
    subject.admit()
    assert subject.refused == 1


def test_draining_refuses_before_anything_else_and_for_good() -> None:
    subject = gate([FakeDrive()], max_drives=1, gauge=busy_gauge())
    subject.start_draining()
    assert subject.draining
    assert refused(subject).reason is Reason.DRAINING
    assert refused(subject).reason is Reason.DRAINING
    assert subject.refused == 2


def test_the_drive_limit_comes_before_the_load() -> None:
    subject = gate([FakeDrive()], max_drives=1, gauge=busy_gauge())
    assert refused(subject).reason is Reason.GATEWAY_BUSY


def test_a_measured_overload_says_the_load_and_when_to_retry() -> None:
    subject = gate([], gauge=busy_gauge(share=0.9))
    error = refused(subject)
    assert error.reason is Reason.GATEWAY_OVERLOADED
    assert "90% of a core" in error.message
    # No estimate from no drives: no capacity in the metadata.
    assert error.metadata == {"cpu_percent": "90", "loop_lag_ms": "0.0", "retry_after_ms": "1000"}


def test_a_refusal_past_the_learned_capacity_says_the_capacity() -> None:
    # Half a core for 100 drives: 0.5 % each, room for 160 under 0.8.
    drives = [FakeDrive() for _ in range(160)]
    subject = gate(drives, max_drives=1000, gauge=busy_gauge(share=0.5, drives=100))
    error = refused(subject)
    assert error.reason is Reason.GATEWAY_OVERLOADED
    assert error.metadata["capacity_drives"] == "160"
    assert error.metadata["cpu_percent"] == "50"
    drives.pop()
    subject.admit()


def test_the_decision_alone_counts_nothing() -> None:
    subject = gate([FakeDrive()], max_drives=1)
    first, second = subject.refusal(), subject.refusal()
    assert first is not None and second is not None
    assert first.reason is Reason.GATEWAY_BUSY and first is not second
    assert subject.refused == 0


def test_a_set_up_counts_once_it_is_over() -> None:
    drive = FakeDrive(DriveState.IDLE)
    drives = [drive]
    subject = gate(drives)
    subject.drive_began()
    assert (subject.begun, subject.setups_done()) == (1, 0)
    drive.state = DriveState.QUEUED
    assert subject.setups_done() == 0
    drive.state = DriveState.SETTING_UP
    assert subject.setups_done() == 0
    drive.state = DriveState.STREAMING
    assert subject.setups_done() == 1
    drives.clear()  # ended
    assert (subject.begun, subject.setups_done()) == (1, 1)


def test_a_drive_that_ends_before_streaming_counts_as_set_up_once_it_ends() -> None:
    drives = [FakeDrive(DriveState.QUEUED)]
    subject = gate(drives)
    subject.drive_began()
    assert subject.setups_done() == 0
    drives.clear()
    assert subject.setups_done() == 1


def test_the_metrics_read_the_gauge() -> None:
    subject = gate([], gauge=busy_gauge(share=0.5, drives=100))
    cpu, lag_s, capacity = subject.load_now()
    assert cpu == pytest.approx(0.5) and lag_s == 0.0 and capacity == 160
    assert gate([]).load_now() == (0.0, 0.0, None)
