package io.dhgateway.client;

import com.google.protobuf.Any;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.RetryInfo;
import io.dhgateway.v1.ErrorReason;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A drive (or another call) ended with a non-OK gRPC status; the gateway's {@code
 * google.rpc.ErrorInfo} is read out into {@link #reason()} (typed: {@link #reasonEnum()}) and
 * {@link #metadata()}, its {@code google.rpc.RetryInfo} into {@link #retryDelay()} and its {@code
 * google.rpc.BadRequest} into {@link #fieldViolations()}. The gRPC error it was read from is its
 * {@link #getCause()}.
 *
 * <pre>{@code
 * } catch (DriveException e) {
 *   if (e.reasonEnum() == ErrorReason.TASK_BUSY) {
 *     String holder = e.metadata().get("holder_drive_id");
 *   }
 *   e.retryDelay().ifPresent(delay -> retryAfter(delay));
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
  private final Duration retryDelay;
  private final List<BadRequest.FieldViolation> fieldViolations;

  public DriveException(
      Status.Code code,
      String statusMessage,
      String reason,
      String domain,
      Map<String, String> metadata,
      Throwable cause) {
    this(code, statusMessage, reason, domain, metadata, null, List.of(), cause);
  }

  /**
   * With the status's retry delay ({@code null}: a retry is not the answer) and field violations.
   */
  public DriveException(
      Status.Code code,
      String statusMessage,
      String reason,
      String domain,
      Map<String, String> metadata,
      Duration retryDelay,
      List<BadRequest.FieldViolation> fieldViolations,
      Throwable cause) {
    super(describe(code, statusMessage, reason), cause);
    this.code = Objects.requireNonNull(code, "code");
    this.statusMessage = statusMessage == null ? "" : statusMessage;
    this.reason = reason == null ? "" : reason;
    this.domain = domain == null ? "" : domain;
    this.metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
    this.retryDelay = retryDelay;
    this.fieldViolations = fieldViolations == null ? List.of() : List.copyOf(fieldViolations);
  }

  /**
   * The error of a failed call: its status code and message, and the first {@code ErrorInfo},
   * the {@code RetryInfo} and the {@code BadRequest}s of the status details ({@code
   * grpc-status-details-bin}) when there are. Any throwable is accepted: one that carries no gRPC
   * status reads as UNKNOWN.
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
    Duration retryDelay = null;
    List<BadRequest.FieldViolation> violations = new ArrayList<>();
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
      boolean haveInfo = false;
      for (Any detail : details.getDetailsList()) {
        try {
          if (detail.is(ErrorInfo.class) && !haveInfo) {
            ErrorInfo info = detail.unpack(ErrorInfo.class);
            reason = info.getReason();
            domain = info.getDomain();
            metadata = info.getMetadataMap();
            haveInfo = true;
          } else if (detail.is(RetryInfo.class)) {
            com.google.protobuf.Duration delay = detail.unpack(RetryInfo.class).getRetryDelay();
            retryDelay = Duration.ofSeconds(delay.getSeconds(), delay.getNanos());
          } else if (detail.is(BadRequest.class)) {
            violations.addAll(detail.unpack(BadRequest.class).getFieldViolationsList());
          }
        } catch (InvalidProtocolBufferException e) {
          // A malformed detail: keep the status without it.
        }
      }
    }
    return new DriveException(
        status.getCode(), message, reason, domain, metadata, retryDelay, violations, error);
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

  /**
   * The {@code ErrorInfo} reason as the proto's {@link ErrorReason} (its value names are the
   * reasons); {@link ErrorReason#ERROR_REASON_UNSPECIFIED} for none, or for a reason newer than
   * this client.
   */
  public ErrorReason reasonEnum() {
    EnumValueDescriptor value = ErrorReason.getDescriptor().findValueByName(reason);
    return value == null ? ErrorReason.ERROR_REASON_UNSPECIFIED : ErrorReason.valueOf(value);
  }

  /**
   * The status's {@code RetryInfo} delay: wait at least this long, then retry (backing off);
   * empty when a retry is not the answer.
   */
  public Optional<Duration> retryDelay() {
    return Optional.ofNullable(retryDelay);
  }

  /**
   * The status's {@code BadRequest} field violations: the request fields at fault ({@code
   * getField()} is a path such as {@code config.input.sample_rate_hz}, {@code getDescription()}
   * says what is accepted); empty when no field is. Unmodifiable.
   */
  public List<BadRequest.FieldViolation> fieldViolations() {
    return fieldViolations;
  }

  /** Whether this is {@code code} with the gateway's {@code reason}. */
  public boolean is(Status.Code code, String reason) {
    return this.code == code && this.reason.equals(reason);
  }

  /** Whether this is {@code code} with the gateway's {@code reason}, typed. */
  public boolean is(Status.Code code, ErrorReason reason) {
    return this.code == code && reasonEnum() == reason;
  }

  private static String describe(Status.Code code, String message, String reason) {
    String text = message == null ? "" : message;
    return reason == null || reason.isEmpty()
        ? code.name() + ": " + text
        : code.name() + " " + reason + ": " + text;
  }
}
