import assert from "node:assert/strict";
import { test } from "node:test";

import { ConflictPolicy, DriveConfig, Encoding, VoiceChannel } from "../gen/dhgateway/v1/gateway";
import { chunkBytes, sampleWidth, toDriveConfig } from "../options";

test("chunk size is rate x channels x sample width x ms / 1000", () => {
  assert.equal(chunkBytes("LINEAR16", 0, 0, 20), 640); // 16000 Hz mono by default
  assert.equal(chunkBytes("WAV", 16000, 1, 20), 640);
  assert.equal(chunkBytes("LINEAR16", 24000, 2, 20), 1920);
  assert.equal(chunkBytes("FLOAT32", 48000, 2, 10), 3840);
  assert.equal(chunkBytes("MULAW", 8000, 1, 20), 160);
  assert.equal(chunkBytes("ALAW", 8000, 0, 20), 160);
  assert.equal(chunkBytes("LINEAR16", 44100, 1, 15), 1323); // 1323 = floor(1323.0)
  assert.equal(chunkBytes("LINEAR16", 11025, 1, 1), 22); // floor(22.05)
  assert.equal(chunkBytes("LINEAR16", 16000, 1, 0), 1); // never empty
});

test("sample widths", () => {
  assert.deepEqual(
    (["LINEAR16", "FLOAT32", "WAV", "MULAW", "ALAW"] as const).map(sampleWidth),
    [2, 4, 2, 1, 1],
  );
});

test("the default config says every default explicitly", () => {
  const config = toDriveConfig("task-1");
  assert.equal(config.taskId, "task-1");
  assert.deepEqual(config.input, {
    encoding: Encoding.ENCODING_LINEAR16,
    sampleRateHz: 0,
    channels: 0,
    voiceChannel: VoiceChannel.VOICE_CHANNEL_MIX,
    keepStereo: false,
  });
  assert.equal(config.onConflict, ConflictPolicy.CONFLICT_POLICY_REJECT);
  assert.equal(config.queueTimeout, undefined);
});

test("every option reaches the config and survives the wire", () => {
  const config = toDriveConfig("t", {
    encoding: "FLOAT32",
    sampleRateHz: 48000,
    channels: 2,
    voiceChannel: "RIGHT",
    keepStereo: true,
    outputSampleRateHz: 24000,
    onConflict: "QUEUE",
    queueTimeoutMs: 2500,
    labels: { who: "test" },
    profile: "p1",
  });
  const decoded = DriveConfig.decode(DriveConfig.encode(config).finish());
  assert.deepEqual(decoded, config);
  assert.equal(decoded.input?.encoding, Encoding.ENCODING_FLOAT32);
  assert.equal(decoded.onConflict, ConflictPolicy.CONFLICT_POLICY_QUEUE);
  assert.deepEqual(decoded.queueTimeout, { seconds: 2, nanos: 500_000_000 });
  assert.deepEqual(decoded.labels, { who: "test" });
});

test("an unknown name is refused before anything is sent", () => {
  assert.throws(() => toDriveConfig("t", { encoding: "MP3" as "WAV" }), /unknown encoding "MP3"/);
  assert.throws(() => toDriveConfig("t", { onConflict: "WAIT" as "QUEUE" }), /conflict policy/);
});
