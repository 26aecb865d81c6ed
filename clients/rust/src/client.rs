//! The client: one bidirectional `Drive` stream per utterance, and the unary RPCs.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::metadata::errors::InvalidMetadataValue;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::{CancellationHandle, Request, Status, Streaming};

use crate::error::DriveError;
use crate::options::DriveOptions;
use crate::pb::{self, drive_gateway_client::DriveGatewayClient, drive_request};

/// What happened in a drive: `Queued`, `Started`, `Progress`, `PlaybackStarted` (the avatar
/// began to speak), `MarkPlayed` (it played the audio before a [`AudioSender::mark`]),
/// `PlaybackFinished` (it stopped: `played_ms`, `interrupted`) or `Completed` (the last event:
/// the avatar is silent and the task free).
pub use crate::pb::drive_event::Event as EventKind;

/// How many audio chunks [`AudioSender::send`] may queue before it waits (per drive).
const DEFAULT_BUFFER_CHUNKS: usize = 8;

/// A client of one gateway; cheap to clone (clones share the HTTP/2 connection).
#[derive(Clone, Debug)]
pub struct Client {
    inner: DriveGatewayClient<Channel>,
    authorization: Option<MetadataValue<Ascii>>,
    buffer_chunks: usize,
}

impl Client {
    /// A client over an existing channel.
    pub fn new(channel: Channel) -> Self {
        Self {
            inner: DriveGatewayClient::new(channel),
            authorization: None,
            buffer_chunks: DEFAULT_BUFFER_CHUNKS,
        }
    }

    /// A client of `addr` (`host:port`, or a `http://` URI) that connects on first use; a
    /// gateway that cannot be reached fails the call with `UNAVAILABLE`.
    pub fn connect_lazy(addr: &str) -> Result<Self, tonic::transport::Error> {
        Ok(Self::new(endpoint(addr)?.connect_lazy()))
    }

    /// A client of `addr` (`host:port`, or a `http://` URI), connected now.
    pub async fn connect(addr: &str) -> Result<Self, tonic::transport::Error> {
        Ok(Self::new(endpoint(addr)?.connect().await?))
    }

    /// Sends `authorization: Bearer <key>` with every call.
    pub fn with_api_key(mut self, key: &str) -> Result<Self, InvalidMetadataValue> {
        self.authorization = Some(format!("Bearer {key}").try_into()?);
        Ok(self)
    }

    /// How many audio chunks a drive may queue before [`AudioSender::send`] waits (default 8);
    /// HTTP/2 flow control then holds the sender back while the gateway paces.
    pub fn with_buffer_chunks(mut self, chunks: usize) -> Self {
        self.buffer_chunks = chunks.max(1);
        self
    }

    /// Opens a drive of `task_id`: the config is sent at once, then whatever is pushed into
    /// the returned [`AudioSender`]; dropping it (or [`AudioSender::finish`]) half-closes the
    /// stream. [`DriveEvents`] yields the gateway's events; dropping it cancels the drive.
    ///
    /// The call runs on the current tokio runtime (this panics outside one).
    pub fn drive(&self, task_id: &str, options: &DriveOptions) -> (AudioSender, DriveEvents) {
        let (tx, rx) = mpsc::channel(self.buffer_chunks);
        let requests = Requests {
            config: Some(pb::DriveRequest {
                request: Some(drive_request::Request::Config(options.to_config(task_id))),
            }),
            audio: rx,
        };
        let mut request = self.request(requests);
        let cancel = request.cancellation_handle();
        let mut inner = self.inner.clone();
        // Spawned so that the request is on its way even before the events are polled (audio
        // pushed first must not wait for the first event).
        let call =
            tokio::spawn(
                async move { inner.drive(request).await.map(tonic::Response::into_inner) },
            );
        let events = DriveEvents {
            state: State::Opening(call),
            cancel: Some(cancel),
        };
        (AudioSender { tx }, events)
    }

    /// [`Client::stop`] with `STOP_MODE_FINISH`; returns only the DriveId ("" if none yet).
    /// Fails with NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
    pub async fn stop_drive(&self, task_id: &str, profile: &str) -> Result<String, DriveError> {
        let response = self.stop(task_id, profile, pb::StopMode::Finish).await?;
        Ok(response.drive_id)
    }

    /// Ends the active drive of `task_id`, on whichever replica runs it: `Finish` lets the
    /// avatar play what it was sent, `Interrupt` silences it now (also a speaking avatar whose
    /// drive already ended). The drive's stream ends ABORTED / STOPPED_BY_REQUEST; the answer
    /// has its `drive_id`, `played_ms` and `interrupted`. Fails with NOT_FOUND /
    /// NO_ACTIVE_DRIVE when the task has none.
    pub async fn stop(
        &self,
        task_id: &str,
        profile: &str,
        mode: pb::StopMode,
    ) -> Result<pb::StopDriveResponse, DriveError> {
        let request = self.request(pb::StopDriveRequest {
            task_id: task_id.to_owned(),
            profile: profile.to_owned(),
            mode: mode.into(),
        });
        Ok(self.inner.clone().stop_drive(request).await?.into_inner())
    }

    /// How the task is: the vendor's status, whether the avatar speaks and in which drive,
    /// the active drive, the queue and the idle deadline; `refresh` asks the vendor now.
    /// Fails with NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor does not know.
    pub async fn get_task(
        &self,
        task_id: &str,
        profile: &str,
        refresh: bool,
    ) -> Result<pb::TaskInfo, DriveError> {
        let request = self.request(pb::GetTaskRequest {
            task_id: task_id.to_owned(),
            profile: profile.to_owned(),
            refresh,
        });
        Ok(self.inner.clone().get_task(request).await?.into_inner())
    }

    /// The gateway's active and queued drives (of `task_id`, or all for "").
    pub async fn list_drives(&self, task_id: &str) -> Result<Vec<pb::DriveInfo>, DriveError> {
        let request = self.request(pb::ListDrivesRequest {
            task_id: task_id.to_owned(),
        });
        Ok(self
            .inner
            .clone()
            .list_drives(request)
            .await?
            .into_inner()
            .drives)
    }

    /// What the gateway accepts: encodings, rates, policies, chunk size.
    pub async fn capabilities(&self) -> Result<pb::Capabilities, DriveError> {
        let request = self.request(pb::GetCapabilitiesRequest {});
        Ok(self
            .inner
            .clone()
            .get_capabilities(request)
            .await?
            .into_inner())
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }
}

fn endpoint(addr: &str) -> Result<Endpoint, tonic::transport::Error> {
    if addr.contains("://") {
        Endpoint::from_shared(addr.to_owned())
    } else {
        Endpoint::from_shared(format!("http://{addr}"))
    }
}

/// The client's half of the stream: the config, then the audio and marks pushed into the
/// sender.
struct Requests {
    config: Option<pb::DriveRequest>,
    audio: mpsc::Receiver<drive_request::Request>,
}

impl Stream for Requests {
    type Item = pb::DriveRequest;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(config) = self.config.take() {
            return Poll::Ready(Some(config));
        }
        self.audio.poll_recv(cx).map(|request| {
            request.map(|request| pb::DriveRequest {
                request: Some(request),
            })
        })
    }
}

/// Pushes audio (and marks between chunks) into a drive, with backpressure; drop it (or call
/// [`finish`](Self::finish)) to end the utterance. Clones push into the same drive; it ends
/// when all are dropped.
#[derive(Clone, Debug)]
pub struct AudioSender {
    tx: mpsc::Sender<drive_request::Request>,
}

impl AudioSender {
    /// Queues one chunk of audio in the configured format (any size up to the gateway's
    /// maximum, split anywhere); waits while the queue is full. Fails once the drive has
    /// ended: its [`DriveEvents`] then yield the reason.
    pub async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), DriveClosed> {
        self.push(drive_request::Request::Audio(chunk.into())).await
    }

    /// Queues a mark named `name` after the audio sent so far; the gateway answers with an
    /// [`EventKind::MarkPlayed`] of that name (and where the mark is in the audio, `at_ms`)
    /// once the avatar has played the audio before it. The gateway refuses an empty name, one
    /// above 256 bytes, or too many marks in a drive (`INVALID_ARGUMENT` / `BAD_MARK`). Waits
    /// and fails like [`send`](Self::send).
    pub async fn mark(&self, name: impl Into<String>) -> Result<(), DriveClosed> {
        self.push(drive_request::Request::Mark(pb::Mark { name: name.into() }))
            .await
    }

    async fn push(&self, request: drive_request::Request) -> Result<(), DriveClosed> {
        self.tx.send(request).await.map_err(|_| DriveClosed)
    }

    /// Whether the drive has ended (further sends fail).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ends the utterance (half-closes the stream); the same as dropping the sender.
    pub fn finish(self) {}
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

type Call = JoinHandle<Result<Streaming<pb::DriveEvent>, Status>>;

enum State {
    /// The call is being opened (until the gateway's response headers).
    Opening(Call),
    Streaming(Box<Streaming<pb::DriveEvent>>),
    Done,
}

/// The gateway's events of one drive: a [`Stream`] of [`Event`]s that ends after `Completed`,
/// or with one [`DriveError`] when the drive fails. A drive that sent audio gets one
/// `PlaybackStarted`, its `MarkPlayed`s in order, and one `PlaybackFinished` before
/// `Completed`: the stream stays open until the avatar has played what was sent.
///
/// Dropping it (or [`cancel`](Self::cancel)) before the end cancels the drive: the stream is
/// reset (RST_STREAM CANCEL) at once and the gateway sends the avatar its Stop.
pub struct DriveEvents {
    state: State,
    cancel: Option<CancellationHandle>,
}

impl DriveEvents {
    /// The next event; `None` once the drive is over.
    pub async fn next(&mut self) -> Option<Result<Event, DriveError>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Cancels the drive (the same as dropping the events).
    pub fn cancel(self) {}
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
                    None => {
                        self.state = State::Done;
                        return Poll::Ready(None);
                    }
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl DriveEvents {
    fn fail(&mut self, status: &Status) -> Poll<Option<Result<Event, DriveError>>> {
        self.state = State::Done;
        Poll::Ready(Some(Err(DriveError::from_status(status))))
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

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn requests_are_the_config_then_the_audio_until_the_sender_is_dropped() {
        block_on(async {
            let (tx, rx) = mpsc::channel(4);
            let mut requests = Requests {
                config: Some(pb::DriveRequest {
                    request: Some(drive_request::Request::Config(
                        DriveOptions::default().to_config("t"),
                    )),
                }),
                audio: rx,
            };
            let sender = AudioSender { tx };
            sender.send(vec![1u8, 2]).await.expect("open");
            sender.mark("m1").await.expect("open");
            sender.send(Bytes::from_static(&[3])).await.expect("open");
            sender.finish();
            let mut seen = Vec::new();
            while let Some(request) = poll_fn(|cx| Pin::new(&mut requests).poll_next(cx)).await {
                seen.push(request.request.expect("set"));
            }
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
    fn send_fails_once_the_drive_is_gone() {
        block_on(async {
            let (tx, rx) = mpsc::channel(1);
            let sender = AudioSender { tx };
            drop(rx);
            assert!(sender.is_closed());
            assert_eq!(sender.send(vec![0u8]).await, Err(DriveClosed));
            assert_eq!(sender.mark("m").await, Err(DriveClosed));
        });
    }

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

    #[test]
    fn an_unreachable_gateway_is_unavailable() {
        block_on(async {
            // A loopback port that was free a moment ago: the connection is refused.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port")
                .port();
            let client = Client::connect_lazy(&format!("127.0.0.1:{port}")).expect("valid");
            let (audio, mut events) = client.drive("t", &DriveOptions::default());
            let error = events.next().await.expect("one item").expect_err("fails");
            assert_eq!(error.code_name(), "UNAVAILABLE");
            assert!(events.next().await.is_none());
            drop(audio);
        });
    }
}
