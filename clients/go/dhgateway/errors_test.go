package dhgateway

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

func withInfo(t *testing.T, code codes.Code, message string, infos ...*errdetails.ErrorInfo) error {
	t.Helper()
	st := status.New(code, message)
	for _, info := range infos {
		var err error
		if st, err = st.WithDetails(info); err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

func TestFromErrorReadsErrorInfo(t *testing.T) {
	err := withInfo(t, codes.AlreadyExists, "task busy", &errdetails.ErrorInfo{
		Reason: "TASK_BUSY", Domain: Domain, Metadata: map[string]string{"holder_drive_id": "d-1"},
	})
	e, ok := FromError(err)
	if !ok {
		t.Fatal("FromError: not a status")
	}
	if e.Code != codes.AlreadyExists || e.Reason != "TASK_BUSY" || e.Domain != Domain ||
		e.Message != "task busy" || e.Metadata["holder_drive_id"] != "d-1" {
		t.Errorf("FromError = %+v", e)
	}
	if status.Code(e) != codes.AlreadyExists {
		t.Error("the Error must keep its gRPC status")
	}
	if got := e.Error(); got != "dhgateway: ALREADY_EXISTS TASK_BUSY: task busy" {
		t.Errorf("Error() = %q", got)
	}
}

func TestFromErrorPrefersTheGatewayDomain(t *testing.T) {
	err := withInfo(t, codes.Unavailable, "down",
		&errdetails.ErrorInfo{Reason: "OTHER", Domain: "example.org"},
		&errdetails.ErrorInfo{Reason: "DRAINING", Domain: Domain},
	)
	if e, _ := FromError(err); e.Reason != "DRAINING" {
		t.Errorf("reason = %q, want DRAINING", e.Reason)
	}
}

func TestFromErrorWithoutDetails(t *testing.T) {
	e, ok := FromError(status.Error(codes.Unavailable, "no connection"))
	if !ok || e.Reason != "" || e.Metadata == nil || len(e.Metadata) != 0 {
		t.Errorf("FromError = %+v, %v", e, ok)
	}
	if got := e.Error(); got != "dhgateway: UNAVAILABLE: no connection" {
		t.Errorf("Error() = %q", got)
	}
}

func TestFromErrorUnwraps(t *testing.T) {
	inner, _ := FromError(withInfo(t, codes.InvalidArgument, "bad", &errdetails.ErrorInfo{Reason: "UNSUPPORTED_FORMAT"}))
	wrapped := fmt.Errorf("driving: %w", inner)
	if e, ok := FromError(wrapped); !ok || e != inner {
		t.Errorf("FromError(wrapped) = %+v, %v", e, ok)
	}
	var target *Error
	if !errors.As(wrapped, &target) || target.Reason != "UNSUPPORTED_FORMAT" {
		t.Error("errors.As must find the *Error")
	}
}

func TestFromErrorOnOtherErrors(t *testing.T) {
	if e, ok := FromError(nil); e != nil || ok {
		t.Errorf("FromError(nil) = %v, %v", e, ok)
	}
	if e, ok := FromError(io.ErrUnexpectedEOF); ok || e.Code != codes.Unknown {
		t.Errorf("FromError(io.ErrUnexpectedEOF) = %+v, %v", e, ok)
	}
	if asError(io.EOF) != io.EOF {
		t.Error("asError must leave io.EOF alone")
	}
}

func TestCodeName(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.AlreadyExists: "ALREADY_EXISTS", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.Unauthenticated: "UNAUTHENTICATED", codes.Code(99): "CODE(99)",
	} {
		if got := CodeName(code); got != want {
			t.Errorf("CodeName(%v) = %q, want %q", code, got, want)
		}
	}
}

func TestFromErrorReadsRetryInfoAndTheReasonEnum(t *testing.T) {
	st, err := status.New(codes.ResourceExhausted, "full").WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(1500 * time.Millisecond)},
		&errdetails.ErrorInfo{Reason: "GATEWAY_BUSY", Domain: Domain, Metadata: map[string]string{"retry_after_ms": "1500"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := FromError(st.Err())
	if got := e.ReasonEnum(); got != pb.ErrorReason_GATEWAY_BUSY {
		t.Errorf("ReasonEnum() = %v, want GATEWAY_BUSY", got)
	}
	if delay, ok := e.RetryDelay(); !ok || delay != 1500*time.Millisecond {
		t.Errorf("RetryDelay() = %v, %v", delay, ok)
	}
	if e.FieldViolations != nil {
		t.Errorf("FieldViolations = %v, want none", e.FieldViolations)
	}
}

func TestFromErrorReadsFieldViolations(t *testing.T) {
	violation := &errdetails.BadRequest_FieldViolation{Field: "config.input.sample_rate_hz", Description: "use 8000 to 48000"}
	st, err := status.New(codes.InvalidArgument, "bad rate").WithDetails(
		&errdetails.ErrorInfo{Reason: "UNSUPPORTED_FORMAT", Domain: Domain},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{violation}},
	)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := FromError(st.Err())
	if e.ReasonEnum() != pb.ErrorReason_UNSUPPORTED_FORMAT {
		t.Errorf("ReasonEnum() = %v", e.ReasonEnum())
	}
	if len(e.FieldViolations) != 1 || e.FieldViolations[0].GetField() != "config.input.sample_rate_hz" ||
		e.FieldViolations[0].GetDescription() != "use 8000 to 48000" {
		t.Errorf("FieldViolations = %v", e.FieldViolations)
	}
	if _, ok := e.RetryDelay(); ok {
		t.Error("RetryDelay: a bad config is no reason to retry")
	}
}

func TestAnUnknownOrMissingReasonIsUnspecified(t *testing.T) {
	newer, _ := FromError(withInfo(t, codes.Internal, "x", &errdetails.ErrorInfo{Reason: "FROM_THE_FUTURE", Domain: Domain}))
	bare, _ := FromError(status.Error(codes.Unavailable, "no connection"))
	for _, e := range []*Error{newer, bare} {
		if e.ReasonEnum() != pb.ErrorReason_ERROR_REASON_UNSPECIFIED {
			t.Errorf("%q: ReasonEnum() = %v", e.Reason, e.ReasonEnum())
		}
	}
	// Every reason of the proto reads as itself.
	for name, number := range pb.ErrorReason_value {
		if got := (&Error{Reason: name}).ReasonEnum(); int32(got) != number {
			t.Errorf("%s: ReasonEnum() = %v", name, got)
		}
	}
}
