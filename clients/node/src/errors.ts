/**
 * The error of a failed drive: the gRPC status with its `google.rpc` details read out
 * (`ErrorInfo`; `RetryInfo` where a retry is the answer; `BadRequest` for a bad request field).
 */

import { Metadata, status as GrpcStatus, type ServiceError, type StatusObject } from "@grpc/grpc-js";

import { ErrorReason, errorReasonFromJSON } from "./gen/dhgateway/v1/error_reason";
import { BadRequest, ErrorInfo, RetryInfo } from "./gen/google/rpc/error_details";
import { Status } from "./gen/google/rpc/status";

export { ErrorReason };

/** The trailer holding the serialized `google.rpc.Status` of a failed call. */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** One request field the gateway refused (a `google.rpc.BadRequest` field violation). */
export interface FieldViolation {
  /** Its path from the call's request, e.g. `config.input.sample_rate_hz`. */
  field: string;
  /** What is wrong and what is accepted. */
  description: string;
}

/** What the gateway's status details say; empty when the status carries none. */
export interface ErrorDetails {
  /** The `ErrorInfo` reason (`TASK_BUSY`, `UNSUPPORTED_FORMAT`...), "" if none. */
  reason: string;
  /** The `ErrorInfo` domain (`dhgateway`), "" if none. */
  domain: string;
  /** The `ErrorInfo` metadata (task_id, holder_drive_id, upstream_code...). */
  metadata: Record<string, string>;
  /** The `google.rpc.Status` message, when the trailer carries one. */
  message?: string;
  /** The `RetryInfo` delay in milliseconds, when the status carries one. */
  retryDelayMs?: number;
  /** The `BadRequest` field violations (empty when none). */
  fieldViolations: FieldViolation[];
}

/** `reason` as the proto's `ErrorReason`; `ERROR_REASON_UNSPECIFIED` for "" or a newer one. */
export function reasonEnum(reason: string): ErrorReason {
  const value = errorReasonFromJSON(reason);
  return value === ErrorReason.UNRECOGNIZED ? ErrorReason.ERROR_REASON_UNSPECIFIED : value;
}

/** The name of a gRPC status code: `ALREADY_EXISTS` for 6. */
export function codeName(code: number): string {
  return GrpcStatus[code] ?? `CODE_${code}`;
}

/**
 * Reads the `ErrorInfo`, `RetryInfo` and `BadRequest` out of a call's trailing metadata (the
 * `grpc-status-details-bin` trailer, a serialized `google.rpc.Status` whose `details` are `Any`s).
 */
export function errorDetails(trailers: Metadata | undefined): ErrorDetails {
  const found: ErrorDetails = { reason: "", domain: "", metadata: {}, fieldViolations: [] };
  for (const value of trailers?.get(STATUS_DETAILS_KEY) ?? []) {
    if (typeof value === "string") {
      continue;
    }
    const status = Status.decode(value);
    if (status.message) {
      found.message = status.message;
    }
    for (const detail of status.details) {
      // An Any's type URL ends with the full name of the message packed in it.
      const type = detail.typeUrl.slice(detail.typeUrl.lastIndexOf("/") + 1);
      if (type === "google.rpc.ErrorInfo") {
        const info = ErrorInfo.decode(detail.value);
        found.reason = info.reason;
        found.domain = info.domain;
        found.metadata = { ...info.metadata };
      } else if (type === "google.rpc.RetryInfo") {
        const delay = RetryInfo.decode(detail.value).retryDelay;
        found.retryDelayMs = Math.round((delay?.seconds ?? 0) * 1000 + (delay?.nanos ?? 0) / 1e6);
      } else if (type === "google.rpc.BadRequest") {
        for (const violation of BadRequest.decode(detail.value).fieldViolations) {
          found.fieldViolations.push({ field: violation.field, description: violation.description });
        }
      }
    }
  }
  return found;
}

/** A drive (or another call) ended with a non-OK status. */
export class DriveError extends Error {
  override readonly name = "DriveError";
  /** The gRPC status code (`status.ALREADY_EXISTS`...). */
  readonly code: GrpcStatus;
  /** Its name (`ALREADY_EXISTS`). */
  readonly codeName: string;
  /** The status message. */
  readonly details: string;
  /** The `ErrorInfo` reason (`TASK_BUSY`, `CONFIG_REQUIRED`...), "" if none. */
  readonly reason: string;
  /** The `ErrorInfo` domain (`dhgateway` for the gateway's own errors), "" if none. */
  readonly domain: string;
  /** The `ErrorInfo` metadata (task_id, holder_drive_id, upstream_code...). */
  readonly metadata: Record<string, string>;
  /** The reason as the proto's `ErrorReason`; `ERROR_REASON_UNSPECIFIED` for none or a newer one. */
  readonly reasonEnum: ErrorReason;
  /** The `RetryInfo` delay (ms): wait at least this long, then retry; undefined: do not retry. */
  readonly retryDelayMs: number | undefined;
  /** The `BadRequest` field violations: the request fields at fault (empty when none). */
  readonly fieldViolations: readonly FieldViolation[];
  /** The call's trailing metadata. */
  readonly trailers: Metadata;

  constructor(code: GrpcStatus, details: string, trailers: Metadata = new Metadata()) {
    const info = errorDetails(trailers);
    const message = info.message ?? details;
    const name = codeName(code);
    super(info.reason ? `${name} ${info.reason}: ${message}` : `${name}: ${message}`);
    this.code = code;
    this.codeName = name;
    this.details = message;
    this.reason = info.reason;
    this.domain = info.domain;
    this.metadata = info.metadata;
    this.reasonEnum = reasonEnum(info.reason);
    this.retryDelayMs = info.retryDelayMs;
    this.fieldViolations = info.fieldViolations;
    this.trailers = trailers;
  }

  /** The error of a call's final status (as grpc-js's `status` event reports it). */
  static fromStatus(status: StatusObject): DriveError {
    return new DriveError(status.code, status.details, status.metadata);
  }

  /** The error of a grpc-js `ServiceError` (what a failed unary call's callback gets). */
  static fromServiceError(error: ServiceError): DriveError {
    return new DriveError(error.code, error.details, error.metadata);
  }
}
