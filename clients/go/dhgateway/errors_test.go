package dhgateway

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
