package io.dhgateway.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.Map;
import java.util.Objects;

/**
 * A drive (or another call) ended with a non-OK gRPC status; the gateway's {@code
 * google.rpc.ErrorInfo} is read out into {@link #reason()} and {@link #metadata()}.
 *
 * <pre>{@code
 * } catch (DriveException e) {
 *   if (e.code() == Status.Code.ALREADY_EXISTS && e.reason().equals("TASK_BUSY")) {
 *     String holder = e.metadata().get("holder_drive_id");
 *   }
 * }
 * }</pre>
 */
public final class DriveException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The {@code ErrorInfo} domain of the gateway's errors. */
  public static final String DOMAIN = "dhgateway";

  private final Status.Code code;
  private final String statusMessage;
  private final String reason;
  private final String domain;
  private final Map<String, String> metadata;

  public DriveException(
      Status.Code code,
      String statusMessage,
      String reason,
      String domain,
      Map<String, String> metadata,
      Throwable cause) {
    super(describe(code, statusMessage, reason), cause);
    this.code = Objects.requireNonNull(code, "code");
    this.statusMessage = statusMessage == null ? "" : statusMessage;
    this.reason = reason == null ? "" : reason;
    this.domain = domain == null ? "" : domain;
    this.metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
  }

  /**
   * The error of a failed call: its status code and message, and the first {@code ErrorInfo} of
   * the status details ({@code grpc-status-details-bin}) when there is one. Any throwable is
   * accepted: one that carries no gRPC status reads as UNKNOWN.
   */
  public static DriveException fromThrowable(Throwable error) {
    if (error instanceof DriveException) {
      return (DriveException) error;
    }
    Status status = Status.fromThrowable(error);
    String message = status.getDescription();
    String reason = "";
    String domain = "";
    Map<String, String> metadata = Map.of();
    com.google.rpc.Status details;
    try {
      details = StatusProto.fromThrowable(error);
    } catch (IllegalArgumentException e) {
      // Details whose code differs from the status's: not to be trusted.
      details = null;
    }
    if (details != null) {
      if (!details.getMessage().isEmpty()) {
        message = details.getMessage();
      }
      for (Any detail : details.getDetailsList()) {
        if (!detail.is(ErrorInfo.class)) {
          continue;
        }
        try {
          ErrorInfo info = detail.unpack(ErrorInfo.class);
          reason = info.getReason();
          domain = info.getDomain();
          metadata = info.getMetadataMap();
          break;
        } catch (InvalidProtocolBufferException e) {
          // A malformed detail: keep the status without it.
        }
      }
    }
    return new DriveException(status.getCode(), message, reason, domain, metadata, error);
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** The status message ("" if none). */
  public String statusMessage() {
    return statusMessage;
  }

  /** The {@code ErrorInfo} reason ({@code TASK_BUSY}, {@code UNSUPPORTED_FORMAT}...), "" if none. */
  public String reason() {
    return reason;
  }

  /** The {@code ErrorInfo} domain ({@value #DOMAIN} for the gateway's errors), "" if none. */
  public String domain() {
    return domain;
  }

  /** The {@code ErrorInfo} metadata ({@code task_id}, {@code holder_drive_id}...), unmodifiable. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** Whether this is {@code code} with the gateway's {@code reason}. */
  public boolean is(Status.Code code, String reason) {
    return this.code == code && this.reason.equals(reason);
  }

  private static String describe(Status.Code code, String message, String reason) {
    String text = message == null ? "" : message;
    return reason == null || reason.isEmpty()
        ? code.name() + ": " + text
        : code.name() + " " + reason + ": " + text;
  }
}
