package io.dhgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import io.dhgateway.v1.Completed;
import io.dhgateway.v1.DriveConfig;
import io.dhgateway.v1.DriveEvent;
import io.dhgateway.v1.DriveGatewayGrpc;
import io.dhgateway.v1.DriveRequest;
import io.dhgateway.v1.GetTaskRequest;
import io.dhgateway.v1.PlaybackFinished;
import io.dhgateway.v1.PlaybackStarted;
import io.dhgateway.v1.StopDriveRequest;
import io.dhgateway.v1.StopDriveResponse;
import io.dhgateway.v1.StopMode;
import io.dhgateway.v1.TaskInfo;
import io.dhgateway.v1.TaskStatus;
import io.dhgateway.v1.TextInput;
import io.dhgateway.v1.WatchTaskRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Interrupt, StopDrive's modes, text drives and the task calls against an in-process fake. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class InterruptTest {
  /** What the gateway read of the drive: "config", "audio", "interrupt", in order. */
  private final List<String> sequence = Collections.synchronizedList(new ArrayList<>());
  private final CompletableFuture<StopDriveRequest> stopped = new CompletableFuture<>();
  private final CompletableFuture<DriveConfig> config = new CompletableFuture<>();
  private Server server;
  private ManagedChannel channel;
  private DriveGatewayClient client;

  private static DriveEvent finished() {
    return DriveEvent.newBuilder()
        .setPlaybackFinished(PlaybackFinished.newBuilder().setPlayedMs(20).setInterrupted(true))
        .build();
  }

  private final class FakeGateway extends DriveGatewayGrpc.DriveGatewayImplBase {
    private StreamObserver<DriveEvent> tail;

    @Override
    public StreamObserver<DriveRequest> drive(StreamObserver<DriveEvent> events) {
      return new StreamObserver<>() {
        @Override
        public void onNext(DriveRequest request) {
          sequence.add(request.getRequestCase().name().toLowerCase());
          if (request.hasConfig()) {
            config.complete(request.getConfig());
          }
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
          if (config.join().getTaskId().equals("tail")) {
            events.onNext(
                DriveEvent.newBuilder().setPlaybackStarted(PlaybackStarted.getDefaultInstance()).build());
            tail = events;
            return;
          }
          events.onNext(finished());
          Completed done =
              Completed.newBuilder().setDroppedMs(80).setPlayedMs(20).setInterrupted(true).build();
          events.onNext(DriveEvent.newBuilder().setCompleted(done).build());
          events.onCompleted();
        }
      };
    }

    @Override
    public void stopDrive(StopDriveRequest request, StreamObserver<StopDriveResponse> answer) {
      stopped.complete(request);
      if (tail == null) {
        answer.onError(error(Code.NOT_FOUND_VALUE, "NO_ACTIVE_DRIVE"));
        return;
      }
      tail.onNext(finished());
      tail.onError(error(Code.ABORTED_VALUE, "STOPPED_BY_REQUEST"));
      answer.onNext(StopDriveResponse.newBuilder().setDriveId("d-1").setInterrupted(true).build());
      answer.onCompleted();
    }

    @Override
    public void getTask(GetTaskRequest request, StreamObserver<TaskInfo> answer) {
      answer.onNext(
          TaskInfo.newBuilder()
              .setTaskId(request.getTaskId())
              .setProfile(request.getProfile())
              .setSpeaking(request.getRefresh())
              .build());
      answer.onCompleted();
    }

    @Override
    public void watchTask(WatchTaskRequest request, StreamObserver<TaskInfo> infos) {
      for (TaskStatus status :
          List.of(TaskStatus.TASK_STATUS_STREAMING, TaskStatus.TASK_STATUS_STOPPED)) {
        infos.onNext(TaskInfo.newBuilder().setTaskId(request.getTaskId()).setStatus(status).build());
      }
      infos.onCompleted();
    }
  }

  private static RuntimeException error(int code, String reason) {
    return StatusProto.toStatusRuntimeException(
        com.google.rpc.Status.newBuilder()
            .setCode(code)
            .setMessage(reason)
            .addDetails(Any.pack(ErrorInfo.newBuilder().setReason(reason).setDomain("dhgateway").build()))
            .build());
  }

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name).addService(new FakeGateway()).build().start();
    channel = InProcessChannelBuilder.forName(name).build();
    client = DriveGatewayClient.create(channel);
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  @Test
  void interruptGoesInStreamAndNothingIsSentAfterIt() throws Exception {
    try (Drive drive = client.open("barge", DriveOptions.defaults())) {
      assertTrue(drive.send(new byte[640]));
      drive.interrupt();
      drive.interrupt(); // twice: nothing more
      assertFalse(drive.send(new byte[640]));
      drive.end(); // after an interrupt: nothing
      List<DriveEvent> events = new ArrayList<>();
      drive.forEach(events::add);
      Completed done = events.get(events.size() - 1).getCompleted();
      assertEquals(80, done.getDroppedMs());
      assertTrue(done.getInterrupted());
    }
    assertEquals(List.of("config", "audio", "interrupt"), sequence);
  }

  @Test
  void interruptAfterTheHalfCloseStopsTheTaskAndEndsWithoutAnError() throws Exception {
    try (Drive drive = client.open("tail", DriveOptions.builder().profile("p").build())) {
      drive.end();
      assertTrue(drive.next().hasPlaybackStarted());
      drive.interrupt();
      assertTrue(drive.next().getPlaybackFinished().getInterrupted());
      assertNull(drive.next());
    }
    StopDriveRequest request = stopped.get();
    assertEquals("tail", request.getTaskId());
    assertEquals("p", request.getProfile());
    assertEquals(StopMode.STOP_MODE_INTERRUPT, request.getMode());
  }

  @Test
  void aTextDriveCarriesTheTextAndNoAudioFormat() throws Exception {
    DriveOptions options = DriveOptions.builder().encoding("WAV").text("Hello!", "v-1").build();
    try (Drive drive = client.open("text", options)) {
      DriveConfig sent = config.get();
      assertFalse(sent.hasInput());
      assertEquals(TextInput.newBuilder().setText("Hello!").setTimbreId("v-1").build(), sent.getText());
    }
  }

  @Test
  void stopGetTaskAndWatchTask() {
    DriveException none =
        org.junit.jupiter.api.Assertions.assertThrows(
            DriveException.class, () -> client.stop("nobody", "", StopMode.STOP_MODE_INTERRUPT));
    assertEquals("NO_ACTIVE_DRIVE", none.reason());
    TaskInfo info = client.getTask("t-1", "p", true);
    assertEquals("t-1", info.getTaskId());
    assertTrue(info.getSpeaking());
    List<TaskStatus> statuses = new ArrayList<>();
    try (TaskWatch watch = client.watchTask("t-1", "")) {
      watch.forEach(watched -> statuses.add(watched.getStatus()));
    }
    assertEquals(List.of(TaskStatus.TASK_STATUS_STREAMING, TaskStatus.TASK_STATUS_STOPPED), statuses);
  }
}
