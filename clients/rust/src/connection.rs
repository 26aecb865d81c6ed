//! Where the gateway is and how to reach it: from arguments, else the `DHGW_*` environment.
//!
//! The same variables as every language's client reads, so one shell points them all at a
//! gateway:
//!
//! * `DHGW_ADDRESS`: the gateway, `host:port` or `unix:/path` (default `127.0.0.1:50051`);
//! * `DHGW_API_KEY`: sent as `authorization: Bearer <key>`;
//! * `DHGW_PROFILE`: the gateway's credentials profile ("" = its default);
//! * `DHGW_TASK_ID`: the vendor's stream task to drive;
//! * `DHGW_TLS`: `on` for TLS with the system's roots;
//! * `DHGW_TLS_CA_FILE`: PEM roots that verify the gateway (turns TLS on);
//! * `DHGW_TLS_CLIENT_CERT_FILE` and `DHGW_TLS_CLIENT_KEY_FILE`: a client certificate for
//!   mutual TLS (turn TLS on);
//! * `DHGW_TLS_SERVER_NAME`: the name on the gateway's certificate, when not the address's
//!   host;
//! * `TRACEPARENT` and `TRACESTATE`: a W3C trace context to join (OpenTelemetry's convention for
//!   passing one to a process through its environment), sent with every call.
//!
//! None of these is one of the gateway's own settings (those say where it *listens*), so a
//! shell may hold both.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use tonic::metadata::errors::InvalidMetadataValue;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::client::{uri, Client};

/// The address when neither an argument nor `DHGW_ADDRESS` gives one.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:50051";

const TRUE: &[&str] = &["1", "on", "true", "yes"];
const FALSE: &[&str] = &["", "0", "off", "false", "no"];

/// How to reach one gateway, and which task to drive there.
///
/// Build it with [`Connection::from_env`] (or field by field); [`Connection::connect_lazy`]
/// opens the client it describes. Its `Debug` form hides the API key.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// `host:port`, `unix:/path`, or an `http://` / `https://` URI.
    pub address: String,
    /// Sent as `authorization: Bearer <key>` with every call; `None` for a gateway without keys.
    pub api_key: Option<String>,
    /// The gateway's credentials profile ("" = its default).
    pub profile: String,
    /// The vendor's stream task id ("" when not given).
    pub task_id: String,
    /// Connect with TLS (the files below imply it).
    pub tls: bool,
    /// PEM roots that verify the gateway (`None`: the system's).
    pub ca_file: Option<PathBuf>,
    /// The client certificate (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Its private key (PEM).
    pub key_file: Option<PathBuf>,
    /// The name to verify the gateway's certificate against ("" = the address's host).
    pub server_name: String,
    /// A W3C `traceparent` sent with every call, as given ("" = none): the gateway's spans
    /// join that trace.
    pub traceparent: String,
    /// Its `tracestate`, sent only with a traceparent ("" = none).
    pub tracestate: String,
}

impl Default for Connection {
    fn default() -> Self {
        Self {
            address: DEFAULT_ADDRESS.to_owned(),
            api_key: None,
            profile: String::new(),
            task_id: String::new(),
            tls: false,
            ca_file: None,
            cert_file: None,
            key_file: None,
            server_name: String::new(),
            traceparent: String::new(),
            tracestate: String::new(),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .field("api_key", &self.api_key.as_ref().map(|_| "<hidden>"))
            .field("profile", &self.profile)
            .field("task_id", &self.task_id)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("server_name", &self.server_name)
            .field("traceparent", &self.traceparent)
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

/// What [`Connection::from_env`] takes from its caller: each field given wins over its
/// `DHGW_*` variable; `None` leaves it to the variable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionArgs {
    /// Else `DHGW_ADDRESS`, else [`DEFAULT_ADDRESS`].
    pub address: Option<String>,
    /// Else `DHGW_API_KEY`.
    pub api_key: Option<String>,
    /// Else `DHGW_PROFILE`.
    pub profile: Option<String>,
    /// Else `DHGW_TASK_ID`.
    pub task_id: Option<String>,
    /// Else `DHGW_TLS` (`on`/`off`); the files turn TLS on.
    pub tls: Option<bool>,
    /// Else `DHGW_TLS_CA_FILE`.
    pub ca_file: Option<PathBuf>,
    /// Else `DHGW_TLS_CLIENT_CERT_FILE`.
    pub cert_file: Option<PathBuf>,
    /// Else `DHGW_TLS_CLIENT_KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// Else `DHGW_TLS_SERVER_NAME`.
    pub server_name: Option<String>,
}

/// Why a [`Connection`] cannot be made or opened. Its message never holds the API key.
#[derive(Debug)]
pub enum ConnectionError {
    /// A boolean variable (`DHGW_TLS`) is not `on`/`off` (nor 1/0, true/false, yes/no).
    NotOnOff {
        /// The variable's name.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A client certificate came without its key, or a key without its certificate.
    CertWithoutKey,
    /// TLS files were given with `tls: Some(false)`.
    FilesWithoutTls,
    /// TLS asked for an `http://` address.
    PlaintextAddress(String),
    /// A TLS file cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The TLS files' contents are not PEM certificates and a key (or the system has no
    /// roots).
    Tls {
        /// The files given.
        files: Vec<PathBuf>,
        /// What tonic said.
        source: tonic::transport::Error,
    },
    /// The address is not what tonic takes, or the connection failed.
    Transport(tonic::transport::Error),
    /// The API key cannot be a header value.
    ApiKey(InvalidMetadataValue),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOnOff { name, value } => write!(f, "{name}='{value}' is not on/off"),
            Self::CertWithoutKey => {
                f.write_str("a client certificate needs its key, and a key its certificate")
            }
            Self::FilesWithoutTls => f.write_str("TLS files were given with TLS off"),
            Self::PlaintextAddress(address) => {
                write!(
                    f,
                    "TLS needs host:port or an https:// address, not {address}"
                )
            }
            Self::Read { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Tls { files, source } => {
                let files: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
                if files.is_empty() {
                    f.write_str("TLS with the system's roots: ")?;
                } else {
                    write!(f, "TLS files {}: ", files.join(", "))?;
                }
                write_chain(f, source)
            }
            Self::Transport(error) => write_chain(f, error),
            Self::ApiKey(_) => f.write_str("the API key cannot be sent as a header value"),
        }
    }
}

impl std::error::Error for ConnectionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::Tls { source, .. } | Self::Transport(source) => Some(source),
            Self::ApiKey(error) => Some(error),
            _ => None,
        }
    }
}

impl From<tonic::transport::Error> for ConnectionError {
    fn from(error: tonic::transport::Error) -> Self {
        Self::Transport(error)
    }
}

impl Connection {
    /// Each field from `given` when it is `Some`, else from its `DHGW_*` variable (an empty one
    /// counts as unset), else its default; the trace context from `TRACEPARENT` and
    /// `TRACESTATE` (trimmed).
    ///
    /// # Errors
    ///
    /// `DHGW_TLS` is not a boolean word, a client certificate comes without its key (or the
    /// other way round), or TLS files come with `tls: Some(false)`.
    pub fn from_env(given: ConnectionArgs) -> Result<Self, ConnectionError> {
        Self::from_vars(given, |name| std::env::var(name).ok())
    }

    /// [`Connection::from_env`] with the variables from `var` instead of the process's
    /// environment (tests, or a configuration of your own).
    ///
    /// # Errors
    ///
    /// As [`Connection::from_env`].
    pub fn from_vars(
        given: ConnectionArgs,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConnectionError> {
        let text = |given: Option<String>, name: &str| {
            given.or_else(|| var(name).filter(|value| !value.is_empty()))
        };
        let path = |given: Option<PathBuf>, name: &str| {
            given.or_else(|| text(None, name).map(PathBuf::from))
        };
        let trimmed = |name: &str| var(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        let ca_file = path(given.ca_file, "DHGW_TLS_CA_FILE");
        let cert_file = path(given.cert_file, "DHGW_TLS_CLIENT_CERT_FILE");
        let key_file = path(given.key_file, "DHGW_TLS_CLIENT_KEY_FILE");
        if cert_file.is_some() != key_file.is_some() {
            return Err(ConnectionError::CertWithoutKey);
        }
        let files = ca_file.is_some() || cert_file.is_some();
        let tls = match given.tls {
            Some(false) if files => return Err(ConnectionError::FilesWithoutTls),
            Some(tls) => tls,
            None => boolean("DHGW_TLS", &var("DHGW_TLS").unwrap_or_default())?,
        };
        Ok(Self {
            address: text(given.address, "DHGW_ADDRESS").unwrap_or_else(|| DEFAULT_ADDRESS.into()),
            api_key: text(given.api_key, "DHGW_API_KEY"),
            profile: text(given.profile, "DHGW_PROFILE").unwrap_or_default(),
            task_id: text(given.task_id, "DHGW_TASK_ID").unwrap_or_default(),
            tls: tls || files,
            ca_file,
            cert_file,
            key_file,
            server_name: text(given.server_name, "DHGW_TLS_SERVER_NAME").unwrap_or_default(),
            traceparent: trimmed("TRACEPARENT"),
            tracestate: trimmed("TRACESTATE"),
        })
    }

    /// The channel's TLS configuration (`None`: plaintext): the CA file's roots, else the
    /// system's; the client certificate; the server name. Reads the files now.
    ///
    /// # Errors
    ///
    /// [`ConnectionError::Read`]: a file cannot be read.
    pub fn tls_config(&self) -> Result<Option<ClientTlsConfig>, ConnectionError> {
        if !self.tls {
            return Ok(None);
        }
        let mut config = match &self.ca_file {
            Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?)),
            None => ClientTlsConfig::new().with_native_roots(),
        };
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        if !self.server_name.is_empty() {
            config = config.domain_name(self.server_name.clone());
        }
        Ok(Some(config))
    }

    /// The endpoint of the gateway, with its TLS configuration (the files read and parsed
    /// now); not connected.
    ///
    /// # Errors
    ///
    /// A TLS file cannot be read or parsed, the address is not a URI tonic takes, or TLS was
    /// asked for with an `http://` address.
    pub fn endpoint(&self) -> Result<Endpoint, ConnectionError> {
        if self.tls && self.address.starts_with("http://") {
            return Err(ConnectionError::PlaintextAddress(self.address.clone()));
        }
        let endpoint = Endpoint::from_shared(uri(&self.address, self.tls))?;
        let Some(config) = self.tls_config()? else {
            return Ok(endpoint);
        };
        endpoint
            .tls_config(config)
            .map_err(|source| ConnectionError::Tls {
                files: [&self.ca_file, &self.cert_file, &self.key_file]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect(),
                source,
            })
    }

    /// A client of the gateway that connects on first use and sends the API key and the trace
    /// context with every call. Call it on a tokio runtime.
    ///
    /// # Errors
    ///
    /// As [`Connection::endpoint`], or the API key cannot be a header value.
    pub fn connect_lazy(&self) -> Result<Client, ConnectionError> {
        self.client(Client::new(self.endpoint()?.connect_lazy()))
    }

    /// A client of the gateway, connected now, that sends the API key and the trace context
    /// with every call.
    ///
    /// # Errors
    ///
    /// As [`Connection::connect_lazy`], or the gateway cannot be reached (or its TLS
    /// handshake fails).
    pub async fn connect(&self) -> Result<Client, ConnectionError> {
        self.client(Client::new(self.endpoint()?.connect().await?))
    }

    fn client(&self, client: Client) -> Result<Client, ConnectionError> {
        // A trace context that cannot be a header is malformed, which the gateway would ignore
        // too: the calls go out without it rather than fail on an ambient variable.
        let client = client
            .clone()
            .with_trace_context(&self.traceparent, &self.tracestate)
            .unwrap_or(client);
        match &self.api_key {
            Some(key) => client.with_api_key(key).map_err(ConnectionError::ApiKey),
            None => Ok(client),
        }
    }
}

/// `error` and what lies under it: tonic's own message is terse ("transport error").
fn write_chain(f: &mut fmt::Formatter<'_>, error: &tonic::transport::Error) -> fmt::Result {
    write!(f, "{error}")?;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        write!(f, ": {cause}")?;
        source = cause.source();
    }
    Ok(())
}

fn boolean(name: &'static str, value: &str) -> Result<bool, ConnectionError> {
    let word = value.trim().to_lowercase();
    if TRUE.contains(&word.as_str()) {
        Ok(true)
    } else if FALSE.contains(&word.as_str()) {
        Ok(false)
    } else {
        Err(ConnectionError::NotOnOff {
            name,
            value: value.to_owned(),
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ConnectionError> {
    std::fs::read(path).map_err(|source| ConnectionError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests;
