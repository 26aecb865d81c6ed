//! What the unit tests share: a runtime to block on, a gateway that cannot be reached, and one
//! that shows each call's headers.

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

/// A loopback HTTP/2 server (call it on a runtime) that answers every call UNIMPLEMENTED and
/// hands over the call's headers; its address as `host:port`.
pub(crate) async fn header_catcher() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<http::HeaderMap>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("bound").to_string();
    let (headers, caught) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let headers = headers.clone();
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((request, mut respond))) = connection.accept().await {
                    drop(headers.send(request.headers().clone()));
                    // Trailers-only: the status in the headers, the stream ended.
                    let response = http::Response::builder()
                        .header("content-type", "application/grpc")
                        .header("grpc-status", "12")
                        .body(())
                        .expect("a response");
                    drop(respond.send_response(response, true));
                }
            });
        }
    });
    (address, caught)
}
