package io.dhgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.Map;
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
