import assert from "node:assert/strict";
import { test } from "node:test";

import { Metadata, status } from "@grpc/grpc-js";

import { codeName, DriveError, errorDetails, ErrorReason, reasonEnum } from "../errors";
import { BadRequest, RetryInfo } from "../gen/google/rpc/error_details";
import { errorLine, pythonJson } from "../output";
import { errorInfo, trailers } from "./helpers";

test("ErrorInfo is read from grpc-status-details-bin", () => {
  const metadata = trailers(status.ALREADY_EXISTS, "task t is busy", [
    { typeUrl: "type.example/google.rpc.RetryInfo", value: Buffer.from(RetryInfo.encode({ retryDelay: { seconds: 1, nanos: 0 } }).finish()) },
    errorInfo("TASK_BUSY", { task_id: "t", holder_drive_id: "d-1" }),
  ]);
  const error = new DriveError(status.ALREADY_EXISTS, "ignored: the Status message wins", metadata);
  assert.equal(error.code, status.ALREADY_EXISTS);
  assert.equal(error.codeName, "ALREADY_EXISTS");
  assert.equal(error.reason, "TASK_BUSY");
  assert.equal(error.domain, "dhgateway");
  assert.deepEqual(error.metadata, { task_id: "t", holder_drive_id: "d-1" });
  assert.equal(error.details, "task t is busy");
  assert.equal(error.message, "ALREADY_EXISTS TASK_BUSY: task t is busy");
  assert.ok(error instanceof Error);
});

test("a status without details has no reason", () => {
  const error = DriveError.fromStatus({ code: status.UNAVAILABLE, details: "connection refused", metadata: new Metadata() });
  assert.equal(error.reason, "");
  assert.deepEqual(error.metadata, {});
  assert.equal(error.details, "connection refused");
  assert.equal(error.message, "UNAVAILABLE: connection refused");
});

test("details of other types are skipped", () => {
  const metadata = trailers(status.INVALID_ARGUMENT, "", [
    { typeUrl: "type.example/google.rpc.ErrorInfoX", value: Buffer.from([1, 2, 3]) },
  ]);
  assert.deepEqual(errorDetails(metadata), { reason: "", domain: "", metadata: {}, fieldViolations: [] });
  assert.equal(new DriveError(status.INVALID_ARGUMENT, "bad", metadata).details, "bad");
});

test("RetryInfo and BadRequest are read typed, and printed on the error line", () => {
  const violation = { field: "config.input.sample_rate_hz", description: "use 8000 to 48000", reason: "X" };
  const metadata = trailers(status.UNAVAILABLE, "draining", [
    { typeUrl: "type.googleapis.com/google.rpc.RetryInfo", value: Buffer.from(RetryInfo.encode({ retryDelay: { seconds: 1, nanos: 500_000_000 } }).finish()) },
    errorInfo("DRAINING", {}),
    { typeUrl: "type.googleapis.com/google.rpc.BadRequest", value: Buffer.from(BadRequest.encode(BadRequest.fromPartial({ fieldViolations: [violation] })).finish()) },
  ]);
  const error = new DriveError(status.UNAVAILABLE, "", metadata);
  assert.equal(error.reasonEnum, ErrorReason.DRAINING);
  assert.equal(error.retryDelayMs, 1500);
  assert.deepEqual(error.fieldViolations, [{ field: "config.input.sample_rate_hz", description: "use 8000 to 48000" }]);
  assert.equal(
    pythonJson(errorLine(error)),
    '{"event": "error", "code": "UNAVAILABLE", "reason": "DRAINING", "message": "draining", "metadata": {}, ' +
      '"retry_delay_ms": "1500", "field_violations": [{"field": "config.input.sample_rate_hz", "description": "use 8000 to 48000"}]}',
  );
  const bare = DriveError.fromStatus({ code: status.ALREADY_EXISTS, details: "busy", metadata: new Metadata() });
  assert.equal(bare.retryDelayMs, undefined);
  assert.deepEqual(bare.fieldViolations, []);
  assert.deepEqual(Object.keys(errorLine(bare)), ["event", "code", "reason", "message", "metadata"]);
});

test("the reason as the proto's enum; unknown and missing ones are unspecified", () => {
  assert.equal(reasonEnum("TASK_BUSY"), ErrorReason.TASK_BUSY);
  assert.equal(reasonEnum("FROM_THE_FUTURE"), ErrorReason.ERROR_REASON_UNSPECIFIED);
  assert.equal(reasonEnum(""), ErrorReason.ERROR_REASON_UNSPECIFIED);
  assert.equal(reasonEnum("UNRECOGNIZED"), ErrorReason.ERROR_REASON_UNSPECIFIED);
  for (const [name, value] of Object.entries(ErrorReason)) {
    if (typeof value === "number" && value >= 0) {
      assert.equal(reasonEnum(name), value, name);
    }
  }
});

test("code names", () => {
  assert.equal(codeName(3), "INVALID_ARGUMENT");
  assert.equal(codeName(6), "ALREADY_EXISTS");
  assert.equal(codeName(1), "CANCELLED");
  assert.equal(codeName(99), "CODE_99");
});
