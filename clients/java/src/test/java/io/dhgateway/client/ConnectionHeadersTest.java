package io.dhgateway.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.dhgateway.v1.Capabilities;
import io.dhgateway.v1.DriveGatewayGrpc;
import io.dhgateway.v1.GetCapabilitiesRequest;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** What a {@link Connection}'s client sends, as an in-process fake gateway reads it. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class ConnectionHeadersTest {
  private static final String PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  private static final Metadata.Key<String> TRACEPARENT =
      Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);
  private final CompletableFuture<Metadata> received = new CompletableFuture<>();
  private Server server;
  private ManagedChannel channel;

  private static final class FakeGateway extends DriveGatewayGrpc.DriveGatewayImplBase {
    @Override
    public void getCapabilities(GetCapabilitiesRequest request, StreamObserver<Capabilities> out) {
      out.onNext(Capabilities.getDefaultInstance());
      out.onCompleted();
    }
  }

  @BeforeEach
  void start() throws Exception {
    String name = InProcessServerBuilder.generateName();
    server = FakeServers.start(name, new FakeGateway(), received::complete);
    channel = InProcessChannelBuilder.forName(name).build();
  }

  @AfterEach
  void stop() throws Exception {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  private Metadata sent(Connection connection, Channel via) throws Exception {
    connection.client(via).capabilities();
    return received.get(5, TimeUnit.SECONDS);
  }

  private static String get(Metadata metadata, String name) {
    return metadata.get(Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER));
  }

  @Test
  void theTraceContextInTheEnvironmentGoesWithTheKey() throws Exception {
    Map<String, String> env =
        Map.of("DHGW_API_KEY", "k-1", "TRACEPARENT", " " + PARENT + "\n", "TRACESTATE", "v=7");
    Metadata metadata = sent(Connection.builder().build(env), channel);
    assertEquals("Bearer k-1", get(metadata, "authorization"));
    assertEquals(PARENT, get(metadata, "traceparent"));
    assertEquals("v=7", get(metadata, "tracestate"));
  }

  @Test
  void aMalformedTraceparentIsSentAsGiven() throws Exception {
    Connection connection = Connection.builder().build(Map.of("TRACEPARENT", "nonsense"));
    Metadata metadata = sent(connection, channel);
    assertEquals("nonsense", get(metadata, "traceparent"));
    assertNull(get(metadata, "authorization"));
  }

  @Test
  void aTracestateAloneIsNotSent() throws Exception {
    Metadata metadata = sent(Connection.builder().build(Map.of("TRACESTATE", "v=7")), channel);
    assertNull(get(metadata, "tracestate"));
    assertNull(get(metadata, "traceparent"));
  }

  @Test
  void anInterceptorOnTheChannelAddsItsOwnContext() throws Exception {
    // What OpenTelemetry's grpc instrumentation does: inject the current span's context.
    ClientInterceptor propagator =
        new ClientInterceptor() {
          @Override
          public <Q, R> ClientCall<Q, R> interceptCall(
              MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
            return new ForwardingClientCall.SimpleForwardingClientCall<>(
                next.newCall(method, options)) {
              @Override
              public void start(Listener<R> listener, Metadata headers) {
                headers.put(TRACEPARENT, PARENT);
                super.start(listener, headers);
              }
            };
          }
        };
    Connection connection = Connection.builder().apiKey("k-2").build(Map.of());
    Metadata metadata = sent(connection, ClientInterceptors.intercept(channel, propagator));
    assertEquals(PARENT, get(metadata, "traceparent"));
    assertEquals("Bearer k-2", get(metadata, "authorization"));
  }
}
