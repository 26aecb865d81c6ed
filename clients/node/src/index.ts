/**
 * dh-gateway's Node client: one bidirectional `Drive` stream per utterance.
 *
 * `GatewayClient` connects; `drive()` streams audio and yields events; `openDrive()` gives a
 * {@link Drive} to write to by hand; a failed drive throws {@link DriveError} carrying the
 * gateway's `ErrorInfo` reason and metadata. `connect(connectionFromEnv())` reaches the gateway
 * that the `DHGW_*` variables describe (TLS, mutual TLS, the API key).
 */

export {
  GatewayClient,
  type GatewayClientOptions,
  type StopOptions,
  type TaskCallOptions,
  type UnaryCallOptions,
} from "./client";
export {
  callMetadata,
  channelCredentials,
  channelOptions,
  type Connection,
  ConnectionConfigError,
  connect,
  connectionFromEnv,
  DEFAULT_ADDRESS,
  gatewayClientOptions,
} from "./connection";
export { type AudioItem, Drive, type DriveCallOptions, drive, openDrive } from "./drive";
export {
  codeName,
  DriveError,
  type ErrorDetails,
  errorDetails,
  ErrorReason,
  type FieldViolation,
  reasonEnum,
  STATUS_DETAILS_KEY,
} from "./errors";
export {
  chunkBytes,
  type DriveOptions,
  ENCODINGS,
  type EncodingName,
  POLICIES,
  type PolicyName,
  sampleWidth,
  STOP_MODES,
  type StopModeName,
  stopMode,
  toDriveConfig,
  VOICE_CHANNELS,
  type VoiceName,
} from "./options";
export {
  type Capabilities,
  type Completed,
  ConflictPolicy,
  type DriveConfig,
  type DriveEvent,
  DriveGatewayClient,
  type DriveInfo,
  DriveState,
  Encoding,
  type ListDrivesResponse,
  type Mark,
  type MarkPlayed,
  type PlaybackFinished,
  PlaybackSource,
  type PlaybackStarted,
  playbackSourceToJSON,
  type Progress,
  type Queued,
  Queued_Reason,
  type Started,
  type StopDriveResponse,
  StopMode,
  type TaskInfo,
  TaskStatus,
  TaskStatusSource,
  type TextInput,
  VoiceChannel,
} from "./gen/dhgateway/v1/gateway";
