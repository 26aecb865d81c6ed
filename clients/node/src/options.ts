/** How to drive: the client-side form of `DriveConfig`, and audio chunk sizing. */

import {
  ConflictPolicy,
  type DriveConfig,
  Encoding,
  StopMode,
  type TextInput,
  VoiceChannel,
} from "./gen/dhgateway/v1/gateway";

export const ENCODINGS = ["LINEAR16", "FLOAT32", "WAV", "MULAW", "ALAW"] as const;
export const POLICIES = ["REJECT", "PREEMPT", "QUEUE"] as const;
export const VOICE_CHANNELS = ["MIX", "LEFT", "RIGHT"] as const;
export const STOP_MODES = ["FINISH", "INTERRUPT"] as const;

export type EncodingName = (typeof ENCODINGS)[number];
export type PolicyName = (typeof POLICIES)[number];
export type VoiceName = (typeof VOICE_CHANNELS)[number];
export type StopModeName = (typeof STOP_MODES)[number];

/** The audio format and policies of one drive; every field has the gateway's default. */
export interface DriveOptions {
  /** LINEAR16 (s16le, the default), FLOAT32 (f32le), WAV (header first), MULAW or ALAW. */
  encoding?: EncodingName;
  /** Input rate in Hz; 0 = 16000 (WAV: from the header). */
  sampleRateHz?: number;
  /** 1 or 2; 0 = 1 (WAV: from the header). */
  channels?: number;
  /** For stereo: MIX (default), LEFT or RIGHT. */
  voiceChannel?: VoiceName;
  /** For stereo: send stereo to the avatar instead of mixing it down. */
  keepStereo?: boolean;
  /** 16000, 24000, or 0 for the gateway's choice. */
  outputSampleRateHz?: number;
  /** What to do when the task is busy: REJECT (default), PREEMPT or QUEUE. */
  onConflict?: PolicyName;
  /** How long a QUEUE drive may wait, in milliseconds; unset = the gateway's default. */
  queueTimeoutMs?: number;
  /** Free-form labels, logged and listed by the gateway. */
  labels?: Record<string, string>;
  /** The gateway's credentials profile ("" = default). */
  profile?: string;
  /**
   * Makes it a text drive: the vendor's TTS speaks `text.text` (1 to 1800 characters) in the
   * timbre `text.timbreId` ("" = the profile's default; `speechRate`, `pitchRate` -500 to
   * 500); the drive carries no audio, and the audio format options are ignored.
   */
  text?: Partial<TextInput> & Pick<TextInput, "text">;
}

const ENCODING: Record<EncodingName, Encoding> = {
  LINEAR16: Encoding.ENCODING_LINEAR16,
  FLOAT32: Encoding.ENCODING_FLOAT32,
  WAV: Encoding.ENCODING_WAV,
  MULAW: Encoding.ENCODING_MULAW,
  ALAW: Encoding.ENCODING_ALAW,
};

const POLICY: Record<PolicyName, ConflictPolicy> = {
  REJECT: ConflictPolicy.CONFLICT_POLICY_REJECT,
  PREEMPT: ConflictPolicy.CONFLICT_POLICY_PREEMPT,
  QUEUE: ConflictPolicy.CONFLICT_POLICY_QUEUE,
};

const STOP_MODE: Record<StopModeName, StopMode> = {
  FINISH: StopMode.STOP_MODE_FINISH,
  INTERRUPT: StopMode.STOP_MODE_INTERRUPT,
};

/** The StopMode of a short name (FINISH, INTERRUPT). @throws TypeError for another name */
export function stopMode(name: StopModeName): StopMode {
  return pick(STOP_MODE, name, "stop mode");
}

const VOICE: Record<VoiceName, VoiceChannel> = {
  MIX: VoiceChannel.VOICE_CHANNEL_MIX,
  LEFT: VoiceChannel.VOICE_CHANNEL_LEFT,
  RIGHT: VoiceChannel.VOICE_CHANNEL_RIGHT,
};

function pick<K extends string, V>(table: Record<K, V>, name: K, what: string): V {
  if (!Object.hasOwn(table, name)) {
    throw new TypeError(`unknown ${what} ${JSON.stringify(name)}: one of ${Object.keys(table).join(", ")}`);
  }
  return table[name];
}

/** The `DriveConfig` message for `taskId`. */
export function toDriveConfig(taskId: string, options: DriveOptions = {}): DriveConfig {
  const config: DriveConfig = {
    taskId,
    input: {
      encoding: pick(ENCODING, options.encoding ?? "LINEAR16", "encoding"),
      sampleRateHz: options.sampleRateHz ?? 0,
      channels: options.channels ?? 0,
      voiceChannel: pick(VOICE, options.voiceChannel ?? "MIX", "voice channel"),
      keepStereo: options.keepStereo ?? false,
    },
    outputSampleRateHz: options.outputSampleRateHz ?? 0,
    onConflict: pick(POLICY, options.onConflict ?? "REJECT", "conflict policy"),
    queueTimeout: undefined,
    labels: { ...options.labels },
    profile: options.profile ?? "",
    text: undefined,
  };
  if (options.text !== undefined) {
    const { text, timbreId = "", speechRate = 0, pitchRate = 0 } = options.text;
    config.input = undefined; // a text drive has no audio format
    config.text = { text, timbreId, speechRate, pitchRate };
  }
  if (options.queueTimeoutMs !== undefined) {
    const ms = Math.round(options.queueTimeoutMs);
    config.queueTimeout = { seconds: Math.trunc(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
  }
  return config;
}

/** Bytes per sample (of one channel) of an encoding; WAV files carry 16-bit PCM. */
export function sampleWidth(encoding: EncodingName): number {
  switch (encoding) {
    case "FLOAT32":
      return 4;
    case "MULAW":
    case "ALAW":
      return 1;
    default:
      return 2;
  }
}

/**
 * The size of a chunk holding `chunkMs` of audio: rate (0 = 16000) x channels (0 = 1) x sample
 * width x chunkMs / 1000, rounded down, at least 1 byte.
 */
export function chunkBytes(
  encoding: EncodingName,
  sampleRateHz: number,
  channels: number,
  chunkMs: number,
): number {
  const rate = sampleRateHz || 16000;
  const bytes = Math.floor((rate * Math.max(channels, 1) * sampleWidth(encoding) * chunkMs) / 1000);
  return Math.max(1, bytes);
}
