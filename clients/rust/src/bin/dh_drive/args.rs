//! The flags of `dh-drive` and its subcommands, and what they ask for.

use dhgateway_client::{pb, ConflictPolicy, Encoding};

use crate::argparse::{flag, Flag, Given, Kind};
pub use crate::argparse::{Spec, Stop};

const TASK: Flag = Flag {
    required: true,
    ..flag("--task", Kind::Text, "the vendor's stream task id")
};
const JSON: Flag = flag("--json", Kind::Switch, "one JSON object per line");
const PROFILE: Flag = flag("--profile", Kind::Text, "the credentials profile");

/// The title of the connection flags' group in the help, as the Python `dh-drive`'s.
const GATEWAY: &str = "the gateway (each flag, else its DHGW_* variable)";

/// A flag of the connection group.
const fn gateway(name: &'static str, kind: Kind, help: &'static str) -> Flag {
    Flag {
        group: GATEWAY,
        ..flag(name, kind, help)
    }
}

const ADDR: Flag = gateway(
    "--addr",
    Kind::Text,
    "host:port or unix:/path ($DHGW_ADDRESS, else 127.0.0.1:50051)",
);
const TLS: Flag = gateway("--tls", Kind::Switch, "TLS, verified by the system's roots");
const CA: Flag = gateway(
    "--ca",
    Kind::Text,
    "PEM roots that verify the gateway (implies --tls)",
);
const CERT: Flag = gateway(
    "--cert",
    Kind::Text,
    "client certificate (PEM) for mutual TLS (needs --key)",
);
const KEY: Flag = gateway(
    "--key",
    Kind::Text,
    "the client certificate's private key (PEM)",
);
const SERVER_NAME: Flag = gateway(
    "--server-name",
    Kind::Text,
    "the name on the gateway's certificate",
);
const API_KEY_FILE: Flag = gateway(
    "--api-key-file",
    Kind::Text,
    "read the API key from this file (mode 600)",
);
const API_KEY: Flag = gateway(
    "--api-key",
    Kind::Text,
    "the API key itself ($DHGW_API_KEY; shows in ps)",
);
/// `--api-key-file` and `--api-key` exclude each other.
const ONE_KEY: &[&[&str]] = &[&["--api-key-file", "--api-key"]];

/// The flags `$before`, the connection flags, then `$after`: every command's order.
macro_rules! with_gateway {
    ($($before:expr),* ; $($after:expr),*) => {
        &[$($before,)* ADDR, TLS, CA, CERT, KEY, SERVER_NAME, API_KEY_FILE, API_KEY, $($after),*]
    };
}

const ENCODINGS: &[&str] = &["LINEAR16", "FLOAT32", "WAV", "MULAW", "ALAW"];
const POLICIES: &[&str] = &["REJECT", "PREEMPT", "QUEUE"];
const STOP_MODES: &[&str] = &["finish", "interrupt"];

/// `dh-drive`: the drive.
pub const DRIVE: Spec = Spec {
    prog: "dh-drive",
    description: "Stream a WAV or raw PCM file through dh-gateway and print its events.",
    flags: with_gateway![
        TASK,
        flag(
            "--file",
            Kind::Text,
            "a .wav file, or raw audio (or --text)",
        ),
        flag(
            "--text",
            Kind::Text,
            "speak this text with the vendor's TTS instead",
        ),
        flag("--timbre-id", Kind::Text, "the vendor's voice for --text"),
        flag(
            "--encoding",
            Kind::Choice(ENCODINGS),
            "default: by extension",
        ),
        flag("--rate", Kind::Int, "input sample rate (0: default)"),
        flag("--channels", Kind::Int, "input channels (0: default)"),
        flag("--policy", Kind::Choice(POLICIES), ""),
        flag("--chunk-ms", Kind::Int, "audio per message"),
        flag("--realtime", Kind::Switch, "send at 1x, like a live TTS"),
        flag(
            "--cancel-after-ms",
            Kind::Int,
            "cancel the drive after this long",
        ),
        flag(
            "--interrupt-after-ms",
            Kind::Int,
            "interrupt (silence) the avatar after this long",
        ),
        flag(
            "--mark-every-ms",
            Kind::Int,
            "a mark m<offset_ms> every N ms of audio",
        ),
        JSON;
    ],
    exclusive: ONE_KEY,
};

/// The subcommands, by name: the gateway's other calls.
pub static COMMANDS: [(Command, Spec); 3] = [
    (
        Command::Stop,
        Spec {
            prog: "dh-drive stop",
            description: "End the task's active drive (StopDrive).",
            flags: with_gateway![
                TASK, PROFILE, JSON;
                flag("--stop-mode", Kind::Choice(STOP_MODES), "")
            ],
            exclusive: ONE_KEY,
        },
    ),
    (
        Command::GetTask,
        Spec {
            prog: "dh-drive get-task",
            description: "How the task is (GetTask).",
            flags: with_gateway![
                TASK, PROFILE, JSON;
                flag("--refresh", Kind::Switch, "ask the vendor now")
            ],
            exclusive: ONE_KEY,
        },
    ),
    (
        Command::WatchTask,
        Spec {
            prog: "dh-drive watch-task",
            description: "The task now and at each change (WatchTask).",
            flags: with_gateway![TASK, PROFILE, JSON;],
            exclusive: ONE_KEY,
        },
    ),
];

/// A subcommand of `dh-drive`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Stop,
    GetTask,
    WatchTask,
}

/// The subcommand `name` and its flags, if it is one.
pub fn command(name: &str) -> Option<&'static (Command, Spec)> {
    COMMANDS
        .iter()
        .find(|(_, spec)| spec.prog.strip_prefix("dh-drive ") == Some(name))
}

/// The connection flags as given (each `None` when absent: its variable decides).
#[derive(Debug, Default, PartialEq)]
pub struct ConnectionFlags {
    pub addr: Option<String>,
    /// `Some(true)` with `--tls`: there is no flag to turn it off.
    pub tls: Option<bool>,
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub server_name: Option<String>,
    pub api_key_file: Option<String>,
    pub api_key: Option<String>,
}

impl ConnectionFlags {
    fn of(given: &Given) -> Self {
        Self {
            addr: given.text("--addr"),
            tls: given.switch("--tls").then_some(true),
            ca: given.text("--ca"),
            cert: given.text("--cert"),
            key: given.text("--key"),
            server_name: given.text("--server-name"),
            api_key_file: given.text("--api-key-file"),
            api_key: given.text("--api-key"),
        }
    }
}

/// The drive's flags.
#[derive(Debug, PartialEq)]
pub struct Args {
    pub task: String,
    pub file: Option<String>,
    pub text: Option<String>,
    pub timbre_id: String,
    pub encoding: Option<Encoding>,
    pub rate: i32,
    pub channels: i32,
    pub policy: ConflictPolicy,
    pub chunk_ms: i64,
    pub realtime: bool,
    pub cancel_after_ms: Option<i64>,
    /// Never when negative (as the Go `dh-drive`'s -1).
    pub interrupt_after_ms: Option<i64>,
    pub mark_every_ms: i64,
    pub json: bool,
    pub connection: ConnectionFlags,
}

/// The drive's flags from `argv`: exactly one of `--file` and `--text`.
pub fn parse(argv: &[String]) -> Result<Args, Stop> {
    let given = DRIVE.parse(argv)?;
    let (file, text) = (given.text("--file"), given.text("--text"));
    if file.is_some() == text.is_some() {
        return Err(Stop::Usage("give one of --file or --text".to_owned()));
    }
    let int = |name| given.text(name).map(|_| given.int(name, 0));
    let named = |name, prefix: &str| given.text(name).map(|value| format!("{prefix}{value}"));
    Ok(Args {
        task: given.text("--task").unwrap_or_default(),
        file,
        text,
        timbre_id: given.text("--timbre-id").unwrap_or_default(),
        encoding: named("--encoding", "ENCODING_").and_then(|e| Encoding::from_str_name(&e)),
        rate: given.int("--rate", 0),
        channels: given.int("--channels", 0),
        policy: named("--policy", "CONFLICT_POLICY_")
            .and_then(|p| ConflictPolicy::from_str_name(&p))
            .unwrap_or(ConflictPolicy::Reject),
        chunk_ms: given.int("--chunk-ms", 20),
        realtime: given.switch("--realtime"),
        cancel_after_ms: int("--cancel-after-ms"),
        interrupt_after_ms: int("--interrupt-after-ms"),
        mark_every_ms: given.int("--mark-every-ms", 0),
        json: given.switch("--json"),
        connection: ConnectionFlags::of(&given),
    })
}

/// A subcommand's flags (those it does not take keep their defaults).
#[derive(Debug, PartialEq)]
pub struct CommandArgs {
    pub task: String,
    pub profile: String,
    pub json: bool,
    pub stop_mode: pb::StopMode,
    pub refresh: bool,
    pub connection: ConnectionFlags,
}

/// The flags of the subcommand of `spec` from `argv`.
pub fn parse_command(spec: &Spec, argv: &[String]) -> Result<CommandArgs, Stop> {
    let given = spec.parse(argv)?;
    let interrupt = given.text("--stop-mode").as_deref() == Some("interrupt");
    Ok(CommandArgs {
        task: given.text("--task").unwrap_or_default(),
        profile: given.text("--profile").unwrap_or_default(),
        json: given.switch("--json"),
        stop_mode: if interrupt {
            pb::StopMode::Interrupt
        } else {
            pb::StopMode::Finish
        },
        refresh: given.switch("--refresh"),
        connection: ConnectionFlags::of(&given),
    })
}

#[cfg(test)]
mod tests;
