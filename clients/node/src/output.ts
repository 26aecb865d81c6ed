/** How dh-drive prints: a line per event or answer, JSON with `--json` (the same in every language). */

import type { DriveError } from "./errors";
import {
  type DriveInfo,
  driveStateToJSON,
  type TaskInfo,
  taskStatusSourceToJSON,
  taskStatusToJSON,
} from "./gen/dhgateway/v1/gateway";

/** What the human-readable lines call the playback events: what the avatar is doing. */
const HUMAN_LABELS: Record<string, string> = {
  playback_started: "speaking",
  mark_played: "mark",
  playback_finished: "finished",
};

/** A line as dh-drive prints it without `--json`: `<label> key=value ...`. */
export function humanLine(line: Record<string, unknown>): string {
  const label = HUMAN_LABELS[String(line.event)] ?? String(line.event);
  const rest = Object.entries(line)
    .filter(([key]) => key !== "event")
    .map(([key, value]) => {
      if (key === "source" && typeof value === "string") {
        return `${key}=${value.replace(/^PLAYBACK_SOURCE_/, "").toLowerCase()}`;
      }
      return `${key}=${typeof value === "object" ? JSON.stringify(value) : String(value)}`;
    })
    .join(" ");
  return `${label.padEnd(10)} ${rest}`;
}

/** JSON as Python's `json.dumps` writes it (", " and ": " separators, ASCII only). */
export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(pythonJson).join(", ")}]`;
  }
  if (value !== null && typeof value === "object") {
    const items = Object.entries(value).map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`);
    return `{${items.join(", ")}}`;
  }
  if (typeof value === "string") {
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  return JSON.stringify(value) ?? "null";
}

/** Prints `line`: as JSON (`asJson`), else as a human line. */
export function show(line: Record<string, unknown>, asJson: boolean): void {
  process.stdout.write(`${asJson ? pythonJson(line) : humanLine(line)}\n`);
}

/**
 * A failed call as its `error` line: `retry_delay_ms` (an int64, as a string) and
 * `field_violations` only when the status carries them.
 */
export function errorLine(error: DriveError): Record<string, unknown> {
  const line: Record<string, unknown> = {
    event: "error",
    code: error.codeName,
    reason: error.reason,
    message: error.details,
    metadata: error.metadata,
  };
  if (error.retryDelayMs !== undefined) {
    line.retry_delay_ms = String(error.retryDelayMs);
  }
  if (error.fieldViolations.length > 0) {
    line.field_violations = error.fieldViolations.map((v) => ({ field: v.field, description: v.description }));
  }
  return line;
}

/** Prints a failed call as the `error` line. */
export function showError(error: DriveError, asJson: boolean): void {
  show(errorLine(error), asJson);
}


/** A Timestamp in the proto3 JSON form (RFC 3339, UTC); unset ones are left out by the callers. */
function timestamp(date: Date): string {
  return date.toISOString();
}

/** A DriveInfo in the proto3 JSON form with proto names (int64 as strings, enums by name). */
export function driveInfoJson(info: DriveInfo): Record<string, unknown> {
  const json: Record<string, unknown> = {
    task_id: info.taskId,
    drive_id: info.driveId,
    state: driveStateToJSON(info.state),
  };
  if (info.startedTime !== undefined) {
    json.started_time = timestamp(info.startedTime);
  }
  return {
    ...json,
    sent_ms: String(info.sentMs),
    labels: { ...info.labels },
    profile: info.profile,
    replica: info.replica,
    billed_ms: String(info.billedMs),
  };
}

/**
 * A TaskInfo as dh-drive prints it (`{"event": "task", ...}`): every field by its proto name,
 * defaults too, an unset message left out, as every language's proto3 JSON printer does.
 */
export function taskJson(info: TaskInfo): Record<string, unknown> {
  const line: Record<string, unknown> = {
    event: "task",
    task_id: info.taskId,
    profile: info.profile,
    status: taskStatusToJSON(info.status),
    status_source: taskStatusSourceToJSON(info.statusSource),
  };
  const times: [string, Date | undefined][] = [
    ["status_time", info.statusTime],
    ["create_time", info.createTime],
    ["last_driven_time", info.lastDrivenTime],
    ["idle_deadline", info.idleDeadline],
  ];
  Object.assign(line, {
    fail_reason: info.failReason,
    room_id: info.roomId,
    stream_id: info.streamId,
    speaking: info.speaking,
    speaking_drive_id: info.speakingDriveId,
    queued_drives: info.queuedDrives,
  });
  for (const [key, value] of times) {
    if (value !== undefined) {
      line[key] = timestamp(value);
    }
  }
  if (info.activeDrive !== undefined) {
    line.active_drive = driveInfoJson(info.activeDrive);
  }
  return line;
}
