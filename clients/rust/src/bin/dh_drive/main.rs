//! `dh-drive`: stream a WAV or raw PCM file (or a text, spoken by the vendor's TTS) through
//! dh-gateway and print its events.
//!
//! The same flags and, with `--json`, the same output (one JSON object per line) as every
//! client language's `dh-drive`:
//!
//! * `{"event": "queued" | "started" | "progress" | "playback_started" | "mark_played" |
//!   "playback_finished" | "completed", "drive_id": ..., <fields>}`: the proto's field names,
//!   int64 as strings, enums by name;
//! * `{"event": "cancelled", "at_unix_ms": ...}` after `--cancel-after-ms` (exit 0);
//! * `{"event": "interrupt", "at_unix_ms": ...}` when `--interrupt-after-ms` sends the
//!   in-stream interrupt; the events that follow end with `playback_finished` (interrupted)
//!   and `completed` (exit 0);
//! * `{"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ...,
//!   "metadata": {...}}` when the drive fails (exit 1).
//!
//! `--mark-every-ms N` puts a mark named `m<offset_ms>` after every N ms of audio (at N, 2N, ...
//! ms, strictly before its end; a WAV file's audio is found from its header). Without `--json`,
//! the avatar's playback prints as `speaking` / `mark` / `finished` lines. `--text "..."` (with
//! `--timbre-id`) speaks a text instead of a file. `dh-drive stop`, `get-task` and `watch-task`
//! call the other RPCs (`commands.rs`). Every command takes the connection flags
//! (`connection.rs`): `--addr`, `--tls`, `--ca`, `--cert`/`--key`, `--server-name`,
//! `--api-key-file` or `--api-key`, each else its `DHGW_*` variable; each call carries the trace
//! context in `$TRACEPARENT` / `$TRACESTATE`, so the gateway's spans join the caller's trace.

mod argparse;
mod args;
mod audio;
mod commands;
mod connection;
mod lines;

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dhgateway_client::{chunk_bytes, pb, Connection, DriveOptions, Encoding};
use serde_json::Value;
use tokio::time::Instant;

use crate::args::{Args, Spec, Stop};
use crate::audio::{audio_layout, feed, pieces};
use crate::lines::{error_json, event_json, line, show};

fn unix_ms_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

/// `{"event": <event>, "at_unix_ms": <at>}`.
fn show_at(event: &str, at_unix_ms: f64, as_json: bool) {
    show(
        &line(event, vec![("at_unix_ms", Value::from(at_unix_ms))]),
        as_json,
    );
}

/// The drive's options: a text drive with `--text`, else the file's format (WAV for `.wav`).
fn drive_options(args: &Args) -> DriveOptions {
    if let Some(text) = &args.text {
        return DriveOptions {
            on_conflict: args.policy,
            text: Some(pb::TextInput {
                text: text.clone(),
                timbre_id: args.timbre_id.clone(),
                ..pb::TextInput::default()
            }),
            ..DriveOptions::default()
        };
    }
    let wav = args
        .file
        .as_deref()
        .and_then(|file| Path::new(file).extension())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("wav"));
    let default = if wav {
        Encoding::Wav
    } else {
        Encoding::Linear16
    };
    DriveOptions {
        encoding: args.encoding.unwrap_or(default),
        sample_rate_hz: args.rate,
        channels: args.channels,
        on_conflict: args.policy,
        ..DriveOptions::default()
    }
}

async fn run(args: Args, connection: Connection, data: Vec<u8>) -> Result<ExitCode, String> {
    let options = drive_options(&args);
    let encoding = options.encoding;
    let chunk = chunk_bytes(encoding, args.rate, args.channels, args.chunk_ms);
    let marks = audio_layout(&data, encoding, args.rate, args.channels).marks(args.mark_every_ms);
    let pieces = pieces(&Bytes::from(data), chunk, &marks);
    let client = connection.connect_lazy().map_err(|e| e.to_string())?;
    // When the cancel is asked for (the deadline), not when we got round to reporting it.
    let cancel_after = args
        .cancel_after_ms
        .filter(|ms| *ms != 0)
        .map(|ms| Duration::from_millis(ms.max(0).unsigned_abs()));
    let deadline = cancel_after.map(|after| Instant::now() + after);
    let cancel_at_ms = unix_ms_now() + cancel_after.map_or(0.0, |d| d.as_secs_f64() * 1000.0);

    let (audio, mut events) = client.drive(&args.task, &options);
    let interrupter = audio.interrupter();
    // A text drive ends by itself; its sender, held open, keeps the interrupt in-stream.
    let (feeder, _held_open) = if options.text.is_some() {
        (None, Some(audio))
    } else {
        let feeding = feed(audio, pieces, chunk, args.chunk_ms, args.realtime);
        (Some(tokio::spawn(feeding)), None)
    };
    let as_json = args.json;
    let interrupting = args.interrupt_after_ms.filter(|ms| *ms >= 0).map(|ms| {
        let at = Instant::now() + Duration::from_millis(ms.unsigned_abs());
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            // When the interrupt is sent, which is what the avatar's silence is measured from.
            show_at("interrupt", unix_ms_now(), as_json);
            // A failed StopDrive fallback: the drive ends as it would have.
            let _ = interrupter.interrupt().await;
        })
    });
    let code = loop {
        let next = match deadline {
            None => events.next().await,
            Some(deadline) => match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(next) => next,
                Err(_elapsed) => {
                    drop(events); // resets the stream: the gateway sends the avatar its Stop
                    if let Some(feeder) = &feeder {
                        feeder.abort();
                    }
                    // Let the connection task write the reset before the runtime goes.
                    tokio::task::yield_now().await;
                    show_at("cancelled", cancel_at_ms, as_json);
                    break ExitCode::SUCCESS;
                }
            },
        };
        match next {
            Some(Ok(event)) => show(&event_json(&event), as_json),
            Some(Err(error)) => {
                show(&error_json(&error), as_json);
                break ExitCode::from(1);
            }
            None => break ExitCode::SUCCESS,
        }
    };
    if let Some(interrupting) = interrupting {
        interrupting.abort();
    }
    Ok(code)
}

/// Parses `argv` with `spec`: on help or a usage error, prints it and gives the exit code.
fn parsed<T>(spec: &Spec, parse: impl FnOnce() -> Result<T, Stop>) -> Result<T, ExitCode> {
    parse().map_err(|stop| match stop {
        Stop::Help => {
            println!("{}", spec.help());
            ExitCode::SUCCESS
        }
        Stop::Usage(message) => {
            eprintln!("{}\n{}: error: {message}", spec.usage(), spec.prog);
            ExitCode::from(2)
        }
    })
}

/// Runs `work` on a current-thread runtime; an error it returns is printed, exit 1.
fn block_on(work: impl Future<Output = Result<ExitCode, String>>) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime
        .map_err(|e| e.to_string())
        .and_then(|r| r.block_on(work))
    {
        Ok(code) => code,
        Err(message) => {
            eprintln!("dh-drive: {message}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if let Some((command, spec)) = argv.first().and_then(|name| args::command(name)) {
        let parse = || {
            let args = args::parse_command(spec, &argv[1..])?;
            let connection = connection::connection_of(&args.connection)?;
            Ok((args, connection))
        };
        return match parsed(spec, parse) {
            Ok((args, connection)) => block_on(commands::run(*command, args, connection)),
            Err(code) => code,
        };
    }
    let parse = || {
        let args = args::parse(&argv)?;
        let connection = connection::connection_of(&args.connection)?;
        Ok((args, connection))
    };
    let (args, connection) = match parsed(&args::DRIVE, parse) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let data = match &args.file {
        None => Vec::new(),
        Some(file) => match std::fs::read(file) {
            Ok(data) => data,
            Err(error) => {
                eprintln!("dh-drive: {file}: {error}");
                return ExitCode::from(1);
            }
        },
    };
    block_on(run(args, connection, data))
}
