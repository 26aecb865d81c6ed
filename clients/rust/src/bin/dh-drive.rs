//! `dh-drive`: stream a WAV or raw PCM file through dh-gateway and print its events.
//!
//! The same flags and, with `--json`, the same output (one JSON object per line) as every
//! client language's `dh-drive`:
//!
//! * `{"event": "queued" | "started" | "progress" | "completed", "drive_id": ..., <fields>}`;
//! * `{"event": "cancelled", "at_unix_ms": ...}` after `--cancel-after-ms` (exit 0);
//! * `{"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ...,
//!   "metadata": {...}}` when the drive fails (exit 1).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dhgateway_client::{
    chunk_bytes, AudioSender, Client, ConflictPolicy, DriveError, DriveOptions, Encoding, Event,
    EventKind,
};
use serde_json::{Map, Value};
use tokio::time::Instant;

const USAGE: &str = "usage: dh-drive [-h] [--addr ADDR] --task TASK --file FILE \
[--encoding {LINEAR16,FLOAT32,WAV,MULAW,ALAW}] [--rate RATE] [--channels CHANNELS] \
[--policy {REJECT,PREEMPT,QUEUE}] [--chunk-ms CHUNK_MS] [--realtime] \
[--cancel-after-ms CANCEL_AFTER_MS] [--api-key API_KEY] [--json]";

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
        const VALUED: [&str; 10] = [
            "--addr",
            "--task",
            "--file",
            "--encoding",
            "--rate",
            "--channels",
            "--policy",
            "--chunk-ms",
            "--cancel-after-ms",
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
        ],
        EventKind::Completed(c) => vec![
            ("received_ms", int64(c.received_ms)),
            ("sent_ms", int64(c.sent_ms)),
            ("bytes_sent", int64(c.bytes_sent)),
            ("frames_sent", int64(c.frames_sent)),
            ("underruns", c.underruns.into()),
            ("stop_lag_ms", int64(c.stop_lag_ms)),
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
    println!("{event:<10} {}", rest.join(" "));
}

/// Pushes `data` in chunks; with `realtime`, chunk k at start + k x `chunk_ms` (no drift).
async fn feed(audio: AudioSender, data: Bytes, chunk: usize, chunk_ms: i64, realtime: bool) {
    let began = Instant::now();
    let period = Duration::from_millis(chunk_ms.max(0).unsigned_abs());
    for (index, offset) in (0..data.len()).step_by(chunk).enumerate() {
        if realtime {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            tokio::time::sleep_until(began + period * index).await;
        }
        let end = (offset + chunk).min(data.len());
        if audio.send(data.slice(offset..end)).await.is_err() {
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
    let feeder = tokio::spawn(feed(
        audio,
        Bytes::from(data),
        chunk,
        args.chunk_ms,
        args.realtime,
    ));
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
            })),
        })
        .expect("known");
        assert_eq!(
            Value::Object(event_json(&event)).to_string(),
            r#"{"event":"completed","drive_id":"d-1","received_ms":"3000","sent_ms":"3000","bytes_sent":"96000","frames_sent":"75","underruns":0,"stop_lag_ms":"12"}"#
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
