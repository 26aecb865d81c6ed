#!/usr/bin/env node
/**
 * `dh-drive`: stream a WAV or raw PCM file through dh-gateway and print its events.
 *
 * Every client language ships a `dh-drive` with the same flags and, with `--json`, the same
 * output (one JSON object per line), so one test suite proves them all:
 *
 * - `{"event": "queued" | "started" | "progress" | "completed", "drive_id": ..., <fields>}`;
 * - `{"event": "cancelled", "at_unix_ms": ...}` after `--cancel-after-ms` (exit 0);
 * - `{"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ...,
 *   "metadata": {...}}` when the drive fails (exit 1).
 */

import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

import { GatewayClient } from "./client";
import { DriveError } from "./errors";
import { type DriveEvent, queued_ReasonToJSON } from "./gen/dhgateway/v1/gateway";
import { chunkBytes, ENCODINGS, type EncodingName, POLICIES, type PolicyName } from "./options";

/** The parsed flags (the same as every language's dh-drive). */
export interface CliArgs {
  addr: string;
  task: string;
  file: string;
  encoding: EncodingName | undefined;
  rate: number;
  channels: number;
  policy: PolicyName;
  chunkMs: number;
  realtime: boolean;
  cancelAfterMs: number | undefined;
  apiKey: string | undefined;
  json: boolean;
}

/** A bad command line: the message is printed after the usage, and dh-drive exits 2. */
export class UsageError extends Error {}

export const USAGE =
  "usage: dh-drive [-h] [--addr ADDR] --task TASK --file FILE\n" +
  `                [--encoding {${ENCODINGS.join(",")}}] [--rate RATE]\n` +
  `                [--channels CHANNELS] [--policy {${POLICIES.join(",")}}]\n` +
  "                [--chunk-ms CHUNK_MS] [--realtime]\n" +
  "                [--cancel-after-ms CANCEL_AFTER_MS] [--api-key API_KEY] [--json]";

const HELP = `${USAGE}

Stream a WAV or raw PCM file through dh-gateway and print its events.

options:
  -h, --help            show this help message and exit
  --addr ADDR           gateway host:port (default: 127.0.0.1:50051)
  --task TASK           the vendor's stream task id
  --file FILE           a .wav file, or raw audio
  --encoding {${ENCODINGS.join(",")}}
                        default: by extension
  --rate RATE           input sample rate (0: default)
  --channels CHANNELS   input channels (0: default)
  --policy {${POLICIES.join(",")}}
                        default: REJECT
  --chunk-ms CHUNK_MS   audio per message (default: 20)
  --realtime            send at 1x, like a live TTS
  --cancel-after-ms CANCEL_AFTER_MS
                        cancel the drive after this long
  --api-key API_KEY     sent as authorization: Bearer <key>
  --json                one JSON object per line`;

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (!/^\s*[-+]?\d+\s*$/.test(value)) {
    throw new UsageError(`argument --${flag}: invalid int value: '${value}'`);
  }
  return Number.parseInt(value, 10);
}

function choice<T extends string>(flag: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined || (choices as readonly string[]).includes(value)) {
    return value as T | undefined;
  }
  const quoted = choices.map((c) => `'${c}'`).join(", ");
  throw new UsageError(`argument --${flag}: invalid choice: '${value}' (choose from ${quoted})`);
}

/** Parses dh-drive's flags; `"help"` for `-h`/`--help`. @throws UsageError */
export function parseCli(argv: readonly string[]): CliArgs | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        addr: { type: "string", default: "127.0.0.1:50051" },
        task: { type: "string" },
        file: { type: "string" },
        encoding: { type: "string" },
        rate: { type: "string" },
        channels: { type: "string" },
        policy: { type: "string" },
        "chunk-ms": { type: "string" },
        realtime: { type: "boolean", default: false },
        "cancel-after-ms": { type: "string" },
        "api-key": { type: "string" },
        json: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    return "help";
  }
  const missing = (["task", "file"] as const).filter((flag) => values[flag] === undefined);
  if (missing.length > 0) {
    throw new UsageError(`the following arguments are required: ${missing.map((f) => `--${f}`).join(", ")}`);
  }
  return {
    addr: values.addr ?? "127.0.0.1:50051",
    task: values.task ?? "",
    file: values.file ?? "",
    encoding: choice("encoding", values.encoding, ENCODINGS),
    rate: integer("rate", values.rate) ?? 0,
    channels: integer("channels", values.channels) ?? 0,
    policy: choice("policy", values.policy, POLICIES) ?? "REJECT",
    chunkMs: integer("chunk-ms", values["chunk-ms"]) ?? 20,
    realtime: values.realtime ?? false,
    cancelAfterMs: integer("cancel-after-ms", values["cancel-after-ms"]),
    apiKey: values["api-key"],
    json: values.json ?? false,
  };
}

/** The encoding to send `file` with: the flag, else WAV for a `.wav` file, else LINEAR16. */
export function fileEncoding(file: string, flag?: EncodingName): EncodingName {
  return flag ?? (extname(file).toLowerCase() === ".wav" ? "WAV" : "LINEAR16");
}

/**
 * `data` in chunks of `size` bytes; with `realtime`, chunk k at start + k x chunkMs (an
 * absolute schedule: late chunks do not push the later ones back).
 */
export async function* audioChunks(
  data: Uint8Array,
  size: number,
  chunkMs: number,
  realtime: boolean,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array, void, undefined> {
  const began = performance.now();
  for (let index = 0, offset = 0; offset < data.length; index++, offset += size) {
    // Timers may fire a fraction of a millisecond early: never send a chunk before its time.
    for (let delay = began + index * chunkMs - performance.now(); realtime && delay > 0; ) {
      await sleep(delay, undefined, { signal });
      delay = began + index * chunkMs - performance.now();
    }
    yield data.subarray(offset, offset + size);
  }
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** An event as dh-drive prints it: its kind, drive_id and fields (proto names, enums by name). */
export function eventJson(event: DriveEvent): Record<string, unknown> {
  const line: Record<string, unknown> = { event: event.event?.$case ?? "unknown", drive_id: event.driveId };
  if (event.event !== undefined) {
    for (const [key, value] of Object.entries(event.event.value)) {
      line[snakeCase(key)] = value;
    }
    if (event.event.$case === "queued") {
      line.reason = queued_ReasonToJSON(event.event.value.reason);
    }
  }
  return line;
}

/** JSON as Python's `json.dumps` writes it (", " and ": " separators, ASCII only). */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(pythonJson).join(", ")}]`;
  }
  if (value !== null && typeof value === "object") {
    const items = Object.entries(value).map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`);
    return `{${items.join(", ")}}`;
  }
  if (typeof value === "string") {
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  return JSON.stringify(value) ?? "null";
}

function show(line: Record<string, unknown>, asJson: boolean): void {
  if (asJson) {
    process.stdout.write(`${pythonJson(line)}\n`);
    return;
  }
  const rest = Object.entries(line)
    .filter(([key]) => key !== "event")
    .map(([key, value]) => `${key}=${typeof value === "object" ? JSON.stringify(value) : String(value)}`)
    .join(" ");
  process.stdout.write(`${String(line.event).padEnd(10)} ${rest}\n`);
}

/** Drives once with `data` (the file's bytes); resolves with the exit status. */
export async function run(args: CliArgs, data: Uint8Array, interrupt?: AbortSignal): Promise<number> {
  const encoding = fileEncoding(args.file, args.encoding);
  const options = { encoding, sampleRateHz: args.rate, channels: args.channels, onConflict: args.policy };
  const size = chunkBytes(encoding, args.rate, args.channels, args.chunkMs);
  const gateway = new GatewayClient(args.addr, { apiKey: args.apiKey });
  const cancel = new AbortController();
  const stop = (): void => cancel.abort();
  interrupt?.addEventListener("abort", stop, { once: true });
  // When the cancel is asked for (the deadline), not when we got round to reporting it.
  const cancelAtMs = Date.now() + (args.cancelAfterMs ?? 0);
  const timer = args.cancelAfterMs ? setTimeout(stop, args.cancelAfterMs) : undefined;
  try {
    const audio = audioChunks(data, size, args.chunkMs, args.realtime, cancel.signal);
    for await (const event of gateway.drive(args.task, audio, options, { signal: cancel.signal })) {
      show(eventJson(event), args.json);
    }
  } catch (error) {
    if (interrupt?.aborted) {
      return 130;
    }
    if (cancel.signal.aborted) {
      show({ event: "cancelled", at_unix_ms: cancelAtMs }, args.json);
      return 0;
    }
    if (error instanceof DriveError) {
      show(
        {
          event: "error",
          code: error.codeName,
          reason: error.reason,
          message: error.details,
          metadata: error.metadata,
        },
        args.json,
      );
      return 1;
    }
    throw error;
  } finally {
    clearTimeout(timer);
    interrupt?.removeEventListener("abort", stop);
    gateway.close();
  }
  return 0;
}

/** The `dh-drive` command; resolves with the exit status. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let args: CliArgs | "help";
  try {
    args = parseCli(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${USAGE}\ndh-drive: error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (args === "help") {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  let data: Buffer;
  try {
    data = readFileSync(args.file);
  } catch (error) {
    process.stderr.write(`dh-drive: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  process.once("SIGINT", onSigint);
  try {
    return await run(args, data, interrupt.signal);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`dh-drive: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
