//! The client's half of a drive: the config, then the audio and marks pushed into an
//! [`AudioSender`], and at most one interrupt ([`Interrupter`]).

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;

use crate::client::Client;
use crate::error::DriveError;
use crate::pb::{self, drive_request, ErrorReason};

/// What the two halves of one drive share: how its request half ended, and whether an
/// interrupt went through StopDrive (then the gateway's ABORTED is the end asked for).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    half: Mutex<Half>,
    stopped_by_us: AtomicBool,
    ended: AtomicBool,
}

#[derive(Debug, Default)]
struct Half {
    /// The request stream ended without an interrupt (the senders were dropped).
    closed: bool,
    /// An interrupt was asked for (in-stream or by StopDrive).
    interrupted: bool,
}

impl Shared {
    fn half(&self) -> MutexGuard<'_, Half> {
        // The guarded flags stay consistent even if a holder panicked.
        self.half.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether our own interrupt ended the drive through StopDrive.
    pub(crate) fn stopped_by_us(&self) -> bool {
        self.stopped_by_us.load(Ordering::SeqCst)
    }

    /// Records that the drive's events are over: a later interrupt does nothing.
    pub(crate) fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
    }
}

/// The request half of one drive, and the handles that push into it.
pub(crate) struct Parts {
    pub(crate) requests: Requests,
    pub(crate) sender: AudioSender,
    pub(crate) shared: Arc<Shared>,
}

impl Parts {
    /// The stream of `config` then what the sender pushes (queueing up to `buffer_chunks`); an
    /// interrupt after the stream's half-close goes to `client`'s StopDrive for the task.
    pub(crate) fn new(config: pb::DriveConfig, buffer_chunks: usize, client: Client) -> Self {
        let (tx, audio) = mpsc::channel(buffer_chunks);
        let (control, interrupt) = mpsc::channel(1);
        let shared = Arc::new(Shared::default());
        let fallback = Arc::new(Fallback {
            task_id: config.task_id.clone(),
            profile: config.profile.clone(),
            client,
        });
        let requests = Requests {
            config: Some(pb::DriveRequest {
                request: Some(drive_request::Request::Config(config)),
            }),
            audio,
            interrupt,
            shared: Arc::clone(&shared),
            done: false,
        };
        let interrupter = Interrupter {
            control,
            shared: Arc::clone(&shared),
            fallback,
        };
        let sender = AudioSender { tx, interrupter };
        Self {
            requests,
            sender,
            shared,
        }
    }
}

/// The client's half of the stream: the config, then the audio and marks pushed into the
/// sender, until the senders are dropped or an interrupt (sent ahead of any audio still
/// queued, which it drops: the avatar is to be silent).
pub(crate) struct Requests {
    config: Option<pb::DriveRequest>,
    audio: mpsc::Receiver<drive_request::Request>,
    interrupt: mpsc::Receiver<()>,
    shared: Arc<Shared>,
    done: bool,
}

impl Requests {
    fn interrupted(&mut self) -> Poll<Option<pb::DriveRequest>> {
        self.done = true;
        self.audio.close(); // the senders fail from now on
        Poll::Ready(Some(pb::DriveRequest {
            request: Some(drive_request::Request::Interrupt(pb::Interrupt {})),
        }))
    }
}

impl Stream for Requests {
    type Item = pb::DriveRequest;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(config) = this.config.take() {
            return Poll::Ready(Some(config));
        }
        if this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(Some(())) = this.interrupt.poll_recv(cx) {
            return this.interrupted();
        }
        if let Some(request) = ready!(this.audio.poll_recv(cx)) {
            return Poll::Ready(Some(pb::DriveRequest {
                request: Some(request),
            }));
        }
        let shared = Arc::clone(&this.shared);
        let mut half = shared.half();
        // Under the lock: an interrupt asked for before the half-close still goes in-stream.
        if this.interrupt.try_recv().is_ok() {
            return this.interrupted();
        }
        half.closed = true;
        this.done = true;
        Poll::Ready(None)
    }
}

/// Pushes audio (and marks between chunks) into a drive, with backpressure; drop it (or call
/// [`finish`](Self::finish)) to end the utterance. Clones push into the same drive; it ends
/// when all are dropped, or at [`interrupt`](Self::interrupt).
#[derive(Clone, Debug)]
pub struct AudioSender {
    tx: mpsc::Sender<drive_request::Request>,
    interrupter: Interrupter,
}

impl AudioSender {
    /// Queues one chunk of audio in the configured format (any size up to the gateway's
    /// maximum, split anywhere); waits while the queue is full. Fails once the drive has
    /// ended or was interrupted: its [`DriveEvents`](crate::DriveEvents) then yield the reason.
    pub async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), DriveClosed> {
        self.push(drive_request::Request::Audio(chunk.into())).await
    }

    /// Queues a mark named `name` after the audio sent so far; the gateway answers with an
    /// [`EventKind::MarkPlayed`](crate::EventKind::MarkPlayed) of that name (and where the
    /// mark is in the audio, `at_ms`) once the avatar has played the audio before it. The
    /// gateway refuses an empty name, one above 256 bytes, or too many marks in a drive
    /// (`INVALID_ARGUMENT` / `BAD_MARK`). Waits and fails like [`send`](Self::send).
    pub async fn mark(&self, name: impl Into<String>) -> Result<(), DriveClosed> {
        self.push(drive_request::Request::Mark(pb::Mark { name: name.into() }))
            .await
    }

    async fn push(&self, request: drive_request::Request) -> Result<(), DriveClosed> {
        self.tx.send(request).await.map_err(|_| DriveClosed)
    }

    /// Makes the avatar silent now (barge-in); see [`Interrupter::interrupt`].
    pub async fn interrupt(&self) -> Result<(), DriveError> {
        self.interrupter.interrupt().await
    }

    /// A handle that interrupts this drive, and outlives the sender (to interrupt the tail
    /// the avatar still plays after the audio ended).
    pub fn interrupter(&self) -> Interrupter {
        self.interrupter.clone()
    }

    /// Whether the drive has ended (further sends fail).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ends the utterance (half-closes the stream); the same as dropping the sender.
    pub fn finish(self) {}
}

/// What an interrupt after the half-close calls: StopDrive for the drive's task.
#[derive(Debug)]
struct Fallback {
    client: Client,
    task_id: String,
    profile: String,
}

/// Interrupts one drive (barge-in); cheap to clone, safe to use from any task.
#[derive(Clone, Debug)]
pub struct Interrupter {
    control: mpsc::Sender<()>,
    shared: Arc<Shared>,
    fallback: Arc<Fallback>,
}

impl Interrupter {
    /// Makes the avatar silent now; keep reading the drive's events for how it ended.
    ///
    /// While the audio is still open (the [`AudioSender`]s not all dropped), it sends
    /// `DriveRequest.interrupt` ahead of the audio still queued (which is dropped) and
    /// half-closes: the gateway stops sending, and the events end OK with `PlaybackFinished`
    /// (`interrupted`, `played_ms`: what was heard) and `Completed` (`dropped_ms`); sends fail
    /// from then on. After the half-close (the avatar playing the drive's tail) it calls
    /// StopDrive with `STOP_MODE_INTERRUPT` for the task instead; the events then end after
    /// `PlaybackFinished`, with no `Completed`. Again, or after the drive ended, it does
    /// nothing. The error is StopDrive's (not NO_ACTIVE_DRIVE: the drive ended meanwhile).
    pub async fn interrupt(&self) -> Result<(), DriveError> {
        {
            let mut half = self.shared.half();
            if half.interrupted || self.shared.ended.load(Ordering::SeqCst) {
                return Ok(());
            }
            half.interrupted = true;
            if !half.closed {
                // Closed: the call is over, and its events say how.
                let _ = self.control.try_send(());
                return Ok(());
            }
        }
        self.shared.stopped_by_us.store(true, Ordering::SeqCst);
        let Fallback {
            client,
            task_id,
            profile,
        } = self.fallback.as_ref();
        match client.stop(task_id, profile, pb::StopMode::Interrupt).await {
            Err(error)
                if error.code == tonic::Code::NotFound
                    && error.reason_enum() == ErrorReason::NoActiveDrive =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }
}

/// [`AudioSender::send`] after the drive ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DriveClosed;

impl fmt::Display for DriveClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the drive has ended; its events say why")
    }
}

impl std::error::Error for DriveClosed {}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;
    use crate::testing::{block_on, unreachable};
    use crate::DriveOptions;

    fn parts(buffer_chunks: usize) -> Parts {
        let client = unreachable();
        Parts::new(
            DriveOptions::default().to_config("t"),
            buffer_chunks,
            client,
        )
    }

    async fn drain(requests: &mut Requests) -> Vec<drive_request::Request> {
        let mut seen = Vec::new();
        while let Some(request) = poll_fn(|cx| Pin::new(&mut *requests).poll_next(cx)).await {
            seen.push(request.request.expect("set"));
        }
        seen
    }

    #[test]
    fn requests_are_the_config_then_the_audio_until_the_sender_is_dropped() {
        block_on(async {
            let Parts {
                mut requests,
                sender,
                ..
            } = parts(4);
            sender.send(vec![1u8, 2]).await.expect("open");
            sender.mark("m1").await.expect("open");
            sender.send(Bytes::from_static(&[3])).await.expect("open");
            sender.finish();
            let seen = drain(&mut requests).await;
            assert!(matches!(&seen[0], drive_request::Request::Config(c) if c.task_id == "t"));
            assert_eq!(
                seen[1..],
                [
                    drive_request::Request::Audio(Bytes::from_static(&[1, 2])),
                    drive_request::Request::Mark(pb::Mark { name: "m1".into() }),
                    drive_request::Request::Audio(Bytes::from_static(&[3])),
                ]
            );
        });
    }

    #[test]
    fn an_interrupt_goes_ahead_of_the_queued_audio_and_ends_the_stream() {
        block_on(async {
            let Parts {
                mut requests,
                sender,
                ..
            } = parts(4);
            let interrupter = sender.interrupter();
            sender.send(vec![1u8]).await.expect("open");
            interrupter.interrupt().await.expect("in-stream");
            interrupter.interrupt().await.expect("again: nothing");
            let seen = drain(&mut requests).await;
            assert_eq!(
                seen[1..],
                [drive_request::Request::Interrupt(pb::Interrupt {})]
            );
            // The stream ended with the sender still held: sends fail.
            assert!(sender.is_closed());
            assert_eq!(sender.send(vec![2u8]).await, Err(DriveClosed));
        });
    }

    #[test]
    fn an_interrupt_asked_for_at_the_half_close_still_goes_in_stream() {
        block_on(async {
            let Parts {
                mut requests,
                sender,
                ..
            } = parts(1);
            let interrupter = sender.interrupter();
            drop(sender); // the audio's end is queued first
            interrupter.interrupt().await.expect("in-stream");
            let seen = drain(&mut requests).await;
            assert_eq!(
                seen[1..],
                [drive_request::Request::Interrupt(pb::Interrupt {})]
            );
        });
    }

    #[test]
    fn an_interrupt_after_the_half_close_calls_stop_drive() {
        block_on(async {
            let Parts {
                mut requests,
                sender,
                shared,
            } = parts(1);
            let interrupter = sender.interrupter();
            drop(sender);
            assert_eq!(drain(&mut requests).await.len(), 1); // the config, then the half-close
            let error = interrupter
                .interrupt()
                .await
                .expect_err("StopDrive refused");
            assert_eq!(error.code_name(), "UNAVAILABLE");
            assert!(shared.stopped_by_us());
        });
    }

    #[test]
    fn send_fails_once_the_drive_is_gone() {
        block_on(async {
            let Parts {
                requests, sender, ..
            } = parts(1);
            drop(requests);
            assert!(sender.is_closed());
            assert_eq!(sender.send(vec![0u8]).await, Err(DriveClosed));
            assert_eq!(sender.mark("m").await, Err(DriveClosed));
            // The call is over: the interrupt has nothing to do.
            sender.interrupt().await.expect("nothing");
        });
    }
}
