import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import {
  audioChunks,
  audioLayout,
  eventJson,
  fileEncoding,
  humanLine,
  INT64_FIELDS,
  markPoints,
  parseCli,
  pythonJson,
  UsageError,
  wavLayout,
  withMarks,
} from "../cli";
import { COMMANDS, CommandUsageError, parseCommand } from "../commands";
import type { AudioItem } from "../drive";
import {
  DriveState,
  PlaybackSource,
  Queued_Reason,
  type TaskInfo,
  TaskStatus,
  TaskStatusSource,
} from "../gen/dhgateway/v1/gateway";
import { taskJson } from "../output";

/** The connection with nothing given and no DHGW_* variable set. */
const PLAIN = {
  address: "127.0.0.1:50051", apiKey: undefined, profile: "", taskId: "", tls: false, caFile: undefined,
  certFile: undefined, keyFile: undefined, serverName: "", traceparent: "", tracestate: "",
};

test("flags and their defaults", () => {
  assert.deepEqual(parseCli(["--task", "t", "--file", "a.wav"], {}), {
    connection: PLAIN,
    task: "t",
    file: "a.wav",
    text: undefined,
    timbreId: "",
    encoding: undefined,
    rate: 0,
    channels: 0,
    policy: "REJECT",
    chunkMs: 20,
    realtime: false,
    cancelAfterMs: undefined,
    interruptAfterMs: undefined,
    markEveryMs: 0,
    json: false,
  });
  const args = parseCli([
    "--addr=127.0.0.1:1", "--task", "t", "--file", "x.raw", "--encoding", "MULAW", "--rate", "8000",
    "--channels", "2", "--policy", "QUEUE", "--chunk-ms", "40", "--realtime", "--cancel-after-ms",
    "1500", "--mark-every-ms", "250", "--api-key", "k", "--json",
  ], {});
  assert.notEqual(args, "help");
  assert.deepEqual(args, {
    connection: { ...PLAIN, address: "127.0.0.1:1", apiKey: "k" }, task: "t", file: "x.raw", text: undefined, timbreId: "", encoding: "MULAW", rate: 8000,
    channels: 2, policy: "QUEUE", chunkMs: 40, realtime: true, cancelAfterMs: 1500, interruptAfterMs: undefined,
    markEveryMs: 250, json: true,
  });
  const spoken = parseCli(["--task", "t", "--text", "Hi there", "--timbre-id", "v", "--interrupt-after-ms", "0"]);
  assert.ok(spoken !== "help");
  assert.deepEqual([spoken.file, spoken.text, spoken.timbreId, spoken.interruptAfterMs], ["", "Hi there", "v", 0]);
  assert.equal(parseCli(["-h"]), "help");
});

test("bad command lines are usage errors", () => {
  assert.throws(() => parseCli(["--file", "f"]), new UsageError("the following arguments are required: --task"));
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--rate", "fast"]), /invalid int value/);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--mark-every-ms", "1.5"]), /--mark-every-ms: invalid int value/);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--encoding", "MP3"]), /invalid choice: 'MP3'/);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--policy", "WAIT"]), /invalid choice/);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--nope"]), UsageError);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "extra"]), UsageError);
  assert.throws(() => parseCli(["--task", "t"]), new UsageError("give one of --file or --text"));
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--text", "hi"]), new UsageError("give one of --file or --text"));
});

test("the encoding follows the file's extension unless given", () => {
  assert.equal(fileEncoding("speech.wav"), "WAV");
  assert.equal(fileEncoding("/tmp/SPEECH.WAV"), "WAV");
  assert.equal(fileEncoding("speech.pcm"), "LINEAR16");
  assert.equal(fileEncoding("speech.wav", "LINEAR16"), "LINEAR16");
});

test("events print with proto field names and enum names", () => {
  assert.deepEqual(
    eventJson({ driveId: "d1", time: undefined, event: { $case: "started", value: { outputSampleRateHz: 16000, setupMs: 12, outputChannels: 1 } } }),
    { event: "started", drive_id: "d1", output_sample_rate_hz: 16000, setup_ms: "12", output_channels: 1 },
  );
  assert.deepEqual(
    eventJson({ driveId: "", time: undefined, event: { $case: "queued", value: { reason: Queued_Reason.REASON_TASK_BUSY, ahead: 2 } } }),
    { event: "queued", drive_id: "", reason: "REASON_TASK_BUSY", ahead: 2 },
  );
  assert.deepEqual(
    Object.keys(eventJson({ driveId: "d", time: undefined, event: { $case: "completed", value: { receivedMs: 1, sentMs: 2, bytesSent: 3, framesSent: 4, underruns: 5, stopLagMs: 6, droppedMs: 7, timeToFirstFrameMs: 8, timeToSpeakingMs: 9, playedMs: 10, interrupted: true, billedMs: 11 } } })),
    ["event", "drive_id", "received_ms", "sent_ms", "bytes_sent", "frames_sent", "underruns", "stop_lag_ms",
      "dropped_ms", "time_to_first_frame_ms", "time_to_speaking_ms", "played_ms", "interrupted", "billed_ms"],
  );
  assert.deepEqual(eventJson({ driveId: "d", time: undefined, event: undefined }), { event: "unknown", drive_id: "d" });
});

test("playback events print with snake_case names, int64 fields as strings, sources by name", () => {
  const estimated = PlaybackSource.PLAYBACK_SOURCE_ESTIMATED;
  assert.deepEqual(
    eventJson({ driveId: "d1", time: undefined, event: { $case: "playbackStarted", value: { source: estimated } } }),
    { event: "playback_started", drive_id: "d1", source: "PLAYBACK_SOURCE_ESTIMATED" },
  );
  assert.deepEqual(
    eventJson({ driveId: "d1", time: undefined, event: { $case: "markPlayed", value: { name: "m500", atMs: 500, source: estimated } } }),
    { event: "mark_played", drive_id: "d1", name: "m500", at_ms: "500", source: "PLAYBACK_SOURCE_ESTIMATED" },
  );
  const finished = { playedMs: 3858, interrupted: true, source: PlaybackSource.PLAYBACK_SOURCE_VENDOR };
  assert.deepEqual(eventJson({ driveId: "d1", time: undefined, event: { $case: "playbackFinished", value: finished } }), {
    event: "playback_finished",
    drive_id: "d1",
    played_ms: "3858",
    interrupted: true,
    source: "PLAYBACK_SOURCE_VENDOR",
  });
  const progress = { receivedMs: 100, sentMs: 80, leadMs: 40, underruns: 0, playedMs: 40 };
  assert.deepEqual(eventJson({ driveId: "d1", time: undefined, event: { $case: "progress", value: progress } }), {
    event: "progress",
    drive_id: "d1",
    received_ms: "100",
    sent_ms: "80",
    lead_ms: "40",
    underruns: 0,
    played_ms: "40",
  });
});

test("the int64 fields printed as strings are exactly the proto's", () => {
  const proto = readFileSync(join(__dirname, "..", "..", "..", "..", "protos", "dhgateway", "v1", "gateway.proto"), "utf8");
  const body = (message: string): string => {
    const match = new RegExp(`^message ${message} \\{\\n([\\s\\S]*?)^\\}`, "m").exec(proto);
    assert.ok(match, `message ${message} in gateway.proto`);
    return match[1] ?? "";
  };
  const camel = (name: string): string => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const oneof = /^\s*oneof event \{\n([\s\S]*?)^\s*\}/m.exec(body("DriveEvent"))?.[1] ?? "";
  const expected: Record<string, string[]> = {};
  for (const [, type = "", field = ""] of oneof.matchAll(/^\s*(\w+) (\w+) = \d+;/gm)) {
    const int64 = [...body(type).matchAll(/^\s*int64 (\w+) = \d+;/gm)].map((m) => camel(m[1] ?? ""));
    if (int64.length > 0) {
      expected[camel(field)] = int64;
    }
  }
  assert.ok(Object.keys(expected).length >= 5, JSON.stringify(expected));
  assert.deepEqual(INT64_FIELDS, expected);
});

test("human lines say what the avatar is doing", () => {
  const estimated = PlaybackSource.PLAYBACK_SOURCE_ESTIMATED;
  assert.equal(
    humanLine(eventJson({ driveId: "d1", time: undefined, event: { $case: "playbackStarted", value: { source: estimated } } })),
    "speaking   drive_id=d1 source=estimated",
  );
  assert.equal(
    humanLine(eventJson({ driveId: "d1", time: undefined, event: { $case: "markPlayed", value: { name: "m40", atMs: 40, source: estimated } } })),
    "mark       drive_id=d1 name=m40 at_ms=40 source=estimated",
  );
  const finished = { playedMs: 1200, interrupted: false, source: PlaybackSource.PLAYBACK_SOURCE_VENDOR };
  assert.equal(
    humanLine(eventJson({ driveId: "d1", time: undefined, event: { $case: "playbackFinished", value: finished } })),
    "finished   drive_id=d1 played_ms=1200 interrupted=false source=vendor",
  );
  assert.equal(humanLine({ event: "error", code: "X", metadata: { a: "b" } }), 'error      code=X metadata={"a":"b"}');
});

/** A 16-bit PCM WAV file: RIFF, fmt, an extra LIST chunk of odd size (padded), then data. */
function wavFile(rateHz: number, channels: number, frames: number): Buffer {
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(1, 0);
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rateHz, 4);
  fmt.writeUInt32LE(rateHz * channels * 2, 8);
  fmt.writeUInt16LE(channels * 2, 12);
  fmt.writeUInt16LE(16, 14);
  const chunk = (id: string, body: Buffer): Buffer => {
    const head = Buffer.alloc(8);
    head.write(id, 0, "latin1");
    head.writeUInt32LE(body.length, 4);
    return Buffer.concat([head, body, Buffer.alloc(body.length % 2)]);
  };
  const body = Buffer.concat([
    Buffer.from("WAVE", "latin1"),
    chunk("fmt ", fmt),
    chunk("LIST", Buffer.from("abc", "latin1")),
    chunk("data", Buffer.alloc(frames * channels * 2, 1)),
  ]);
  return Buffer.concat([Buffer.from("RIFF", "latin1"), Buffer.from(Uint32Array.of(body.length).buffer), body]);
}

test("a WAV file's samples are found after its header", () => {
  const file = wavFile(24000, 2, 2400);
  const dataStart = 12 + 8 + 16 + 8 + 4 + 8; // RIFF/WAVE, fmt, LIST (3 bytes + 1 pad), data header
  assert.deepEqual(wavLayout(file), { start: dataStart, end: file.length, rateHz: 24000, frameBytes: 4 });
  assert.equal(wavLayout(Buffer.from("not a wav file at all")), undefined);
  // Not sent as WAV, or not a WAV: the flags say what the bytes are.
  assert.deepEqual(audioLayout(file, "LINEAR16", 0, 0), { start: 0, end: file.length, rateHz: 16000, frameBytes: 2 });
  assert.deepEqual(audioLayout(Buffer.alloc(100), "WAV", 8000, 1), { start: 0, end: 100, rateHz: 8000, frameBytes: 2 });
  assert.deepEqual(audioLayout(Buffer.alloc(80), "FLOAT32", 8000, 2), { start: 0, end: 80, rateHz: 8000, frameBytes: 8 });
});

test("marks fall every N ms of the audio, on whole frames, strictly inside it", () => {
  const layout = { start: 44, end: 44 + 16000 * 2 * 1.25, rateHz: 16000, frameBytes: 2 }; // 1.25 s
  assert.deepEqual(markPoints(layout, 500), [
    { at: 44 + 16000, name: "m500" },
    { at: 44 + 32000, name: "m1000" },
  ]);
  assert.deepEqual(markPoints(layout, 625).map((m) => m.name), ["m625"]); // none at the very end
  assert.deepEqual(markPoints(layout, 0), []);
  // 22.05 kHz stereo: 3 ms is 66.15 frames; the mark goes after frame 66.
  assert.deepEqual(markPoints({ start: 0, end: 4 * 200, rateHz: 22050, frameBytes: 4 }, 3)[0], { at: 66 * 4, name: "m3" });
});

test("marks split the chunks they fall inside, and every byte still goes out once", async () => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, k) => k % 256));
  const marks = [
    { at: 150, name: "a" },
    { at: 300, name: "b" }, // on a chunk boundary: no split
    { at: 301, name: "c" },
    { at: 301, name: "d" }, // two marks at one point
    { at: 1000, name: "end" },
  ];
  const items: AudioItem[] = [];
  for await (const item of withMarks(audioChunks(data, 300, 20, false), marks)) {
    items.push(item);
  }
  const shape = items.map((item) => (item instanceof Uint8Array ? item.length : item.name));
  assert.deepEqual(shape, [150, "a", 150, "b", 1, "c", "d", 299, 300, 100, "end"]);
  assert.deepEqual(Buffer.concat(items.filter((item) => item instanceof Uint8Array)), data);
});

test("JSON lines look like Python's json.dumps", () => {
  assert.equal(
    pythonJson({ event: "error", code: "ALREADY_EXISTS", metadata: { holder_drive_id: "d-1" }, n: 1.5, ok: true, none: null }),
    '{"event": "error", "code": "ALREADY_EXISTS", "metadata": {"holder_drive_id": "d-1"}, "n": 1.5, "ok": true, "none": null}',
  );
  assert.equal(pythonJson("café\n"), '"caf\\u00e9\\n"');
  assert.equal(pythonJson([]), "[]");
});

test("chunks cover the data exactly", async () => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, k) => k % 256));
  const fast: Uint8Array[] = [];
  for await (const chunk of audioChunks(data, 300, 20, false)) {
    fast.push(chunk);
  }
  assert.deepEqual(fast.map((c) => c.length), [300, 300, 300, 100]);
  assert.deepEqual(Buffer.concat(fast), data);
});

test("realtime chunks keep an absolute schedule: a slow consumer does not push them back", async () => {
  const data = Buffer.alloc(1000);
  const began = performance.now();
  const times: number[] = [];
  for await (const _ of audioChunks(data, 100, 30, true)) {
    times.push(performance.now() - began);
    if (times.length === 2) {
      await sleep(150); // chunks 2-5 are due meanwhile: they follow at once
    }
  }
  assert.equal(times.length, 10);
  times.forEach((t, k) => assert.ok(t >= k * 30, `chunk ${k} at ${t} ms, before its slot`));
  // Chunks 2-5 were due while the consumer slept: they follow one another at once (a relative
  // schedule, sleeping chunk-ms before each, would space them 30 ms apart: 90 ms).
  const burst = (times[5] ?? 0) - (times[2] ?? 0);
  assert.ok(burst < 45, `chunks 2-5 took ${burst} ms`);
});

test("realtime chunks stop when the signal aborts", async () => {
  const controller = new AbortController();
  const got: Uint8Array[] = [];
  setTimeout(() => controller.abort(), 50);
  await assert.rejects(async () => {
    for await (const chunk of audioChunks(Buffer.alloc(100), 10, 20, true, controller.signal)) {
      got.push(chunk);
    }
  }, { name: "AbortError" });
  assert.ok(got.length >= 1 && got.length <= 5, `${got.length} chunks`);
});

test("the other calls are subcommands with their own flags", () => {
  assert.deepEqual(parseCommand("stop", ["--task", "t", "--stop-mode", "interrupt", "--json"], {}), {
    connection: PLAIN, task: "t", profile: "", json: true, stopMode: "interrupt", refresh: false,
  });
  const got = parseCommand("get-task", ["--task", "t", "--refresh", "--profile", "p"]);
  assert.ok(got !== "help" && got.refresh && got.profile === "p");
  assert.throws(() => parseCommand("stop", ["--task", "t", "--stop-mode", "later"]), CommandUsageError);
  assert.throws(() => parseCommand("watch-task", ["--task", "t", "--refresh"]), CommandUsageError);
  assert.throws(() => parseCommand("get-task", ["--refresh"]), CommandUsageError);
  assert.deepEqual(Object.keys(COMMANDS).sort(), ["get-task", "stop", "watch-task"]);
});

test("a task prints every field by its proto name, an unset message left out", () => {
  const at = new Date("2026-12-07T20:00:00.250Z");
  const info: TaskInfo = {
    taskId: "t", profile: "", status: TaskStatus.TASK_STATUS_STREAMING, statusSource: TaskStatusSource.TASK_STATUS_SOURCE_QUERY,
    statusTime: at, failReason: "", roomId: "r", streamId: "s", createTime: undefined, speaking: true, speakingDriveId: "d",
    activeDrive: { taskId: "t", driveId: "d", state: DriveState.DRIVE_STATE_STREAMING, startedTime: undefined, sentMs: 40, labels: {}, profile: "", replica: "r", billedMs: 40 },
    queuedDrives: 1, lastDrivenTime: undefined, idleDeadline: undefined,
  };
  assert.deepEqual(taskJson(info), {
    event: "task", task_id: "t", profile: "", status: "TASK_STATUS_STREAMING", status_source: "TASK_STATUS_SOURCE_QUERY",
    fail_reason: "", room_id: "r", stream_id: "s", speaking: true, speaking_drive_id: "d", queued_drives: 1,
    status_time: "2026-12-07T20:00:00.250Z",
    active_drive: { task_id: "t", drive_id: "d", state: "DRIVE_STATE_STREAMING", sent_ms: "40", labels: {}, profile: "", replica: "r", billed_ms: "40" },
  });
});
