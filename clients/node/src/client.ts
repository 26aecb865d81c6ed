/** A gateway connection: drives plus the unary RPCs, with errors as {@link DriveError}. */

import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  credentials as grpcCredentials,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";

import { type AudioItem, Drive, type DriveCallOptions, drive } from "./drive";
import { DriveError } from "./errors";
import {
  type Capabilities,
  type DriveEvent,
  DriveGatewayClient,
  type DriveInfo,
  type ListDrivesResponse,
  type StopDriveResponse,
} from "./gen/dhgateway/v1/gateway";
import type { DriveOptions } from "./options";

export interface GatewayClientOptions {
  /** Channel credentials; default: plaintext (the gateway on a trusted network or loopback). */
  credentials?: ChannelCredentials;
  /** Sent on every call as `authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Sent on every call. */
  metadata?: Metadata;
  /** grpc-js channel options. */
  channelOptions?: ChannelOptions;
}

/** Per-call settings of a unary call. */
export interface UnaryCallOptions {
  metadata?: Metadata;
  deadline?: Date | number;
}

type Callback<T> = (error: ServiceError | null, response: T) => void;

/**
 * A connection to a dh-gateway (`host:port`).
 *
 * ```ts
 * const gateway = new GatewayClient("127.0.0.1:50051");
 * for await (const event of gateway.drive("my-task-id", ttsChunks, { sampleRateHz: 24000 })) {
 *   console.log(event.event?.$case);
 * }
 * gateway.close();
 * ```
 */
export class GatewayClient {
  /** The generated grpc-js stub, for anything this class does not wrap. */
  readonly stub: DriveGatewayClient;
  readonly #metadata: Metadata;

  constructor(address: string, options: GatewayClientOptions = {}) {
    this.stub = new DriveGatewayClient(
      address,
      options.credentials ?? grpcCredentials.createInsecure(),
      options.channelOptions,
    );
    this.#metadata = options.metadata?.clone() ?? new Metadata();
    if (options.apiKey) {
      this.#metadata.set("authorization", `Bearer ${options.apiKey}`);
    }
  }

  /** Opens a drive to write to by hand; see {@link Drive}. */
  openDrive(taskId: string, options?: DriveOptions, callOptions: DriveCallOptions = {}): Drive {
    return new Drive(this.stub, taskId, options, this.#withMetadata(callOptions));
  }

  /** Drives `taskId` with `audio` (chunks, and marks between them), yielding the events; see {@link drive}. */
  drive(
    taskId: string,
    audio: AsyncIterable<AudioItem> | Iterable<AudioItem>,
    options?: DriveOptions,
    callOptions: DriveCallOptions = {},
  ): AsyncGenerator<DriveEvent, void, undefined> {
    return drive(this.stub, taskId, audio, options, this.#withMetadata(callOptions));
  }

  /**
   * Ends the active drive of `taskId` (barge-in); resolves with its DriveId.
   *
   * @throws DriveError NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
   */
  async stopDrive(taskId: string, profile = "", callOptions: UnaryCallOptions = {}): Promise<string> {
    const response = await this.#unary<StopDriveResponse>(
      (metadata, options, callback) => this.stub.stopDrive({ taskId, profile }, metadata, options, callback),
      callOptions,
    );
    return response.driveId;
  }

  /** The gateway's active and queued drives (of `taskId` only, unless ""). */
  async listDrives(taskId = "", callOptions: UnaryCallOptions = {}): Promise<DriveInfo[]> {
    const response = await this.#unary<ListDrivesResponse>(
      (metadata, options, callback) => this.stub.listDrives({ taskId }, metadata, options, callback),
      callOptions,
    );
    return response.drives;
  }

  /** What the gateway accepts. */
  capabilities(callOptions: UnaryCallOptions = {}): Promise<Capabilities> {
    return this.#unary<Capabilities>(
      (metadata, options, callback) => this.stub.getCapabilities({}, metadata, options, callback),
      callOptions,
    );
  }

  /** Closes the channel (calls in flight are cancelled). */
  close(): void {
    this.stub.close();
  }

  #merged(extra: Metadata | undefined): Metadata {
    const metadata = this.#metadata.clone();
    if (extra) {
      metadata.merge(extra);
    }
    return metadata;
  }

  #withMetadata(callOptions: DriveCallOptions): DriveCallOptions {
    return { ...callOptions, metadata: this.#merged(callOptions.metadata) };
  }

  #unary<T>(
    start: (metadata: Metadata, options: Partial<CallOptions>, callback: Callback<T>) => unknown,
    callOptions: UnaryCallOptions,
  ): Promise<T> {
    const options: Partial<CallOptions> = {};
    if (callOptions.deadline !== undefined) {
      options.deadline = callOptions.deadline;
    }
    return new Promise<T>((resolve, reject) => {
      start(this.#merged(callOptions.metadata), options, (error, response) => {
        if (error) {
          reject(DriveError.fromServiceError(error));
        } else {
          resolve(response);
        }
      });
    });
  }
}
