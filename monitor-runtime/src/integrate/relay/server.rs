//! The relay's server: a thread running a small tokio runtime that accepts loopback
//! connections, serves each with hyper's HTTP/1, reads each request's body within the
//! bound, and hands it to [`exchange`](super::exchange).

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::exchange::{self, RelayBody};
use super::{Shared, UNRECORDED_PREFIX};

/// How many bytes past the limit a refused body is read and dropped, so that the client,
/// still sending, reads the `413` instead of a reset connection.
const DRAINED_PAST_LIMIT: usize = 64 * 1024 * 1024;

/// Starts the relay's thread, serving `listener` until `stop` fires or is dropped.
pub(super) fn spawn(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("monitor-openai-relay".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                tokio::spawn(accept(listener, shared));
                let _ = stop.await;
            });
            // In-flight exchanges are dropped with the runtime, now.
            runtime.shutdown_background();
        })
}

async fn accept(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors, say: try again shortly rather than spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| handle(shared.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request: its route, its body within the bound, then the exchange with the API.
async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<RelayBody>, io::Error> {
    let (parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let (path_and_query, recorded) = match path_and_query.strip_prefix(UNRECORDED_PREFIX) {
        Some(rest) if rest.is_empty() || rest.starts_with(['/', '?']) => (rest, false),
        _ => (path_and_query, true),
    };
    let target = format!("{}{path_and_query}", shared.upstream);
    match read_body(body, shared.max_request_bytes).await {
        Ok(Some(body)) => exchange::forward(shared, parts, target, body, recorded).await,
        Ok(None) => Ok(too_large(&shared)),
        // The client broke off its request: nothing to forward, nothing to answer.
        Err(error) => Err(io::Error::other(error)),
    }
}

/// The body, or `None` when it passes `limit` bytes. A body past the limit is read on (and
/// dropped) up to [`DRAINED_PAST_LIMIT`] more, so that a client still sending it reads
/// the answer.
async fn read_body(mut body: Incoming, limit: usize) -> Result<Option<Bytes>, hyper::Error> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > limit.saturating_add(DRAINED_PAST_LIMIT) {
            break;
        }
    }
    Ok((seen <= limit).then(|| Bytes::from(kept)))
}

/// The answer to a body past the limit, counted.
fn too_large(shared: &Shared) -> Response<RelayBody> {
    Shared::count(&shared.too_large);
    let message = format!(
        "{{\"error\":{{\"message\":\"request body larger than the relay's limit of {} bytes (OpenAiRelay::builder(..).max_request_bytes)\",\"type\":\"request_too_large\"}}}}",
        shared.max_request_bytes
    );
    let mut response = Response::new(RelayBody::Left(Full::new(Bytes::from(message))));
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    // The connection is not reused: the rest of the body may still be on its way.
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}
