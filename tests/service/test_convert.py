"""DriveConfig -> DriveSpec: every field range-checked, the bounds themselves accepted."""

from __future__ import annotations

import pytest
from dhgateway.v1 import gateway_pb2 as pb
from google.protobuf import duration_pb2

from gateway.config import LimitsConfig
from gateway.errors import InvalidDrive, Reason
from gateway.service.convert import (
    MAX_LABEL_KEY_BYTES,
    MAX_LABEL_VALUE_BYTES,
    MAX_LABELS,
    MAX_NAME_BYTES,
    spec_from_config,
)

LIMITS = LimitsConfig(max_drive_s=600)


def refused(config: pb.DriveConfig) -> InvalidDrive:
    with pytest.raises(InvalidDrive) as caught:
        spec_from_config(config, LIMITS)
    return caught.value


def with_timeout(seconds: int, nanos: int = 0) -> pb.DriveConfig:
    return pb.DriveConfig(
        task_id="t", queue_timeout=duration_pb2.Duration(seconds=seconds, nanos=nanos)
    )


def test_the_bounds_themselves_are_accepted() -> None:
    labels = {
        f"{i:x}".rjust(MAX_LABEL_KEY_BYTES, "k"): "v" * MAX_LABEL_VALUE_BYTES
        for i in range(MAX_LABELS)
    }
    config = pb.DriveConfig(
        task_id="t" * MAX_NAME_BYTES,
        labels=labels,
        profile="p" * MAX_NAME_BYTES,
        queue_timeout=duration_pb2.Duration(seconds=600),
    )
    spec = spec_from_config(config, LIMITS)
    assert spec.labels == labels and spec.queue_timeout_s == 600
    assert spec_from_config(with_timeout(0, 1), LIMITS).queue_timeout_s == pytest.approx(1e-9)
    assert spec_from_config(pb.DriveConfig(task_id="t"), LIMITS).queue_timeout_s is None


@pytest.mark.parametrize(
    ("seconds", "nanos", "words"),
    [
        (601, 0, "at most 600 s"),
        (600, 1, "at most 600 s"),
        (10**12, 0, "at most"),
        (2**63 - 1, 999_999_999, "at most"),  # beyond timedelta: no OverflowError
        (-(2**63), 0, "positive"),
        (0, 0, "positive"),
        (0, -1, "positive"),
        (0, 1_000_000_000, "valid Duration"),
        (1, -1, "valid Duration"),
        (-1, 1, "valid Duration"),
    ],
)
def test_queue_timeout_out_of_range(seconds: int, nanos: int, words: str) -> None:
    error = refused(with_timeout(seconds, nanos))
    assert error.reason is Reason.INVALID_CONFIG and words in error.message


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        ({f"k{i}": "" for i in range(MAX_LABELS + 1)}, f"at most {MAX_LABELS}"),
        ({"": "v"}, f"1 to {MAX_LABEL_KEY_BYTES} bytes"),
        ({"k" * (MAX_LABEL_KEY_BYTES + 1): "v"}, f"1 to {MAX_LABEL_KEY_BYTES} bytes"),
        ({"é" * 33: "v"}, "bytes"),  # 66 bytes of UTF-8 in 33 characters
        ({"k": "v" * (MAX_LABEL_VALUE_BYTES + 1)}, f"at most {MAX_LABEL_VALUE_BYTES} bytes"),
    ],
)
def test_labels_out_of_range(labels: dict[str, str], words: str) -> None:
    error = refused(pb.DriveConfig(task_id="t", labels=labels))
    assert error.reason is Reason.INVALID_CONFIG and words in error.message


@pytest.mark.parametrize("field", ["task_id", "profile"])
def test_names_out_of_range(field: str) -> None:
    config = pb.DriveConfig(task_id="t")
    setattr(config, field, "n" * (MAX_NAME_BYTES + 1))
    error = refused(config)
    assert error.reason is Reason.INVALID_CONFIG
    assert f"DriveConfig.{field}" in error.message and str(MAX_NAME_BYTES) in error.message
    assert "nnnn" not in error.message  # the value is not echoed back


def test_a_text_config_is_a_text_drive_without_an_input() -> None:
    text = pb.TextInput(text="你好😀", timbre_id="tb", speech_rate=-500, pitch_rate=500)
    spec = spec_from_config(pb.DriveConfig(task_id="t", text=text), LIMITS)
    assert spec.text is not None and spec.text.text == "你好😀"
    assert (spec.text.timbre_id, spec.text.speech_rate, spec.text.pitch_rate) == ("tb", -500, 500)
    assert spec_from_config(pb.DriveConfig(task_id="t"), LIMITS).text is None
    both = pb.DriveConfig(task_id="t", text=text, input=pb.AudioFormat())
    assert refused(both).reason is Reason.INVALID_CONFIG
    empty = pb.DriveConfig(task_id="t", text=pb.TextInput(timbre_id="tb"))
    assert refused(empty).reason is Reason.BAD_TEXT
