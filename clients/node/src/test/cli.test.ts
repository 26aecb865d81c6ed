import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { audioChunks, eventJson, fileEncoding, parseCli, pythonJson, UsageError } from "../cli";
import { Queued_Reason } from "../gen/dhgateway/v1/gateway";

test("flags and their defaults", () => {
  assert.deepEqual(parseCli(["--task", "t", "--file", "a.wav"]), {
    addr: "127.0.0.1:50051",
    task: "t",
    file: "a.wav",
    encoding: undefined,
    rate: 0,
    channels: 0,
    policy: "REJECT",
    chunkMs: 20,
    realtime: false,
    cancelAfterMs: undefined,
    apiKey: undefined,
    json: false,
  });
  const args = parseCli([
    "--addr=127.0.0.1:1", "--task", "t", "--file", "x.raw", "--encoding", "MULAW", "--rate", "8000",
    "--channels", "2", "--policy", "QUEUE", "--chunk-ms", "40", "--realtime", "--cancel-after-ms",
    "1500", "--api-key", "k", "--json",
  ]);
  assert.notEqual(args, "help");
  assert.deepEqual(args, {
    addr: "127.0.0.1:1", task: "t", file: "x.raw", encoding: "MULAW", rate: 8000, channels: 2,
    policy: "QUEUE", chunkMs: 40, realtime: true, cancelAfterMs: 1500, apiKey: "k", json: true,
  });
  assert.equal(parseCli(["-h"]), "help");
});

test("bad command lines are usage errors", () => {
  assert.throws(() => parseCli(["--file", "f"]), new UsageError("the following arguments are required: --task"));
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--rate", "fast"]), /invalid int value/);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--encoding", "MP3"]), /invalid choice: 'MP3'/);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--policy", "WAIT"]), /invalid choice/);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "--nope"]), UsageError);
  assert.throws(() => parseCli(["--task", "t", "--file", "f", "extra"]), UsageError);
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
    { event: "started", drive_id: "d1", output_sample_rate_hz: 16000, setup_ms: 12, output_channels: 1 },
  );
  assert.deepEqual(
    eventJson({ driveId: "", time: undefined, event: { $case: "queued", value: { reason: Queued_Reason.REASON_TASK_BUSY, ahead: 2 } } }),
    { event: "queued", drive_id: "", reason: "REASON_TASK_BUSY", ahead: 2 },
  );
  assert.deepEqual(
    Object.keys(eventJson({ driveId: "d", time: undefined, event: { $case: "completed", value: { receivedMs: 1, sentMs: 2, bytesSent: 3, framesSent: 4, underruns: 5, stopLagMs: 6 } } })),
    ["event", "drive_id", "received_ms", "sent_ms", "bytes_sent", "frames_sent", "underruns", "stop_lag_ms"],
  );
  assert.deepEqual(eventJson({ driveId: "d", time: undefined, event: undefined }), { event: "unknown", drive_id: "d" });
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
