//! How to drive: the client-side form of `DriveConfig`, and audio chunk sizing.

use std::collections::HashMap;
use std::time::Duration;

use crate::pb::{self, ConflictPolicy, Encoding, VoiceChannel};

/// The audio format and policies of one drive; every field defaults to the gateway's default.
#[derive(Clone, Debug, PartialEq)]
pub struct DriveOptions {
    /// LINEAR16 (s16le), FLOAT32 (f32le), WAV (header first), MULAW or ALAW.
    pub encoding: Encoding,
    /// Input rate in Hz; 0 means 16000 (WAV: from the header).
    pub sample_rate_hz: i32,
    /// 1 or 2; 0 means 1 (WAV: from the header).
    pub channels: i32,
    /// For stereo input: MIX, LEFT or RIGHT.
    pub voice_channel: VoiceChannel,
    /// Send stereo to the avatar instead of mixing it down.
    pub keep_stereo: bool,
    /// 16000, 24000, or 0 for the gateway's choice.
    pub output_sample_rate_hz: i32,
    /// REJECT, PREEMPT or QUEUE when the task is busy.
    pub on_conflict: ConflictPolicy,
    /// How long a QUEUE drive may wait (`None`: the gateway's default).
    pub queue_timeout: Option<Duration>,
    /// Free-form labels, logged and listed by the gateway.
    pub labels: HashMap<String, String>,
    /// The gateway's credentials profile ("" = default).
    pub profile: String,
    /// A text drive: the vendor's TTS speaks `text.text` (1 to 1800 characters) in the timbre
    /// `text.timbre_id` ("" = the profile's default); the drive carries no audio, and the audio
    /// format fields are ignored. `None`: an audio drive.
    pub text: Option<pb::TextInput>,
}

impl Default for DriveOptions {
    fn default() -> Self {
        Self {
            encoding: Encoding::Linear16,
            sample_rate_hz: 0,
            channels: 0,
            voice_channel: VoiceChannel::Mix,
            keep_stereo: false,
            output_sample_rate_hz: 0,
            on_conflict: ConflictPolicy::Reject,
            queue_timeout: None,
            labels: HashMap::new(),
            profile: String::new(),
            text: None,
        }
    }
}

impl DriveOptions {
    /// The `DriveConfig` message for `task_id`.
    pub fn to_config(&self, task_id: &str) -> pb::DriveConfig {
        // A text drive has no audio format.
        let input = self.text.is_none().then(|| pb::AudioFormat {
            encoding: self.encoding.into(),
            sample_rate_hz: self.sample_rate_hz,
            channels: self.channels,
            voice_channel: self.voice_channel.into(),
            keep_stereo: self.keep_stereo,
        });
        pb::DriveConfig {
            task_id: task_id.to_owned(),
            input,
            output_sample_rate_hz: self.output_sample_rate_hz,
            on_conflict: self.on_conflict.into(),
            // Whole milliseconds, like the other clients; saturates far beyond any real wait.
            queue_timeout: self.queue_timeout.map(|timeout| {
                let ms = timeout.as_millis().min(i64::MAX as u128) as i64;
                prost_types::Duration {
                    seconds: ms / 1000,
                    nanos: (ms % 1000) as i32 * 1_000_000,
                }
            }),
            labels: self.labels.clone(),
            profile: self.profile.clone(),
            text: self.text.clone(),
        }
    }
}

/// Bytes per sample of one channel: 4 for FLOAT32, 1 for MULAW and ALAW, else 2.
pub fn sample_width(encoding: Encoding) -> u32 {
    match encoding {
        Encoding::Float32 => 4,
        Encoding::Mulaw | Encoding::Alaw => 1,
        Encoding::Unspecified | Encoding::Linear16 | Encoding::Wav => 2,
    }
}

/// The bytes of `chunk_ms` of audio: rate (0 = 16000) x channels (0 = 1) x sample width x
/// `chunk_ms` / 1000, at least 1 (what every language's `dh-drive` sends per message).
pub fn chunk_bytes(encoding: Encoding, rate_hz: i32, channels: i32, chunk_ms: i64) -> usize {
    let rate = if rate_hz == 0 {
        16_000
    } else {
        i128::from(rate_hz)
    };
    let channels = i128::from(channels.max(1));
    let bytes = rate * channels * i128::from(sample_width(encoding)) * i128::from(chunk_ms) / 1000;
    bytes.clamp(1, i128::from(u32::MAX)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_drive_carries_the_text_and_no_audio_format() {
        let text = pb::TextInput {
            text: "Hello!".into(),
            timbre_id: "v-1".into(),
            speech_rate: 50,
            pitch_rate: -20,
        };
        let options = DriveOptions {
            encoding: Encoding::Wav,
            text: Some(text.clone()),
            ..DriveOptions::default()
        };
        let config = options.to_config("t");
        assert_eq!((config.input, config.text), (None, Some(text)));
        assert!(DriveOptions::default().to_config("t").input.is_some());
    }

    #[test]
    fn chunk_sizes_follow_rate_channels_width_and_duration() {
        assert_eq!(chunk_bytes(Encoding::Linear16, 0, 0, 20), 640);
        assert_eq!(chunk_bytes(Encoding::Wav, 0, 0, 20), 640);
        assert_eq!(chunk_bytes(Encoding::Float32, 16_000, 1, 20), 1280);
        assert_eq!(chunk_bytes(Encoding::Mulaw, 8000, 1, 20), 160);
        assert_eq!(chunk_bytes(Encoding::Alaw, 8000, 2, 20), 320);
        assert_eq!(chunk_bytes(Encoding::Linear16, 48_000, 2, 20), 3840);
        assert_eq!(chunk_bytes(Encoding::Linear16, 24_000, 1, 100), 4800);
        // Floor division, never below one byte.
        assert_eq!(chunk_bytes(Encoding::Mulaw, 8000, 1, 0), 1);
        assert_eq!(chunk_bytes(Encoding::Linear16, 16_000, 1, -5), 1);
        assert_eq!(chunk_bytes(Encoding::Mulaw, 11_025, 1, 1), 11);
    }

    #[test]
    fn options_become_the_config() {
        let options = DriveOptions {
            encoding: Encoding::Wav,
            sample_rate_hz: 24_000,
            on_conflict: ConflictPolicy::Queue,
            queue_timeout: Some(Duration::from_millis(1500)),
            ..DriveOptions::default()
        };
        let config = options.to_config("task-1");
        assert_eq!(config.task_id, "task-1");
        let input = config.input.expect("input format");
        assert_eq!(input.encoding(), Encoding::Wav);
        assert_eq!(input.sample_rate_hz, 24_000);
        assert_eq!(input.voice_channel(), VoiceChannel::Mix);
        assert_eq!(config.on_conflict(), ConflictPolicy::Queue);
        assert_eq!(
            config.queue_timeout,
            Some(prost_types::Duration {
                seconds: 1,
                nanos: 500_000_000
            })
        );
        let defaults = DriveOptions::default().to_config("t");
        assert_eq!(defaults.on_conflict(), ConflictPolicy::Reject);
        assert_eq!(defaults.queue_timeout, None);
    }
}
