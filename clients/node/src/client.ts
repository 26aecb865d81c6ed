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
  type TaskInfo,
} from "./gen/dhgateway/v1/gateway";
import { type DriveOptions, type StopModeName, stopMode } from "./options";

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

/** How {@link GatewayClient.stop} ends a drive. */
export interface StopOptions extends UnaryCallOptions {
  /** FINISH (the default): the avatar plays what it was sent; INTERRUPT: silent now. */
  mode?: StopModeName;
  /** The task's credentials profile ("" = default). */
  profile?: string;
}

/** Which task {@link GatewayClient.getTask} / {@link GatewayClient.watchTask} asks about. */
export interface TaskCallOptions extends UnaryCallOptions {
  /** The task's credentials profile ("" = default). */
  profile?: string;
  /** getTask: ask the vendor now instead of the gateway's cached word. */
  refresh?: boolean;
  /** watchTask: aborting it ends the watch (the loop then returns). */
  signal?: AbortSignal;
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

  /** {@link GatewayClient.stop} with FINISH; resolves with the DriveId only. */
  async stopDrive(taskId: string, profile = "", callOptions: UnaryCallOptions = {}): Promise<string> {
    return (await this.stop(taskId, { ...callOptions, profile })).driveId;
  }

  /**
   * Ends the active drive of `taskId`, on whichever replica runs it: FINISH lets the avatar
   * play what it was sent, INTERRUPT silences it now (also a speaking avatar whose drive
   * already ended). The drive's stream ends ABORTED / STOPPED_BY_REQUEST. Resolves with the
   * answer: `driveId`, `playedMs`, `interrupted`.
   *
   * @throws DriveError NOT_FOUND / NO_ACTIVE_DRIVE when the task has none.
   */
  stop(taskId: string, options: StopOptions = {}): Promise<StopDriveResponse> {
    const request = { taskId, profile: options.profile ?? "", mode: stopMode(options.mode ?? "FINISH") };
    return this.#unary<StopDriveResponse>(
      (metadata, grpcOptions, callback) => this.stub.stopDrive(request, metadata, grpcOptions, callback),
      options,
    );
  }

  /**
   * How the task is: the vendor's `status`, whether the avatar is `speaking` and in which
   * drive, the `activeDrive`, `queuedDrives` and `idleDeadline`.
   *
   * @throws DriveError NOT_FOUND / UPSTREAM_TASK_NOT_FOUND for a task the vendor does not know.
   */
  getTask(taskId: string, options: TaskCallOptions = {}): Promise<TaskInfo> {
    const request = { taskId, profile: options.profile ?? "", refresh: options.refresh ?? false };
    return this.#unary<TaskInfo>(
      (metadata, grpcOptions, callback) => this.stub.getTask(request, metadata, grpcOptions, callback),
      options,
    );
  }

  /**
   * The task's TaskInfo now and at each change; the loop ends once the task has ended (the
   * last one says TASK_STATUS_STOPPED or TASK_STATUS_INIT_FAILED), or when `options.signal`
   * aborts. Leaving the loop early cancels the watch.
   *
   * @throws DriveError the watch failed (e.g. NOT_FOUND / UPSTREAM_TASK_NOT_FOUND).
   */
  async *watchTask(taskId: string, options: TaskCallOptions = {}): AsyncGenerator<TaskInfo, void, undefined> {
    const grpcOptions: Partial<CallOptions> = {};
    if (options.deadline !== undefined) {
      grpcOptions.deadline = options.deadline;
    }
    const request = { taskId, profile: options.profile ?? "" };
    const call = this.stub.watchTask(request, this.#merged(options.metadata), grpcOptions);
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const info of call) {
        yield info as TaskInfo;
      }
    } catch (error) {
      if (options.signal?.aborted) {
        return;
      }
      throw DriveError.fromServiceError(error as ServiceError);
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      call.cancel();
    }
  }

  /**
   * The gateway's active and queued drives (of `taskId` only, unless ""): of every replica
   * sharing its Redis, every page (`listDrivesPage` asks for one).
   */
  async listDrives(taskId = "", callOptions: UnaryCallOptions = {}): Promise<DriveInfo[]> {
    const drives: DriveInfo[] = [];
    for (let pageToken = ""; ; ) {
      const page = await this.listDrivesPage(taskId, { pageToken }, callOptions);
      drives.push(...page.drives);
      if (page.nextPageToken === "" || page.nextPageToken === pageToken) {
        return drives;
      }
      pageToken = page.nextPageToken;
    }
  }

  /**
   * One page of ListDrives (`pageSize` 0: the gateway's 100, at most 1000); pass its
   * `nextPageToken` as `pageToken` for the next page ("" after the last).
   */
  listDrivesPage(
    taskId = "",
    page: { pageSize?: number; pageToken?: string } = {},
    callOptions: UnaryCallOptions = {},
  ): Promise<ListDrivesResponse> {
    const request = { taskId, pageSize: page.pageSize ?? 0, pageToken: page.pageToken ?? "" };
    return this.#unary<ListDrivesResponse>(
      (metadata, options, callback) => this.stub.listDrives(request, metadata, options, callback),
      callOptions,
    );
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
    // A call's own key replaces the client's (grpc-js's merge() would send both: two traceparents).
    for (const [key, value] of Object.entries(extra?.toJSON() ?? {})) {
      metadata.remove(key);
      for (const one of value) {
        metadata.add(key, one);
      }
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
