"""A drive's end carries its times to the first frame and to speaking; the metrics observe
them only when known (plain numbers, no server)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prometheus_client import generate_latest

from gateway.observability import GatewayMetrics
from gateway.observability.observer import DriveEnd
from tests.drive.test_core import CHUNK_20MS, Shell, audio, make_core
from tests.observability.conftest import parse_samples, value


def test_the_end_of_a_drive_that_spoke_carries_both_in_seconds() -> None:
    shell = Shell(make_core(now=1.0), now=1.0)
    shell.now = 1.125
    shell.start()
    shell.feed(audio(0, CHUNK_20MS))
    shell.end()
    end = DriveEnd.of(shell.core, status="OK", reason="COMPLETED")
    assert end.time_to_first_frame_s == pytest.approx(0.125)
    assert end.time_to_speaking_s == pytest.approx(0.125)
    fields = end.log_fields()
    assert (fields["time_to_first_frame_ms"], fields["time_to_speaking_ms"]) == (125.0, 125.0)


def test_a_drive_that_never_sent_carries_neither() -> None:
    shell = Shell(make_core(now=3.0), now=3.0)
    shell.now = 3.5
    shell.start()
    shell.end()
    end = DriveEnd.of(shell.core, status="OK", reason="COMPLETED")
    assert end.time_to_first_frame_s is None and end.time_to_speaking_s is None
    assert "time_to_first_frame_ms" not in end.log_fields()


def test_the_histograms_observe_what_is_known() -> None:
    metrics = GatewayMetrics()
    base = DriveEnd(
        status="OK",
        reason="COMPLETED",
        received_s=1.0,
        sent_s=1.0,
        frames_sent=50,
        underruns=0,
        stop_lag_s=None,
    )
    metrics.drive_finished(replace(base, time_to_first_frame_s=0.04, time_to_speaking_s=0.6))
    metrics.drive_finished(replace(base, time_to_first_frame_s=0.03))  # it never spoke
    metrics.drive_finished(base)  # nothing sent
    samples = parse_samples(generate_latest(metrics.registry).decode())
    assert value(samples, "dhgw_time_to_first_frame_seconds_count") == 2
    assert value(samples, "dhgw_time_to_first_frame_seconds_sum") == pytest.approx(0.07)
    assert value(samples, "dhgw_time_to_first_frame_seconds_bucket", le="0.05") == 2
    assert value(samples, "dhgw_time_to_speaking_seconds_count") == 1
    assert value(samples, "dhgw_time_to_speaking_seconds_bucket", le="0.5") == 0
    assert value(samples, "dhgw_time_to_speaking_seconds_bucket", le="0.75") == 1
