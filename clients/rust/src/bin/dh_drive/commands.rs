//! `dh-drive stop | get-task | watch-task`: the gateway's other calls, as `dh-drive` lines.
//!
//! * `dh-drive stop --task T [--stop-mode finish|interrupt]` prints `{"event": "stopped",
//!   "drive_id": ..., "played_ms": ..., "interrupted": ...}` (StopDrive's answer);
//! * `dh-drive get-task --task T [--refresh]` prints `{"event": "task", <TaskInfo fields>}`;
//! * `dh-drive watch-task --task T` prints such a line now and at each change, until the task
//!   ended (exit 0).
//!
//! Fields by their proto names, int64 as strings, enums by name, as for the drive's events; a
//! failed call prints the `error` line and exits 1. Each takes `--profile`, `--json` and the
//! connection flags (`connection.rs`) as the drive command does.

use std::process::ExitCode;

use dhgateway_client::{Client, Connection, DriveError};

use crate::args::{Command, CommandArgs};
use crate::lines::{error_json, show, stopped_json, task_json};

/// Runs `command` on the gateway of `connection`; exit 0 when its call succeeded, 1 (after
/// the error line) when it failed.
pub async fn run(
    command: Command,
    args: CommandArgs,
    connection: Connection,
) -> Result<ExitCode, String> {
    let client = connection.connect_lazy().map_err(|e| e.to_string())?;
    match call(command, &client, &args).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            show(&error_json(&error), args.json);
            Ok(ExitCode::from(1))
        }
    }
}

async fn call(command: Command, client: &Client, args: &CommandArgs) -> Result<(), DriveError> {
    let (task, profile) = (args.task.as_str(), args.profile.as_str());
    match command {
        Command::Stop => {
            let response = client.stop(task, profile, args.stop_mode).await?;
            show(&stopped_json(&response), args.json);
        }
        Command::GetTask => {
            let info = client.get_task(task, profile, args.refresh).await?;
            show(&task_json(&info), args.json);
        }
        Command::WatchTask => {
            let mut watch = client.watch_task(task, profile).await?;
            while let Some(info) = watch.next().await {
                show(&task_json(&info?), args.json);
            }
        }
    }
    Ok(())
}
