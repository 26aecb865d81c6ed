/**
 * `dh-drive stop | get-task | watch-task`: the gateway's other calls, as dh-drive lines.
 *
 * - `dh-drive stop --task T [--stop-mode finish|interrupt]` prints `{"event": "stopped",
 *   "drive_id": ..., "played_ms": ..., "interrupted": ...}` (StopDrive's answer);
 * - `dh-drive get-task --task T [--refresh]` prints `{"event": "task", <TaskInfo fields>}`;
 * - `dh-drive watch-task --task T` prints such a line now and at each change, until the task
 *   ended (exit 0) or the command is interrupted.
 *
 * Fields by their proto names, int64 as strings, enums by name, as for the drive's events; a
 * failed call prints the `error` line and exits 1. Each takes `--profile`, `--json` and the
 * connection flags (./connectionFlags.ts) as the drive command does.
 */

import { parseArgs } from "node:util";

import { GatewayClient } from "./client";
import type { Connection } from "./connection";
import { CONNECTION_HELP, CONNECTION_OPTIONS, CONNECTION_USAGE, clientOptionsOf, connectionOf, UsageError } from "./connectionFlags";
import { DriveError } from "./errors";
import { show, showError, taskJson } from "./output";

/** The flags of one of the other calls. */
export interface CommandArgs {
  /** The gateway: the connection flags, else the DHGW_* environment. */
  connection: Connection;
  task: string;
  profile: string;
  json: boolean;
  /** stop: "finish" or "interrupt". */
  stopMode: "finish" | "interrupt";
  /** get-task: ask the vendor now. */
  refresh: boolean;
}

/** A bad command line of a subcommand: printed after its usage; exit 2. */
export class CommandUsageError extends UsageError {}

const EXTRA: Record<string, string> = {
  stop: " [--stop-mode {finish,interrupt}]",
  "get-task": " [--refresh]",
  "watch-task": "",
};

function usage(name: string): string {
  const indent = " ".repeat(`usage: dh-drive ${name} `.length);
  const lines = [`[-h] --task TASK [--profile PROFILE] [--json]`, ...CONNECTION_USAGE];
  const extra = EXTRA[name] ?? "";
  if (extra) {
    lines.push(extra.trimStart());
  }
  return `usage: dh-drive ${name} ${lines.join(`\n${indent}`)}`;
}

/**
 * Parses the flags of subcommand `name`, each connection flag else its variable in `env`, and
 * reads the `--api-key-file`; `"help"` for `-h`. @throws UsageError
 */
export function parseCommand(
  name: string,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): CommandArgs | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        ...CONNECTION_OPTIONS,
        task: { type: "string" },
        profile: { type: "string", default: "" },
        json: { type: "boolean", default: false },
        ...(name === "stop" ? { "stop-mode": { type: "string" as const, default: "finish" } } : {}),
        ...(name === "get-task" ? { refresh: { type: "boolean" as const, default: false } } : {}),
      },
    }));
  } catch (error) {
    throw new CommandUsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    return "help";
  }
  if (values.task === undefined) {
    throw new CommandUsageError("the following arguments are required: --task");
  }
  const stopMode = String(values["stop-mode"] ?? "finish");
  if (stopMode !== "finish" && stopMode !== "interrupt") {
    throw new CommandUsageError(`argument --stop-mode: invalid choice: '${stopMode}' (choose from 'finish', 'interrupt')`);
  }
  return {
    connection: connectionOf(values, env),
    task: values.task,
    profile: String(values.profile),
    json: Boolean(values.json),
    stopMode,
    refresh: Boolean(values.refresh),
  };
}

type Call = (gateway: GatewayClient, args: CommandArgs) => Promise<void>;

const CALLS: Record<string, Call> = {
  stop: async (gateway, args) => {
    const mode = args.stopMode === "interrupt" ? "INTERRUPT" : "FINISH";
    const answer = await gateway.stop(args.task, { mode, profile: args.profile });
    // int64 as a string, as the proto's JSON form.
    const line = { event: "stopped", drive_id: answer.driveId, played_ms: String(answer.playedMs), interrupted: answer.interrupted };
    show(line, args.json);
  },
  "get-task": async (gateway, args) => {
    show(taskJson(await gateway.getTask(args.task, { profile: args.profile, refresh: args.refresh })), args.json);
  },
  "watch-task": async (gateway, args) => {
    for await (const info of gateway.watchTask(args.task, { profile: args.profile })) {
      show(taskJson(info), args.json);
    }
  },
};

async function runCommand(name: string, argv: readonly string[]): Promise<number> {
  let args: CommandArgs | "help";
  let gateway: GatewayClient | undefined;
  try {
    args = parseCommand(name, argv);
    gateway = args === "help" ? undefined : new GatewayClient(args.connection.address, clientOptionsOf(args.connection));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${usage(name)}\ndh-drive ${name}: error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (args === "help" || gateway === undefined) {
    process.stdout.write(`${usage(name)}\n\n${CONNECTION_HELP}\n`);
    return 0;
  }
  try {
    await CALLS[name]?.(gateway, args);
  } catch (error) {
    if (error instanceof DriveError) {
      showError(error, args.json);
      return 1;
    }
    throw error;
  } finally {
    gateway.close();
  }
  return 0;
}

/** `dh-drive <name> ...`: each runs with the arguments after its name, resolves with the exit status. */
export const COMMANDS: Readonly<Record<string, (argv: readonly string[]) => Promise<number>>> = Object.fromEntries(
  Object.keys(CALLS).map((name) => [name, (argv: readonly string[]) => runCommand(name, argv)]),
);
