package io.dhgateway.client;

import io.dhgateway.v1.Capabilities;
import io.dhgateway.v1.DriveGatewayGrpc;
import io.dhgateway.v1.DriveInfo;
import io.dhgateway.v1.GetCapabilitiesRequest;
import io.dhgateway.v1.ListDrivesRequest;
import io.dhgateway.v1.StopDriveRequest;
import io.grpc.Channel;
import io.grpc.ClientInterceptor;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * The gateway's API over a channel: {@link #open} a drive, and the unary calls. Immutable; the
 * {@code with...} methods return a copy.
 *
 * <pre>{@code
 * ManagedChannel channel =
 *     Grpc.newChannelBuilder("127.0.0.1:50051", InsecureChannelCredentials.create()).build();
 * DriveGatewayClient client = DriveGatewayClient.create(channel).withApiKey(key);
 * }</pre>
 */
public final class DriveGatewayClient {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final Channel channel;
  private final Metadata headers;
  private final Duration timeout;

  private DriveGatewayClient(Channel channel, Metadata headers, Duration timeout) {
    this.channel = Objects.requireNonNull(channel, "channel");
    this.headers = headers;
    this.timeout = timeout;
  }

  /** A client over {@code channel} (which the caller owns and shuts down). */
  public static DriveGatewayClient create(Channel channel) {
    return new DriveGatewayClient(channel, new Metadata(), null);
  }

  /** A copy that sends {@code authorization: Bearer <apiKey>} with every call. */
  public DriveGatewayClient withApiKey(String apiKey) {
    Metadata extra = new Metadata();
    extra.put(AUTHORIZATION, "Bearer " + Objects.requireNonNull(apiKey, "apiKey"));
    return withHeaders(extra);
  }

  /** A copy that also sends these headers with every call. */
  public DriveGatewayClient withHeaders(Metadata extra) {
    Metadata merged = new Metadata();
    merged.merge(headers);
    merged.merge(extra);
    return new DriveGatewayClient(channel, merged, timeout);
  }

  /** A copy whose calls (each drive as a whole) get this deadline; {@code null}: none. */
  public DriveGatewayClient withTimeout(Duration timeout) {
    return new DriveGatewayClient(channel, headers, timeout);
  }

  /**
   * Opens a drive of {@code taskId}'s avatar: the stream starts and the config is sent. Then
   * send the audio and read the events on the returned {@link Drive}.
   */
  public Drive open(String taskId, DriveOptions options) {
    DriveOptions chosen = options == null ? DriveOptions.defaults() : options;
    return new Drive(configure(DriveGatewayGrpc.newStub(channel)), chosen.toConfig(taskId));
  }

  /**
   * Opens a drive and sends {@code audio} on a background thread (with backpressure, then the
   * half-close); read the events on the returned {@link Drive}.
   */
  public Drive drive(String taskId, DriveOptions options, Iterable<byte[]> audio) {
    return open(taskId, options).sendAllInBackground(audio);
  }

  /**
   * Opens a drive and sends {@code inputs}, audio chunks and marks between them, on a background
   * thread (with backpressure, then the half-close); read the events on the returned {@link
   * Drive}: each mark comes back as a {@code mark_played} event once the avatar played the audio
   * before it.
   */
  public Drive driveInputs(
      String taskId, DriveOptions options, Iterable<? extends DriveInput> inputs) {
    return open(taskId, options).sendInputsInBackground(inputs);
  }

  /**
   * Ends the active drive of a task (barge-in); its stream ends ABORTED / STOPPED_BY_REQUEST.
   *
   * @return the DriveId of the stopped drive ("" if it had none yet).
   * @throws DriveException NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
   */
  public String stopDrive(String taskId, String profile) {
    StopDriveRequest request =
        StopDriveRequest.newBuilder()
            .setTaskId(taskId)
            .setProfile(profile == null ? "" : profile)
            .build();
    try {
      return blocking().stopDrive(request).getDriveId();
    } catch (StatusRuntimeException e) {
      throw DriveException.fromThrowable(e);
    }
  }

  /** The gateway's active and queued drives ({@code taskId} "" for all tasks). */
  public List<DriveInfo> listDrives(String taskId) {
    ListDrivesRequest request =
        ListDrivesRequest.newBuilder().setTaskId(taskId == null ? "" : taskId).build();
    try {
      return blocking().listDrives(request).getDrivesList();
    } catch (StatusRuntimeException e) {
      throw DriveException.fromThrowable(e);
    }
  }

  /** What the gateway accepts: encodings, rates, policies, limits. */
  public Capabilities capabilities() {
    try {
      return blocking().getCapabilities(GetCapabilitiesRequest.getDefaultInstance());
    } catch (StatusRuntimeException e) {
      throw DriveException.fromThrowable(e);
    }
  }

  private DriveGatewayGrpc.DriveGatewayBlockingStub blocking() {
    return configure(DriveGatewayGrpc.newBlockingStub(channel));
  }

  private <S extends AbstractStub<S>> S configure(S stub) {
    ClientInterceptor attach = MetadataUtils.newAttachHeadersInterceptor(headers);
    S configured = stub.withInterceptors(attach);
    if (timeout != null) {
      configured = configured.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }
    return configured;
  }
}
