//! The gateway's half of a drive: its events, as a [`Stream`].

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use tokio::task::JoinHandle;
use tonic::{CancellationHandle, Code, Status, Streaming};

use crate::drive::{Interrupter, Shared};
use crate::error::DriveError;
use crate::pb::{self, ErrorReason};

/// What happened in a drive: `Queued`, `Started`, `Progress`, `PlaybackStarted` (the avatar
/// began to speak), `MarkPlayed` (it played the audio before a
/// [`AudioSender::mark`](crate::AudioSender::mark)), `PlaybackFinished` (it stopped:
/// `played_ms`, `interrupted`) or `Completed` (the last event: the avatar is silent and the
/// task free).
pub use crate::pb::drive_event::Event as EventKind;

/// One event of a drive.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The upstream DriveId, set once known.
    pub drive_id: String,
    /// When the gateway emitted the event.
    pub time: Option<prost_types::Timestamp>,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// The event's name, its field's in `DriveEvent`: `queued`, `started`, `progress`,
    /// `playback_started`, `mark_played`, `playback_finished` or `completed`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            EventKind::Queued(_) => "queued",
            EventKind::Started(_) => "started",
            EventKind::Progress(_) => "progress",
            EventKind::PlaybackStarted(_) => "playback_started",
            EventKind::MarkPlayed(_) => "mark_played",
            EventKind::PlaybackFinished(_) => "playback_finished",
            EventKind::Completed(_) => "completed",
        }
    }

    /// The typed event of a `DriveEvent`; `None` for an event kind this client does not know.
    pub fn from_proto(event: pb::DriveEvent) -> Option<Self> {
        Some(Self {
            drive_id: event.drive_id,
            time: event.time,
            kind: event.event?,
        })
    }
}

pub(crate) type Call = JoinHandle<Result<Streaming<pb::DriveEvent>, Status>>;

enum State {
    /// The call is being opened (until the gateway's response headers).
    Opening(Call),
    Streaming(Box<Streaming<pb::DriveEvent>>),
    Done,
}

/// The gateway's events of one drive: a [`Stream`] of [`Event`]s that ends after `Completed`,
/// or with one [`DriveError`] when the drive fails. A drive that sent audio gets one
/// `PlaybackStarted`, its `MarkPlayed`s in order, and one `PlaybackFinished` before
/// `Completed`: the stream stays open until the avatar has played what was sent. After an
/// [`Interrupter::interrupt`] that went through StopDrive it ends after `PlaybackFinished`.
///
/// Dropping it (or [`cancel`](Self::cancel)) before the end cancels the drive: the stream is
/// reset (RST_STREAM CANCEL) at once and the gateway sends the avatar its Stop.
pub struct DriveEvents {
    state: State,
    cancel: Option<CancellationHandle>,
    shared: Arc<Shared>,
    interrupter: Interrupter,
}

impl DriveEvents {
    pub(crate) fn new(
        call: Call,
        cancel: CancellationHandle,
        shared: Arc<Shared>,
        interrupter: Interrupter,
    ) -> Self {
        Self {
            state: State::Opening(call),
            cancel: Some(cancel),
            shared,
            interrupter,
        }
    }

    /// The next event; `None` once the drive is over.
    pub async fn next(&mut self) -> Option<Result<Event, DriveError>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// A handle that interrupts this drive (the same as its sender's).
    pub fn interrupter(&self) -> Interrupter {
        self.interrupter.clone()
    }

    /// Cancels the drive (the same as dropping the events).
    pub fn cancel(self) {}

    fn end(&mut self) -> Poll<Option<Result<Event, DriveError>>> {
        self.state = State::Done;
        self.shared.end();
        Poll::Ready(None)
    }

    fn fail(&mut self, status: &Status) -> Poll<Option<Result<Event, DriveError>>> {
        let error = DriveError::from_status(status);
        // Our own interrupt went through StopDrive: the end we asked for.
        if self.shared.stopped_by_us()
            && error.code == Code::Aborted
            && error.reason_enum() == ErrorReason::StoppedByRequest
        {
            return self.end();
        }
        self.state = State::Done;
        self.shared.end();
        Poll::Ready(Some(Err(error)))
    }
}

impl fmt::Debug for DriveEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Opening(_) => "opening",
            State::Streaming(_) => "streaming",
            State::Done => "done",
        };
        f.debug_struct("DriveEvents")
            .field("state", &state)
            .finish()
    }
}

impl Stream for DriveEvents {
    type Item = Result<Event, DriveError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.state {
                State::Opening(call) => {
                    let opened = ready!(Pin::new(call).poll(cx));
                    match opened {
                        Ok(Ok(events)) => self.state = State::Streaming(Box::new(events)),
                        Ok(Err(status)) => return self.fail(&status),
                        Err(join) => {
                            let status = if join.is_cancelled() {
                                Status::cancelled("the drive was cancelled")
                            } else {
                                Status::internal(format!("the drive's task failed: {join}"))
                            };
                            return self.fail(&status);
                        }
                    }
                }
                State::Streaming(events) => match ready!(Pin::new(events.as_mut()).poll_next(cx)) {
                    Some(Ok(event)) => {
                        if let Some(event) = Event::from_proto(event) {
                            return Poll::Ready(Some(Ok(event)));
                        }
                    }
                    Some(Err(status)) => return self.fail(&status),
                    None => return self.end(),
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl Drop for DriveEvents {
    fn drop(&mut self) {
        if let State::Opening(call) = &self.state {
            call.abort();
        }
        // Resets the stream unless the request half already ended; a no-op after the end.
        if let Some(cancel) = self.cancel.take() {
            cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_unknown_kind_are_skipped_and_known_ones_named() {
        assert_eq!(Event::from_proto(pb::DriveEvent::default()), None);
        let event = Event::from_proto(pb::DriveEvent {
            drive_id: "d".into(),
            time: None,
            event: Some(EventKind::Completed(pb::Completed::default())),
        })
        .expect("known");
        assert_eq!((event.name(), event.drive_id.as_str()), ("completed", "d"));
        let named = |kind| {
            Event::from_proto(pb::DriveEvent {
                drive_id: String::new(),
                time: None,
                event: Some(kind),
            })
            .expect("known")
            .name()
        };
        assert_eq!(
            [
                named(EventKind::PlaybackStarted(pb::PlaybackStarted::default())),
                named(EventKind::MarkPlayed(pb::MarkPlayed::default())),
                named(EventKind::PlaybackFinished(pb::PlaybackFinished::default())),
            ],
            ["playback_started", "mark_played", "playback_finished"]
        );
    }
}
