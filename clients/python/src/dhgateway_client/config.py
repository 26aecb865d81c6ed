"""How to drive: the client-side form of ``DriveConfig``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from dhgateway.v1 import gateway_pb2 as pb

EncodingName = Literal["LINEAR16", "FLOAT32", "WAV", "MULAW", "ALAW"]
PolicyName = Literal["REJECT", "PREEMPT", "QUEUE"]
VoiceName = Literal["MIX", "LEFT", "RIGHT"]
StopModeName = Literal["FINISH", "INTERRUPT"]


@dataclass(frozen=True, kw_only=True)
class TextInput:
    """A text drive: the vendor's own TTS speaks ``text`` (``DriveConfig.text``).

    Give it as ``DriveOptions(text=TextInput(text="Hello"))`` and send no audio: the gateway
    refuses audio chunks and marks on a text drive (``INVALID_ARGUMENT`` / ``TEXT_DRIVE_AUDIO``).

    Attributes:
        text: what the avatar says, 1 to 1800 characters (``BAD_TEXT`` otherwise).
        timbre_id: the vendor's voice; "" takes the profile's default timbre
            (``TIMBRE_REQUIRED`` when it has none).
        speech_rate: -500 to 500, faster above 0.
        pitch_rate: -500 to 500, higher above 0.
    """

    text: str
    timbre_id: str = ""
    speech_rate: int = 0
    pitch_rate: int = 0

    def to_proto(self) -> pb.TextInput:
        """The ``TextInput`` message."""
        return pb.TextInput(
            text=self.text,
            timbre_id=self.timbre_id,
            speech_rate=self.speech_rate,
            pitch_rate=self.pitch_rate,
        )


@dataclass(frozen=True, kw_only=True)
class DriveOptions:
    """The audio format and policies of one drive (every field has the gateway's default).

    Attributes:
        encoding: LINEAR16 (s16le), FLOAT32 (f32le), WAV (header first), MULAW or ALAW.
        sample_rate_hz: input rate; 0 = 16000 (WAV: from the header).
        channels: 1 or 2; 0 = 1 (WAV: from the header).
        voice_channel: for stereo: MIX, LEFT or RIGHT.
        keep_stereo: send stereo to the avatar instead of mixing it down.
        output_sample_rate_hz: 16000, 24000, or 0 for the gateway's choice.
        on_conflict: REJECT, PREEMPT or QUEUE when the task is busy.
        queue_timeout_s: how long QUEUE may wait (None: the gateway's default).
        labels: free-form, logged and listed by the gateway.
        profile: the gateway's credentials profile ("" = default).
        text: speak this text with the vendor's TTS instead of audio (the audio fields are
            then not sent).
    """

    encoding: EncodingName = "LINEAR16"
    sample_rate_hz: int = 0
    channels: int = 0
    voice_channel: VoiceName = "MIX"
    keep_stereo: bool = False
    output_sample_rate_hz: int = 0
    on_conflict: PolicyName = "REJECT"
    queue_timeout_s: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    profile: str = ""
    text: TextInput | None = None

    def to_config(self, task_id: str) -> pb.DriveConfig:
        """The ``DriveConfig`` message for ``task_id``."""
        config = pb.DriveConfig(
            task_id=task_id,
            output_sample_rate_hz=self.output_sample_rate_hz,
            on_conflict=pb.ConflictPolicy.Value(f"CONFLICT_POLICY_{self.on_conflict}"),
            labels=dict(self.labels),
            profile=self.profile,
        )
        if self.text is not None:
            # A text drive must leave `input` unset: the gateway refuses both at once.
            config.text.CopyFrom(self.text.to_proto())
        else:
            config.input.CopyFrom(
                pb.AudioFormat(
                    encoding=pb.Encoding.Value(f"ENCODING_{self.encoding}"),
                    sample_rate_hz=self.sample_rate_hz,
                    channels=self.channels,
                    voice_channel=pb.VoiceChannel.Value(f"VOICE_CHANNEL_{self.voice_channel}"),
                    keep_stereo=self.keep_stereo,
                )
            )
        if self.queue_timeout_s is not None:
            config.queue_timeout.FromMilliseconds(round(self.queue_timeout_s * 1000))
        return config
