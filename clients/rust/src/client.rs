//! The client: one bidirectional `Drive` stream per utterance, and the unary RPCs (the task
//! calls are in `tasks.rs`).

use tonic::metadata::errors::InvalidMetadataValue;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic::Request;

use crate::drive::{AudioSender, Parts};
use crate::error::DriveError;
use crate::events::DriveEvents;
use crate::options::DriveOptions;
use crate::pb::{self, drive_gateway_client::DriveGatewayClient};

/// How many audio chunks [`AudioSender::send`] may queue before it waits (per drive).
const DEFAULT_BUFFER_CHUNKS: usize = 8;

/// A client of one gateway; cheap to clone (clones share the HTTP/2 connection).
#[derive(Clone, Debug)]
pub struct Client {
    inner: DriveGatewayClient<Channel>,
    authorization: Option<MetadataValue<Ascii>>,
    /// The `traceparent` and its `tracestate` ("" = none), sent with every call.
    trace: Vec<(&'static str, MetadataValue<Ascii>)>,
    buffer_chunks: usize,
}

impl Client {
    /// A client over an existing channel.
    pub fn new(channel: Channel) -> Self {
        Self {
            inner: DriveGatewayClient::new(channel),
            authorization: None,
            trace: Vec::new(),
            buffer_chunks: DEFAULT_BUFFER_CHUNKS,
        }
    }

    /// A client of `addr` (`host:port`, `unix:/path`, or an `http://` URI) that connects on
    /// first use; a gateway that cannot be reached fails the call with `UNAVAILABLE`. For TLS
    /// and the environment's settings, see [`Connection`](crate::Connection).
    pub fn connect_lazy(addr: &str) -> Result<Self, tonic::transport::Error> {
        Ok(Self::new(endpoint(addr)?.connect_lazy()))
    }

    /// A client of `addr` (`host:port`, `unix:/path`, or an `http://` URI), connected now.
    pub async fn connect(addr: &str) -> Result<Self, tonic::transport::Error> {
        Ok(Self::new(endpoint(addr)?.connect().await?))
    }

    /// Sends `authorization: Bearer <key>` with every call.
    pub fn with_api_key(mut self, key: &str) -> Result<Self, InvalidMetadataValue> {
        self.authorization = Some(format!("Bearer {key}").try_into()?);
        Ok(self)
    }

    /// Sends the W3C trace context `traceparent` (and `tracestate`, only with a traceparent)
    /// with every call, as given: the gateway's spans of these calls join that trace (a
    /// malformed one starts a new trace). "" sends none; this replaces the previous one.
    /// Clones share the connection, so `client.clone().with_trace_context(..)` traces one
    /// operation.
    ///
    /// # Errors
    ///
    /// A value cannot be a header value (it holds a control character).
    pub fn with_trace_context(
        mut self,
        traceparent: &str,
        tracestate: &str,
    ) -> Result<Self, InvalidMetadataValue> {
        let mut trace = Vec::new();
        if !traceparent.is_empty() {
            trace.push(("traceparent", traceparent.try_into()?));
            if !tracestate.is_empty() {
                trace.push(("tracestate", tracestate.try_into()?));
            }
        }
        self.trace = trace;
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
    /// stream, [`AudioSender::interrupt`] silences the avatar. [`DriveEvents`] yields the
    /// gateway's events; dropping it cancels the drive. A text drive
    /// ([`DriveOptions::text`]) sends no audio and ends by itself once the avatar has spoken
    /// the text: keep its sender until then, so that an interrupt goes in-stream.
    ///
    /// The call runs on the current tokio runtime (this panics outside one).
    pub fn drive(&self, task_id: &str, options: &DriveOptions) -> (AudioSender, DriveEvents) {
        let Parts {
            requests,
            sender,
            shared,
        } = Parts::new(options.to_config(task_id), self.buffer_chunks, self.clone());
        let mut request = self.request(requests);
        let cancel = request.cancellation_handle();
        let mut inner = self.inner();
        // Spawned so that the request is on its way even before the events are polled (audio
        // pushed first must not wait for the first event).
        let call =
            tokio::spawn(
                async move { inner.drive(request).await.map(tonic::Response::into_inner) },
            );
        let interrupter = sender.interrupter();
        (sender, DriveEvents::new(call, cancel, shared, interrupter))
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
        Ok(self.inner().stop_drive(request).await?.into_inner())
    }

    /// The gateway's active and queued drives (of `task_id`, or all for ""): of every replica
    /// sharing its Redis, every page (`list_drives_page` asks for one).
    pub async fn list_drives(&self, task_id: &str) -> Result<Vec<pb::DriveInfo>, DriveError> {
        let mut drives = Vec::new();
        let mut token = String::new();
        loop {
            let page = self.list_drives_page(task_id, 0, &token).await?;
            drives.extend(page.drives);
            if page.next_page_token.is_empty() || page.next_page_token == token {
                return Ok(drives);
            }
            token = page.next_page_token;
        }
    }

    /// One page of ListDrives (`page_size` 0: the gateway's 100, at most 1000); pass its
    /// `next_page_token` as `page_token` for the next page ("" after the last).
    pub async fn list_drives_page(
        &self,
        task_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<pb::ListDrivesResponse, DriveError> {
        let request = self.request(pb::ListDrivesRequest {
            task_id: task_id.to_owned(),
            page_size,
            page_token: page_token.to_owned(),
        });
        Ok(self.inner().list_drives(request).await?.into_inner())
    }

    /// What the gateway accepts: encodings, rates, policies, chunk size.
    pub async fn capabilities(&self) -> Result<pb::Capabilities, DriveError> {
        let request = self.request(pb::GetCapabilitiesRequest {});
        Ok(self.inner().get_capabilities(request).await?.into_inner())
    }

    /// The generated client, for one call.
    pub(crate) fn inner(&self) -> DriveGatewayClient<Channel> {
        self.inner.clone()
    }

    /// `message` with the call's metadata (the API key, the trace context).
    pub(crate) fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        if let Some(value) = &self.authorization {
            metadata.insert("authorization", value.clone());
        }
        for (name, value) in &self.trace {
            metadata.insert(*name, value.clone());
        }
        request
    }
}

fn endpoint(addr: &str) -> Result<Endpoint, tonic::transport::Error> {
    Endpoint::from_shared(uri(addr, false))
}

/// The URI tonic takes for `addr`: a URI or `unix:/path` as it is, `host:port` as
/// `https://host:port` with TLS, else `http://host:port`.
pub(crate) fn uri(addr: &str, tls: bool) -> String {
    if addr.contains("://") || addr.starts_with("unix:") {
        addr.to_owned()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{block_on, unreachable};

    #[test]
    fn an_unreachable_gateway_is_unavailable() {
        block_on(async {
            let (audio, mut events) = unreachable().drive("t", &DriveOptions::default());
            let error = events.next().await.expect("one item").expect_err("fails");
            assert_eq!(error.code_name(), "UNAVAILABLE");
            assert!(events.next().await.is_none());
            drop(audio);
        });
    }
}
