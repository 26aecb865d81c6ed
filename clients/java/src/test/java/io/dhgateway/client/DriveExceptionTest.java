package io.dhgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.dhgateway.v1.ErrorReason;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class DriveExceptionTest {
  @Test
  void readsTheErrorInfoOfTheStatusDetails() {
    com.google.rpc.Status status =
        com.google.rpc.Status.newBuilder()
            .setCode(Code.ALREADY_EXISTS_VALUE)
            .setMessage("task t1 is busy")
            .addDetails(Any.pack(RetryInfo.getDefaultInstance()))
            .addDetails(
                Any.pack(
                    ErrorInfo.newBuilder()
                        .setReason("TASK_BUSY")
                        .setDomain("dhgateway")
                        .putMetadata("holder_drive_id", "d-1")
                        .putMetadata("task_id", "t1")
                        .build()))
            .build();

    DriveException error = DriveException.fromThrowable(StatusProto.toStatusRuntimeException(status));

    assertEquals(Status.Code.ALREADY_EXISTS, error.code());
    assertEquals("TASK_BUSY", error.reason());
    assertEquals("dhgateway", error.domain());
    assertEquals("task t1 is busy", error.statusMessage());
    assertEquals(Map.of("holder_drive_id", "d-1", "task_id", "t1"), error.metadata());
    assertTrue(error.is(Status.Code.ALREADY_EXISTS, "TASK_BUSY"));
    assertEquals("ALREADY_EXISTS TASK_BUSY: task t1 is busy", error.getMessage());
  }

  @Test
  void readsTheRetryInfoAndTheBadRequestTyped() {
    BadRequest.FieldViolation violation =
        BadRequest.FieldViolation.newBuilder()
            .setField("config.input.sample_rate_hz")
            .setDescription("use 8000 to 48000")
            .build();
    com.google.rpc.Status status =
        com.google.rpc.Status.newBuilder()
            .setCode(Code.INVALID_ARGUMENT_VALUE)
            .setMessage("bad rate")
            .addDetails(
                Any.pack(
                    RetryInfo.newBuilder()
                        .setRetryDelay(
                            com.google.protobuf.Duration.newBuilder()
                                .setSeconds(1)
                                .setNanos(500_000_000))
                        .build()))
            .addDetails(Any.pack(ErrorInfo.newBuilder().setReason("GATEWAY_BUSY").build()))
            .addDetails(Any.pack(BadRequest.newBuilder().addFieldViolations(violation).build()))
            .build();

    DriveException error = DriveException.fromThrowable(StatusProto.toStatusRuntimeException(status));

    assertEquals(ErrorReason.GATEWAY_BUSY, error.reasonEnum());
    assertEquals(Optional.of(Duration.ofMillis(1500)), error.retryDelay());
    assertEquals(List.of(violation), error.fieldViolations());
  }

  @Test
  void anUnknownOrMissingReasonIsUnspecified() {
    DriveException newer =
        new DriveException(Status.Code.INTERNAL, "", "FROM_THE_FUTURE", "dhgateway", null, null);
    assertEquals(ErrorReason.ERROR_REASON_UNSPECIFIED, newer.reasonEnum());
    DriveException none = new DriveException(Status.Code.UNAVAILABLE, "", "", "", null, null);
    assertEquals(ErrorReason.ERROR_REASON_UNSPECIFIED, none.reasonEnum());
    assertEquals(Optional.empty(), none.retryDelay());
    assertEquals(List.of(), none.fieldViolations());
    for (ErrorReason reason : ErrorReason.values()) {
      if (reason != ErrorReason.UNRECOGNIZED) {
        DriveException named =
            new DriveException(Status.Code.UNKNOWN, "", reason.name(), "", null, null);
        assertEquals(reason, named.reasonEnum());
      }
    }
  }

  @Test
  void aStatusWithoutDetailsHasNoReason() {
    DriveException error =
        DriveException.fromThrowable(Status.UNAVAILABLE.withDescription("down").asRuntimeException());

    assertEquals(Status.Code.UNAVAILABLE, error.code());
    assertEquals("", error.reason());
    assertEquals("down", error.statusMessage());
    assertEquals(Map.of(), error.metadata());
  }

  @Test
  void anyOtherThrowableIsUnknown() {
    assertEquals(
        Status.Code.UNKNOWN, DriveException.fromThrowable(new IllegalStateException("x")).code());
  }
}
