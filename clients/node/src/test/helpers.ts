/** Test helpers: gateway-style error trailers and an in-process DriveGateway server. */

import { credentials, Metadata, Server, ServerCredentials, type UntypedServiceImplementation } from "@grpc/grpc-js";

import { DriveGatewayClient, DriveGatewayService } from "../gen/dhgateway/v1/gateway";
import { ErrorInfo } from "../gen/google/rpc/error_details";
import { Status } from "../gen/google/rpc/status";

/** Trailers as the gateway sends them: a google.rpc.Status with Any-packed details. */
export function trailers(code: number, message: string, details: { typeUrl: string; value: Buffer }[]): Metadata {
  const metadata = new Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(Status.encode({ code, message, details }).finish()));
  return metadata;
}

export function errorInfo(reason: string, metadata: Record<string, string>): { typeUrl: string; value: Buffer } {
  return {
    typeUrl: "type.example/google.rpc.ErrorInfo",
    value: Buffer.from(ErrorInfo.encode({ reason, domain: "dhgateway", metadata }).finish()),
  };
}

/**
 * A DriveGateway server on a free loopback port (plaintext unless `serverCredentials` say
 * otherwise), and a plaintext client stub for it.
 */
export async function serve(
  implementation: UntypedServiceImplementation,
  serverCredentials: ServerCredentials = ServerCredentials.createInsecure(),
): Promise<{ client: DriveGatewayClient; address: string; close: () => void }> {
  const server = new Server();
  server.addService(DriveGatewayService, implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", serverCredentials, (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });
  const address = `127.0.0.1:${port}`;
  const client = new DriveGatewayClient(address, credentials.createInsecure());
  return {
    client,
    address,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}
