//! Servers (feature `tower`): [`ServerLayer`] makes each request a tower service (axum,
//! hyper, tonic) handles a monitored `server` call that continues the caller's trace.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ::http::{Extensions, Method, Request, Response, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::entry::ErrorInfo;
use crate::kind::SpanKind;
use crate::record::scope::current_tracer;
use crate::record::trace_context::WithTracerExt;
use crate::record::tracer::ExecutionTracer;

/// Names a request's route from its method, URI and extensions (`None`: unmatched).
type RouteFn = dyn Fn(&Method, &Uri, &Extensions) -> Option<String> + Send + Sync;

/// A `tower::Layer` that makes each request a monitored call of kind `server`:
///
/// - it continues the trace the caller sent (W3C `traceparent`, `tracestate`, `baggage`;
///   see [`extract`](crate::extract)), or starts one;
/// - it is named `METHOD route` after the route that matched (axum's `MatchedPath`, with
///   the `axum` feature, or what [`route_with`](Self::route_with) says), never the raw
///   path: a request no route matched is `METHOD unmatched`, and methods outside the
///   standard nine are `_OTHER`, so the number of modules stays that of the routes;
/// - it records `http.request.method`, `http.route` and `http.response.status_code`; a
///   5xx response or an error from the service fails the call;
/// - the call is the current one while the handler runs, across `.await`s and in work it
///   starts with [`spawn`](crate::spawn), so monitored calls inside are its children and
///   [`inject`](crate::inject) passes the trace on.
///
/// With axum, add it with `Router::layer` (after the routes, so the route is known):
///
/// ```
/// # use monitor_runtime as monitor;
/// use axum::{routing::get, Router};
/// use monitor::integrate::tower::ServerLayer;
///
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "hello" }))
///     .layer(ServerLayer::new());
/// ```
#[derive(Clone, Default)]
pub struct ServerLayer {
    tracer: Option<ExecutionTracer>,
    route: Option<Arc<RouteFn>>,
}

impl std::fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLayer")
            .field("tracer", &self.tracer.is_some())
            .field("route_with", &self.route.is_some())
            .finish()
    }
}

impl ServerLayer {
    /// Records into the tracer current where each request is handled (see
    /// [`current_tracer`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records into `tracer`, which is also the default tracer of the handler's calls.
    pub fn tracer(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// Names a request's route with `route` (a template such as `/users/{id}`, never a
    /// raw path: each distinct name is a module with its own metrics), before axum's
    /// matched route is looked at; `None` leaves the request to them.
    pub fn route_with(
        mut self,
        route: impl Fn(&Method, &Uri, &Extensions) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.route = Some(Arc::new(route));
        self
    }

    /// The route that matched `request`, if known.
    fn route_of<B>(&self, request: &Request<B>) -> Option<String> {
        if let Some(route) = &self.route {
            if let Some(name) = route(request.method(), request.uri(), request.extensions()) {
                return Some(name);
            }
        }
        #[cfg(feature = "axum")]
        if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
            return Some(matched.as_str().to_owned());
        }
        None
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> ServerService<S> {
        ServerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ServerLayer`] wraps around another.
#[derive(Clone, Debug)]
pub struct ServerService<S> {
    inner: S,
    layer: ServerLayer,
}

/// The method as recorded: one of the nine standard methods, else `_OTHER` (as the
/// OpenTelemetry HTTP conventions say), so a client cannot make up module names.
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "_OTHER",
    }
}

impl<S, B, R> Service<Request<B>> for ServerService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    S::Error: Display + 'static,
    R: 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let remote = crate::propagate::extract(request.headers());
        let method = method_name(request.method());
        let route = self.layer.route_of(&request);
        let scoped = self.layer.tracer.clone();
        let tracer = scoped.clone();
        let work = self.inner.call(request);
        let served = async move {
            let tracer = tracer.unwrap_or_else(current_tracer);
            let name = match &route {
                Some(route) => format!("{method} {route}"),
                None => format!("{method} unmatched"),
            };
            // The guard goes into the instrumented future before any `.await`.
            let traced = {
                let mut call = tracer.trace(&name, ());
                call.add_known_attributes([
                    (
                        crate::kind::KIND_ATTRIBUTE,
                        SpanKind::Server.as_str().into(),
                    ),
                    ("http.request.method", method.into()),
                ]);
                if let Some(route) = route {
                    let max = call.tracer().max_field_bytes();
                    // A route named by `route_with` may be any text: capped as fields are.
                    let route = if route.len() > max {
                        crate::capture::keep_text("", &route, max)
                    } else {
                        route
                    };
                    call.add_known_attributes([("http.route", route.into())]);
                }
                call.instrument_keep(work)
            };
            let (result, mut call) = traced.await;
            match &result {
                Ok(response) => {
                    let status = response.status();
                    call.add_known_attributes([(
                        "http.response.status_code",
                        status.as_u16().into(),
                    )]);
                    if status.is_server_error() {
                        call.fail_with(ErrorInfo::new(
                            "http.response.status_code",
                            status.to_string(),
                        ));
                    }
                }
                Err(error) => call.fail_with(ErrorInfo::new(
                    std::any::type_name::<S::Error>(),
                    error.to_string(),
                )),
            }
            call.finish();
            result
        };
        // The layer's tracer is also the handler's default, so its calls land beside the
        // request's.
        let served: Self::Future = match scoped {
            Some(tracer) => Box::pin(served.with_default_tracer(&tracer)),
            None => Box::pin(served),
        };
        match remote {
            Some(remote) => Box::pin(remote.attach(served)),
            None => served,
        }
    }
}
