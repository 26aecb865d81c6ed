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
import io.dhgateway.v1.Started;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
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
          } else {
            audioBytes.addAndGet(request.getAudio().size());
          }
        }

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {
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

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    ServerInterceptor headers =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, R> call, Metadata metadata, ServerCallHandler<Q, R> next) {
            authorization.complete(metadata.get(AUTHORIZATION));
            return next.startCall(call, metadata);
          }
        };
    server =
        InProcessServerBuilder.forName(name)
            .addService(ServerInterceptors.intercept(new FakeGateway(), headers))
            .build()
            .start();
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
}
