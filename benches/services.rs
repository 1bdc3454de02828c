//! What the server layer and injection cost per request, over the same axum handler
//! without them, in one run (differences, not absolute figures: the machine is shared).
//!
//! `cargo bench --features axum,reqwest,tokio --bench services`. Each request goes through
//! the router in process (`tower::ServiceExt::oneshot` on a current-thread runtime, no
//! sockets), so what differs between the variants is the monitoring alone:
//!
//! - `plain`: the router and handler;
//! - `layer`: with `ServerLayer` (a `server` call per request, named after its route);
//! - `layer_continuing`: the same, the request carrying a `traceparent` and baggage that
//!   the layer extracts and continues;
//! - `layer_injecting`: with the layer, the handler writing the current context into the
//!   headers of an outgoing request (`monitor::inject` into an `http::HeaderMap`).

use std::hint::black_box;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use criterion::Criterion;
use monitor::integrate::tower::ServerLayer;
use monitor::ExecutionTracer;
use tower::ServiceExt;

async fn handler() -> &'static str {
    "ok"
}

async fn injecting() -> &'static str {
    let mut outgoing = http::HeaderMap::new();
    black_box(monitor::inject(&mut outgoing));
    black_box(outgoing);
    "ok"
}

fn request(continuing: bool) -> Request<Body> {
    let mut request = Request::get("/users/7");
    if continuing {
        request = request
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .header("baggage", "session.id=s-1");
    }
    request.body(Body::empty()).unwrap()
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tracer = ExecutionTracer::with_max_traces(1000);
    let plain = Router::new().route("/users/{id}", get(handler));
    let layered = plain.clone().layer(ServerLayer::new().tracer(&tracer));
    let injecting = Router::new()
        .route("/users/{id}", get(injecting))
        .layer(ServerLayer::new().tracer(&tracer));

    let mut group = criterion.benchmark_group("services");
    for (name, app, continuing) in [
        ("plain", &plain, false),
        ("layer", &layered, false),
        ("layer_continuing", &layered, true),
        ("layer_injecting", &injecting, false),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime
                    .block_on(app.clone().oneshot(request(continuing)))
                    .unwrap()
            })
        });
    }
    group.finish();
    criterion.final_summary();
    eprintln!(
        "requests recorded: {}",
        tracer.get_metrics().total_executions
    );
}
