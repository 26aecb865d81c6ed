//! `dh-drive`: stream a WAV or raw PCM file through dh-gateway and print its events.
//!
//! The same flags and, with `--json`, the same output (one JSON object per line) as every
//! client language's `dh-drive`:
//!
//! * `{"event": "queued" | "started" | "progress" | "playback_started" | "mark_played" |
//!   "playback_finished" | "completed", "drive_id": ..., <fields>}`: the proto's field names,
//!   int64 as strings, enums by name;
//! * `{"event": "cancelled", "at_unix_ms": ...}` after `--cancel-after-ms` (exit 0);
//! * `{"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ...,
//!   "metadata": {...}}` when the drive fails (exit 1).
//!
//! `--mark-every-ms N` puts a mark named `m<offset_ms>` after every N ms of audio (at N, 2N, ...
//! ms, strictly before its end; a WAV file's audio is found from its header). Without `--json`,
//! the avatar's playback prints as `speaking` / `mark` / `finished` lines.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dhgateway_client::{
    chunk_bytes, sample_width, AudioSender, Client, ConflictPolicy, DriveError, DriveOptions,
    Encoding, Event, EventKind,
};
use serde_json::{Map, Value};
use tokio::time::Instant;

const USAGE: &str = "usage: dh-drive [-h] [--addr ADDR] --task TASK --file FILE \
[--encoding {LINEAR16,FLOAT32,WAV,MULAW,ALAW}] [--rate RATE] [--channels CHANNELS] \
[--policy {REJECT,PREEMPT,QUEUE}] [--chunk-ms CHUNK_MS] [--realtime] \
[--cancel-after-ms CANCEL_AFTER_MS] [--mark-every-ms MARK_EVERY_MS] [--api-key API_KEY] [--json]";

const HELP: &str = "
Stream a WAV or raw PCM file through dh-gateway and print its events.

options:
  -h, --help            show this help message and exit
  --addr ADDR           gateway host:port
  --task TASK           the vendor's stream task id
  --file FILE           a .wav file, or raw audio
  --encoding {LINEAR16,FLOAT32,WAV,MULAW,ALAW}
                        default: by extension
  --rate RATE           input sample rate (0: default)
  --channels CHANNELS   input channels (0: default)
  --policy {REJECT,PREEMPT,QUEUE}
  --chunk-ms CHUNK_MS   audio per message
  --realtime            send at 1x, like a live TTS
  --cancel-after-ms CANCEL_AFTER_MS
                        cancel the drive after this long
  --mark-every-ms MARK_EVERY_MS
                        a mark m<offset_ms> every N ms of audio
  --api-key API_KEY     sent as authorization: Bearer <key>
  --json                one JSON object per line";

const ENCODINGS: [&str; 5] = ["LINEAR16", "FLOAT32", "WAV", "MULAW", "ALAW"];
const POLICIES: [&str; 3] = ["REJECT", "PREEMPT", "QUEUE"];

/// The parsed flags.
#[derive(Debug, PartialEq)]
struct Args {
    addr: String,
    task: String,
    file: String,
    encoding: Option<Encoding>,
    rate: i32,
    channels: i32,
    policy: ConflictPolicy,
    chunk_ms: i64,
    realtime: bool,
    cancel_after_ms: Option<i64>,
    mark_every_ms: i64,
    api_key: Option<String>,
    json: bool,
}

/// Why parsing stopped: help asked for (exit 0) or a usage error (exit 2).
#[derive(Debug, PartialEq)]
enum Stop {
    Help,
    Usage(String),
}

fn parse(argv: &[String]) -> Result<Args, Stop> {
    let mut args = Args {
        addr: "127.0.0.1:50051".to_owned(),
        task: String::new(),
        file: String::new(),
        encoding: None,
        rate: 0,
        channels: 0,
        policy: ConflictPolicy::Reject,
        chunk_ms: 20,
        realtime: false,
        cancel_after_ms: None,
        mark_every_ms: 0,
        api_key: None,
        json: false,
    };
    let (mut task, mut file) = (None, None);
    let mut rest = argv.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        const VALUED: [&str; 11] = [
            "--addr",
            "--task",
            "--file",
            "--encoding",
            "--rate",
            "--channels",
            "--policy",
            "--chunk-ms",
            "--cancel-after-ms",
            "--mark-every-ms",
            "--api-key",
        ];
        let takes_value = VALUED.contains(&flag);
        if !takes_value && !matches!(flag, "-h" | "--help" | "--realtime" | "--json") {
            return Err(Stop::Usage(format!("unrecognized arguments: {arg}")));
        }
        let value = if !takes_value {
            if inline.is_some() {
                return Err(Stop::Usage(format!(
                    "argument {flag}: ignored explicit argument '{}'",
                    inline.unwrap_or_default()
                )));
            }
            String::new()
        } else if let Some(value) = inline {
            value
        } else {
            match rest.next() {
                Some(value) if !value.starts_with("--") => value.clone(),
                _ => {
                    return Err(Stop::Usage(format!(
                        "argument {flag}: expected one argument"
                    )))
                }
            }
        };
        match flag {
            "-h" | "--help" => return Err(Stop::Help),
            "--realtime" => args.realtime = true,
            "--json" => args.json = true,
            "--addr" => args.addr = value,
            "--task" => task = Some(value),
            "--file" => file = Some(value),
            "--api-key" => args.api_key = Some(value),
            "--encoding" => {
                let name = choice(flag, &value, &ENCODINGS)?;
                args.encoding = Encoding::from_str_name(&format!("ENCODING_{name}"));
            }
            "--policy" => {
                let name = choice(flag, &value, &POLICIES)?;
                args.policy = ConflictPolicy::from_str_name(&format!("CONFLICT_POLICY_{name}"))
                    .unwrap_or(ConflictPolicy::Reject);
            }
            "--rate" => args.rate = int(flag, &value)?,
            "--channels" => args.channels = int(flag, &value)?,
            "--chunk-ms" => args.chunk_ms = int(flag, &value)?,
            "--cancel-after-ms" => args.cancel_after_ms = Some(int(flag, &value)?),
            "--mark-every-ms" => args.mark_every_ms = int(flag, &value)?,
            _ => unreachable!("every flag is matched above"),
        }
    }
    let missing: Vec<&str> = [("--task", task.is_none()), ("--file", file.is_none())]
        .into_iter()
        .filter_map(|(flag, absent)| absent.then_some(flag))
        .collect();
    if !missing.is_empty() {
        return Err(Stop::Usage(format!(
            "the following arguments are required: {}",
            missing.join(", ")
        )));
    }
    args.task = task.unwrap_or_default();
    args.file = file.unwrap_or_default();
    Ok(args)
}

fn choice<'a>(flag: &str, value: &str, choices: &[&'a str]) -> Result<&'a str, Stop> {
    choices
        .iter()
        .copied()
        .find(|c| *c == value)
        .ok_or_else(|| {
            let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
            Stop::Usage(format!(
                "argument {flag}: invalid choice: '{value}' (choose from {})",
                quoted.join(", ")
            ))
        })
}

fn int<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, Stop> {
    value
        .trim()
        .parse()
        .map_err(|_| Stop::Usage(format!("argument {flag}: invalid int value: '{value}'")))
}

/// An event as its JSON line: the proto field names, int64 as strings (the proto3 JSON form).
fn event_json(event: &Event) -> Map<String, Value> {
    let mut line = Map::new();
    line.insert("event".into(), event.name().into());
    line.insert("drive_id".into(), event.drive_id.clone().into());
    let int64 = |n: i64| Value::String(n.to_string());
    let fields: Vec<(&str, Value)> = match &event.kind {
        EventKind::Queued(q) => vec![
            ("reason", q.reason().as_str_name().into()),
            ("ahead", q.ahead.into()),
        ],
        EventKind::Started(s) => vec![
            ("output_sample_rate_hz", s.output_sample_rate_hz.into()),
            ("setup_ms", int64(s.setup_ms)),
            ("output_channels", s.output_channels.into()),
        ],
        EventKind::Progress(p) => vec![
            ("received_ms", int64(p.received_ms)),
            ("sent_ms", int64(p.sent_ms)),
            ("lead_ms", int64(p.lead_ms)),
            ("underruns", p.underruns.into()),
            ("played_ms", int64(p.played_ms)),
        ],
        EventKind::PlaybackStarted(s) => vec![("source", s.source().as_str_name().into())],
        EventKind::MarkPlayed(m) => vec![
            ("name", m.name.clone().into()),
            ("at_ms", int64(m.at_ms)),
            ("source", m.source().as_str_name().into()),
        ],
        EventKind::PlaybackFinished(f) => vec![
            ("played_ms", int64(f.played_ms)),
            ("interrupted", f.interrupted.into()),
            ("source", f.source().as_str_name().into()),
        ],
        EventKind::Completed(c) => vec![
            ("received_ms", int64(c.received_ms)),
            ("sent_ms", int64(c.sent_ms)),
            ("bytes_sent", int64(c.bytes_sent)),
            ("frames_sent", int64(c.frames_sent)),
            ("underruns", c.underruns.into()),
            ("stop_lag_ms", int64(c.stop_lag_ms)),
            ("dropped_ms", int64(c.dropped_ms)),
            ("time_to_first_frame_ms", int64(c.time_to_first_frame_ms)),
            ("time_to_speaking_ms", int64(c.time_to_speaking_ms)),
            ("played_ms", int64(c.played_ms)),
            ("interrupted", c.interrupted.into()),
        ],
    };
    for (name, value) in fields {
        line.insert(name.into(), value);
    }
    line
}

fn error_json(error: &DriveError) -> Map<String, Value> {
    let mut line = Map::new();
    line.insert("event".into(), "error".into());
    line.insert("code".into(), error.code_name().into());
    line.insert("reason".into(), error.reason.clone().into());
    line.insert("message".into(), error.message.clone().into());
    let mut metadata: Vec<(&String, &String)> = error.metadata.iter().collect();
    metadata.sort();
    let metadata: Map<String, Value> = metadata
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    line.insert("metadata".into(), metadata.into());
    line
}

fn show(line: &Map<String, Value>, as_json: bool) {
    if as_json {
        println!("{}", Value::Object(line.clone()));
        return;
    }
    let rest: Vec<String> = line
        .iter()
        .filter(|(k, _)| *k != "event")
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    let event = line.get("event").and_then(Value::as_str).unwrap_or("");
    println!("{:<10} {}", said(event), rest.join(" "));
}

/// The human name of an event: the avatar's playback as `speaking` / `mark` / `finished`.
fn said(event: &str) -> &str {
    match event {
        "playback_started" => "speaking",
        "mark_played" => "mark",
        "playback_finished" => "finished",
        other => other,
    }
}

/// Where a file's audio is and how long its frames are: to put marks at offsets of the audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
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
    fn marks(&self, every_ms: i64) -> Vec<(usize, i64)> {
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
fn audio_layout(data: &[u8], encoding: Encoding, rate: i32, channels: i32) -> Layout {
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
enum Piece {
    Audio(Bytes),
    Mark(String),
}

/// `data` in chunks of `chunk` bytes, cut at each mark's position, with the mark after it.
fn pieces(data: &Bytes, chunk: usize, marks: &[(usize, i64)]) -> Vec<Piece> {
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
async fn feed(audio: AudioSender, pieces: Vec<Piece>, chunk: usize, chunk_ms: i64, realtime: bool) {
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

fn unix_ms_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

async fn run(args: Args, data: Vec<u8>) -> Result<ExitCode, String> {
    let wav = Path::new(&args.file)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("wav"));
    let encoding = args.encoding.unwrap_or(if wav {
        Encoding::Wav
    } else {
        Encoding::Linear16
    });
    let options = DriveOptions {
        encoding,
        sample_rate_hz: args.rate,
        channels: args.channels,
        on_conflict: args.policy,
        ..DriveOptions::default()
    };
    let chunk = chunk_bytes(encoding, args.rate, args.channels, args.chunk_ms);
    let marks = audio_layout(&data, encoding, args.rate, args.channels).marks(args.mark_every_ms);
    let pieces = pieces(&Bytes::from(data), chunk, &marks);
    let mut client = Client::connect_lazy(&args.addr).map_err(|e| format!("--addr: {e}"))?;
    if let Some(key) = &args.api_key {
        client = client
            .with_api_key(key)
            .map_err(|e| format!("--api-key: {e}"))?;
    }
    // When the cancel is asked for (the deadline), not when we got round to reporting it.
    let cancel_after = args
        .cancel_after_ms
        .filter(|ms| *ms != 0)
        .map(|ms| Duration::from_millis(ms.max(0).unsigned_abs()));
    let deadline = cancel_after.map(|after| Instant::now() + after);
    let cancel_at_ms = unix_ms_now() + cancel_after.map_or(0.0, |d| d.as_secs_f64() * 1000.0);

    let (audio, mut events) = client.drive(&args.task, &options);
    let feeder = tokio::spawn(feed(audio, pieces, chunk, args.chunk_ms, args.realtime));
    loop {
        let next = match deadline {
            None => events.next().await,
            Some(deadline) => match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(next) => next,
                Err(_elapsed) => {
                    drop(events); // resets the stream: the gateway sends the avatar its Stop
                    feeder.abort();
                    // Let the connection task write the reset before the runtime goes.
                    tokio::task::yield_now().await;
                    let mut line = Map::new();
                    line.insert("event".into(), "cancelled".into());
                    line.insert("at_unix_ms".into(), cancel_at_ms.into());
                    show(&line, args.json);
                    return Ok(ExitCode::SUCCESS);
                }
            },
        };
        match next {
            Some(Ok(event)) => show(&event_json(&event), args.json),
            Some(Err(error)) => {
                show(&error_json(&error), args.json);
                return Ok(ExitCode::from(1));
            }
            None => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(args) => args,
        Err(Stop::Help) => {
            println!("{USAGE}\n{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(Stop::Usage(message)) => {
            eprintln!("{USAGE}\ndh-drive: error: {message}");
            return ExitCode::from(2);
        }
    };
    let data = match std::fs::read(&args.file) {
        Ok(data) => data,
        Err(error) => {
            eprintln!("dh-drive: {}: {error}", args.file);
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dh-drive: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args, data)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("dh-drive: {message}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhgateway_client::pb;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_every_flag_in_both_forms() {
        let args = parse(&argv(&[
            "--addr=127.0.0.1:1",
            "--task",
            "t",
            "--file",
            "a.raw",
            "--encoding",
            "MULAW",
            "--rate",
            "8000",
            "--channels=2",
            "--policy",
            "QUEUE",
            "--chunk-ms",
            "40",
            "--realtime",
            "--cancel-after-ms",
            "1500",
            "--mark-every-ms=500",
            "--api-key",
            "k",
            "--json",
        ]))
        .expect("valid");
        assert_eq!(args.addr, "127.0.0.1:1");
        assert_eq!((args.task.as_str(), args.file.as_str()), ("t", "a.raw"));
        assert_eq!(args.encoding, Some(Encoding::Mulaw));
        assert_eq!((args.rate, args.channels, args.chunk_ms), (8000, 2, 40));
        assert_eq!(args.policy, ConflictPolicy::Queue);
        assert!(args.realtime && args.json);
        assert_eq!(args.cancel_after_ms, Some(1500));
        assert_eq!(args.mark_every_ms, 500);
        assert_eq!(args.api_key.as_deref(), Some("k"));
    }

    #[test]
    fn defaults_match_the_python_dh_drive() {
        let args = parse(&argv(&["--task", "t", "--file", "f.wav"])).expect("valid");
        assert_eq!(args.addr, "127.0.0.1:50051");
        assert_eq!(args.encoding, None);
        assert_eq!((args.rate, args.channels, args.chunk_ms), (0, 0, 20));
        assert_eq!(args.policy, ConflictPolicy::Reject);
        assert!(!args.realtime && !args.json);
        assert_eq!((args.cancel_after_ms, args.api_key), (None, None));
        assert_eq!(args.mark_every_ms, 0);
    }

    #[test]
    fn usage_errors() {
        let usage = |a: &[&str]| match parse(&argv(a)) {
            Err(Stop::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        };
        assert!(usage(&["--file", "f"]).contains("required: --task"));
        assert!(usage(&[]).contains("--task, --file"));
        assert!(usage(&["--task", "t", "--file", "f", "--encoding", "MP3"]).contains("MP3"));
        assert!(usage(&["--task", "t", "--file", "f", "--rate", "x"]).contains("invalid int"));
        assert!(usage(&["--task", "t", "--file", "f", "--bogus"]).contains("unrecognized"));
        assert!(usage(&["--task"]).contains("expected one argument"));
        assert_eq!(parse(&argv(&["-h"])), Err(Stop::Help));
    }

    #[test]
    fn events_print_with_proto_field_names_in_order() {
        let event = Event::from_proto(pb::DriveEvent {
            drive_id: "d-1".into(),
            time: None,
            event: Some(EventKind::Completed(pb::Completed {
                received_ms: 3000,
                sent_ms: 3000,
                bytes_sent: 96_000,
                frames_sent: 75,
                underruns: 0,
                stop_lag_ms: 12,
                dropped_ms: 40,
                time_to_first_frame_ms: 5,
                time_to_speaking_ms: 9,
                played_ms: 2960,
                interrupted: true,
            })),
        })
        .expect("known");
        assert_eq!(
            Value::Object(event_json(&event)).to_string(),
            r#"{"event":"completed","drive_id":"d-1","received_ms":"3000","sent_ms":"3000","bytes_sent":"96000","frames_sent":"75","underruns":0,"stop_lag_ms":"12","dropped_ms":"40","time_to_first_frame_ms":"5","time_to_speaking_ms":"9","played_ms":"2960","interrupted":true}"#
        );
        let queued = Event::from_proto(pb::DriveEvent {
            drive_id: String::new(),
            time: None,
            event: Some(EventKind::Queued(pb::Queued {
                reason: pb::queued::Reason::TaskBusy.into(),
                ahead: 1,
            })),
        })
        .expect("known");
        assert_eq!(
            Value::Object(event_json(&queued)).to_string(),
            r#"{"event":"queued","drive_id":"","reason":"REASON_TASK_BUSY","ahead":1}"#
        );
    }

    fn line(kind: EventKind) -> String {
        let event = Event::from_proto(pb::DriveEvent {
            drive_id: "d-1".into(),
            time: None,
            event: Some(kind),
        })
        .expect("known");
        Value::Object(event_json(&event)).to_string()
    }

    #[test]
    fn playback_events_print_like_the_python_dh_drive() {
        let estimated = pb::PlaybackSource::Estimated.into();
        assert_eq!(
            line(EventKind::PlaybackStarted(pb::PlaybackStarted {
                source: estimated
            })),
            r#"{"event":"playback_started","drive_id":"d-1","source":"PLAYBACK_SOURCE_ESTIMATED"}"#
        );
        assert_eq!(
            line(EventKind::MarkPlayed(pb::MarkPlayed {
                name: "m500".into(),
                at_ms: 500,
                source: estimated,
            })),
            r#"{"event":"mark_played","drive_id":"d-1","name":"m500","at_ms":"500","source":"PLAYBACK_SOURCE_ESTIMATED"}"#
        );
        assert_eq!(
            line(EventKind::PlaybackFinished(pb::PlaybackFinished {
                played_ms: 3858,
                interrupted: true,
                source: pb::PlaybackSource::Vendor.into(),
            })),
            r#"{"event":"playback_finished","drive_id":"d-1","played_ms":"3858","interrupted":true,"source":"PLAYBACK_SOURCE_VENDOR"}"#
        );
        assert!(line(EventKind::Progress(pb::Progress {
            played_ms: 120,
            ..pb::Progress::default()
        }))
        .ends_with(r#""underruns":0,"played_ms":"120"}"#));
        let said_as: Vec<&str> = [
            "playback_started",
            "mark_played",
            "playback_finished",
            "started",
        ]
        .into_iter()
        .map(said)
        .collect();
        assert_eq!(said_as, ["speaking", "mark", "finished", "started"]);
    }

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

    #[test]
    fn errors_print_code_name_reason_and_metadata() {
        let error = DriveError {
            code: dhgateway_client::Code::AlreadyExists,
            message: "busy".into(),
            reason: "TASK_BUSY".into(),
            domain: "dhgateway".into(),
            metadata: [("holder_drive_id".to_owned(), "d-1".to_owned())].into(),
        };
        assert_eq!(
            Value::Object(error_json(&error)).to_string(),
            r#"{"event":"error","code":"ALREADY_EXISTS","reason":"TASK_BUSY","message":"busy","metadata":{"holder_drive_id":"d-1"}}"#
        );
    }
}
