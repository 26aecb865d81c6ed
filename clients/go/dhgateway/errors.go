package dhgateway

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// Domain is the ErrorInfo domain of the gateway's errors.
const Domain = "dhgateway"

// Error is a failed call: its gRPC status with the gateway's google.rpc details read out
// (ErrorInfo; RetryInfo where a retry is the answer; BadRequest for a bad request field).
//
// It keeps the status (GRPCStatus), so status.FromError and status.Code work on it too.
type Error struct {
	// Code is the gRPC status code (codes.AlreadyExists...); CodeName gives its canonical name.
	Code codes.Code
	// Message is the status message.
	Message string
	// Reason is the ErrorInfo reason (TASK_BUSY, UNSUPPORTED_FORMAT...); "" if none.
	Reason string
	// Domain is the ErrorInfo domain ("dhgateway"); "" if none.
	Domain string
	// Metadata is the ErrorInfo metadata (holder_drive_id, task_id...); never nil.
	Metadata map[string]string
	// RetryInfo is the status's google.rpc.RetryInfo: wait at least its RetryDelay, then retry
	// (backing off); nil when a retry is not the answer. RetryDelay reads it as a Duration.
	RetryInfo *errdetails.RetryInfo
	// FieldViolations are the status's google.rpc.BadRequest field violations: the request
	// fields at fault (Field is a path such as config.input.sample_rate_hz, Description says
	// what is accepted); nil when no field is.
	FieldViolations []*errdetails.BadRequest_FieldViolation

	status *status.Status
}

// ReasonEnum is Reason as the proto's ErrorReason (its value names are the reasons);
// ErrorReason_ERROR_REASON_UNSPECIFIED for none, or for a reason newer than this client.
func (e *Error) ReasonEnum() pb.ErrorReason {
	return pb.ErrorReason(pb.ErrorReason_value[e.Reason])
}

// RetryDelay is how long to wait before retrying, and whether a retry is the answer at all
// (the status carries a RetryInfo).
func (e *Error) RetryDelay() (time.Duration, bool) {
	if e.RetryInfo == nil {
		return 0, false
	}
	return e.RetryInfo.GetRetryDelay().AsDuration(), true
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("dhgateway: %s %s: %s", CodeName(e.Code), e.Reason, e.Message)
	}
	return fmt.Sprintf("dhgateway: %s: %s", CodeName(e.Code), e.Message)
}

// GRPCStatus is the status the error was read from.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// FromError reads err's gRPC status and its ErrorInfo (the one of Domain if there are several).
// An *Error anywhere in err's chain is returned as is. For an error without a gRPC status, ok
// is false and the Error has code Unknown and err's text. A nil err gives nil, false.
func FromError(err error) (e *Error, ok bool) {
	if err == nil {
		return nil, false
	}
	if errors.As(err, &e) {
		return e, true
	}
	st, ok := status.FromError(err)
	e = &Error{Code: st.Code(), Message: st.Message(), Metadata: map[string]string{}, status: st}
	var found *errdetails.ErrorInfo
	for _, detail := range st.Details() {
		switch detail := detail.(type) {
		case *errdetails.ErrorInfo:
			if found == nil || detail.GetDomain() == Domain {
				found = detail
			}
		case *errdetails.RetryInfo:
			e.RetryInfo = detail
		case *errdetails.BadRequest:
			e.FieldViolations = append(e.FieldViolations, detail.GetFieldViolations()...)
		}
	}
	if found != nil {
		e.Reason, e.Domain = found.GetReason(), found.GetDomain()
		for key, value := range found.GetMetadata() {
			e.Metadata[key] = value
		}
	}
	return e, ok
}

// asError converts a gRPC call's error to *Error, leaving nil and sentinel io.EOF alone.
func asError(err error) error {
	if e, ok := FromError(err); ok {
		return e
	}
	return err
}

var codeNames = [...]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// CodeName is a status code's canonical name, as every gRPC language spells it
// (ALREADY_EXISTS, CANCELLED...); codes.Code.String gives Go's own spelling instead.
func CodeName(code codes.Code) string {
	if int(code) < len(codeNames) {
		return codeNames[code]
	}
	return fmt.Sprintf("CODE(%d)", uint32(code))
}
