//! What the unit tests share: a runtime to block on, and a gateway that cannot be reached.

use crate::Client;

/// Runs `future` to its end on a fresh current-thread runtime.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A client of a loopback port that was free a moment ago: its calls are refused.
pub(crate) fn unreachable() -> Client {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    Client::connect_lazy(&format!("127.0.0.1:{port}")).expect("valid")
}
