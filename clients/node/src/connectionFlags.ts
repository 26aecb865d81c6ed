/**
 * The connection flags of every `dh-drive` command, as the Python dh-drive's: `--addr --tls
 * --ca --cert --key --server-name --api-key-file --api-key`, each else its `DHGW_*` variable
 * (./connection.ts). The key comes from `--api-key-file` (a file only its owner may read),
 * `$DHGW_API_KEY`, or `--api-key`; the last shows in `ps` and the shell's history.
 */

import { readFileSync, statSync } from "node:fs";

import type { GatewayClientOptions } from "./client";
import { type Connection, connectionFromEnv, DEFAULT_ADDRESS, gatewayClientOptions } from "./connection";

/** A bad command line: the message is printed after the usage, and dh-drive exits 2. */
export class UsageError extends Error {}

/** The connection flags' `parseArgs` options; spread them into a command's. */
export const CONNECTION_OPTIONS = {
  addr: { type: "string" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  "server-name": { type: "string" },
  "api-key-file": { type: "string" },
  "api-key": { type: "string" },
} as const;

/** The connection flags in a usage line. */
export const CONNECTION_USAGE = [
  "[--addr ADDR] [--tls] [--ca CA] [--cert CERT] [--key KEY]",
  "[--server-name SERVER_NAME]",
  "[--api-key-file API_KEY_FILE | --api-key API_KEY]",
];

/** The connection flags' section of `--help`. */
export const CONNECTION_HELP = `the gateway (each flag, else its DHGW_* variable):
  --addr ADDR           host:port or unix:/path ($DHGW_ADDRESS, else
                        ${DEFAULT_ADDRESS})
  --tls                 TLS, verified by the system's roots
  --ca CA               PEM roots that verify the gateway (implies --tls)
  --cert CERT           client certificate (PEM) for mutual TLS (needs --key)
  --key KEY             the client certificate's private key (PEM)
  --server-name SERVER_NAME
                        the name on the gateway's certificate
  --api-key-file API_KEY_FILE
                        read the API key from this file (mode 600)
  --api-key API_KEY     the API key itself ($DHGW_API_KEY; shows in ps)`;

/** The connection flags' values as `parseArgs` gives them (undefined: not given). */
export interface ConnectionValues {
  addr?: string;
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  "server-name"?: string;
  "api-key-file"?: string;
  "api-key"?: string;
}

/**
 * The connection the flags (else `env`) describe. Reads the key file but no TLS file (see
 * {@link clientOptionsOf}).
 *
 * @throws UsageError both key flags, a bad key file, or a bad setting (a certificate without
 *   its key, `DHGW_TLS` not on/off).
 */
export function connectionOf(
  values: ConnectionValues,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Connection {
  const file = values["api-key-file"];
  if (file !== undefined && values["api-key"] !== undefined) {
    throw new UsageError("argument --api-key: not allowed with argument --api-key-file");
  }
  const apiKey = file === undefined ? values["api-key"] : readApiKey(file);
  const given = {
    address: values.addr,
    apiKey,
    tls: values.tls,
    caFile: values.ca,
    certFile: values.cert,
    keyFile: values.key,
    serverName: values["server-name"],
  };
  try {
    return connectionFromEnv(given, env);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The API key in `path`, its whitespace trimmed. A missing or empty file, or one that other
 * users may read, is a usage error: a key others can read is a leaked key.
 *
 * @throws UsageError naming the file.
 */
export function readApiKey(path: string): string {
  let key: string;
  try {
    const mode = statSync(path).mode;
    // Windows has no such mode bits: there the file's ACL is the owner's business.
    if (process.platform !== "win32" && (mode & 0o077) !== 0) {
      throw new UsageError(`--api-key-file ${path} may be read by other users: chmod 600 ${path}`);
    }
    key = readFileSync(path, "utf8").trim();
  } catch (error) {
    if (error instanceof UsageError) {
      throw error;
    }
    throw new UsageError(`--api-key-file ${path}: ${systemReason(error)}`);
  }
  if (key === "") {
    throw new UsageError(`--api-key-file ${path} is empty`);
  }
  return key;
}

/**
 * The client options of `connection`: its TLS files are read now, so that one that cannot be
 * read is a usage error before anything is sent.
 *
 * @throws UsageError a TLS file cannot be read or is not PEM.
 */
export function clientOptionsOf(connection: Connection): GatewayClientOptions {
  try {
    return gatewayClientOptions(connection);
  } catch (error) {
    throw new UsageError(`TLS: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** "no such file or directory" of "ENOENT: no such file or directory, stat 'x'" (the path is said once, by the caller). */
function systemReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /^E[A-Z]+: ([^,]+),/.exec(message)?.[1] ?? message;
}
