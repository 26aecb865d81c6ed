"""Protobuf <-> domain conversions: the only place besides the servicer that sees messages.

Protobuf messages stop here; the drive and everything below see plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping

from dhgateway.v1 import gateway_pb2 as pb
from google.protobuf import duration_pb2

from gateway.config import GatewayConfig, LimitsConfig
from gateway.drive.audio import CAPABILITIES, Encoding, InputFormat, VoiceChannel
from gateway.drive.machine import DriveState
from gateway.drive.spec import ConflictPolicy, DriveSpec, TextRequest
from gateway.drive.text import MAX_TEXT_CHARS, text_request
from gateway.errors import InvalidDrive, Reason

_ENCODINGS: Mapping[pb.Encoding.ValueType, Encoding] = {
    pb.ENCODING_UNSPECIFIED: Encoding.LINEAR16,
    pb.ENCODING_LINEAR16: Encoding.LINEAR16,
    pb.ENCODING_FLOAT32: Encoding.FLOAT32,
    pb.ENCODING_WAV: Encoding.WAV,
    pb.ENCODING_MULAW: Encoding.MULAW,
    pb.ENCODING_ALAW: Encoding.ALAW,
}
_ENCODING_TO_PB = {v: k for k, v in _ENCODINGS.items() if k != pb.ENCODING_UNSPECIFIED}
_VOICE: Mapping[pb.VoiceChannel.ValueType, VoiceChannel] = {
    pb.VOICE_CHANNEL_UNSPECIFIED: VoiceChannel.MIX,
    pb.VOICE_CHANNEL_MIX: VoiceChannel.MIX,
    pb.VOICE_CHANNEL_LEFT: VoiceChannel.LEFT,
    pb.VOICE_CHANNEL_RIGHT: VoiceChannel.RIGHT,
}
_VOICE_TO_PB = {v: k for k, v in _VOICE.items() if k != pb.VOICE_CHANNEL_UNSPECIFIED}
_POLICIES: Mapping[pb.ConflictPolicy.ValueType, ConflictPolicy] = {
    pb.CONFLICT_POLICY_UNSPECIFIED: ConflictPolicy.REJECT,
    pb.CONFLICT_POLICY_REJECT: ConflictPolicy.REJECT,
    pb.CONFLICT_POLICY_PREEMPT: ConflictPolicy.PREEMPT,
    pb.CONFLICT_POLICY_QUEUE: ConflictPolicy.QUEUE,
}
_POLICY_TO_PB = {v: k for k, v in _POLICIES.items() if k != pb.CONFLICT_POLICY_UNSPECIFIED}
STATE_TO_PB: Mapping[DriveState, pb.DriveState.ValueType] = {
    DriveState.IDLE: pb.DRIVE_STATE_SETTING_UP,
    DriveState.QUEUED: pb.DRIVE_STATE_QUEUED,
    DriveState.SETTING_UP: pb.DRIVE_STATE_SETTING_UP,
    DriveState.STREAMING: pb.DRIVE_STATE_STREAMING,
    DriveState.STOPPING: pb.DRIVE_STATE_STOPPING,
    DriveState.PLAYING_OUT: pb.DRIVE_STATE_STOPPING,
    DriveState.CLOSED: pb.DRIVE_STATE_STOPPING,
}


#: The longest ``task_id`` and ``profile``, in UTF-8 bytes.
MAX_NAME_BYTES = 256
#: The most labels a drive may have, and the longest key and value (UTF-8 bytes): a drive's
#: labels are repeated in each of its lifecycle log lines and in ListDrives.
MAX_LABELS = 16
MAX_LABEL_KEY_BYTES = 64
MAX_LABEL_VALUE_BYTES = 256
#: What ``google.protobuf.Duration`` allows in ``nanos``.
_MAX_NANOS = 999_999_999
_QUEUE_TIMEOUT = "config.queue_timeout"


def _invalid(message: str, field: str) -> InvalidDrive:
    """INVALID_CONFIG for the Drive stream's ``field`` (a path from DriveRequest)."""
    return InvalidDrive(Reason.INVALID_CONFIG, message, field=field)


def _check_name(field: str, value: str) -> None:
    if len(value.encode()) > MAX_NAME_BYTES:
        raise _invalid(
            f"DriveConfig.{field} is longer than {MAX_NAME_BYTES} bytes", f"config.{field}"
        )


def _queue_timeout_s(config: pb.DriveConfig, limits: LimitsConfig) -> float | None:
    """The config's ``queue_timeout`` in seconds (None: unset), in (0, ``max_drive_s``]."""
    if not config.HasField("queue_timeout"):
        return None
    duration = config.queue_timeout
    seconds, nanos = duration.seconds, duration.nanos
    # Not Duration.ToTimedelta(): it raises OverflowError beyond timedelta's range.
    if abs(nanos) > _MAX_NANOS or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        raise _invalid(
            "queue_timeout is not a valid Duration (nanos out of range or sign)", _QUEUE_TIMEOUT
        )
    timeout_s = seconds + nanos / 1e9
    if timeout_s <= 0:
        raise _invalid("queue_timeout must be positive", _QUEUE_TIMEOUT)
    if timeout_s > limits.max_drive_s:
        raise _invalid(
            f"queue_timeout must be at most {limits.max_drive_s:g} s "
            "(the gateway's limits.max_drive_s)",
            _QUEUE_TIMEOUT,
        )
    return timeout_s


def _labels(config: pb.DriveConfig) -> dict[str, str]:
    """The config's labels, within :data:`MAX_LABELS` and the key and value lengths."""
    labels = dict(config.labels)
    if len(labels) > MAX_LABELS:
        raise _invalid(
            f"DriveConfig.labels has {len(labels)} labels: at most {MAX_LABELS}", "config.labels"
        )
    for key, value in labels.items():
        if not 0 < len(key.encode()) <= MAX_LABEL_KEY_BYTES:
            raise _invalid(
                f"each label key must be 1 to {MAX_LABEL_KEY_BYTES} bytes", "config.labels"
            )
        if len(value.encode()) > MAX_LABEL_VALUE_BYTES:
            raise _invalid(
                f"each label value must be at most {MAX_LABEL_VALUE_BYTES} bytes",
                "config.labels",
            )
    return labels


def _text(config: pb.DriveConfig) -> TextRequest | None:
    """The config's text drive (None: an audio drive), checked (``gateway/drive/text.py``)."""
    if not config.HasField("text"):
        return None
    if config.HasField("input"):
        raise _invalid(
            "a text drive carries no audio: DriveConfig.input must be unset", "config.input"
        )
    text = config.text
    return text_request(text.text, text.timbre_id, text.speech_rate, text.pitch_rate)


def spec_from_config(config: pb.DriveConfig, limits: LimitsConfig) -> DriveSpec:
    """The validated :class:`DriveSpec` of a ``DriveConfig``.

    Raises:
        InvalidDrive: TASK_ID_REQUIRED, UNSUPPORTED_FORMAT (an unknown enum value or a bad
            number; the audio module checks the rest when the converter is built),
            INVALID_CONFIG (a name, a label or ``queue_timeout`` out of range; a text drive
            with an ``input`` or a rate out of range), BAD_TEXT.
    """
    task_id = config.task_id.strip()
    if not task_id:
        raise InvalidDrive(
            Reason.TASK_ID_REQUIRED, "DriveConfig.task_id is required", field="config.task_id"
        )
    _check_name("task_id", task_id)
    _check_name("profile", config.profile)
    fmt = config.input
    encoding = _ENCODINGS.get(fmt.encoding)
    voice = _VOICE.get(fmt.voice_channel)
    policy = _POLICIES.get(config.on_conflict)
    if encoding is None or voice is None or policy is None:
        raise InvalidDrive(
            Reason.UNSUPPORTED_FORMAT,
            "unknown enum value in DriveConfig (encoding, voice_channel or on_conflict)",
            field="config.input.encoding"
            if encoding is None
            else "config.input.voice_channel"
            if voice is None
            else "config.on_conflict",
        )
    wav = encoding is Encoding.WAV
    queue_timeout_s = _queue_timeout_s(config, limits)
    labels = _labels(config)
    text = _text(config)
    return DriveSpec(
        task_id=task_id,
        input=InputFormat(
            encoding=encoding,
            sample_rate_hz=fmt.sample_rate_hz or (0 if wav else 16000),
            channels=fmt.channels or (0 if wav else 1),
            voice_channel=voice,
            keep_stereo=fmt.keep_stereo,
        ),
        output_rate_hz=config.output_sample_rate_hz,
        on_conflict=policy,
        queue_timeout_s=queue_timeout_s,
        labels=labels,
        profile=config.profile,
        text=text,
    )


def capabilities(config: GatewayConfig) -> pb.Capabilities:
    """What this gateway accepts, from the audio module's own list and the configuration."""
    caps = CAPABILITIES
    return pb.Capabilities(
        encodings=[_ENCODING_TO_PB[e] for e in caps.encodings],
        min_input_sample_rate_hz=caps.min_input_rate_hz,
        max_input_sample_rate_hz=caps.max_input_rate_hz,
        channels=list(caps.channels),
        output_sample_rates_hz=list(caps.output_rates_hz),
        max_chunk_bytes=config.limits.max_chunk_bytes,
        pacing_enabled=config.pacing.enabled,
        pacing_lead_ms=config.pacing.lead_ms,
        max_frame_ms=config.pacing.max_frame_ms,
        conflict_policies=[_POLICY_TO_PB[p] for p in ConflictPolicy],
        voice_channels=[_VOICE_TO_PB[v] for v in caps.voice_channels],
        default_queue_timeout=duration_pb2.Duration(
            seconds=int(config.limits.queue_timeout_s),
            nanos=round(config.limits.queue_timeout_s % 1 * 1e9),
        ),
        text_drives=True,
        max_text_chars=MAX_TEXT_CHARS,
        interrupt=True,
        stop_modes=[pb.STOP_MODE_FINISH, pb.STOP_MODE_INTERRUPT],
    )
