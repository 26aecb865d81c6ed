import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import { Metadata, type sendUnaryData, type ServerDuplexStream, type ServerUnaryCall, ServerCredentials, status } from "@grpc/grpc-js";

import { parseCli } from "../cli";
import { parseCommand } from "../commands";
import { callMetadata, channelOptions, type Connection, ConnectionConfigError, connect, connectionFromEnv } from "../connection";
import { clientOptionsOf, connectionOf, readApiKey, UsageError } from "../connectionFlags";
import { DriveError } from "../errors";
import { type DriveEvent, type DriveRequest, type GetTaskRequest, StopDriveResponse, TaskInfo } from "../gen/dhgateway/v1/gateway";
import { serve } from "./helpers";

/** Each test's bound: a TLS handshake on loopback takes milliseconds. */
const TIMEOUT_MS = 20_000;
const POSIX = process.platform !== "win32";
const OPENSSL = spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0;

const dir = mkdtempSync(join(tmpdir(), "dh-drive-connection-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

describe("connectionFromEnv", () => {
  test("defaults, and each field else its DHGW_* variable", () => {
    assert.deepEqual(connectionFromEnv({}, {}), {
      address: "127.0.0.1:50051", apiKey: undefined, profile: "", taskId: "", tls: false, caFile: undefined,
      certFile: undefined, keyFile: undefined, serverName: "", traceparent: "", tracestate: "",
    });
    const env = {
      DHGW_ADDRESS: "gw:443", DHGW_API_KEY: "k", DHGW_PROFILE: "p", DHGW_TASK_ID: "t", DHGW_TLS_CA_FILE: "ca.pem",
      DHGW_TLS_CLIENT_CERT_FILE: "c.pem", DHGW_TLS_CLIENT_KEY_FILE: "c.key", DHGW_TLS_SERVER_NAME: "gw.example",
    };
    assert.deepEqual(connectionFromEnv({}, env), {
      address: "gw:443", apiKey: "k", profile: "p", taskId: "t", tls: true, caFile: "ca.pem", certFile: "c.pem",
      keyFile: "c.key", serverName: "gw.example", traceparent: "", tracestate: "",
    });
    const given = connectionFromEnv({ address: "other:1", apiKey: "given", caFile: "mine.pem" }, env);
    assert.deepEqual([given.address, given.apiKey, given.caFile], ["other:1", "given", "mine.pem"]);
  });

  test("DHGW_TLS is on/off, files imply TLS, an empty variable is unset", () => {
    assert.equal(connectionFromEnv({}, { DHGW_TLS: " On " }).tls, true);
    assert.equal(connectionFromEnv({}, { DHGW_TLS: "off" }).tls, false);
    assert.equal(connectionFromEnv({ tls: true }, { DHGW_TLS: "off" }).tls, true);
    assert.equal(connectionFromEnv({}, { DHGW_TLS: "off", DHGW_TLS_CA_FILE: "ca.pem" }).tls, true);
    assert.deepEqual(connectionFromEnv({}, { DHGW_ADDRESS: "", DHGW_API_KEY: "", DHGW_TLS_CA_FILE: "" }), connectionFromEnv({}, {}));
    assert.throws(() => connectionFromEnv({}, { DHGW_TLS: "maybe" }), new ConnectionConfigError('DHGW_TLS="maybe" is not on/off'));
    assert.throws(() => connectionFromEnv({ certFile: "c.pem" }, {}), ConnectionConfigError);
    assert.throws(() => connectionFromEnv({}, { DHGW_TLS_CLIENT_KEY_FILE: "c.key" }), /needs its key/);
    assert.throws(() => connectionFromEnv({ tls: false, caFile: "ca.pem" }, {}), ConnectionConfigError);
  });

  test("the server name is verified and sent, with TLS only", () => {
    const named = connectionFromEnv({ tls: true, serverName: "gw.example" }, {});
    assert.deepEqual(channelOptions(named), { "grpc.ssl_target_name_override": "gw.example", "grpc.default_authority": "gw.example" });
    assert.deepEqual(channelOptions({ ...named, tls: false }), {});
  });
});

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("the trace context in TRACEPARENT / TRACESTATE", { timeout: TIMEOUT_MS }, () => {
  const seen: Record<string, unknown[]>[] = [];
  let server: Awaited<ReturnType<typeof serve>>;
  const record = (call: { metadata: { get: (key: string) => unknown[] } }): void => {
    seen.push(Object.fromEntries(["authorization", "traceparent", "tracestate"].map((key) => [key, call.metadata.get(key)])));
  };

  before(async () => {
    server = await serve({
      getTask: (call: ServerUnaryCall<GetTaskRequest, TaskInfo>, callback: sendUnaryData<TaskInfo>): void => {
        record(call);
        callback(null, TaskInfo.fromPartial({ taskId: call.request.taskId }));
      },
      stopDrive: (call: ServerUnaryCall<unknown, StopDriveResponse>, callback: sendUnaryData<StopDriveResponse>): void => {
        record(call);
        callback(null, StopDriveResponse.fromPartial({ driveId: "d-1" }));
      },
      drive: (call: ServerDuplexStream<DriveRequest, DriveEvent>): void => {
        record(call);
        call.emit("error", { code: status.NOT_FOUND, details: "no such task" });
      },
    });
  });
  after(() => server.close());

  test("read from the environment, trimmed; a tracestate alone is kept but not sent", () => {
    const env = { TRACEPARENT: ` ${TRACEPARENT}\n`, TRACESTATE: "vendor=agent-7" };
    const connection = connectionFromEnv({}, env);
    assert.deepEqual([connection.traceparent, connection.tracestate], [TRACEPARENT, "vendor=agent-7"]);
    assert.deepEqual(callMetadata({ ...connection, apiKey: "k" }).getMap(), {
      authorization: "Bearer k", traceparent: TRACEPARENT, tracestate: "vendor=agent-7",
    });
    assert.deepEqual(callMetadata(connectionFromEnv({}, { TRACESTATE: "vendor=agent-7" })).getMap(), {});
    const drive = parseCli(["--task", "t", "--file", "a.wav"], env);
    assert.ok(drive !== "help");
    assert.equal(clientOptionsOf(drive.connection).metadata?.get("traceparent")[0], TRACEPARENT);
  });

  test("sent as given on every call: the drive, StopDrive and GetTask; a call's own replaces it", async () => {
    const env = { DHGW_ADDRESS: server.address, DHGW_API_KEY: "k-1", TRACEPARENT: "not-a-trace", TRACESTATE: "a=b" };
    const gateway = connect(connectionFromEnv({}, env));
    try {
      const deadline = Date.now() + TIMEOUT_MS / 2;
      await assert.rejects(async () => {
        for await (const _ of gateway.drive("t-1", [Buffer.alloc(320)], {}, { deadline })) {
          // the fake gateway ends it before any event
        }
      }, DriveError);
      assert.equal(await gateway.stopDrive("t-1", "", { deadline }), "d-1");
      assert.equal((await gateway.getTask("t-1", { deadline })).taskId, "t-1");
      const own = new Metadata();
      own.set("traceparent", TRACEPARENT);
      await gateway.getTask("t-1", { deadline, metadata: own });
    } finally {
      gateway.close();
    }
    const sent = { authorization: ["Bearer k-1"], traceparent: ["not-a-trace"], tracestate: ["a=b"] };
    assert.deepEqual(seen, [sent, sent, sent, { ...sent, traceparent: [TRACEPARENT] }]);
  });
});

describe("the API key file", () => {
  test("its key, whitespace trimmed", () => {
    assert.equal(readApiKey(file("good", "  dhgw_k-1 \n")), "dhgw_k-1");
  });

  test("a file others may read is a usage error", { skip: !POSIX }, () => {
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      const path = file(`open-${mode.toString(8)}`, "dhgw_secret\n", mode);
      assert.throws(() => readApiKey(path), (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(error.message, `--api-key-file ${path} may be read by other users: chmod 600 ${path}`);
        return true;
      });
    }
  });

  test("a missing or empty file is a usage error naming it", () => {
    const missing = join(dir, "missing");
    assert.throws(() => readApiKey(missing), new UsageError(`--api-key-file ${missing}: no such file or directory`));
    const empty = file("empty", " \n\t\n");
    assert.throws(() => readApiKey(empty), new UsageError(`--api-key-file ${empty} is empty`));
  });

  test("it excludes --api-key, and is read by every command", () => {
    const path = file("key", "dhgw_from-file\n");
    assert.throws(() => connectionOf({ "api-key-file": path, "api-key": "k" }, {}), /not allowed with argument --api-key-file/);
    assert.equal(connectionOf({ "api-key-file": path }, { DHGW_API_KEY: "env" }).apiKey, "dhgw_from-file");
    assert.equal(connectionOf({}, { DHGW_API_KEY: "env" }).apiKey, "env");
    const drive = parseCli(["--task", "t", "--file", "a.wav", "--api-key-file", path], {});
    assert.ok(drive !== "help" && drive.connection.apiKey === "dhgw_from-file");
    for (const name of ["stop", "get-task", "watch-task"]) {
      const args = parseCommand(name, ["--task", "t", "--api-key-file", path, "--ca", "ca.pem"], {});
      assert.ok(args !== "help");
      assert.deepEqual([args.connection.apiKey, args.connection.tls], ["dhgw_from-file", true]);
      assert.throws(() => parseCommand(name, ["--task", "t", "--api-key-file", join(dir, "missing")], {}), UsageError);
    }
  });
});

test("a TLS file that cannot be read is a usage error", () => {
  const connection = connectionFromEnv({ caFile: join(dir, "no-ca.pem") }, {});
  assert.throws(() => clientOptionsOf(connection), (error: unknown) => error instanceof UsageError && /no-ca\.pem/.test(error.message));
  const junk = file("junk.pem", "not a key");
  assert.throws(() => clientOptionsOf({ ...connection, caFile: undefined, certFile: junk, keyFile: junk }), UsageError);
});

/** A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, by openssl. */
function makePki(): Record<"ca" | "serverCert" | "serverKey" | "clientCert" | "clientKey", string> {
  const openssl = (...args: string[]): void => {
    execFileSync("openssl", args, { cwd: dir, stdio: "ignore", timeout: TIMEOUT_MS });
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=dh-drive test CA", "-days", "1",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign");
  const leaf = (name: string, cn: string, extensions: string, serial: string): void => {
    file(`${name}.ext`, extensions);
    openssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`);
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", serial,
      "-days", "1", "-out", `${name}.pem`, "-extfile", `${name}.ext`);
  };
  leaf("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n", "2");
  leaf("client", "client.example", "extendedKeyUsage=clientAuth\n", "3");
  const at = (name: string): string => join(dir, name);
  return {
    ca: at("ca.pem"), serverCert: at("server.pem"), serverKey: at("server.key"), clientCert: at("client.pem"),
    clientKey: at("client.key"),
  };
}

describe("a mutual-TLS gateway on loopback", { skip: !OPENSSL, timeout: TIMEOUT_MS }, () => {
  let pki: ReturnType<typeof makePki>;
  let server: Awaited<ReturnType<typeof serve>>;
  const keys: unknown[] = [];

  before(async () => {
    pki = makePki();
    const credentials = ServerCredentials.createSsl(
      readFileSync(pki.ca),
      [{ cert_chain: readFileSync(pki.serverCert), private_key: readFileSync(pki.serverKey) }],
      true, // ask for, and verify, a client certificate
    );
    const getTask = (call: ServerUnaryCall<GetTaskRequest, TaskInfo>, callback: sendUnaryData<TaskInfo>): void => {
      keys.push(...call.metadata.get("authorization"));
      callback(null, TaskInfo.fromPartial({ taskId: call.request.taskId }));
    };
    server = await serve({ getTask }, credentials);
  });
  after(() => server.close());

  async function getTask(given: Partial<Connection>): Promise<TaskInfo> {
    const gateway = connect(connectionFromEnv({ address: server.address, ...given }, {}));
    try {
      return await gateway.getTask("t-1", { deadline: Date.now() + TIMEOUT_MS / 2 });
    } finally {
      gateway.close();
    }
  }

  async function refused(given: Partial<Connection>): Promise<void> {
    const error = await getTask(given).then(() => assert.fail("the gateway should refuse"), (e: unknown) => e);
    assert.ok(error instanceof DriveError, String(error));
    assert.equal(error.codeName, "UNAVAILABLE");
  }

  test("the client certificate and the key reach it", async () => {
    const info = await getTask({ caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey, apiKey: "dhgw_k-7" });
    assert.equal(info.taskId, "t-1");
    assert.deepEqual(keys, ["Bearer dhgw_k-7"]);
    const named = await getTask({ caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey, serverName: "localhost" });
    assert.equal(named.taskId, "t-1");
  });

  test("without a client certificate, another name or the system's roots, it is UNAVAILABLE", async () => {
    await refused({ caFile: pki.ca });
    await refused({ caFile: pki.ca, certFile: pki.clientCert, keyFile: pki.clientKey, serverName: "other.example" });
    await refused({ tls: true, certFile: pki.clientCert, keyFile: pki.clientKey });
    await refused({}); // plaintext to a TLS port
  });
});
