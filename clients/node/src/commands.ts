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
 * failed call prints the `error` line and exits 1. Each takes `--addr`, `--profile`,
 * `--api-key` and `--json` as the drive command does.
 */

import { parseArgs } from "node:util";

import { GatewayClient } from "./client";
import { DriveError } from "./errors";
import { show, showError, taskJson } from "./output";

/** The flags of one of the other calls. */
export interface CommandArgs {
  addr: string;
  task: string;
  profile: string;
  apiKey: string | undefined;
  json: boolean;
  /** stop: "finish" or "interrupt". */
  stopMode: "finish" | "interrupt";
  /** get-task: ask the vendor now. */
  refresh: boolean;
}

/** A bad command line of a subcommand: printed after its usage; exit 2. */
export class CommandUsageError extends Error {}

const EXTRA: Record<string, string> = {
  stop: " [--stop-mode {finish,interrupt}]",
  "get-task": " [--refresh]",
  "watch-task": "",
};

function usage(name: string): string {
  return `usage: dh-drive ${name} [-h] [--addr ADDR] --task TASK [--profile PROFILE] [--api-key API_KEY] [--json]${EXTRA[name] ?? ""}`;
}

/** Parses the flags of subcommand `name`; `"help"` for `-h`. @throws CommandUsageError */
export function parseCommand(name: string, argv: readonly string[]): CommandArgs | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: "boolean", short: "h" },
        addr: { type: "string", default: "127.0.0.1:50051" },
        task: { type: "string" },
        profile: { type: "string", default: "" },
        "api-key": { type: "string" },
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
    addr: String(values.addr),
    task: values.task,
    profile: String(values.profile),
    apiKey: values["api-key"],
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
  try {
    args = parseCommand(name, argv);
  } catch (error) {
    if (error instanceof CommandUsageError) {
      process.stderr.write(`${usage(name)}\ndh-drive ${name}: error: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (args === "help") {
    process.stdout.write(`${usage(name)}\n`);
    return 0;
  }
  const gateway = new GatewayClient(args.addr, { apiKey: args.apiKey });
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
