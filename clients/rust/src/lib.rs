//! Rust client of dh-gateway: make a cloud digital human speak over one gRPC stream per
//! utterance.
//!
//! [`Client::drive`] opens a drive for a task and returns two halves: an [`AudioSender`] to push
//! audio chunks into (bounded: `send` waits while the gateway paces) and [`DriveEvents`], a
//! [`Stream`](futures_core::Stream) of typed [`Event`]s (queued, started, progress,
//! playback started, mark played, playback finished, completed). [`AudioSender::mark`] puts a
//! named mark between chunks, echoed as `MarkPlayed` when the avatar has played the audio
//! before it; [`AudioSender::interrupt`] (or an [`Interrupter`]) silences the avatar now
//! (barge-in). [`DriveOptions::text`] makes a text drive, spoken by the vendor's TTS.
//! [`Client::stop`], [`Client::get_task`] and [`Client::watch_task`] (a [`TaskWatch`] of the
//! task's changes) are the other calls. [`Connection`] reaches a TLS (or mutual-TLS) gateway
//! with an API key, each setting else from its `DHGW_*` variable. Dropping the sender half-closes the stream (end of the utterance); the events
//! end with `Completed` once the avatar has played it all. Dropping the events cancels the
//! drive (the gateway sends the avatar its Stop at once). A failed drive yields a
//! [`DriveError`] carrying the gRPC code and the gateway's `google.rpc.ErrorInfo` reason (typed:
//! [`ErrorReason`]) and metadata, the `RetryInfo` delay and the `BadRequest` field violations.
//!
//! ```no_run
//! # async fn demo(pcm: Vec<Vec<u8>>) -> Result<(), Box<dyn std::error::Error>> {
//! use dhgateway_client::{Client, DriveOptions, EventKind};
//!
//! let client = Client::connect_lazy("127.0.0.1:50051")?;
//! let (audio, mut events) = client.drive("my-task-id", &DriveOptions::default());
//! tokio::spawn(async move {
//!     for (i, chunk) in pcm.into_iter().enumerate() {
//!         // A mark after each chunk: its MarkPlayed says the avatar has played that far.
//!         let mark = format!("chunk-{i}");
//!         if audio.send(chunk).await.is_err() || audio.mark(mark).await.is_err() {
//!             break; // the drive ended; `events` says why
//!         }
//!     }
//! }); // `audio` dropped: end of the utterance
//! while let Some(event) = events.next().await {
//!     match event?.kind {
//!         EventKind::PlaybackStarted(_) => println!("speaking"),
//!         EventKind::MarkPlayed(mark) => println!("heard up to {} ({} ms)", mark.name, mark.at_ms),
//!         EventKind::PlaybackFinished(end) => println!("finished after {} ms", end.played_ms),
//!         EventKind::Completed(done) => println!("sent {} ms", done.sent_ms),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

#[rustfmt::skip]
#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod proto;

mod client;
mod connection;
mod drive;
mod error;
mod events;
mod options;
mod tasks;
#[cfg(test)]
mod testing;

/// The generated messages and client of the contract, package `dhgateway.v1`.
pub use proto::dhgateway::v1 as pb;

pub use client::Client;
pub use connection::{Connection, ConnectionArgs, ConnectionError, DEFAULT_ADDRESS};
pub use drive::{AudioSender, DriveClosed, Interrupter};
pub use error::{code_name, DriveError, FieldViolation};
pub use events::{DriveEvents, Event, EventKind};
pub use options::{chunk_bytes, sample_width, DriveOptions};
pub use pb::{ConflictPolicy, Encoding, ErrorReason, PlaybackSource, VoiceChannel};
pub use tasks::TaskWatch;
pub use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
pub use tonic::Code;
