/**
 * Where the gateway is and how to reach it: from arguments, else the `DHGW_*` environment that
 * every language's client reads (the Python client's `connection.py` is the reference):
 *
 * - `DHGW_ADDRESS`: the gateway, `host:port` or `unix:/path` (default `127.0.0.1:50051`);
 * - `DHGW_API_KEY`: sent as `authorization: Bearer <key>`;
 * - `DHGW_PROFILE`: the gateway's credentials profile ("" = its default);
 * - `DHGW_TASK_ID`: the vendor's stream task to drive;
 * - `DHGW_TLS`: `on` for TLS with the system's roots;
 * - `DHGW_TLS_CA_FILE`: PEM roots that verify the gateway (turns TLS on);
 * - `DHGW_TLS_CLIENT_CERT_FILE` and `DHGW_TLS_CLIENT_KEY_FILE`: a client certificate for mutual
 *   TLS (turn TLS on);
 * - `DHGW_TLS_SERVER_NAME`: the name on the gateway's certificate, when not the address's host;
 * - `TRACEPARENT` and `TRACESTATE`: a W3C trace context to join (OpenTelemetry's convention for
 *   passing one to a process through its environment), sent with every call.
 */

import { readFileSync } from "node:fs";

import { type ChannelCredentials, type ChannelOptions, credentials as grpcCredentials, Metadata } from "@grpc/grpc-js";

import { GatewayClient, type GatewayClientOptions } from "./client";

export const DEFAULT_ADDRESS = "127.0.0.1:50051";

const TRUE = new Set(["1", "on", "true", "yes"]);
const FALSE = new Set(["", "0", "off", "false", "no"]);

/** How to reach one gateway, and which task to drive there; build it with {@link connectionFromEnv}. */
export interface Connection {
  /** `host:port` or `unix:/path`. */
  address: string;
  /** The API key; undefined for a gateway without keys. */
  apiKey: string | undefined;
  /** The gateway's credentials profile ("" = its default). */
  profile: string;
  /** The vendor's stream task id ("" when not given). */
  taskId: string;
  /** Connect with TLS (the files below imply it). */
  tls: boolean;
  /** PEM roots that verify the gateway (undefined: the system's). */
  caFile: string | undefined;
  /** The client certificate (PEM) for mutual TLS. */
  certFile: string | undefined;
  /** Its private key (PEM). */
  keyFile: string | undefined;
  /** The name to verify the gateway's certificate against ("" = the address's host). */
  serverName: string;
  /** A W3C `traceparent` to send with every call ("" = none). */
  traceparent: string;
  /** Its `tracestate` ("" = none; sent only with a traceparent). */
  tracestate: string;
}

/** A bad connection setting (a certificate without its key, `DHGW_TLS` not on/off...). */
export class ConnectionConfigError extends Error {}

/**
 * Each field from `given` when not undefined, else its `DHGW_*` variable in `env` (default:
 * `process.env`), else its default.
 *
 * @throws ConnectionConfigError `DHGW_TLS` is not a boolean word, a client certificate comes
 *   without its key (or the other way round), or TLS files come with `tls: false`.
 */
export function connectionFromEnv(
  given: Partial<Connection> = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): Connection {
  const pick = (value: string | undefined, name: string): string | undefined => value ?? (env[name] || undefined);
  const caFile = pick(given.caFile, "DHGW_TLS_CA_FILE");
  const certFile = pick(given.certFile, "DHGW_TLS_CLIENT_CERT_FILE");
  const keyFile = pick(given.keyFile, "DHGW_TLS_CLIENT_KEY_FILE");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConnectionConfigError("a client certificate needs its key, and a key its certificate");
  }
  const files = [caFile, certFile, keyFile].some((path) => path !== undefined);
  if (given.tls === false && files) {
    throw new ConnectionConfigError("TLS files were given with tls: false");
  }
  return {
    address: pick(given.address, "DHGW_ADDRESS") || DEFAULT_ADDRESS,
    apiKey: pick(given.apiKey, "DHGW_API_KEY"),
    profile: pick(given.profile, "DHGW_PROFILE") ?? "",
    taskId: pick(given.taskId, "DHGW_TASK_ID") ?? "",
    tls: (given.tls ?? boolean(env.DHGW_TLS ?? "", "DHGW_TLS")) || files,
    caFile,
    certFile,
    keyFile,
    serverName: pick(given.serverName, "DHGW_TLS_SERVER_NAME") ?? "",
    traceparent: (given.traceparent ?? env.TRACEPARENT ?? "").trim(),
    tracestate: (given.tracestate ?? env.TRACESTATE ?? "").trim(),
  };
}

/**
 * The metadata every call of the connection carries: `authorization: Bearer <key>`, and the
 * trace context. The gateway ignores a malformed trace context (a new trace), so it is sent
 * as given. For calls on the raw stub; {@link gatewayClientOptions} already includes it.
 */
export function callMetadata(connection: Connection): Metadata {
  const metadata = new Metadata();
  if (connection.apiKey) {
    metadata.set("authorization", `Bearer ${connection.apiKey}`);
  }
  if (connection.traceparent) {
    metadata.set("traceparent", connection.traceparent);
    if (connection.tracestate) {
      metadata.set("tracestate", connection.tracestate);
    }
  }
  return metadata;
}

/**
 * The channel's credentials: grpc-js TLS credentials from the connection's files, or plaintext.
 *
 * @throws Error a certificate file cannot be read or is not PEM.
 */
export function channelCredentials(connection: Connection): ChannelCredentials {
  if (!connection.tls) {
    return grpcCredentials.createInsecure();
  }
  return grpcCredentials.createSsl(read(connection.caFile), read(connection.keyFile), read(connection.certFile));
}

/** The channel options the connection needs: the certificate's name, when set. */
export function channelOptions(connection: Connection): ChannelOptions {
  if (!connection.tls || !connection.serverName) {
    return {};
  }
  // As grpc's C core does with the override: the name is verified and sent as the authority.
  return { "grpc.ssl_target_name_override": connection.serverName, "grpc.default_authority": connection.serverName };
}

/**
 * The {@link GatewayClient} options of a connection (credentials, channel options, API key,
 * {@link callMetadata}); merge your own in before `new GatewayClient(connection.address,
 * options)`, adding to `options.metadata` rather than replacing it to keep the trace context.
 *
 * @throws Error a certificate file cannot be read or is not PEM.
 */
export function gatewayClientOptions(connection: Connection): GatewayClientOptions {
  return {
    credentials: channelCredentials(connection),
    channelOptions: channelOptions(connection),
    apiKey: connection.apiKey,
    metadata: callMetadata(connection),
  };
}

/**
 * A client for the connection, sending its API key and trace context with every call; the
 * caller closes it.
 *
 * @throws Error a certificate file cannot be read or is not PEM.
 */
export function connect(connection: Connection): GatewayClient {
  return new GatewayClient(connection.address, gatewayClientOptions(connection));
}

function boolean(value: string, name: string): boolean {
  const word = value.trim().toLowerCase();
  if (TRUE.has(word)) {
    return true;
  }
  if (FALSE.has(word)) {
    return false;
  }
  throw new ConnectionConfigError(`${name}=${JSON.stringify(value)} is not on/off`);
}

function read(path: string | undefined): Buffer | null {
  return path === undefined ? null : readFileSync(path);
}
