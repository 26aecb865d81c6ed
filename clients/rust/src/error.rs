//! The error of a failed drive: the gRPC status with its `google.rpc` details read out
//! (`ErrorInfo`; `RetryInfo` where a retry is the answer; `BadRequest` for a bad field).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::pb::ErrorReason;

/// One request field the gateway refused (a `google.rpc.BadRequest` field violation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Its path from the call's request, e.g. `config.input.sample_rate_hz`.
    pub field: String,
    /// What is wrong and what is accepted.
    pub description: String,
}

/// A drive or call ended with a non-OK status.
///
/// `reason` and `metadata` come from the `google.rpc.ErrorInfo` (domain `dhgateway`) that the
/// gateway puts in the status details (`grpc-status-details-bin`): e.g. `TASK_BUSY` with
/// `holder_drive_id`, `UNSUPPORTED_FORMAT`, `PREEMPTED`, `IDLE_TIMEOUT`; [`Self::reason_enum`]
/// is the reason as the proto's [`ErrorReason`]. `retry_delay` comes from the
/// `google.rpc.RetryInfo`, `field_violations` from the `google.rpc.BadRequest`.
#[derive(Clone, Debug)]
pub struct DriveError {
    /// The gRPC status code.
    pub code: Code,
    /// The status message.
    pub message: String,
    /// The `ErrorInfo` reason; "" when the status carries none (e.g. a transport failure).
    pub reason: String,
    /// The `ErrorInfo` domain (`dhgateway` for the gateway's own errors).
    pub domain: String,
    /// The `ErrorInfo` metadata (`task_id`, `drive_id`, `holder_drive_id`...).
    pub metadata: HashMap<String, String>,
    /// The `RetryInfo` delay: wait at least this long, then retry (backing off); `None` when a
    /// retry is not the answer.
    pub retry_delay: Option<Duration>,
    /// The `BadRequest` field violations: the request fields at fault; empty when none is.
    pub field_violations: Vec<FieldViolation>,
}

impl DriveError {
    /// Reads the code, message and `ErrorInfo` of a status.
    pub fn from_status(status: &Status) -> Self {
        let info = status.get_details_error_info();
        let (reason, domain, metadata) = match info {
            Some(info) => (info.reason, info.domain, info.metadata),
            None => (String::new(), String::new(), HashMap::new()),
        };
        let retry_delay = status
            .get_details_retry_info()
            .map(|retry| retry.retry_delay.unwrap_or_default());
        let field_violations = status
            .get_details_bad_request()
            .map(|bad| bad.field_violations)
            .unwrap_or_default()
            .into_iter()
            .map(|v| FieldViolation {
                field: v.field,
                description: v.description,
            })
            .collect();
        let broken = status.code() != Code::Unavailable && connection_broke(status);
        Self {
            // gRPC's code for a connection that broke (tonic says UNKNOWN "transport error",
            // or CANCELLED when a mutual-TLS gateway drops it after the handshake).
            code: if broken {
                Code::Unavailable
            } else {
                status.code()
            },
            message: if broken {
                chain(status)
            } else {
                status.message().to_owned()
            },
            reason,
            domain,
            metadata,
            retry_delay,
            field_violations,
        }
    }

    /// The reason as the proto's [`ErrorReason`] (its value names are the reasons);
    /// [`ErrorReason::Unspecified`] for none, or for a reason newer than this client.
    pub fn reason_enum(&self) -> ErrorReason {
        ErrorReason::from_str_name(&self.reason).unwrap_or(ErrorReason::Unspecified)
    }

    /// The code's canonical name, e.g. `ALREADY_EXISTS`.
    pub fn code_name(&self) -> &'static str {
        code_name(self.code)
    }
}

/// Whether tonic made `status` from a failure of the connection (its source chain holds a
/// transport error), not from the gateway's answer.
fn connection_broke(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<tonic::transport::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The status's message and the messages of its sources: `transport error: connection error:
/// peer closed connection ...` says more than tonic's `transport error`.
fn chain(status: &Status) -> String {
    let mut message = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        let text = error.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = error.source();
    }
    message
}

impl From<Status> for DriveError {
    fn from(status: Status) -> Self {
        Self::from_status(&status)
    }
}

impl fmt::Display for DriveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}: {}", self.code_name(), self.message)
        } else {
            write!(f, "{} {}: {}", self.code_name(), self.reason, self.message)
        }
    }
}

impl std::error::Error for DriveError {}

/// The canonical (SCREAMING_SNAKE) name of a gRPC code, as every client prints it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::block_on;
    use prost::Message;

    /// `google.rpc.Status` and `google.rpc.ErrorInfo` as on the wire, written out here so the
    /// test does not decode with the same code it checks.
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
        #[prost(message, repeated, tag = "3")]
        details: Vec<prost_types::Any>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct ErrorInfo {
        #[prost(string, tag = "1")]
        reason: String,
        #[prost(string, tag = "2")]
        domain: String,
        #[prost(map = "string, string", tag = "3")]
        metadata: HashMap<String, String>,
    }

    /// `google.rpc.RetryInfo` and `google.rpc.BadRequest`, as on the wire.
    #[derive(Clone, PartialEq, prost::Message)]
    struct RetryInfo {
        #[prost(message, optional, tag = "1")]
        retry_delay: Option<prost_types::Duration>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Violation {
        #[prost(string, tag = "1")]
        field: String,
        #[prost(string, tag = "2")]
        description: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct BadRequest {
        #[prost(message, repeated, tag = "1")]
        field_violations: Vec<Violation>,
    }

    fn any(name: &str, message: &impl Message) -> prost_types::Any {
        prost_types::Any {
            type_url: format!("type.googleapis.com/google.rpc.{name}"),
            value: message.encode_to_vec(),
        }
    }

    fn status_with(code: Code, message: &str, details: Vec<prost_types::Any>) -> Status {
        let body = RpcStatus {
            code: code as i32,
            message: message.to_owned(),
            details,
        };
        Status::with_details(code, message, body.encode_to_vec().into())
    }

    fn error_info(reason: &str, metadata: &[(&str, &str)]) -> prost_types::Any {
        let info = ErrorInfo {
            reason: reason.to_owned(),
            domain: "dhgateway".to_owned(),
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.ErrorInfo".to_owned(),
            value: info.encode_to_vec(),
        }
    }

    #[test]
    fn reads_reason_and_metadata_from_error_info() {
        let status = status_with(
            Code::AlreadyExists,
            "task conf-busy is busy",
            vec![error_info(
                "TASK_BUSY",
                &[("holder_drive_id", "d-1"), ("task_id", "conf-busy")],
            )],
        );
        let error = DriveError::from_status(&status);
        assert_eq!(error.code, Code::AlreadyExists);
        assert_eq!(error.code_name(), "ALREADY_EXISTS");
        assert_eq!(error.reason, "TASK_BUSY");
        assert_eq!(error.domain, "dhgateway");
        assert_eq!(error.metadata["holder_drive_id"], "d-1");
        assert_eq!(error.metadata["task_id"], "conf-busy");
        assert_eq!(error.message, "task conf-busy is busy");
        assert_eq!(
            error.to_string(),
            "ALREADY_EXISTS TASK_BUSY: task conf-busy is busy"
        );
    }

    #[test]
    fn skips_other_details_and_finds_error_info() {
        let other = prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
            value: vec![0x0a, 0x02, 0x08, 0x01],
        };
        let status = status_with(
            Code::InvalidArgument,
            "96000 Hz is not supported",
            vec![other, error_info("UNSUPPORTED_FORMAT", &[])],
        );
        let error = DriveError::from(status);
        assert_eq!(error.code_name(), "INVALID_ARGUMENT");
        assert_eq!(error.reason, "UNSUPPORTED_FORMAT");
        assert!(error.metadata.is_empty());
    }

    #[test]
    fn reads_the_retry_delay_and_the_field_violations_typed() {
        let delay = prost_types::Duration {
            seconds: 1,
            nanos: 500_000_000,
        };
        let bad = BadRequest {
            field_violations: vec![Violation {
                field: "config.input.sample_rate_hz".to_owned(),
                description: "use 8000 to 48000".to_owned(),
            }],
        };
        let status = status_with(
            Code::InvalidArgument,
            "bad rate",
            vec![
                any(
                    "RetryInfo",
                    &RetryInfo {
                        retry_delay: Some(delay),
                    },
                ),
                error_info("GATEWAY_BUSY", &[]),
                any("BadRequest", &bad),
            ],
        );
        let error = DriveError::from_status(&status);
        assert_eq!(error.reason_enum(), ErrorReason::GatewayBusy);
        assert_eq!(
            error.retry_delay,
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(
            error.field_violations,
            [FieldViolation {
                field: "config.input.sample_rate_hz".to_owned(),
                description: "use 8000 to 48000".to_owned(),
            }]
        );
    }

    #[test]
    fn an_unknown_or_missing_reason_is_unspecified() {
        let newer = DriveError::from_status(&status_with(
            Code::Internal,
            "x",
            vec![error_info("FROM_THE_FUTURE", &[])],
        ));
        assert_eq!(newer.reason_enum(), ErrorReason::Unspecified);
        let bare = DriveError::from_status(&Status::unavailable("down"));
        assert_eq!(bare.reason_enum(), ErrorReason::Unspecified);
        assert_eq!(bare.retry_delay, None);
        assert!(bare.field_violations.is_empty());
        // Every reason of the proto reads as itself.
        for number in 1.. {
            let Ok(reason) = ErrorReason::try_from(number) else {
                break;
            };
            let named = DriveError {
                reason: reason.as_str_name().to_owned(),
                ..bare.clone()
            };
            assert_eq!(named.reason_enum(), reason);
        }
    }

    #[test]
    fn a_status_without_details_has_no_reason() {
        let error = DriveError::from_status(&Status::unavailable("connection refused"));
        assert_eq!(error.code_name(), "UNAVAILABLE");
        assert_eq!(error.reason, "");
        assert!(error.metadata.is_empty());
        assert_eq!(error.to_string(), "UNAVAILABLE: connection refused");
        // Undecodable details are no reason either (and no panic).
        let garbage = Status::with_details(Code::Internal, "x", vec![0xff, 0xff].into());
        assert_eq!(DriveError::from_status(&garbage).reason, "");
    }

    #[test]
    fn a_connection_that_broke_is_unavailable() {
        block_on(async {
            // A listener that closes each connection: the call's status comes from tonic.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a free port");
            let address = listener.local_addr().expect("bound");
            let closer = tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    drop(stream);
                }
            });
            let client = crate::Client::connect_lazy(&address.to_string()).expect("valid");
            let call = client.capabilities();
            let error = tokio::time::timeout(std::time::Duration::from_secs(10), call)
                .await
                .expect("within 10 s")
                .expect_err("the connection closes");
            closer.abort();
            assert_eq!(error.code_name(), "UNAVAILABLE", "{error}");
        });
        // The gateway's own answers keep their codes.
        let answered = DriveError::from_status(&Status::cancelled("the gateway says so"));
        assert_eq!(answered.code_name(), "CANCELLED");
    }

    #[test]
    fn code_names_are_the_canonical_ones() {
        assert_eq!(code_name(Code::Ok), "OK");
        assert_eq!(code_name(Code::DeadlineExceeded), "DEADLINE_EXCEEDED");
        assert_eq!(code_name(Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
    }
}
