package io.dhgateway.client;

import io.grpc.BindableService;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.util.function.Consumer;

/** In-process fake gateways; the caller shuts the server down. */
final class FakeServers {
  private FakeServers() {}

  /** {@code service} started under {@code name}, handing each call's headers to {@code seen}. */
  static Server start(String name, BindableService service, Consumer<Metadata> seen)
      throws IOException {
    ServerInterceptor headers =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, R> call, Metadata metadata, ServerCallHandler<Q, R> next) {
            seen.accept(metadata);
            return next.startCall(call, metadata);
          }
        };
    return InProcessServerBuilder.forName(name)
        .addService(ServerInterceptors.intercept(service, headers))
        .build()
        .start();
  }
}
