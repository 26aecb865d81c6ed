package io.dhgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import io.dhgateway.v1.Completed;
import io.dhgateway.v1.DriveConfig;
import io.dhgateway.v1.DriveEvent;
import io.dhgateway.v1.DriveGatewayGrpc;
import io.dhgateway.v1.DriveRequest;
import io.dhgateway.v1.Encoding;
import io.dhgateway.v1.MarkPlayed;
import io.dhgateway.v1.PlaybackFinished;
import io.dhgateway.v1.PlaybackSource;
import io.dhgateway.v1.PlaybackStarted;
import io.dhgateway.v1.Started;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The helper against an in-process fake gateway (task ids pick its behaviour). */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class DriveTest {
  private final CompletableFuture<DriveConfig> config = new CompletableFuture<>();
  private final AtomicLong audioBytes = new AtomicLong();
  /** Every audio chunk ("audio:<bytes>") and mark ("mark:<name>") the gateway read, in order. */
  private final List<String> sequence = Collections.synchronizedList(new ArrayList<>());
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private final CompletableFuture<String> authorization = new CompletableFuture<>();
  private final CompletableFuture<ServerCallStreamObserver<DriveEvent>> slowCall =
      new CompletableFuture<>();
  private final CountDownLatch serverCancelled = new CountDownLatch(1);
  private Server server;
  private ManagedChannel channel;
  private DriveGatewayClient client;

  private final class FakeGateway extends DriveGatewayGrpc.DriveGatewayImplBase {
    @Override
    public StreamObserver<DriveRequest> drive(StreamObserver<DriveEvent> events) {
      ServerCallStreamObserver<DriveEvent> call = (ServerCallStreamObserver<DriveEvent>) events;
      call.setOnCancelHandler(serverCancelled::countDown);
      // Manual flow control: a "slow" drive takes no audio until the test asks for it.
      call.disableAutoRequest();
      call.request(1);
      return new StreamObserver<>() {
        @Override
        public void onNext(DriveRequest request) {
          if (request.hasConfig() && request.getConfig().getTaskId().equals("slow")) {
            slowCall.complete(call);
          } else {
            call.request(1);
          }
          if (request.hasConfig()) {
            config.complete(request.getConfig());
            if (request.getConfig().getTaskId().equals("busy")) {
              events.onError(
                  StatusProto.toStatusRuntimeException(
                      com.google.rpc.Status.newBuilder()
                          .setCode(Code.ALREADY_EXISTS_VALUE)
                          .setMessage("busy")
                          .addDetails(
                              Any.pack(
                                  ErrorInfo.newBuilder()
                                      .setReason("TASK_BUSY")
                                      .setDomain("dhgateway")
                                      .putMetadata("holder_drive_id", "holder")
                                      .build()))
                          .build()));
              return;
            }
            events.onNext(
                DriveEvent.newBuilder()
                    .setDriveId("d-1")
                    .setStarted(Started.newBuilder().setOutputSampleRateHz(16000))
                    .build());
          } else if (request.hasMark()) {
            sequence.add("mark:" + request.getMark().getName());
          } else {
            audioBytes.addAndGet(request.getAudio().size());
            sequence.add("audio:" + request.getAudio().size());
          }
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
          if (config.join().getTaskId().startsWith("speak")) {
            speak(events);
          }
          events.onNext(
              DriveEvent.newBuilder()
                  .setDriveId("d-1")
                  .setCompleted(Completed.newBuilder().setBytesSent(audioBytes.get()))
                  .build());
          events.onCompleted();
        }
      };
    }
  }

  /** As the gateway does: what the avatar played (16 kHz s16le: 32 bytes a ms), then completed. */
  private void speak(StreamObserver<DriveEvent> events) {
    PlaybackSource estimated = PlaybackSource.PLAYBACK_SOURCE_ESTIMATED;
    events.onNext(
        DriveEvent.newBuilder()
            .setDriveId("d-1")
            .setPlaybackStarted(PlaybackStarted.newBuilder().setSource(estimated))
            .build());
    long atMs = 0;
    for (String item : List.copyOf(sequence)) {
      String[] parts = item.split(":", 2);
      if (parts[0].equals("audio")) {
        atMs += Long.parseLong(parts[1]) / 32;
      } else {
        events.onNext(
            DriveEvent.newBuilder()
                .setDriveId("d-1")
                .setMarkPlayed(
                    MarkPlayed.newBuilder().setName(parts[1]).setAtMs(atMs).setSource(estimated))
                .build());
      }
    }
    events.onNext(
        DriveEvent.newBuilder()
            .setDriveId("d-1")
            .setPlaybackFinished(
                PlaybackFinished.newBuilder()
                    .setPlayedMs(audioBytes.get() / 32)
                    .setSource(PlaybackSource.PLAYBACK_SOURCE_VENDOR))
            .build());
  }

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server =
        FakeServers.start(
            name,
            new FakeGateway(),
            metadata -> authorization.complete(metadata.get(AUTHORIZATION)));
    channel = InProcessChannelBuilder.forName(name).build();
    client = DriveGatewayClient.create(channel);
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  @Test
  void sendsTheConfigThenTheAudioAndReadsTheEvents() throws Exception {
    List<byte[]> audio = AudioChunks.split(new byte[10_000], 640);
    DriveOptions options = DriveOptions.builder().encoding("WAV").onConflict("QUEUE").build();
    List<DriveEvent> events = new ArrayList<>();
    try (Drive drive = client.drive("ok", options, audio)) {
      drive.forEach(events::add);
      assertNull(drive.next());
    }
    assertEquals("ok", config.get().getTaskId());
    assertEquals(Encoding.ENCODING_WAV, config.get().getInput().getEncoding());
    assertEquals(2, events.size());
    assertTrue(events.get(0).hasStarted());
    assertEquals(10_000, events.get(1).getCompleted().getBytesSent());
  }

  @Test
  void awaitCompletedReturnsTheAccounting() throws Exception {
    try (Drive drive = client.open("ok", null)) {
      assertTrue(drive.send(new byte[320]));
      drive.end();
      assertEquals(320, drive.awaitCompleted().getBytesSent());
    }
  }

  @Test
  void theApiKeyIsSentAsABearerToken() throws Exception {
    try (Drive drive = client.withApiKey("k-1").open("ok", null)) {
      drive.end();
      drive.awaitCompleted();
    }
    assertEquals("Bearer k-1", authorization.get(5, TimeUnit.SECONDS));
  }

  @Test
  void sendWaitsWhileTheGatewayHoldsTheStreamBack() throws Exception {
    try (Drive drive = client.open("slow", null)) {
      ServerCallStreamObserver<DriveEvent> server = slowCall.get(5, TimeUnit.SECONDS);
      CompletableFuture<Boolean> sent = new CompletableFuture<>();
      Thread writer =
          new Thread(
              () -> {
                try {
                  sent.complete(drive.send(new byte[640]));
                } catch (Throwable t) {
                  sent.completeExceptionally(t);
                }
              });
      writer.start();
      assertThrows(TimeoutException.class, () -> sent.get(300, TimeUnit.MILLISECONDS));
      assertFalse(drive.isReady());
      server.request(1);
      assertTrue(sent.get(5, TimeUnit.SECONDS));
      writer.join(5000);
    }
  }

  @Test
  void cancelReleasesABlockedSend() throws Exception {
    Drive drive = client.open("slow", null);
    slowCall.get(5, TimeUnit.SECONDS);
    CompletableFuture<Boolean> sent =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return drive.send(new byte[640]);
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            });
    assertThrows(TimeoutException.class, () -> sent.get(200, TimeUnit.MILLISECONDS));
    drive.cancel();
    assertFalse(sent.get(5, TimeUnit.SECONDS));
    assertTrue(serverCancelled.await(2, TimeUnit.SECONDS), "the server saw the cancel");
  }

  @Test
  void aFailedDriveThrowsTheGatewaysErrorInfo() throws Exception {
    try (Drive drive = client.open("busy", DriveOptions.defaults())) {
      DriveException error = assertThrows(DriveException.class, drive::next);
      assertEquals(Status.Code.ALREADY_EXISTS, error.code());
      assertEquals("TASK_BUSY", error.reason());
      assertEquals("holder", error.metadata().get("holder_drive_id"));
      assertFalse(drive.send(new byte[2]), "send after the end says stop");
    }
  }

  @Test
  void cancelReachesTheServerAndEndsTheEvents() throws Exception {
    Drive drive = client.open("cancel-me", DriveOptions.defaults());
    assertTrue(drive.next().hasStarted());
    drive.cancel();
    assertTrue(serverCancelled.await(2, TimeUnit.SECONDS), "the server saw the cancel");
    DriveException error = assertThrows(DriveException.class, drive::next);
    assertEquals(Status.Code.CANCELLED, error.code());
    assertFalse(drive.send(new byte[2]));
    drive.close();
  }

  @Test
  void closingBeforeTheEndCancels() throws Exception {
    try (Drive drive = client.open("closed", DriveOptions.defaults())) {
      assertTrue(drive.next().hasStarted());
    }
    assertTrue(serverCancelled.await(2, TimeUnit.SECONDS), "the server saw the cancel");
  }

  @Test
  void inputsSendMarksBetweenTheChunksAndThePlaybackEventsComeBack() throws Exception {
    List<DriveInput> inputs =
        List.of(
            DriveInput.audio(new byte[320]),
            DriveInput.mark("first"),
            DriveInput.audio(new byte[640]),
            DriveInput.audio(new byte[320]),
            DriveInput.mark("second"));
    List<DriveEvent> events = new ArrayList<>();
    try (Drive drive = client.driveInputs("speak-inputs", null, inputs)) {
      drive.forEach(events::add);
      assertEquals(40, drive.playbackFinished().orElseThrow().getPlayedMs());
    }
    assertEquals(
        List.of("audio:320", "mark:first", "audio:640", "audio:320", "mark:second"), sequence);
    List<DriveEvent.EventCase> cases = new ArrayList<>();
    events.forEach(event -> cases.add(event.getEventCase()));
    assertEquals(
        List.of(
            DriveEvent.EventCase.STARTED,
            DriveEvent.EventCase.PLAYBACK_STARTED,
            DriveEvent.EventCase.MARK_PLAYED,
            DriveEvent.EventCase.MARK_PLAYED,
            DriveEvent.EventCase.PLAYBACK_FINISHED,
            DriveEvent.EventCase.COMPLETED),
        cases);
    assertEquals("first", events.get(2).getMarkPlayed().getName());
    assertEquals(10, events.get(2).getMarkPlayed().getAtMs());
    assertEquals(40, events.get(3).getMarkPlayed().getAtMs());
    PlaybackFinished finished = events.get(4).getPlaybackFinished();
    assertFalse(finished.getInterrupted());
    assertEquals(PlaybackSource.PLAYBACK_SOURCE_VENDOR, finished.getSource());
  }

  @Test
  void markPutsAMarkAfterWhatWasSent() throws Exception {
    try (Drive drive = client.open("speak-live", null)) {
      assertTrue(drive.playbackFinished().isEmpty());
      assertTrue(drive.mark("at-0"));
      assertTrue(drive.send(new byte[3200]));
      assertTrue(drive.send(DriveInput.mark("at-100")));
      drive.end();
      assertThrows(IllegalStateException.class, () -> drive.mark("late"));
      List<String> marks = new ArrayList<>();
      for (DriveEvent event : drive) {
        if (event.hasMarkPlayed()) {
          marks.add(event.getMarkPlayed().getName() + "@" + event.getMarkPlayed().getAtMs());
        }
      }
      assertEquals(List.of("at-0@0", "at-100@100"), marks);
      assertEquals(100, drive.playbackFinished().orElseThrow().getPlayedMs());
    }
    assertEquals(List.of("mark:at-0", "audio:3200", "mark:at-100"), sequence);
  }

  @Test
  void aMarkAfterTheDriveEndedSaysStop() throws Exception {
    try (Drive drive = client.open("busy", null)) {
      assertThrows(DriveException.class, drive::next);
      assertFalse(drive.mark("m"));
      assertTrue(drive.playbackFinished().isEmpty());
    }
  }
}
