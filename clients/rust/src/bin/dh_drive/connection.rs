//! The connection flags of every `dh-drive` command, and the [`Connection`] they make.
//!
//! Each flag falls back to its `DHGW_*` variable ([`Connection::from_env`]), so a shell can
//! point every command at a TLS gateway once. The API key comes from `--api-key-file` (a file
//! only its owner may read), `$DHGW_API_KEY`, or `--api-key`; the last shows in `ps` and the
//! shell's history, so it is the fallback for tries on a laptop.

use std::io;
use std::path::PathBuf;

use dhgateway_client::{Connection, ConnectionArgs};

use crate::args::{ConnectionFlags, Stop};

/// The connection the flags (else the environment) describe, its TLS files read and parsed
/// now: a bad flag or file is a usage error (exit 2), before anything is sent.
pub fn connection_of(flags: &ConnectionFlags) -> Result<Connection, Stop> {
    let api_key = match &flags.api_key_file {
        Some(path) => Some(read_api_key(path).map_err(Stop::Usage)?),
        None => flags.api_key.clone(),
    };
    let given = ConnectionArgs {
        address: flags.addr.clone(),
        api_key,
        tls: flags.tls,
        ca_file: flags.ca.as_ref().map(PathBuf::from),
        cert_file: flags.cert.as_ref().map(PathBuf::from),
        key_file: flags.key.as_ref().map(PathBuf::from),
        server_name: flags.server_name.clone(),
        ..ConnectionArgs::default()
    };
    let usage = |error: dhgateway_client::ConnectionError| Stop::Usage(error.to_string());
    let connection = Connection::from_env(given).map_err(usage)?;
    connection.endpoint().map_err(usage)?;
    Ok(connection)
}

/// The API key in `path`, its whitespace trimmed. A missing or empty file, or one that the
/// group or others may use, is refused (the message names the file, never the key): a key
/// others can read is a leaked key.
pub fn read_api_key(path: &str) -> Result<String, String> {
    let unreadable = |error: io::Error| format!("--api-key-file {path}: {}", strerror(&error));
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    let key = std::fs::read_to_string(path).map_err(unreadable)?;
    if others_may_use(&metadata) {
        return Err(format!(
            "--api-key-file {path} may be read by other users: chmod 600 {path}"
        ));
    }
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("--api-key-file {path} is empty"));
    }
    Ok(key.to_owned())
}

#[cfg(unix)]
fn others_may_use(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o077 != 0
}

#[cfg(not(unix))]
fn others_may_use(_metadata: &std::fs::Metadata) -> bool {
    false // no group/other mode bits to check
}

/// The system's message for `error` ("No such file or directory"), without Rust's
/// " (os error 2)", as Python's `strerror`.
fn strerror(error: &io::Error) -> String {
    let message = error.to_string();
    match message.rfind(" (os error ") {
        Some(at) if error.raw_os_error().is_some() => message[..at].to_owned(),
        _ => message,
    }
}

#[cfg(test)]
mod tests;
