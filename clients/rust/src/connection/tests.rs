use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::*;
use crate::testing::{block_on, header_catcher};

fn from(given: ConnectionArgs, vars: &[(&str, &str)]) -> Result<Connection, ConnectionError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    Connection::from_vars(given, |name| vars.get(name).cloned())
}

#[test]
fn without_arguments_or_variables_it_is_the_local_plaintext_gateway() {
    let connection = from(ConnectionArgs::default(), &[]).expect("valid");
    assert_eq!(connection, Connection::default());
    assert_eq!(connection.address, "127.0.0.1:50051");
    assert!(!connection.tls && connection.api_key.is_none());
    assert!(connection.tls_config().expect("nothing to read").is_none());
}

#[test]
fn each_field_falls_back_to_its_variable_and_an_argument_wins() {
    let vars = [
        ("DHGW_ADDRESS", "gw:443"),
        ("DHGW_API_KEY", "env-key"),
        ("DHGW_PROFILE", "p"),
        ("DHGW_TASK_ID", "t"),
        ("DHGW_TLS_CA_FILE", "ca.pem"),
        ("DHGW_TLS_CLIENT_CERT_FILE", "c.pem"),
        ("DHGW_TLS_CLIENT_KEY_FILE", "k.pem"),
        ("DHGW_TLS_SERVER_NAME", "gw.example"),
    ];
    let connection = from(ConnectionArgs::default(), &vars).expect("valid");
    assert_eq!(
        (connection.address.as_str(), connection.api_key.as_deref()),
        ("gw:443", Some("env-key"))
    );
    assert_eq!(
        (connection.profile.as_str(), connection.task_id.as_str()),
        ("p", "t")
    );
    assert!(connection.tls, "the files turn TLS on");
    assert_eq!(connection.ca_file, Some(PathBuf::from("ca.pem")));
    assert_eq!(connection.key_file, Some(PathBuf::from("k.pem")));
    assert_eq!(connection.server_name, "gw.example");
    let given = ConnectionArgs {
        address: Some("127.0.0.1:1".into()),
        api_key: Some("flag-key".into()),
        ca_file: Some("mine.pem".into()),
        ..ConnectionArgs::default()
    };
    let connection = from(given, &vars).expect("valid");
    assert_eq!(connection.address, "127.0.0.1:1");
    assert_eq!(connection.api_key.as_deref(), Some("flag-key"));
    assert_eq!(connection.ca_file, Some(PathBuf::from("mine.pem")));
    assert_eq!(connection.cert_file, Some(PathBuf::from("c.pem")));
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let vars = [("DHGW_ADDRESS", ""), ("DHGW_API_KEY", ""), ("DHGW_TLS", "")];
    let connection = from(ConnectionArgs::default(), &vars).expect("valid");
    assert_eq!(connection, Connection::default());
}

#[test]
fn dhgw_tls_takes_the_boolean_words() {
    for (word, tls) in [
        ("on", true),
        ("YES", true),
        ("1", true),
        ("off", false),
        ("no", false),
    ] {
        let connection = from(ConnectionArgs::default(), &[("DHGW_TLS", word)]).expect(word);
        assert_eq!(connection.tls, tls, "{word}");
    }
    let error = from(ConnectionArgs::default(), &[("DHGW_TLS", "sometimes")]).expect_err("bad");
    assert_eq!(error.to_string(), "DHGW_TLS='sometimes' is not on/off");
    let given = ConnectionArgs {
        tls: Some(true),
        ..ConnectionArgs::default()
    };
    assert!(from(given, &[("DHGW_TLS", "off")]).expect("valid").tls);
}

#[test]
fn a_certificate_needs_its_key_and_files_need_tls() {
    let cert_only = ConnectionArgs {
        cert_file: Some("c.pem".into()),
        ..ConnectionArgs::default()
    };
    assert!(matches!(
        from(cert_only, &[]),
        Err(ConnectionError::CertWithoutKey)
    ));
    let key_from_env = from(
        ConnectionArgs::default(),
        &[("DHGW_TLS_CLIENT_KEY_FILE", "k.pem")],
    );
    assert!(matches!(key_from_env, Err(ConnectionError::CertWithoutKey)));
    let off = ConnectionArgs {
        tls: Some(false),
        ca_file: Some("ca.pem".into()),
        ..ConnectionArgs::default()
    };
    assert!(matches!(
        from(off, &[]),
        Err(ConnectionError::FilesWithoutTls)
    ));
}

#[test]
fn a_tls_file_that_cannot_be_read_is_named() {
    let connection = Connection {
        tls: true,
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..Connection::default()
    };
    let error = connection.endpoint().expect_err("unreadable");
    assert!(matches!(error, ConnectionError::Read { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("/nonexistent/ca.pem: "),
        "{error}"
    );
}

#[test]
fn tls_files_that_are_not_pem_are_named() {
    let dir = std::env::temp_dir().join(format!("dhgw-rust-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not PEM\n").expect("written");
    let connection = Connection {
        tls: true,
        cert_file: Some(garbage.clone()),
        key_file: Some(garbage.clone()),
        ..Connection::default()
    };
    let error = connection.endpoint().expect_err("no key in it");
    assert!(matches!(error, ConnectionError::Tls { .. }), "{error:?}");
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("TLS files {0}, {0}: ", garbage.display())),
        "{shown}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn tls_wants_an_address_that_is_not_http() {
    let connection = Connection {
        address: "http://127.0.0.1:1".into(),
        tls: true,
        ..Connection::default()
    };
    let error = connection.endpoint().expect_err("plaintext URI");
    assert!(error.to_string().contains("http://127.0.0.1:1"), "{error}");
    assert_eq!(uri("127.0.0.1:1", true), "https://127.0.0.1:1");
    assert_eq!(uri("127.0.0.1:1", false), "http://127.0.0.1:1");
    assert_eq!(uri("unix:/run/dhgw.sock", false), "unix:/run/dhgw.sock");
}

#[test]
fn debug_hides_the_api_key() {
    let connection = Connection {
        api_key: Some("dhgw_secret".into()),
        ..Connection::default()
    };
    let shown = format!("{connection:?}");
    assert!(
        !shown.contains("dhgw_secret") && shown.contains("<hidden>"),
        "{shown}"
    );
}

/// A loopback listener that closes each connection it accepts, for about five seconds.
fn closing_listener() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.set_nonblocking(true).expect("nonblocking");
    let address = listener.local_addr().expect("bound").to_string();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => drop(stream.write_all(b"not TLS\r\n")),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    address
}

#[test]
fn a_tls_client_of_a_plaintext_server_is_unavailable() {
    let dir = std::env::temp_dir().join(format!("dhgw-rust-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    // No certificate in it: no root trusts anything, and the handshake fails anyway.
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "").expect("written");
    let connection = Connection {
        address: closing_listener(),
        ca_file: Some(ca),
        tls: true,
        api_key: Some("dhgw_key".into()),
        ..Connection::default()
    };
    block_on(async {
        let client = connection.connect_lazy().expect("valid");
        let call = client.capabilities();
        let error = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("within 10 s")
            .expect_err("no TLS there");
        assert_eq!(error.code_name(), "UNAVAILABLE", "{error}");
        assert!(!error.to_string().contains("dhgw_key"));
    });
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_trace_context_comes_from_traceparent_and_tracestate() {
    let vars = [
        (
            "TRACEPARENT",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
        ),
        ("TRACESTATE", "vendor=agent-7"),
    ];
    let connection = from(ConnectionArgs::default(), &vars).expect("valid");
    assert_eq!(
        connection.traceparent,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert_eq!(connection.tracestate, "vendor=agent-7");
    assert_eq!(
        from(ConnectionArgs::default(), &[])
            .expect("valid")
            .traceparent,
        ""
    );
}

/// The headers of one call of `client` to the catcher, its answer UNIMPLEMENTED.
async fn headers_of(
    caught: &mut tokio::sync::mpsc::UnboundedReceiver<http::HeaderMap>,
    call: impl std::future::Future<Output = Result<(), crate::DriveError>>,
) -> http::HeaderMap {
    let error = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("within 10 s")
        .expect_err("the catcher answers no call");
    assert_eq!(error.code_name(), "UNIMPLEMENTED", "{error}");
    tokio::time::timeout(Duration::from_secs(10), caught.recv())
        .await
        .expect("within 10 s")
        .expect("the call's headers")
}

#[test]
fn every_call_sends_the_trace_context_and_the_api_key() {
    block_on(async {
        let (address, mut caught) = header_catcher().await;
        let connection = Connection {
            address,
            api_key: Some("dhgw_key".into()),
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            tracestate: "vendor=agent-7".into(),
            ..Connection::default()
        };
        let client = connection.connect_lazy().expect("valid");
        let unary = headers_of(&mut caught, async { client.capabilities().await.map(drop) }).await;
        let (audio, mut events) = client.drive("t", &crate::DriveOptions::default());
        let stream = headers_of(&mut caught, async {
            events.next().await.expect("one item").map(drop)
        })
        .await;
        drop(audio);
        for headers in [unary, stream] {
            assert_eq!(
                headers["traceparent"],
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            );
            assert_eq!(headers["tracestate"], "vendor=agent-7");
            assert_eq!(headers["authorization"], "Bearer dhgw_key");
        }
    });
}

#[test]
fn a_tracestate_goes_only_with_a_traceparent() {
    block_on(async {
        let (address, mut caught) = header_catcher().await;
        let connection = Connection {
            address,
            tracestate: "vendor=agent-7".into(),
            ..Connection::default()
        };
        let client = connection.connect_lazy().expect("valid");
        let headers =
            headers_of(&mut caught, async { client.capabilities().await.map(drop) }).await;
        assert!(!headers.contains_key("tracestate") && !headers.contains_key("traceparent"));
        // One that cannot be a header is malformed: the calls go out without it.
        let connection = Connection {
            traceparent: "00-\n-01".into(),
            ..connection
        };
        let client = connection.connect_lazy().expect("valid");
        let headers =
            headers_of(&mut caught, async { client.capabilities().await.map(drop) }).await;
        assert!(!headers.contains_key("traceparent"), "{headers:?}");
    });
}
