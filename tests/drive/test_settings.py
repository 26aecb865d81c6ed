"""PacingSettings states its ranges once; the config section reports the same by name."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import PacingConfig
from gateway.config.checks import ConfigProblems
from gateway.drive.settings import DriveLimits, PacingSettings


def test_defaults_are_valid() -> None:
    assert PacingSettings().problems() == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lead_ms": 0, "convert_prebuffer_ms": 0}, "lead_ms"),
        ({"max_frame_ms": -1}, "max_frame_ms"),
        ({"progress_interval_ms": 1001}, "progress_interval_ms"),
        ({"underrun_tolerance_ms": -1}, "underrun_tolerance_ms"),
        ({"convert_prebuffer_ms": 2000}, "convert_prebuffer_ms"),
    ],
)
def test_a_value_out_of_range(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        PacingSettings(**changes)
    with pytest.raises(ConfigProblems) as raised:
        PacingConfig(**changes)
    assert [problem.field for problem in raised.value.problems] == [field]


def test_drive_limits_report_every_bound_out_of_range() -> None:
    assert DriveLimits().problems() == []
    with pytest.raises(ValueError, match="idle_timeout_s must be a positive number") as caught:
        DriveLimits(idle_timeout_s=0, max_drive_s=float("inf"), max_chunk_bytes=True)
    assert "max_drive_s" in str(caught.value) and "max_chunk_bytes" in str(caught.value)
