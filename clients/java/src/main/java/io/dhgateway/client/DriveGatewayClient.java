package io.dhgateway.client;

import io.dhgateway.v1.Capabilities;
import io.dhgateway.v1.DriveGatewayGrpc;
import io.dhgateway.v1.DriveInfo;
import io.dhgateway.v1.GetCapabilitiesRequest;
import io.dhgateway.v1.GetTaskRequest;
import io.dhgateway.v1.ListDrivesRequest;
import io.dhgateway.v1.ListDrivesResponse;
import io.dhgateway.v1.StopDriveRequest;
import io.dhgateway.v1.StopDriveResponse;
import io.dhgateway.v1.StopMode;
import io.dhgateway.v1.TaskInfo;
import io.dhgateway.v1.WatchTaskRequest;
import io.grpc.Channel;
import io.grpc.Context;
import io.grpc.ClientInterceptor;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.MetadataUtils;
import java.time.Duration;
import java.util.ArrayList;
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
    return new Drive(
        configure(DriveGatewayGrpc.newStub(channel)),
        chosen.toConfig(taskId),
        config -> stop(config.getTaskId(), config.getProfile(), StopMode.STOP_MODE_INTERRUPT));
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
   * {@link #stop} with {@code STOP_MODE_FINISH}.
   *
   * @return the DriveId of the stopped drive ("" if it had none yet).
   * @throws DriveException NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
   */
  public String stopDrive(String taskId, String profile) {
    return stop(taskId, profile, StopMode.STOP_MODE_FINISH).getDriveId();
  }

  /**
   * Ends the active drive of a task, on whichever replica runs it: {@code STOP_MODE_FINISH} lets
   * the avatar play what it was sent, {@code STOP_MODE_INTERRUPT} silences it now (also a
   * speaking avatar whose drive already ended). The drive's stream ends ABORTED /
   * STOPPED_BY_REQUEST.
   *
   * @return the answer: the drive's DriveId, {@code played_ms} and {@code interrupted}.
   * @throws DriveException NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
   */
  public StopDriveResponse stop(String taskId, String profile, StopMode mode) {
    StopDriveRequest request =
        StopDriveRequest.newBuilder()
            .setTaskId(taskId)
            .setProfile(profile == null ? "" : profile)
            .setMode(mode)
            .build();
    try {
      return blocking().stopDrive(request);
    } catch (StatusRuntimeException e) {
      throw DriveException.fromThrowable(e);
    }
  }

  /**
   * How a task is: the vendor's status, whether the avatar is speaking and in which drive, the
   * active drive, the queue and the idle deadline. {@code refresh} asks the vendor now.
   *
   * @throws DriveException NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor does not
   *     know.
   */
  public TaskInfo getTask(String taskId, String profile, boolean refresh) {
    GetTaskRequest request =
        GetTaskRequest.newBuilder()
            .setTaskId(taskId)
            .setProfile(profile == null ? "" : profile)
            .setRefresh(refresh)
            .build();
    try {
      return blocking().getTask(request);
    } catch (StatusRuntimeException e) {
      throw DriveException.fromThrowable(e);
    }
  }

  /**
   * Watches a task: the returned {@link TaskWatch} yields its {@code TaskInfo} now and at each
   * change, and ends once the task has ended. Close it to stop watching.
   */
  public TaskWatch watchTask(String taskId, String profile) {
    WatchTaskRequest request =
        WatchTaskRequest.newBuilder()
            .setTaskId(taskId)
            .setProfile(profile == null ? "" : profile)
            .build();
    Context.CancellableContext context = Context.current().withCancellation();
    Context previous = context.attach();
    try {
      return new TaskWatch(blocking().watchTask(request), context);
    } finally {
      context.detach(previous);
    }
  }

  /**
   * The gateway's active and queued drives ({@code taskId} "" for all tasks): of every replica
   * sharing its Redis, every page ({@link #listDrivesPage} asks for one).
   */
  public List<DriveInfo> listDrives(String taskId) {
    List<DriveInfo> drives = new ArrayList<>();
    String token = "";
    while (true) {
      ListDrivesResponse page = listDrivesPage(taskId, 0, token);
      drives.addAll(page.getDrivesList());
      String next = page.getNextPageToken();
      if (next.isEmpty() || next.equals(token)) {
        return List.copyOf(drives);
      }
      token = next;
    }
  }

  /**
   * One page of ListDrives ({@code pageSize} 0: the gateway's 100, at most 1000); pass its
   * {@code getNextPageToken()} as {@code pageToken} for the next page ("" after the last).
   */
  public ListDrivesResponse listDrivesPage(String taskId, int pageSize, String pageToken) {
    ListDrivesRequest request =
        ListDrivesRequest.newBuilder()
            .setTaskId(taskId == null ? "" : taskId)
            .setPageSize(pageSize)
            .setPageToken(pageToken == null ? "" : pageToken)
            .build();
    try {
      return blocking().listDrives(request);
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
