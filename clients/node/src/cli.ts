#!/usr/bin/env node
/**
 * `dh-drive`: stream a WAV or raw PCM file through dh-gateway and print its events.
 *
 * Every client language ships a `dh-drive` with the same flags and, with `--json`, the same
 * output (one JSON object per line), so one test suite proves them all:
 *
 * - `{"event": "queued" | "started" | "progress" | "playback_started" | "mark_played" |
 *   "playback_finished" | "completed", "drive_id": ..., <fields>}`: the event's fields by their
 *   proto names, int64 as strings and enums by name (the proto3 JSON form);
 * - `{"event": "cancelled", "at_unix_ms": ...}` after `--cancel-after-ms` (exit 0);
 * - `{"event": "interrupt", "at_unix_ms": ...}` when `--interrupt-after-ms` sends the
 *   in-stream interrupt; the events that follow end with `playback_finished` (`interrupted`)
 *   and `completed` (exit 0);
 * - `{"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ...,
 *   "metadata": {...}}` when the drive fails (exit 1); with `"retry_delay_ms"` (RetryInfo) and
 *   `"field_violations": [{"field": ..., "description": ...}]` (BadRequest) when the status
 *   carries them.
 *
 * `--text "..."` (with `--timbre-id`) speaks a text with the vendor's TTS instead of a file;
 * `dh-drive stop`, `get-task` and `watch-task` call the other RPCs (./commands.ts).
 */

import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

import { GatewayClient, type GatewayClientOptions } from "./client";
import { COMMANDS } from "./commands";
import type { Connection } from "./connection";
import { CONNECTION_HELP, CONNECTION_OPTIONS, CONNECTION_USAGE, clientOptionsOf, connectionOf, UsageError } from "./connectionFlags";
import { show, showError } from "./output";
import { DriveError } from "./errors";

export { humanLine, pythonJson } from "./output";
import type { AudioItem } from "./drive";
import { type DriveEvent, playbackSourceToJSON, queued_ReasonToJSON } from "./gen/dhgateway/v1/gateway";
import { chunkBytes, ENCODINGS, type EncodingName, POLICIES, type PolicyName, sampleWidth } from "./options";

/** The parsed flags (the same as every language's dh-drive). */
export interface CliArgs {
  /** The gateway: the connection flags, else the DHGW_* environment. */
  connection: Connection;
  task: string;
  /** The audio file; "" for a text drive. */
  file: string;
  /** Speak this with the vendor's TTS instead of a file. */
  text: string | undefined;
  timbreId: string;
  encoding: EncodingName | undefined;
  rate: number;
  channels: number;
  policy: PolicyName;
  chunkMs: number;
  realtime: boolean;
  cancelAfterMs: number | undefined;
  /** Interrupt (silence) the avatar this long after the start. */
  interruptAfterMs: number | undefined;
  /** A mark named `m<offset_ms>` every this many ms of audio; 0: none. */
  markEveryMs: number;
  json: boolean;
}

export { UsageError };

const INDENT = "                ";

export const USAGE =
  "usage: dh-drive [-h] --task TASK [--file FILE] [--text TEXT]\n" +
  "                [--timbre-id TIMBRE_ID]\n" +
  `                [--encoding {${ENCODINGS.join(",")}}] [--rate RATE]\n` +
  `                [--channels CHANNELS] [--policy {${POLICIES.join(",")}}]\n` +
  "                [--chunk-ms CHUNK_MS] [--realtime]\n" +
  "                [--cancel-after-ms CANCEL_AFTER_MS]\n" +
  "                [--interrupt-after-ms INTERRUPT_AFTER_MS]\n" +
  "                [--mark-every-ms MARK_EVERY_MS] [--json]\n" +
  CONNECTION_USAGE.map((flags) => INDENT + flags).join("\n");

const HELP = `${USAGE}

Stream a WAV or raw PCM file through dh-gateway and print its events.

options:
  -h, --help            show this help message and exit
  --task TASK           the vendor's stream task id
  --file FILE           a .wav file, or raw audio (or --text)
  --text TEXT           speak this text with the vendor's TTS instead
  --timbre-id TIMBRE_ID
                        the vendor's voice for --text
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
  --interrupt-after-ms INTERRUPT_AFTER_MS
                        interrupt (silence) the avatar after this long
  --mark-every-ms MARK_EVERY_MS
                        put a mark named m<offset_ms> every this many ms of
                        audio (0: none)
  --json                one JSON object per line

${CONNECTION_HELP}`;

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

/**
 * Parses dh-drive's flags, each connection flag else its variable in `env`, and reads the
 * `--api-key-file`; `"help"` for `-h`/`--help`. @throws UsageError
 */
export function parseCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): CliArgs | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        ...CONNECTION_OPTIONS,
        task: { type: "string" },
        file: { type: "string" },
        text: { type: "string" },
        "timbre-id": { type: "string" },
        encoding: { type: "string" },
        rate: { type: "string" },
        channels: { type: "string" },
        policy: { type: "string" },
        "chunk-ms": { type: "string" },
        realtime: { type: "boolean", default: false },
        "cancel-after-ms": { type: "string" },
        "interrupt-after-ms": { type: "string" },
        "mark-every-ms": { type: "string" },
        json: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    return "help";
  }
  if (values.task === undefined) {
    throw new UsageError("the following arguments are required: --task");
  }
  if ((values.file === undefined) === (values.text === undefined)) {
    throw new UsageError("give one of --file or --text");
  }
  return {
    connection: connectionOf(values, env),
    task: values.task ?? "",
    file: values.file ?? "",
    text: values.text,
    timbreId: values["timbre-id"] ?? "",
    encoding: choice("encoding", values.encoding, ENCODINGS),
    rate: integer("rate", values.rate) ?? 0,
    channels: integer("channels", values.channels) ?? 0,
    policy: choice("policy", values.policy, POLICIES) ?? "REJECT",
    chunkMs: integer("chunk-ms", values["chunk-ms"]) ?? 20,
    realtime: values.realtime ?? false,
    cancelAfterMs: integer("cancel-after-ms", values["cancel-after-ms"]),
    interruptAfterMs: integer("interrupt-after-ms", values["interrupt-after-ms"]),
    markEveryMs: integer("mark-every-ms", values["mark-every-ms"]) ?? 0,
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

/** Where the audio samples are in a file's bytes, and their frame layout. */
export interface AudioLayout {
  /** The first byte of audio (after a WAV header). */
  start: number;
  /** One past the last byte of audio. */
  end: number;
  rateHz: number;
  /** Bytes per frame: one sample of every channel. */
  frameBytes: number;
}

/**
 * Where a WAV file's samples are (its `fmt ` and `data` chunks); `undefined` when `data` is not
 * a RIFF/WAVE file with both. A `data` size of 0 or past the end (a streamed WAV) means "to the
 * end of the file".
 */
export function wavLayout(data: Uint8Array): AudioLayout | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const tag = (at: number): string => String.fromCharCode(...data.subarray(at, at + 4));
  if (data.length < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") {
    return undefined;
  }
  let format: { rateHz: number; frameBytes: number } | undefined;
  for (let at = 12; at + 8 <= data.length; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt " && body + 16 <= data.length) {
      format = { rateHz: view.getUint32(body + 4, true), frameBytes: view.getUint16(body + 12, true) };
    } else if (id === "data") {
      if (format === undefined || format.rateHz === 0 || format.frameBytes === 0) {
        return undefined;
      }
      const end = size === 0 || body + size > data.length ? data.length : body + size;
      return { start: body, end, ...format };
    }
    at = body + size + (size % 2); // chunks are padded to an even size
  }
  return undefined;
}

/** The audio layout of a file sent as `encoding` (WAV: from its header; else the flags'). */
export function audioLayout(data: Uint8Array, encoding: EncodingName, rateHz: number, channels: number): AudioLayout {
  const wav = encoding === "WAV" ? wavLayout(data) : undefined;
  const width = encoding === "WAV" ? 2 : sampleWidth(encoding);
  return wav ?? { start: 0, end: data.length, rateHz: rateHz || 16000, frameBytes: Math.max(channels, 1) * width };
}

/** A mark to put after the byte `at` of the file. */
export interface MarkPoint {
  at: number;
  name: string;
}

/**
 * A mark named `m<t>` at every `everyMs` ms t of the audio (t = everyMs, 2 x everyMs, ...,
 * strictly inside the audio: none at its start or end), placed after the last whole frame
 * before t; none when `everyMs` <= 0.
 */
export function markPoints(layout: AudioLayout, everyMs: number): MarkPoint[] {
  const points: MarkPoint[] = [];
  for (let t = everyMs; everyMs > 0; t += everyMs) {
    const at = layout.start + Math.floor((t * layout.rateHz) / 1000) * layout.frameBytes;
    if (at >= layout.end) {
      break;
    }
    points.push({ at, name: `m${t}` });
  }
  return points;
}

/**
 * `chunks` with `marks` (byte offsets into their concatenation, ascending) in between: a chunk
 * that a mark falls inside is split there, its two parts sent back to back.
 */
export async function* withMarks(
  chunks: AsyncIterable<Uint8Array>,
  marks: readonly MarkPoint[],
): AsyncGenerator<AudioItem, void, undefined> {
  let offset = 0;
  let next = 0;
  for await (const chunk of chunks) {
    let cut = 0;
    for (let mark = marks[next]; mark !== undefined && mark.at <= offset + chunk.length; mark = marks[++next]) {
      const at = Math.max(mark.at - offset, cut);
      if (at > cut) {
        yield chunk.subarray(cut, at);
        cut = at;
      }
      yield { name: mark.name };
    }
    if (cut < chunk.length) {
      yield chunk.subarray(cut);
    }
    offset += chunk.length;
  }
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

type EventCase = NonNullable<DriveEvent["event"]>["$case"];

/**
 * The int64 fields of each event: the proto3 JSON form prints them as strings (ts-proto gives
 * them as numbers), as every language's dh-drive does. A unit test holds this to the proto.
 */
export const INT64_FIELDS: Readonly<Partial<Record<EventCase, readonly string[]>>> = {
  started: ["setupMs"],
  progress: ["receivedMs", "sentMs", "leadMs", "playedMs"],
  completed: [
    "receivedMs",
    "sentMs",
    "bytesSent",
    "framesSent",
    "stopLagMs",
    "droppedMs",
    "timeToFirstFrameMs",
    "timeToSpeakingMs",
    "playedMs",
    "billedMs",
  ],
  playbackFinished: ["playedMs"],
  markPlayed: ["atMs"],
};

/**
 * An event as dh-drive prints it: its kind, drive_id and fields, in the proto3 JSON form with
 * proto names (int64 as strings, enums by name).
 */
export function eventJson(event: DriveEvent): Record<string, unknown> {
  const kind = event.event === undefined ? "unknown" : snakeCase(event.event.$case);
  const line: Record<string, unknown> = { event: kind, drive_id: event.driveId };
  if (event.event !== undefined) {
    const int64 = INT64_FIELDS[event.event.$case] ?? [];
    for (const [key, value] of Object.entries(event.event.value)) {
      line[snakeCase(key)] = int64.includes(key) ? String(value) : value;
    }
    switch (event.event.$case) {
      case "queued":
        line.reason = queued_ReasonToJSON(event.event.value.reason);
        break;
      case "playbackStarted":
      case "playbackFinished":
      case "markPlayed":
        line.source = playbackSourceToJSON(event.event.value.source);
        break;
      default:
        break;
    }
  }
  return line;
}

/**
 * Drives once with `data` (the file's bytes) on a client made with `client` (default: from
 * `args.connection`, reading its TLS files); resolves with the exit status.
 */
export async function run(
  args: CliArgs,
  data: Uint8Array,
  interrupt?: AbortSignal,
  client: GatewayClientOptions = clientOptionsOf(args.connection),
): Promise<number> {
  const encoding = fileEncoding(args.file, args.encoding);
  const text = args.text === undefined ? undefined : { text: args.text, timbreId: args.timbreId };
  const options = { encoding, sampleRateHz: args.rate, channels: args.channels, onConflict: args.policy, text };
  const size = chunkBytes(encoding, args.rate, args.channels, args.chunkMs);
  const gateway = new GatewayClient(args.connection.address, client);
  const cancel = new AbortController();
  const stop = (): void => cancel.abort();
  interrupt?.addEventListener("abort", stop, { once: true });
  // When the cancel is asked for (the deadline), not when we got round to reporting it.
  const cancelAtMs = Date.now() + (args.cancelAfterMs ?? 0);
  const timer = args.cancelAfterMs ? setTimeout(stop, args.cancelAfterMs) : undefined;
  let interrupter: NodeJS.Timeout | undefined;
  try {
    const live = gateway.openDrive(args.task, options, { signal: cancel.signal });
    if (text === undefined) {
      const chunks = audioChunks(data, size, args.chunkMs, args.realtime, cancel.signal);
      const marks = markPoints(audioLayout(data, encoding, args.rate, args.channels), args.markEveryMs);
      const audio = marks.length > 0 ? withMarks(chunks, marks) : chunks;
      live.writeAll(audio).catch((error: unknown) => live.cancel(error));
    } // a text drive ends by itself; its open half keeps the interrupt in-stream
    if (args.interruptAfterMs !== undefined) {
      interrupter = setTimeout(() => {
        // When the interrupt is sent, which is what the avatar's silence is measured from.
        show({ event: "interrupt", at_unix_ms: Date.now() }, args.json);
        live.interrupt().catch(() => {}); // a failed StopDrive: the drive ends as it would have
      }, args.interruptAfterMs);
    }
    for await (const event of live) {
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
      showError(error, args.json);
      return 1;
    }
    throw error;
  } finally {
    clearTimeout(timer);
    clearTimeout(interrupter);
    interrupt?.removeEventListener("abort", stop);
    gateway.close();
  }
  return 0;
}

/** The `dh-drive` command; resolves with the exit status. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const command = argv[0] !== undefined && Object.hasOwn(COMMANDS, argv[0]) ? COMMANDS[argv[0]] : undefined;
  if (command !== undefined) {
    return command(argv.slice(1));
  }
  let args: CliArgs | "help";
  let client: GatewayClientOptions | undefined;
  try {
    args = parseCli(argv);
    client = args === "help" ? undefined : clientOptionsOf(args.connection);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${USAGE}\ndh-drive: error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (args === "help" || client === undefined) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  let data: Buffer;
  try {
    data = args.text === undefined ? readFileSync(args.file) : Buffer.alloc(0);
  } catch (error) {
    process.stderr.write(`dh-drive: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort();
  process.once("SIGINT", onSigint);
  try {
    return await run(args, data, interrupt.signal, client);
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
