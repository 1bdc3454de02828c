// A small std-only HTTP/1.1 listener for `/metrics`: one thread accepts, and each
// connection is answered on a thread of its own, at most `MAX_CONNECTIONS` at once, so an
// idle or slow client never holds up another's scrape. Every request is answered from a
// fresh `prometheus_text`, every connection closed after one response. Bounded: request
// heads of at most `MAX_HEAD_BYTES`, a deadline to send them, a deadline to take the
// answer. Never panics on what a client sends; a panic anywhere in answering is caught and
// the connection dropped.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::text::prometheus_text;
use crate::{Error, ExecutionTracer, Result};

/// The `Content-Type` of the Prometheus text format the listener answers with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The largest request head (request line and headers) read; longer ones get a 431.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client has to send its request head once connected.
const READ_DEADLINE: Duration = Duration::from_secs(2);
/// How long a client has to take the whole response: Prometheus' default scrape timeout.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Connections answered at once, each on its own thread; more wait in the system's accept
/// queue until one ends. Each ends within its deadlines (about 19 s at worst, for a client
/// that sends its head and takes its answer at a trickle), so however many clients hold
/// connections, a scrape waits at most that long, and usually not at all.
const MAX_CONNECTIONS: usize = 32;

/// Serves `tracer`'s metrics at `GET /metrics` on `addr`, from a background thread. Needs the
/// `prometheus` feature.
///
/// The listener binds exactly where it is told (`127.0.0.1:9464` to stay on this machine,
/// `0.0.0.0:9464` for a Prometheus elsewhere, port 0 for any free port) and answers
/// `GET /metrics` (and `HEAD`) with [`prometheus_text`](crate::export::prometheus_text),
/// computed at each request, as `text/plain; version=0.0.4`. Any other path gets a 404, any
/// other method a 405; each connection is closed after its response. Requests are bounded
/// (8 KiB of head, 2 s to send it, 10 s to take the answer), and nothing a client sends can
/// make it panic. Up to 32 connections are answered at once, each on a short-lived thread
/// of its own, so idle or slow clients never hold up another's scrape; more wait until one
/// ends. It stops when the returned [`MetricsServer`] is dropped.
///
/// Point Prometheus at it with a scrape config such as:
///
/// ```yaml
/// scrape_configs:
///   - job_name: my-service
///     static_configs:
///       - targets: ['127.0.0.1:9464']
/// ```
///
/// ```
/// # use monitor_runtime as monitor;
/// use std::io::{Read, Write};
///
/// let tracer = monitor::ExecutionTracer::new();
/// tracer.trace("retrieve", ()).finish();
/// let server = monitor::export::serve_metrics("127.0.0.1:0", &tracer)?;
///
/// let mut http = std::net::TcpStream::connect(server.local_addr())?;
/// http.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
/// let mut response = String::new();
/// http.read_to_string(&mut response)?;
/// assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
/// assert!(response.contains(r#"monitor_calls_total{module="retrieve",status="success"} 1"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::MetricsListener`] when `addr` does not resolve, cannot be bound (in use, not
/// permitted), or the listener thread cannot be started.
pub fn serve_metrics(addr: impl ToSocketAddrs, tracer: &ExecutionTracer) -> Result<MetricsServer> {
    let fail = |address: String, source| Error::MetricsListener { address, source };
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|source| fail("(did not resolve)".to_owned(), source))?
        .collect();
    let described = || {
        addrs
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let listener = TcpListener::bind(&addrs[..]).map_err(|source| fail(described(), source))?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| fail(described(), source))?;
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new()
        .name("monitor-metrics".to_owned())
        .spawn({
            let shared = Arc::clone(&shared);
            let tracer = tracer.clone();
            move || accept_loop(&listener, &shared, &tracer)
        })
        .map_err(|source| fail(local_addr.to_string(), source))?;
    Ok(MetricsServer {
        local_addr,
        shared,
        thread: Some(thread),
    })
}

/// A running `/metrics` listener, from [`serve_metrics`]. Dropping it closes the port at
/// once; answers in progress finish on their own threads, within their deadlines.
#[derive(Debug)]
#[must_use = "the listener stops when this is dropped"]
pub struct MetricsServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What the accepting thread shares with the server and the connections' threads.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    /// Connections being answered.
    active: Mutex<usize>,
    /// Signalled when a connection ends or the server stops.
    room: Condvar,
}

impl Shared {
    /// Waits until fewer than `MAX_CONNECTIONS` are being answered and counts one more;
    /// `false` when the server stops first.
    fn take_room(&self) -> bool {
        let mut active = self.active.lock();
        while *active >= MAX_CONNECTIONS && !self.stop.load(Ordering::Acquire) {
            self.room.wait(&mut active);
        }
        if self.stop.load(Ordering::Acquire) {
            return false;
        }
        *active += 1;
        true
    }

    fn give_room(&self) {
        *self.active.lock() -= 1;
        self.room.notify_one();
    }
}

impl MetricsServer {
    /// The address the listener is bound to, with the port chosen when asked for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the listener; the same as dropping it.
    pub fn shutdown(self) {}
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // The thread waits for room (woken here) or in `accept`: a connection of our own
        // wakes it to see `stop`.
        {
            let _active = self.shared.active.lock();
            self.shared.room.notify_all();
        }
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let woken = TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok();
        if let Some(thread) = self.thread.take() {
            // Unwoken, the thread ends at its next connection; do not wait for that.
            if woken {
                let _ = thread.join();
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, tracer: &ExecutionTracer) {
    while shared.take_room() {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        match accepted {
            Ok((stream, _)) => answer_on_own_thread(stream, shared, tracer),
            Err(_) => {
                shared.give_room();
                // Out of file descriptors and the like: let it pass rather than spin.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Answers `stream` on a thread of its own, which gives its room back when it ends. When
/// no thread can be started, the connection is closed unanswered.
fn answer_on_own_thread(stream: TcpStream, shared: &Arc<Shared>, tracer: &ExecutionTracer) {
    let spawned = std::thread::Builder::new()
        .name("monitor-metrics-conn".to_owned())
        .spawn({
            let shared = Arc::clone(shared);
            let tracer = tracer.clone();
            move || {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = answer(stream, &tracer);
                }));
                shared.give_room();
            }
        });
    if spawned.is_err() {
        shared.give_room();
    }
}

/// Reads one request head, writes one response, closes.
fn answer(mut stream: TcpStream, tracer: &ExecutionTracer) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let response = match read_head(&mut stream)? {
        Head::Complete(head) => respond(&head, tracer),
        Head::TooLarge => Response::error(431, "Request Header Fields Too Large"),
        Head::Incomplete => return Ok(()),
    };
    let deadline = Instant::now() + WRITE_DEADLINE;
    write_by(&mut stream, response.head.as_bytes(), deadline)?;
    write_by(&mut stream, &response.body, deadline)?;
    let _ = stream.shutdown(Shutdown::Write);
    // Read what the client may still send (a body we ignore), briefly, so that closing a
    // socket with unread data does not reset the connection before the response is read.
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut sink = [0; 1024];
    for _ in 0..64 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Writes all of `bytes` before `deadline`: a client that takes them slower fails, however
/// little it takes at a time.
fn write_by(stream: &mut TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = &bytes[written..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

enum Head {
    Complete(Vec<u8>),
    TooLarge,
    /// The client closed or went quiet before the end of its head.
    Incomplete,
}

fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let deadline = Instant::now() + READ_DEADLINE;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Head::Incomplete);
        }
        stream.set_read_timeout(Some(left))?;
        let read = match stream.read(&mut chunk) {
            Ok(0) => return Ok(Head::Incomplete),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Head::Incomplete)
            }
            Err(error) => return Err(error),
        };
        // Look for the blank line from a little before the new bytes.
        let from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..read]);
        if let Some(end) = end_of_head(&head[from..]) {
            head.truncate(from + end);
            return Ok(if head.len() > MAX_HEAD_BYTES {
                Head::TooLarge
            } else {
                Head::Complete(head)
            });
        }
        if head.len() > MAX_HEAD_BYTES {
            return Ok(Head::TooLarge);
        }
    }
}

/// Where the head ends (the blank line, `\r\n\r\n` or a bare `\n\n`), if it does in `bytes`.
fn end_of_head(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

struct Response {
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn new(status: u16, reason: &str, content_type: &str, body: Vec<u8>, extra: &str) -> Self {
        Response {
            head: format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                body.len()
            ),
            body,
        }
    }

    fn error(status: u16, reason: &str) -> Self {
        let body = format!("{status} {reason}\n").into_bytes();
        Response::new(status, reason, "text/plain; charset=utf-8", body, "")
    }
}

fn respond(head: &[u8], tracer: &ExecutionTracer) -> Response {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Response::error(400, "Bad Request");
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Response::error(400, "Bad Request");
    };
    if !version.starts_with("HTTP/1.") {
        return Response::error(400, "Bad Request");
    }
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if path != "/metrics" {
        return Response::error(404, "Not Found");
    }
    match method {
        "GET" => Response::new(
            200,
            "OK",
            CONTENT_TYPE,
            prometheus_text(tracer).into_bytes(),
            "",
        ),
        "HEAD" => {
            let mut response = Response::new(
                200,
                "OK",
                CONTENT_TYPE,
                prometheus_text(tracer).into_bytes(),
                "",
            );
            response.body.clear();
            response
        }
        _ => {
            let body = b"405 Method Not Allowed\n".to_vec();
            Response::new(
                405,
                "Method Not Allowed",
                "text/plain; charset=utf-8",
                body,
                "Allow: GET, HEAD\r\n",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_end_at_the_first_blank_line() {
        assert_eq!(end_of_head(b"GET / HTTP/1.1\r\n\r\n"), Some(14));
        assert_eq!(end_of_head(b"GET / HTTP/1.1\n\nbody"), Some(14));
        assert_eq!(end_of_head(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn requests_other_than_get_metrics_are_refused() {
        let tracer = ExecutionTracer::new();
        let status = |head: &[u8]| respond(head, &tracer).head[9..12].to_owned();
        assert_eq!(status(b"GET /metrics HTTP/1.1"), "200");
        assert_eq!(status(b"GET /metrics?x=1 HTTP/1.0"), "200");
        assert_eq!(status(b"HEAD /metrics HTTP/1.1"), "200");
        assert_eq!(status(b"POST /metrics HTTP/1.1"), "405");
        assert_eq!(status(b"GET / HTTP/1.1"), "404");
        assert_eq!(status(b"GET /metricsx HTTP/1.1"), "404");
        assert_eq!(status(b"GET /metrics"), "400");
        assert_eq!(status(b"GET /metrics SPDY/3"), "400");
        assert_eq!(status(b"\xff\xfe /metrics HTTP/1.1"), "400");
        assert_eq!(status(b""), "400");
    }
}
