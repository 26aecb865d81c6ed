import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import {
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";

import { GatewayClient } from "../client";
import { drive, openDrive } from "../drive";
import { DriveError } from "../errors";
import type {
  Completed,
  DriveEvent,
  DriveRequest,
  GetTaskRequest,
  StopDriveRequest,
  StopDriveResponse,
  WatchTaskRequest,
} from "../gen/dhgateway/v1/gateway";
import { Encoding, PlaybackSource, StopMode, TaskInfo, TaskStatus } from "../gen/dhgateway/v1/gateway";
import { errorInfo, serve, trailers } from "./helpers";

type Stream = ServerDuplexStream<DriveRequest, DriveEvent>;

/** What the fake gateway saw of each drive, by task id. */
interface Seen {
  config?: DriveRequest["request"];
  audio: Buffer[];
  /** Every audio chunk ("audio:<bytes>") and mark ("mark:<name>"), in order. */
  sequence: string[];
  authorization: unknown[];
  cancelledAt?: number;
}

const seen = new Map<string, Seen>();
let resumeSlow: (() => void) | undefined;
let server: Awaited<ReturnType<typeof serve>>;

function completed(): Completed {
  const zero = { receivedMs: 0, sentMs: 0, bytesSent: 0, framesSent: 0, underruns: 0, stopLagMs: 0, droppedMs: 0, billedMs: 0 };
  return { ...zero, timeToFirstFrameMs: 0, timeToSpeakingMs: 0, playedMs: 0, interrupted: false };
}

/** The drives of "tail" tasks, waiting for a StopDrive to end them. */
const tails = new Map<string, Stream>();

function started(driveId: string): DriveEvent {
  return { driveId, time: new Date(), event: { $case: "started", value: { outputSampleRateHz: 16000, setupMs: 5, outputChannels: 1 } } };
}

/** The fake gateway: the task id picks the behaviour. */
function handleDrive(call: Stream): void {
  const record: Seen = { audio: [], sequence: [], authorization: call.metadata.get("authorization") };
  call.on("cancelled", () => {
    record.cancelledAt = performance.now();
  });
  call.on("error", () => {});
  call.once("data", (first: DriveRequest) => {
    const config = first.request?.$case === "config" ? first.request.value : undefined;
    const task = config?.taskId ?? "";
    record.config = first.request;
    seen.set(task, record);
    if (task.startsWith("busy")) {
      call.emit("error", {
        code: status.ALREADY_EXISTS,
        details: "task busy is driven by d-holder",
        metadata: trailers(status.ALREADY_EXISTS, "task busy is driven by d-holder", [
          errorInfo("TASK_BUSY", { task_id: task, holder_drive_id: "d-holder" }),
        ]),
      });
      return;
    }
    call.write(started(`d-${task}`));
    if (task.startsWith("slow")) {
      // Reads nothing until the test says so: flow control must hold the client back.
      call.pause();
      resumeSlow = () => call.resume();
    }
    if (task.startsWith("text")) {
      return; // the test reads the config; the call ends when the client cancels it
    }
    call.on("data", (request: DriveRequest) => {
      if (request.request?.$case === "interrupt") {
        record.sequence.push("interrupt");
      } else if (request.request?.$case === "audio") {
        record.audio.push(request.request.value);
        record.sequence.push(`audio:${request.request.value.length}`);
      } else if (request.request?.$case === "mark") {
        record.sequence.push(`mark:${request.request.value.name}`);
      }
    });
    call.on("end", () => {
      if (task.startsWith("tail")) {
        const source = PlaybackSource.PLAYBACK_SOURCE_ESTIMATED;
        call.write({ driveId: `d-${task}`, time: new Date(), event: { $case: "playbackStarted", value: { source } } });
        tails.set(task, call);
        return;
      }
      if (task.startsWith("barge")) {
        const finished = { playedMs: 20, interrupted: true, source: PlaybackSource.PLAYBACK_SOURCE_ESTIMATED };
        call.write({ driveId: `d-${task}`, time: new Date(), event: { $case: "playbackFinished", value: finished } });
        const value = { ...completed(), droppedMs: 80, playedMs: 20, interrupted: true };
        call.write({ driveId: `d-${task}`, time: new Date(), event: { $case: "completed", value } });
        call.end();
        return;
      }
      const bytes = record.audio.reduce((n, b) => n + b.length, 0);
      if (task.startsWith("speak")) {
        // As the gateway does: what the avatar played comes before the final accounting.
        const driveId = `d-${task}`;
        const source = PlaybackSource.PLAYBACK_SOURCE_ESTIMATED;
        call.write({ driveId, time: new Date(), event: { $case: "playbackStarted", value: { source } } });
        let atMs = 0;
        for (const item of record.sequence) {
          const [kind, value = ""] = item.split(":");
          if (kind === "audio") {
            atMs += Number(value) / 32; // 16 kHz s16le: 32 bytes a millisecond
          } else {
            call.write({ driveId, time: new Date(), event: { $case: "markPlayed", value: { name: value, atMs, source } } });
          }
        }
        const finished = { playedMs: bytes / 32, interrupted: false, source: PlaybackSource.PLAYBACK_SOURCE_VENDOR };
        call.write({ driveId, time: new Date(), event: { $case: "playbackFinished", value: finished } });
      }
      call.write({
        driveId: `d-${task}`,
        time: new Date(),
        event: {
          $case: "completed",
          value: { ...completed(), bytesSent: bytes, framesSent: record.audio.length },
        },
      });
      call.end();
    });
  });
}

function handleStopDrive(call: ServerUnaryCall<StopDriveRequest, StopDriveResponse>, callback: sendUnaryData<StopDriveResponse>): void {
  const tail = tails.get(call.request.taskId);
  if (tail !== undefined && call.request.mode === StopMode.STOP_MODE_INTERRUPT) {
    tails.delete(call.request.taskId);
    const authorization = call.metadata.get("authorization");
    const finished = { playedMs: 30, interrupted: true, source: PlaybackSource.PLAYBACK_SOURCE_ESTIMATED };
    tail.write({ driveId: "d-tail", time: new Date(), event: { $case: "playbackFinished", value: finished } });
    tail.emit("error", {
      code: status.ABORTED,
      details: "stopped",
      metadata: trailers(status.ABORTED, "stopped", [errorInfo("STOPPED_BY_REQUEST", { authorization: String(authorization[0]) })]),
    });
    callback(null, { driveId: "d-tail", playedMs: 30, interrupted: true });
    return;
  }
  callback({
    code: status.NOT_FOUND,
    details: "no active drive",
    metadata: trailers(status.NOT_FOUND, "no active drive", [errorInfo("NO_ACTIVE_DRIVE", { task_id: call.request.taskId })]),
  });
}

function handleGetTask(call: ServerUnaryCall<GetTaskRequest, TaskInfo>, callback: sendUnaryData<TaskInfo>): void {
  const { taskId, profile, refresh } = call.request;
  callback(null, TaskInfo.fromPartial({ taskId, profile, speaking: refresh, status: TaskStatus.TASK_STATUS_STREAMING }));
}

function handleWatchTask(call: ServerWritableStream<WatchTaskRequest, TaskInfo>): void {
  for (const status of [TaskStatus.TASK_STATUS_STREAMING, TaskStatus.TASK_STATUS_STOPPED]) {
    call.write(TaskInfo.fromPartial({ taskId: call.request.taskId, status }));
  }
  call.end();
}

before(async () => {
  server = await serve({ drive: handleDrive, stopDrive: handleStopDrive, getTask: handleGetTask, watchTask: handleWatchTask });
});

after(() => server.close());

function pcm(chunks: number, size: number): Buffer[] {
  return Array.from({ length: chunks }, (_, k) => Buffer.alloc(size, k % 251));
}

async function collect(events: AsyncIterable<DriveEvent>): Promise<DriveEvent[]> {
  const all: DriveEvent[] = [];
  for await (const event of events) {
    all.push(event);
  }
  return all;
}

test("streams the config, then every chunk in order, and ends with completed", async () => {
  const audio = pcm(50, 640);
  const events = await collect(drive(server.client, "ok", audio, { encoding: "WAV", onConflict: "QUEUE" }));
  assert.deepEqual(events.map((e) => e.event?.$case), ["started", "completed"]);
  const completed = events[1]?.event;
  assert.equal(completed?.$case === "completed" && completed.value.bytesSent, 50 * 640);
  const record = seen.get("ok");
  assert.ok(record?.config?.$case === "config");
  assert.equal(record.config.value.input?.encoding, Encoding.ENCODING_WAV);
  assert.deepEqual(Buffer.concat(record.audio), Buffer.concat(audio));
});

test("a failed drive throws DriveError with the ErrorInfo, even while writing", async () => {
  async function* endless(): AsyncGenerator<Uint8Array> {
    for (;;) {
      yield Buffer.alloc(3200);
      await sleep(1);
    }
  }
  const error = await collect(drive(server.client, "busy-1", endless())).then(
    () => assert.fail("the drive should fail"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DriveError, String(error));
  assert.equal(error.codeName, "ALREADY_EXISTS");
  assert.equal(error.reason, "TASK_BUSY");
  assert.equal(error.domain, "dhgateway");
  assert.equal(error.metadata.holder_drive_id, "d-holder");
  assert.equal(error.details, "task busy is driven by d-holder");
});

test("write() waits for 'drain' while the gateway does not read", async () => {
  const live = openDrive(server.client, "slow");
  const chunk = Buffer.alloc(64 * 1024, 7);
  const total = 128; // 8 MiB: far beyond the HTTP/2 window and the stream's buffer
  let accepted = 0;
  const writer = (async () => {
    for (let k = 0; k < total; k++) {
      assert.equal(await live.write(chunk), true);
      accepted++;
    }
    live.end();
  })();
  // The gateway reads nothing: the writer stops, waiting for 'drain'.
  let held = -1;
  for (let waited = 0; accepted !== held && waited < 5000; waited += 200) {
    held = accepted;
    await sleep(200);
  }
  assert.equal(accepted, held, "the writer went on while nothing drained");
  assert.ok(held < total / 2, `accepted ${held} of ${total} chunks without any read`);
  assert.equal(live.call.writableNeedDrain, true);
  assert.ok(resumeSlow !== undefined);
  resumeSlow();
  await writer;
  const events = await collect(live);
  const completed = events.at(-1)?.event;
  assert.equal(completed?.$case === "completed" && completed.value.bytesSent, total * chunk.length);
});

test("an abort cancels the call at once, and the loop throws the abort reason", async () => {
  const controller = new AbortController();
  async function* slowAudio(): AsyncGenerator<Uint8Array> {
    for (let k = 0; k < 1000; k++) {
      yield Buffer.alloc(640);
      await sleep(20);
    }
  }
  let abortedAt = 0;
  const error = await (async () => {
    for await (const event of drive(server.client, "abort", slowAudio(), {}, { signal: controller.signal })) {
      if (event.event?.$case === "started") {
        setTimeout(() => {
          abortedAt = performance.now();
          controller.abort();
        }, 100);
      }
    }
  })().then(
    () => assert.fail("the drive should be cancelled"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DOMException && error.name === "AbortError", String(error));
  await sleep(100);
  const cancelledAt = seen.get("abort")?.cancelledAt;
  assert.ok(cancelledAt !== undefined, "the gateway saw no cancel");
  // The conformance suite holds the real client to 100 ms; here server and client share a loop.
  assert.ok(cancelledAt - abortedAt < 250, `cancel took ${cancelledAt - abortedAt} ms`);
});

test("leaving the loop early cancels the drive", async () => {
  async function* slowAudio(): AsyncGenerator<Uint8Array> {
    for (let k = 0; k < 1000; k++) {
      yield Buffer.alloc(640);
      await sleep(20);
    }
  }
  for await (const event of drive(server.client, "leave", slowAudio())) {
    assert.equal(event.event?.$case, "started");
    break;
  }
  await sleep(100);
  assert.ok(seen.get("leave")?.cancelledAt !== undefined, "the gateway saw no cancel");
});

test("an already aborted signal cancels before anything is awaited", async () => {
  const error = await collect(drive(server.client, "pre", pcm(1, 10), {}, { signal: AbortSignal.abort(new Error("no")) })).then(
    () => assert.fail("the drive should be cancelled"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof Error && error.message === "no");
});

test("GatewayClient sends the API key and turns unary failures into DriveError", async () => {
  const gateway = new GatewayClient(server.address, { apiKey: "k-123" });
  try {
    const events = await collect(gateway.drive("keyed", pcm(2, 320)));
    assert.equal(events.at(-1)?.event?.$case, "completed");
    assert.deepEqual(seen.get("keyed")?.authorization, ["Bearer k-123"]);
    const error = await gateway.stopDrive("nobody").then(
      () => assert.fail("StopDrive should fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DriveError);
    assert.equal(error.codeName, "NOT_FOUND");
    assert.equal(error.reason, "NO_ACTIVE_DRIVE");
    assert.equal(error.metadata.task_id, "nobody");
  } finally {
    gateway.close();
  }
});

test("marks go out between the chunks, and the playback events come back typed", async () => {
  const audio = [Buffer.alloc(320), { name: "first" }, Buffer.alloc(640), Buffer.alloc(320), { name: "second" }];
  const events = await collect(drive(server.client, "speak-items", audio));
  assert.deepEqual(seen.get("speak-items")?.sequence, ["audio:320", "mark:first", "audio:640", "audio:320", "mark:second"]);
  assert.deepEqual(
    events.map((e) => e.event?.$case),
    ["started", "playbackStarted", "markPlayed", "markPlayed", "playbackFinished", "completed"],
  );
  const marks = events.flatMap((e) => (e.event?.$case === "markPlayed" ? [e.event.value] : []));
  assert.deepEqual(marks, [
    { name: "first", atMs: 10, source: PlaybackSource.PLAYBACK_SOURCE_ESTIMATED },
    { name: "second", atMs: 40, source: PlaybackSource.PLAYBACK_SOURCE_ESTIMATED },
  ]);
  const finished = events.find((e) => e.event?.$case === "playbackFinished")?.event;
  assert.ok(finished?.$case === "playbackFinished");
  assert.equal(finished.value.playedMs, 40);
  assert.equal(finished.value.interrupted, false);
  assert.equal(finished.value.source, PlaybackSource.PLAYBACK_SOURCE_VENDOR);
});

test("Drive.mark() puts a mark after what was written, and resolves false once the call ended", async () => {
  const live = openDrive(server.client, "speak-live");
  assert.equal(await live.mark("at-0"), true);
  assert.equal(await live.write(Buffer.alloc(3200)), true);
  assert.equal(await live.mark("at-100"), true);
  live.end();
  const events = await collect(live);
  const marks = events.flatMap((e) => (e.event?.$case === "markPlayed" ? [[e.event.value.name, e.event.value.atMs]] : []));
  assert.deepEqual(marks, [["at-0", 0], ["at-100", 100]]);
  assert.equal(events.at(-1)?.event?.$case, "completed");
  assert.equal(await live.mark("late"), false);
});

test("an async audio source may yield marks too", async () => {
  async function* tts(): AsyncGenerator<Uint8Array | { name: string }> {
    for (let word = 0; word < 3; word++) {
      yield Buffer.alloc(640);
      await sleep(1);
      yield { name: `w${word}` };
    }
  }
  const gateway = new GatewayClient(server.address);
  try {
    const events = await collect(gateway.drive("speak-async", tts()));
    const names = events.flatMap((e) => (e.event?.$case === "markPlayed" ? [e.event.value.name] : []));
    assert.deepEqual(names, ["w0", "w1", "w2"]);
    assert.deepEqual(seen.get("speak-async")?.sequence, ["audio:640", "mark:w0", "audio:640", "mark:w1", "audio:640", "mark:w2"]);
  } finally {
    gateway.close();
  }
});

test("interrupt() goes in-stream while writing, and nothing is written after it", async () => {
  const live = openDrive(server.client, "barge-1");
  assert.equal(await live.write(Buffer.alloc(320)), true);
  await live.interrupt();
  await live.interrupt(); // twice: nothing more
  assert.equal(await live.write(Buffer.alloc(320)), false);
  const events = await collect(live);
  assert.deepEqual(seen.get("barge-1")?.sequence, ["audio:320", "interrupt"]);
  const last = events.at(-1)?.event;
  assert.ok(last?.$case === "completed");
  assert.deepEqual([last.value.droppedMs, last.value.playedMs, last.value.interrupted], [80, 20, true]);
});

test("interrupt() after the half-close stops the task, and the events end without an error", async () => {
  const gateway = new GatewayClient(server.address, { apiKey: "k-9" });
  try {
    const live = gateway.openDrive("tail-1");
    await live.writeAll([Buffer.alloc(320)]);
    const kinds: string[] = [];
    for await (const event of live) {
      kinds.push(event.event?.$case ?? "");
      if (event.event?.$case === "playbackStarted") {
        await live.interrupt();
      }
    }
    assert.deepEqual(kinds, ["started", "playbackStarted", "playbackFinished"]);
    assert.equal(tails.has("tail-1"), false); // the StopDrive INTERRUPT came
    await live.interrupt(); // after the end: nothing to do
  } finally {
    gateway.close();
  }
});

test("a text drive sends the text and no audio format, and keeps its half open", async () => {
  const live = openDrive(server.client, "text-1", { encoding: "WAV", text: { text: "Hello!", timbreId: "v-1" } });
  const first = await live.events().next();
  assert.equal(first.value?.event?.$case, "started");
  const config = seen.get("text-1")?.config;
  assert.ok(config?.$case === "config");
  assert.equal(config.value.input, undefined);
  assert.deepEqual(config.value.text, { text: "Hello!", timbreId: "v-1", speechRate: 0, pitchRate: 0 });
  assert.equal(live.call.writableEnded, false);
  live.cancel();
});

test("stop() sends the mode; getTask() and watchTask() give the TaskInfo", async () => {
  const gateway = new GatewayClient(server.address);
  try {
    const error = await gateway.stop("nobody", { mode: "INTERRUPT" }).then(
      () => assert.fail("StopDrive should fail"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof DriveError && error.reason === "NO_ACTIVE_DRIVE");
    const info = await gateway.getTask("t-1", { profile: "p", refresh: true });
    assert.deepEqual([info.taskId, info.profile, info.speaking], ["t-1", "p", true]);
    const statuses: TaskStatus[] = [];
    for await (const watched of gateway.watchTask("t-1")) {
      statuses.push(watched.status);
    }
    assert.deepEqual(statuses, [TaskStatus.TASK_STATUS_STREAMING, TaskStatus.TASK_STATUS_STOPPED]);
  } finally {
    gateway.close();
  }
});
