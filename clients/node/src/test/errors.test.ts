import assert from "node:assert/strict";
import { test } from "node:test";

import { Metadata, status } from "@grpc/grpc-js";

import { codeName, DriveError, errorDetails } from "../errors";
import { RetryInfo } from "../gen/google/rpc/error_details";
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
  assert.deepEqual(errorDetails(metadata), { reason: "", domain: "", metadata: {} });
  assert.equal(new DriveError(status.INVALID_ARGUMENT, "bad", metadata).details, "bad");
});

test("code names", () => {
  assert.equal(codeName(3), "INVALID_ARGUMENT");
  assert.equal(codeName(6), "ALREADY_EXISTS");
  assert.equal(codeName(1), "CANCELLED");
  assert.equal(codeName(99), "CODE_99");
});
