/**
 * One utterance = one `Drive` stream: the config, audio chunks, then half-close; the gateway's
 * events come back on the same stream.
 */

import {
  type CallOptions,
  type ClientDuplexStream,
  Metadata,
  type ServiceError,
  status as GrpcStatus,
  type StatusObject,
} from "@grpc/grpc-js";

import { DriveError, ErrorReason } from "./errors";
import {
  type DriveEvent,
  type DriveGatewayClient,
  type DriveRequest,
  type Mark,
  StopMode,
  type StopDriveResponse,
} from "./gen/dhgateway/v1/gateway";
import { type DriveOptions, toDriveConfig } from "./options";

/**
 * What an audio source of {@link drive} yields: a chunk of audio, or a {@link Mark}
 * (`{ name: "w3" }`) between chunks. The gateway answers a mark with a `markPlayed` event once
 * the avatar has played the audio sent before it.
 */
export type AudioItem = Uint8Array | Mark;

/** Per-call settings of a drive. */
export interface DriveCallOptions {
  /** Sent with the call (e.g. `authorization: Bearer <key>`). */
  metadata?: Metadata;
  /** Aborting it cancels the drive at once: the gateway sends the avatar its Stop. */
  signal?: AbortSignal;
  /** The whole call's deadline (a Date or Unix ms); DEADLINE_EXCEEDED after it. */
  deadline?: Date | number;
}

function abortError(): DOMException {
  return new DOMException("The drive was cancelled", "AbortError");
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/**
 * A live drive. Write audio with {@link Drive.write} (it waits for `'drain'` when the stream's
 * buffer is full, so a fast producer follows the gateway's pace), put marks between chunks with
 * {@link Drive.mark}, half-close with {@link Drive.end}, and read the events with
 * `for await (const event of drive)`: the loop ends after `completed`, or throws
 * {@link DriveError} with the gateway's `ErrorInfo` reason, or the abort reason after a cancel.
 * Leaving the loop early cancels the drive (the avatar still plays what it was sent);
 * {@link Drive.interrupt} silences it. A text drive (`options.text`) writes no audio and ends
 * by itself: do not {@link Drive.end} it, so that an interrupt still goes in-stream.
 */
export class Drive implements AsyncIterable<DriveEvent> {
  /** The underlying grpc-js stream. */
  readonly call: ClientDuplexStream<DriveRequest, DriveEvent>;
  /** The call's final status (OK or not); never rejects. */
  readonly status: Promise<StatusObject>;

  #queue: DriveEvent[] = [];
  #readEnded = false;
  #final: StatusObject | undefined;
  #cancelled = false;
  #abortReason: unknown;
  #iterating = false;
  #wake: (() => void) | undefined;
  #resolveStatus!: (status: StatusObject) => void;
  #unlinkSignal: (() => void) | undefined;
  #interrupted = false;
  #stoppedByUs = false;
  /** What {@link Drive.interrupt} needs to call StopDrive once the audio was half-closed. */
  readonly #stop: (callback: (error: ServiceError | null, response?: StopDriveResponse) => void) => void;

  constructor(
    client: DriveGatewayClient,
    taskId: string,
    options: DriveOptions = {},
    callOptions: DriveCallOptions = {},
  ) {
    const config = toDriveConfig(taskId, options);
    this.status = new Promise((resolve) => {
      this.#resolveStatus = resolve;
    });
    const grpcOptions: Partial<CallOptions> = {};
    if (callOptions.deadline !== undefined) {
      grpcOptions.deadline = callOptions.deadline;
    }
    const metadata = callOptions.metadata ?? new Metadata();
    this.#stop = (callback) => {
      const request = { taskId, profile: options.profile ?? "", mode: StopMode.STOP_MODE_INTERRUPT };
      client.stopDrive(request, metadata, {}, callback);
    };
    this.call = client.drive(metadata, grpcOptions);
    this.call.on("data", (event: DriveEvent) => {
      this.#queue.push(event);
      this.#notify();
    });
    this.call.on("end", () => {
      this.#readEnded = true;
      this.#notify();
    });
    // The 'status' event carries the same status (and comes with every outcome).
    this.call.on("error", () => {});
    this.call.on("status", (status: StatusObject) => {
      this.#final = status;
      this.#unlinkSignal?.();
      this.#resolveStatus(status);
      this.#notify();
    });
    this.call.write({ request: { $case: "config", value: config } });

    const signal = callOptions.signal;
    if (signal?.aborted) {
      this.cancel(signal.reason);
    } else if (signal) {
      const onAbort = (): void => this.cancel(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#unlinkSignal = () => signal.removeEventListener("abort", onAbort);
    }
  }

  /** Whether the call has ended (its final status is known). */
  get done(): boolean {
    return this.#final !== undefined;
  }

  /**
   * Sends one chunk of audio (any size up to the gateway's maximum, split anywhere). Resolves
   * once the stream can take more: at once while its buffer has room, else on `'drain'`.
   * Resolves `false`, sending nothing more, once the call has ended or was cancelled (the
   * events then say why): a producer loop stops on it.
   */
  async write(chunk: Uint8Array): Promise<boolean> {
    return this.#send({ request: { $case: "audio", value: asBuffer(chunk) } });
  }

  /**
   * Puts a mark after the audio written so far: the gateway answers with a `markPlayed` event
   * (`name`, `atMs`, `source`) once the avatar has played that audio. `name` is 1 to 256 bytes
   * of UTF-8 (the gateway fails the drive with INVALID_ARGUMENT otherwise). Resolves like
   * {@link Drive.write}.
   */
  async mark(name: string): Promise<boolean> {
    return this.#send({ request: { $case: "mark", value: { name } } });
  }

  /**
   * Half-closes: no more audio. The gateway finishes the utterance, waits until the avatar has
   * played it (`playbackFinished`), then sends `completed`.
   */
  end(): void {
    if (this.#writable()) {
      this.call.end();
    }
  }

  /**
   * Makes the avatar silent now (barge-in); keep reading the events for how it ended.
   *
   * While the audio is still being written, it sends `DriveRequest.interrupt` and half-closes:
   * the gateway stops sending, drops the audio it still holds, and the stream ends OK with
   * `playbackFinished` (`interrupted`, `playedMs`: what was heard) and `completed`
   * (`droppedMs`); {@link Drive.write} resolves `false` from then on. After {@link Drive.end}
   * (the avatar playing the drive's tail) it calls StopDrive with `STOP_MODE_INTERRUPT` for
   * the task instead (with the drive's metadata); the events then end after
   * `playbackFinished`, without an error. Calling it again, or after the call ended, does
   * nothing.
   *
   * @throws DriveError the StopDrive call failed (not NO_ACTIVE_DRIVE: the drive ended meanwhile).
   */
  async interrupt(): Promise<void> {
    if (this.#interrupted || this.#final !== undefined || this.#cancelled) {
      return;
    }
    this.#interrupted = true;
    if (!this.call.writableEnded) {
      this.call.write({ request: { $case: "interrupt", value: {} } });
      this.call.end();
      return;
    }
    this.#stoppedByUs = true;
    await new Promise<void>((resolve, reject) => {
      this.#stop((error) => {
        if (error === null) {
          resolve();
          return;
        }
        const failure = DriveError.fromServiceError(error);
        if (failure.reasonEnum === ErrorReason.NO_ACTIVE_DRIVE) {
          resolve(); // it ended on its own meanwhile
        } else {
          reject(failure);
        }
      });
    });
  }

  /**
   * Writes every item of `audio` (chunks, and marks between them), then half-closes unless
   * `end` is false; stops early, resolving, once the call ended or was interrupted.
   */
  async writeAll(audio: AsyncIterable<AudioItem> | Iterable<AudioItem>, end = true): Promise<void> {
    for await (const item of audio) {
      if (!(await (item instanceof Uint8Array ? this.write(item) : this.mark(item.name)))) {
        return;
      }
    }
    if (end) {
      this.end();
    }
  }

  /**
   * Cancels the drive now: grpc-js resets the stream, and the gateway stops the avatar. The
   * event loop then throws `reason` (an `AbortError` by default). No-op once the call ended.
   */
  cancel(reason: unknown = abortError()): void {
    if (this.#final !== undefined || this.#cancelled) {
      return;
    }
    this.#cancelled = true;
    this.#abortReason = reason;
    this.#unlinkSignal?.();
    this.call.cancel();
    this.#notify();
  }

  /** The gateway's events, in order; see the class comment for how it ends. */
  async *events(): AsyncGenerator<DriveEvent, void, undefined> {
    if (this.#iterating) {
      throw new Error("a drive's events can be read once");
    }
    this.#iterating = true;
    try {
      for (;;) {
        if (this.#cancelled) {
          throw this.#abortReason;
        }
        const event = this.#queue.shift();
        if (event !== undefined) {
          yield event;
          continue;
        }
        // The status comes right after the last message is pushed: wait for the read side's
        // end too, so that every event is delivered before the outcome.
        const final = this.#final;
        if (final !== undefined && this.#readEnded) {
          if (final.code === GrpcStatus.OK) {
            return;
          }
          const error = DriveError.fromStatus(final);
          if (this.#stoppedByUs && error.reasonEnum === ErrorReason.STOPPED_BY_REQUEST) {
            return; // our own interrupt() went through StopDrive: the end we asked for
          }
          throw error;
        }
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      this.cancel();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<DriveEvent, void, undefined> {
    return this.events();
  }

  async #send(request: DriveRequest): Promise<boolean> {
    if (!this.#writable()) {
      return false;
    }
    if (!this.call.write(request)) {
      await this.#drained();
    }
    return this.#writable();
  }

  #writable(): boolean {
    return this.#final === undefined && !this.#cancelled && !this.#interrupted && !this.call.writableEnded;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Resolves on 'drain', or when the call ends (nothing drains after that). */
  #drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (!this.#writable()) {
        resolve();
        return;
      }
      const done = (): void => {
        this.call.off("drain", done);
        this.call.off("status", done);
        resolve();
      };
      // A cancel ends the call too: grpc-js reports its CANCELLED status.
      this.call.on("drain", done);
      this.call.on("status", done);
    });
  }
}

/** Opens a drive of `taskId`: the config is sent at once; see {@link Drive}. */
export function openDrive(
  client: DriveGatewayClient,
  taskId: string,
  options?: DriveOptions,
  callOptions?: DriveCallOptions,
): Drive {
  return new Drive(client, taskId, options, callOptions);
}

/**
 * Drives the avatar of `taskId` with `audio`, yielding the gateway's events.
 *
 * The audio is sent as it comes, with backpressure (HTTP/2 flow control holds the writer back
 * when the gateway paces); the stream half-closes when `audio` ends. `audio` may yield marks
 * (`{ name }`) between chunks: each comes back as a `markPlayed` event when the avatar has
 * played the audio before it. A drive that sent audio reports `playbackStarted`, the marks,
 * `playbackFinished` (`playedMs`, `interrupted`), then `completed`: the last event of a
 * successful drive, once the avatar is silent. Leaving the loop, or aborting `callOptions.signal`, cancels
 * the drive: the gateway sends the avatar its Stop at once. For a text drive (`options.text`)
 * give no audio (`[]`). To interrupt, open the drive with {@link openDrive} instead.
 *
 * @throws DriveError the drive failed; `reason` is the gateway's `ErrorInfo` reason.
 */
export async function* drive(
  client: DriveGatewayClient,
  taskId: string,
  audio: AsyncIterable<AudioItem> | Iterable<AudioItem>,
  options?: DriveOptions,
  callOptions?: DriveCallOptions,
): AsyncGenerator<DriveEvent, void, undefined> {
  const live = new Drive(client, taskId, options, callOptions);
  // A failing audio source cancels the drive; the loop below then throws its error. A text
  // drive ends by itself.
  live.writeAll(audio, options?.text === undefined).catch((error: unknown) => live.cancel(error));
  yield* live.events();
}
