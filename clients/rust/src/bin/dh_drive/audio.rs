//! The file's audio as the drive's messages: chunks, and marks at offsets of the audio.

use std::time::Duration;

use bytes::Bytes;
use dhgateway_client::{sample_width, AudioSender, Encoding};
use tokio::time::Instant;

/// Where a file's audio is and how long its frames are: to put marks at offsets of the audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The first byte of audio (after a WAV header).
    start: usize,
    /// The byte after the last one of audio.
    end: usize,
    /// Bytes per frame (all channels of one sample).
    frame_bytes: usize,
    /// Frames per second.
    rate_hz: usize,
}

impl Layout {
    /// `(byte position, offset_ms)` of a mark every `every_ms` of audio: at `every_ms`, twice
    /// that, ...: strictly inside the audio (none at its start or end).
    pub fn marks(&self, every_ms: i64) -> Vec<(usize, i64)> {
        let mut marks = Vec::new();
        let Ok(every) = usize::try_from(every_ms) else {
            return marks;
        };
        if every == 0 {
            return marks;
        }
        for offset_ms in (every..).step_by(every) {
            let frames = offset_ms.saturating_mul(self.rate_hz) / 1000;
            let position = self
                .start
                .saturating_add(frames.saturating_mul(self.frame_bytes));
            if position >= self.end {
                break;
            }
            marks.push((position, offset_ms as i64));
        }
        marks
    }
}

/// The layout of a RIFF/WAVE file's `data` chunk, from its `fmt ` chunk; `None` if unread.
fn wav_layout(data: &[u8]) -> Option<Layout> {
    let le = |at: usize, width: usize| -> Option<usize> {
        let bytes = data.get(at..at.checked_add(width)?)?;
        Some(bytes.iter().rev().fold(0, |n, b| n << 8 | usize::from(*b)))
    };
    if data.get(..4)? != b"RIFF" || data.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut position, mut frame_bytes, mut rate_hz) = (12usize, 0, 0);
    while let (Some(id), Some(size)) = (data.get(position..position + 4), le(position + 4, 4)) {
        let body = position + 8;
        if id == b"fmt " && size >= 16 {
            rate_hz = le(body + 4, 4)?;
            frame_bytes = le(body + 12, 2)?;
        } else if id == b"data" {
            if frame_bytes == 0 || rate_hz == 0 {
                return None;
            }
            // A streamed WAV may leave the size at 0 or 0xFFFFFFFF: then to the end of the file.
            let end = if size == 0 || size == 0xFFFF_FFFF {
                data.len()
            } else {
                data.len().min(body.saturating_add(size))
            };
            return Some(Layout {
                start: body,
                end,
                frame_bytes,
                rate_hz,
            });
        }
        position = body.checked_add(size)?.checked_add(size & 1)?;
    }
    None
}

/// The layout of `data`: a WAV's from its header, else from the flags' format.
pub fn audio_layout(data: &[u8], encoding: Encoding, rate: i32, channels: i32) -> Layout {
    if encoding == Encoding::Wav {
        if let Some(layout) = wav_layout(data) {
            return layout;
        }
    }
    let positive = |n: i32, default: usize| {
        usize::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    Layout {
        start: 0,
        end: data.len(),
        frame_bytes: positive(channels, 1) * sample_width(encoding) as usize,
        rate_hz: positive(rate, 16_000),
    }
}

/// One message of the audio: a chunk, or a mark after the audio before it.
#[derive(Debug, PartialEq)]
pub enum Piece {
    Audio(Bytes),
    Mark(String),
}

/// `data` in chunks of `chunk` bytes, cut at each mark's position, with the mark after it.
pub fn pieces(data: &Bytes, chunk: usize, marks: &[(usize, i64)]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut pending = marks.iter().peekable();
    let mut offset = 0;
    while offset < data.len() {
        let mut end = (offset + chunk.max(1)).min(data.len());
        if let Some((position, _)) = pending.peek() {
            if offset < *position && *position < end {
                end = *position;
            }
        }
        out.push(Piece::Audio(data.slice(offset..end)));
        offset = end;
        while let Some((_, offset_ms)) = pending.next_if(|(position, _)| *position <= offset) {
            out.push(Piece::Mark(format!("m{offset_ms}")));
        }
    }
    out
}

/// Pushes the pieces; with `realtime`, each chunk when its audio is due (chunk k at start +
/// k x `chunk_ms`: no drift).
pub async fn feed(
    audio: AudioSender,
    pieces: Vec<Piece>,
    chunk: usize,
    chunk_ms: i64,
    realtime: bool,
) {
    let began = Instant::now();
    let period = Duration::from_millis(chunk_ms.max(0).unsigned_abs());
    let mut offset = 0;
    for piece in pieces {
        let sent = match piece {
            Piece::Audio(bytes) => {
                if realtime {
                    let due = period.mul_f64(offset as f64 / chunk.max(1) as f64);
                    tokio::time::sleep_until(began + due).await;
                }
                offset += bytes.len();
                audio.send(bytes).await
            }
            Piece::Mark(name) => audio.mark(name).await,
        };
        if sent.is_err() {
            return; // the drive ended; the events say why
        }
    }
} // `audio` dropped: half-close

#[cfg(test)]
mod tests {
    use super::*;

    /// A RIFF/WAVE file of `(id, body)` chunks, padded to even sizes.
    fn wav(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        for (id, data) in chunks {
            body.extend_from_slice(*id);
            body.extend_from_slice(&(data.len() as u32).to_le_bytes());
            body.extend_from_slice(data);
            if data.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend(body);
        file
    }

    fn fmt(rate: u32, channels: u16) -> Vec<u8> {
        let align = channels * 2;
        let mut fmt = Vec::new();
        for field in [1u16, channels] {
            fmt.extend_from_slice(&field.to_le_bytes());
        }
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        fmt.extend_from_slice(&align.to_le_bytes());
        fmt.extend_from_slice(&16u16.to_le_bytes());
        fmt
    }

    #[test]
    fn wav_audio_is_found_after_its_header_and_other_chunks() {
        let audio = vec![0u8; 400];
        let file = wav(&[
            (b"fmt ", fmt(24_000, 2)),
            (b"LIST", b"odd".to_vec()),
            (b"data", audio.clone()),
        ]);
        let start = file.len() - audio.len();
        let layout = Layout {
            start,
            end: file.len(),
            frame_bytes: 4,
            rate_hz: 24_000,
        };
        assert_eq!(wav_layout(&file), Some(layout));
        let mut streamed = file.clone();
        streamed[start - 4..start].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(wav_layout(&streamed), Some(layout));
        assert_eq!(wav_layout(b"not a wav file at all"), None);
        assert_eq!(wav_layout(&wav(&[(b"data", audio)])), None); // no fmt chunk first
                                                                 // The raw audio, and --encoding WAV on a file that is not one: the flags' format.
        let raw = |encoding, rate, channels| audio_layout(&[0; 10], encoding, rate, channels);
        let flat = |frame_bytes, rate_hz| Layout {
            start: 0,
            end: 10,
            frame_bytes,
            rate_hz,
        };
        assert_eq!(raw(Encoding::Mulaw, 8000, 2), flat(2, 8000));
        assert_eq!(raw(Encoding::Float32, 0, 0), flat(4, 16_000));
        assert_eq!(raw(Encoding::Wav, 0, 0), flat(2, 16_000));
    }

    #[test]
    fn the_clip_s_marks_fall_every_500_ms_of_its_audio() {
        let clip = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../gateway/assets/speech-16k.wav"
        ))
        .expect("the clip");
        let layout = audio_layout(&clip, Encoding::Wav, 0, 0);
        assert_eq!((layout.start, layout.end), (44, clip.len()));
        let marks = layout.marks(500);
        assert_eq!(marks.len(), 7); // 3858 ms: 500 ... 3500, none at the end
        assert_eq!(marks[0], (44 + 16_000, 500));
        assert_eq!(marks[6], (44 + 7 * 16_000, 3500));
        assert!(layout.marks(0).is_empty() && layout.marks(-5).is_empty());
    }

    #[test]
    fn pieces_cut_the_chunks_at_the_marks_and_keep_every_byte() {
        let data = Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        let audio = |range: std::ops::Range<usize>| Piece::Audio(data.slice(range));
        let mark = |name: &str| Piece::Mark(name.to_owned());
        assert_eq!(
            pieces(&data, 4, &[(2, 100), (8, 400)]),
            [
                audio(0..2),
                mark("m100"),
                audio(2..6),
                audio(6..8),
                mark("m400"),
                audio(8..10)
            ]
        );
        assert_eq!(
            pieces(&data, 5, &[(5, 7)]),
            [audio(0..5), mark("m7"), audio(5..10)]
        );
    }
}
