//! Where and how spans go: the variables OpenTelemetry SDKs read, and the same in code.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::conventions::{Conventions, CONVENTIONS_VAR};
use super::encode::ResourceInfo;
use crate::capture::mask_url_credentials;
use crate::error::{Error, Result};
use crate::ExecutionTracer;

/// The wire format of OTLP over HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`: the OpenTelemetry default, and what Arize Phoenix takes.
    HttpProtobuf,
    /// `http/json`.
    HttpJson,
}

/// Which traces are exported. The decision is made from the trace id, so every span of a
/// trace, in every process, decides alike (parent-based); in-process metrics and history
/// always see every call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Every trace (`always_on`, `parentbased_always_on`; the default).
    AlwaysOn,
    /// No trace (`always_off`, `parentbased_always_off`).
    AlwaysOff,
    /// This fraction of traces, 0 to 1 (`traceidratio`, `parentbased_traceidratio`, with
    /// `OTEL_TRACES_SAMPLER_ARG`).
    TraceIdRatio(f64),
}

impl Sampler {
    /// Whether the trace with `trace_id` is exported. As OpenTelemetry's ratio sampler:
    /// the low 64 bits of the id against the ratio.
    pub(crate) fn keeps(self, trace_id: u128) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(ratio) => {
                // Truncation keeps the low 64 bits, as the sampler asks.
                let low = trace_id as u64;
                ((low >> 1) as f64) < ratio * (u64::MAX >> 1) as f64
            }
        }
    }
}

/// How the OTLP exporter sends spans. [`OtlpConfig::from_env`] reads the variables
/// OpenTelemetry SDKs read; every setter overrides one.
///
/// Its `Debug` output names the headers but never shows their values (they carry API
/// keys), and masks credentials in the endpoints.
#[derive(Clone)]
pub struct OtlpConfig {
    pub(crate) endpoint: String,
    pub(crate) protocol: Protocol,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) gzip: bool,
    pub(crate) service_name: String,
    pub(crate) resource: Vec<(String, Value)>,
    pub(crate) sampler: Sampler,
    pub(crate) max_queue_size: usize,
    pub(crate) max_export_batch_size: usize,
    pub(crate) schedule_delay: Duration,
    pub(crate) disabled: bool,
    /// Phoenix's `/v1/span_annotations`, where quality scores go as span annotations.
    pub(crate) annotations_url: Option<String>,
    /// Phoenix's `/graphql`, where the program's model prices go as custom models.
    pub(crate) phoenix_graphql: Option<String>,
    /// Where OTLP metrics go; `None` sends none.
    pub(crate) metrics_endpoint: Option<String>,
    pub(crate) metrics_interval: Duration,
    /// The tracer whose metrics are sent; `None` is the global one.
    pub(crate) metrics_tracer: Option<ExecutionTracer>,
    /// The attribute conventions spans are written in.
    pub(crate) conventions: Conventions,
    /// The MLflow experiment named rather than numbered (`MLFLOW_EXPERIMENT_NAME`): its id
    /// is read (or the experiment created) by the exporter, before the first spans.
    pub(crate) mlflow_experiment_name: Option<String>,
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, _)| (name.as_str(), crate::capture::REDACTED))
            .collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &mask_url_credentials(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("gzip", &self.gzip)
            .field("service_name", &self.service_name)
            .field("resource", &self.resource)
            .field("sampler", &self.sampler)
            .field("max_queue_size", &self.max_queue_size)
            .field("max_export_batch_size", &self.max_export_batch_size)
            .field("schedule_delay", &self.schedule_delay)
            .field("disabled", &self.disabled)
            .field(
                "annotations_url",
                &self.annotations_url.as_deref().map(mask_url_credentials),
            )
            .field(
                "phoenix_graphql",
                &self.phoenix_graphql.as_deref().map(mask_url_credentials),
            )
            .field(
                "metrics_endpoint",
                &self.metrics_endpoint.as_deref().map(mask_url_credentials),
            )
            .field("metrics_interval", &self.metrics_interval)
            .field("metrics_tracer", &self.metrics_tracer)
            .field("conventions", &self.conventions)
            .field("mlflow_experiment_name", &self.mlflow_experiment_name)
            .finish()
    }
}

const DEFAULT_ENDPOINT: &str = "http://localhost:4318";
/// The resource attribute that names a span's project in Phoenix.
const PHOENIX_PROJECT_ATTRIBUTE: &str = "openinference.project.name";
/// The header naming the experiment MLflow's OTLP endpoint files traces in.
const MLFLOW_EXPERIMENT_HEADER: &str = "x-mlflow-experiment-id";

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: format!("{DEFAULT_ENDPOINT}/v1/traces"),
            protocol: Protocol::HttpProtobuf,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            gzip: false,
            service_name: default_service_name(),
            resource: Vec::new(),
            sampler: Sampler::AlwaysOn,
            max_queue_size: 2048,
            max_export_batch_size: 512,
            schedule_delay: Duration::from_secs(5),
            disabled: false,
            annotations_url: None,
            phoenix_graphql: None,
            metrics_endpoint: Some(format!("{DEFAULT_ENDPOINT}/v1/metrics")),
            metrics_interval: Duration::from_secs(60),
            metrics_tracer: None,
            conventions: Conventions::default(),
            mlflow_experiment_name: None,
        }
    }
}

/// `unknown_service:<executable>`, as the OpenTelemetry resource conventions ask.
fn default_service_name() -> String {
    let executable = std::env::current_exe()
        .ok()
        .and_then(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()));
    match executable {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

impl OtlpConfig {
    /// The settings of the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as
    /// it is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended), `..._HEADERS`
    /// (`k=v,k2=v2`, values URL-encoded), `..._PROTOCOL` (`http/protobuf`, `http/json`),
    /// `..._TIMEOUT` (ms), `..._COMPRESSION` (`gzip`, `none`), each also in its `_TRACES_`
    /// form; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
    /// `OTEL_TRACES_SAMPLER_ARG`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`,
    /// `OTEL_BSP_SCHEDULE_DELAY` (ms) and `OTEL_SDK_DISABLED`. For metrics:
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` (or `/v1/metrics` beside the traces),
    /// `OTEL_METRICS_EXPORTER` (`otlp`, or `none`; `prometheus` and `console` also send none
    /// over OTLP) and `OTEL_METRIC_EXPORT_INTERVAL` (ms). The backends' own variables:
    /// `PHOENIX_COLLECTOR_ENDPOINT` (as [`phoenix`](Self::phoenix)), `PHOENIX_PROJECT_NAME`
    /// (the project spans land in), `PHOENIX_API_KEY` (sent as a bearer token);
    /// `MLFLOW_TRACKING_URI` with `MLFLOW_EXPERIMENT_ID` (as [`mlflow`](Self::mlflow)) or
    /// `MLFLOW_EXPERIMENT_NAME` (as [`mlflow_experiment_named`](Self::mlflow_experiment_named)); the
    /// `OTEL_*` endpoints win over both. `MONITOR_OTLP_CONVENTIONS` picks the attribute
    /// conventions ([`Conventions`]). A value that cannot be used is an error naming the
    /// variable.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    pub(crate) fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = OtlpConfig::default();
        let traces_var = |suffix: &str| {
            var(&format!("OTEL_EXPORTER_OTLP_TRACES_{suffix}"))
                .or_else(|| var(&format!("OTEL_EXPORTER_OTLP_{suffix}")))
        };
        // Only a server takes OTLP: a local `./mlruns` or `file:` URI does not. An id wins
        // over a name, as in MLflow's client.
        let server = var("MLFLOW_TRACKING_URI")
            .filter(|uri| uri.starts_with("http://") || uri.starts_with("https://"));
        if let Some(uri) = server {
            if let Some(experiment) = var("MLFLOW_EXPERIMENT_ID") {
                config = config.mlflow(&uri, &experiment)?;
            } else if let Some(name) = var("MLFLOW_EXPERIMENT_NAME") {
                config = config.mlflow_experiment_named(&uri, &name)?;
            }
        }
        if let Some(phoenix) = var("PHOENIX_COLLECTOR_ENDPOINT") {
            config = config.phoenix(&phoenix)?;
        }
        if let Some(project) = var("PHOENIX_PROJECT_NAME") {
            config = config.resource_attribute(PHOENIX_PROJECT_ATTRIBUTE, project);
        }
        if let Some(key) = var("PHOENIX_API_KEY") {
            config = config.header("authorization", format!("Bearer {key}"));
        }
        if let Some(base) = var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let base = base.trim_end_matches('/');
            config.endpoint = format!("{base}/v1/traces");
            config.metrics_endpoint = Some(format!("{base}/v1/metrics"));
        }
        if let Some(endpoint) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            config.endpoint = endpoint;
        }
        check_endpoint(&config.endpoint)?;
        if let Some(endpoint) = var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") {
            check_endpoint(&endpoint)?;
            config.metrics_endpoint = Some(endpoint);
        }
        if let Some(exporter) = var("OTEL_METRICS_EXPORTER") {
            match exporter.trim() {
                "otlp" => {}
                "none" | "prometheus" | "console" => config.metrics_endpoint = None,
                other => {
                    return Err(invalid(
                        "OTEL_METRICS_EXPORTER",
                        format!("{other:?} is not supported: use otlp or none"),
                    ))
                }
            }
        }
        if let Some(interval) = var("OTEL_METRIC_EXPORT_INTERVAL") {
            config.metrics_interval =
                Duration::from_millis(number(&interval, "OTEL_METRIC_EXPORT_INTERVAL")?.max(1));
        }
        if let Some(protocol) = traces_var("PROTOCOL") {
            config.protocol = match protocol.trim() {
                "http/protobuf" => Protocol::HttpProtobuf,
                "http/json" => Protocol::HttpJson,
                other => {
                    return Err(invalid(
                        "OTEL_EXPORTER_OTLP_PROTOCOL",
                        format!("{other:?} is not supported: use http/protobuf or http/json"),
                    ))
                }
            };
        }
        if let Some(headers) = traces_var("HEADERS") {
            config.headers = parse_pairs(&headers, "OTEL_EXPORTER_OTLP_HEADERS", Values::Secret)?;
        }
        if let Some(timeout) = traces_var("TIMEOUT") {
            // A zero timeout would fail every export, each after no wait at all.
            let millis = positive(&timeout, "OTEL_EXPORTER_OTLP_TIMEOUT")?;
            config.timeout = Duration::from_millis(millis as u64);
        }
        if let Some(compression) = traces_var("COMPRESSION") {
            config.gzip = match compression.trim() {
                "gzip" => true,
                "none" => false,
                other => {
                    return Err(invalid(
                        "OTEL_EXPORTER_OTLP_COMPRESSION",
                        format!("{other:?} is not supported: use gzip or none"),
                    ))
                }
            };
        }
        if let Some(attributes) = var("OTEL_RESOURCE_ATTRIBUTES") {
            for (key, value) in parse_pairs(&attributes, "OTEL_RESOURCE_ATTRIBUTES", Values::Plain)?
            {
                if key == "service.name" {
                    config.service_name = value;
                } else {
                    config = config.resource_attribute(key, value);
                }
            }
        }
        if let Some(name) = var("OTEL_SERVICE_NAME") {
            config.service_name = name;
        }
        if let Some(sampler) = var("OTEL_TRACES_SAMPLER") {
            let ratio = || match var("OTEL_TRACES_SAMPLER_ARG") {
                None => Ok(1.0),
                Some(arg) => arg
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| {
                        invalid(
                            "OTEL_TRACES_SAMPLER_ARG",
                            format!("{arg:?} is not a ratio from 0 to 1"),
                        )
                    }),
            };
            config.sampler = match sampler.trim() {
                "always_on" | "parentbased_always_on" => Sampler::AlwaysOn,
                "always_off" | "parentbased_always_off" => Sampler::AlwaysOff,
                "traceidratio" | "parentbased_traceidratio" => Sampler::TraceIdRatio(ratio()?),
                other => {
                    return Err(invalid(
                        "OTEL_TRACES_SAMPLER",
                        format!(
                            "{other:?} is not supported: use always_on, always_off, traceidratio \
                             or their parentbased_ forms"
                        ),
                    ))
                }
            };
        }
        if let Some(size) = var("OTEL_BSP_MAX_QUEUE_SIZE") {
            config.max_queue_size = positive(&size, "OTEL_BSP_MAX_QUEUE_SIZE")?;
        }
        if let Some(size) = var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            config.max_export_batch_size = positive(&size, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")?;
        }
        if let Some(delay) = var("OTEL_BSP_SCHEDULE_DELAY") {
            config = config.schedule_delay(Duration::from_millis(number(
                &delay,
                "OTEL_BSP_SCHEDULE_DELAY",
            )?));
        }
        if let Some(list) = var(CONVENTIONS_VAR) {
            config.conventions = Conventions::parse(&list)?;
        }
        if let Some(disabled) = var("OTEL_SDK_DISABLED") {
            config.disabled = disabled.trim().eq_ignore_ascii_case("true");
        }
        Ok(config)
    }

    /// Whether the environment names a destination: `OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `PHOENIX_COLLECTOR_ENDPOINT`, or an MLflow server
    /// (`MLFLOW_TRACKING_URI` at `http(s)://` with `MLFLOW_EXPERIMENT_ID` or
    /// `MLFLOW_EXPERIMENT_NAME`): programs can
    /// export only when it does.
    pub fn endpoint_in_env() -> bool {
        Self::names_destination(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    fn names_destination(var: impl Fn(&str) -> Option<String>) -> bool {
        let mlflow_server = var("MLFLOW_TRACKING_URI")
            .is_some_and(|uri| uri.starts_with("http://") || uri.starts_with("https://"))
            && (var("MLFLOW_EXPERIMENT_ID").is_some() || var("MLFLOW_EXPERIMENT_NAME").is_some());
        mlflow_server
            || [
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "PHOENIX_COLLECTOR_ENDPOINT",
            ]
            .iter()
            .any(|name| var(name).is_some())
    }

    /// The full URL spans are posted to, e.g. `http://127.0.0.1:4318/v1/traces`. When it
    /// ends in `/v1/traces`, metrics go to `/v1/metrics` beside it; otherwise none are sent
    /// unless [`metrics_endpoint`](Self::metrics_endpoint) says where.
    pub fn endpoint(mut self, traces_url: impl Into<String>) -> Result<Self> {
        self.endpoint = traces_url.into();
        check_endpoint(&self.endpoint)?;
        self.metrics_endpoint = self
            .endpoint
            .strip_suffix("/v1/traces")
            .map(|base| format!("{base}/v1/metrics"));
        Ok(self)
    }

    /// The full URL OTLP metrics are posted to, e.g. `http://127.0.0.1:4318/v1/metrics`.
    pub fn metrics_endpoint(mut self, metrics_url: impl Into<String>) -> Result<Self> {
        let url = metrics_url.into();
        check_endpoint(&url)?;
        self.metrics_endpoint = Some(url);
        Ok(self)
    }

    /// Sends no OTLP metrics (spans only).
    pub fn without_metrics(mut self) -> Self {
        self.metrics_endpoint = None;
        self
    }

    /// How often the metrics are sent (also at every [`flush`](crate::export::OtlpExporter::flush)
    /// and at shutdown). 60 s by default, as OpenTelemetry SDKs do.
    pub fn metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sends the metrics of `tracer` instead of the global tracer's.
    pub fn metrics_of(mut self, tracer: &ExecutionTracer) -> Self {
        self.metrics_tracer = Some(tracer.clone());
        self
    }

    /// Sends to an Arize Phoenix at `base_url` (e.g. `http://127.0.0.1:6006`): spans to its
    /// `/v1/traces` (protobuf, which is all Phoenix takes), and each quality score as a span
    /// annotation named `quality` through its REST API. Phoenix prices LLM spans itself,
    /// from its own table of public models: each model priced with
    /// [`set_model_price`](crate::set_model_price) is also created (or updated) there as a
    /// custom model, before the spans that need it are sent. `PHOENIX_COLLECTOR_ENDPOINT`
    /// in the environment does the same. Phoenix takes no metrics: none are sent.
    pub fn phoenix(mut self, base_url: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1/traces").unwrap_or(base);
        check_endpoint(base)?;
        self.endpoint = format!("{base}/v1/traces");
        self.protocol = Protocol::HttpProtobuf;
        self.annotations_url = Some(format!("{base}/v1/span_annotations"));
        self.phoenix_graphql = Some(format!("{base}/graphql"));
        self.metrics_endpoint = None;
        Ok(self)
    }

    /// The attribute conventions spans are written in (`openinference,genai` by default;
    /// `MONITOR_OTLP_CONVENTIONS` in the environment).
    pub fn conventions(mut self, conventions: Conventions) -> Self {
        self.conventions = conventions;
        self
    }

    /// Sends to an MLflow tracking server's OTLP endpoint (`{tracking_uri}/v1/traces`, MLflow
    /// 3.6 or later with a SQL store), into the experiment with id `experiment_id`, in
    /// MLflow's and the GenAI conventions (MLflow sums the spans' `mlflow.llm.cost` into the
    /// trace's cost). MLflow takes no OTLP metrics: none are sent. `MLFLOW_TRACKING_URI`
    /// with `MLFLOW_EXPERIMENT_ID` in the environment does the same.
    pub fn mlflow(self, tracking_uri: &str, experiment_id: &str) -> Result<Self> {
        let mut config = self.mlflow_server(tracking_uri)?;
        config.headers.push((
            MLFLOW_EXPERIMENT_HEADER.to_owned(),
            experiment_id.to_owned(),
        ));
        Ok(config)
    }

    /// As [`mlflow`](Self::mlflow), into the experiment named `name`: the exporter reads
    /// its id from the server before it sends the first spans, and creates the experiment
    /// when there is none, as MLflow's client does. Until it has the id (the server is
    /// down, the experiment is deleted) spans are counted failed, never filed elsewhere,
    /// and the reason is logged once. `MLFLOW_TRACKING_URI` with `MLFLOW_EXPERIMENT_NAME`
    /// in the environment does the same (`MLFLOW_EXPERIMENT_ID` wins over it). An empty
    /// name is an error.
    pub fn mlflow_experiment_named(self, tracking_uri: &str, name: &str) -> Result<Self> {
        if name.trim().is_empty() {
            return Err(invalid(
                "MLFLOW_EXPERIMENT_NAME",
                "an experiment name cannot be empty".to_owned(),
            ));
        }
        let mut config = self.mlflow_server(tracking_uri)?;
        config.mlflow_experiment_name = Some(name.to_owned());
        Ok(config)
    }

    /// Spans to an MLflow server's OTLP endpoint, in its conventions, with no experiment
    /// yet.
    fn mlflow_server(mut self, tracking_uri: &str) -> Result<Self> {
        let base = tracking_uri.trim_end_matches('/');
        check_endpoint(base)?;
        self.endpoint = format!("{base}/v1/traces");
        self.protocol = Protocol::HttpProtobuf;
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(MLFLOW_EXPERIMENT_HEADER));
        self.mlflow_experiment_name = None;
        self.conventions = Conventions::MLFLOW.with(Conventions::GENAI);
        self.metrics_endpoint = None;
        Ok(self)
    }

    /// Takes the MLflow experiment's id read by name: the header MLflow files spans by.
    pub(crate) fn set_mlflow_experiment_id(&mut self, id: &str) {
        self.mlflow_experiment_name = None;
        self.headers
            .push((MLFLOW_EXPERIMENT_HEADER.to_owned(), id.to_owned()));
    }

    /// The wire format.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Adds a header sent with every request (e.g. an API key).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long one request may take, retries included; also how long stopping the
    /// exporter may take, its last requests together (see
    /// [`OtlpExporter`](crate::export::OtlpExporter)). `OTEL_EXPORTER_OTLP_TIMEOUT=0` is
    /// refused, since no request could succeed in no time.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Gzip request bodies.
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// The resource's `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// Adds a resource attribute, e.g. `openinference.project.name` for Phoenix, replacing
    /// one of the same key.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        self.resource.retain(|(known, _)| *known != key);
        self.resource.push((key, value.into()));
        self
    }

    /// Which traces are exported.
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// At most this many finished calls wait to be exported, across every tracer, live or
    /// dropped, counting those taken and not yet sent; more are dropped and counted.
    pub fn max_queue_size(mut self, size: usize) -> Self {
        self.max_queue_size = size.max(1);
        self
    }

    /// At most this many spans per request.
    pub fn max_export_batch_size(mut self, size: usize) -> Self {
        self.max_export_batch_size = size.max(1);
        self
    }

    /// How often waiting spans are sent (sooner when a batch fills). At least 1 ms: a
    /// delay of zero would keep the exporter's thread busy with nothing to send.
    pub fn schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = delay.max(Duration::from_millis(1));
        self
    }

    pub(crate) fn resource_info(&self) -> ResourceInfo {
        let mut info = ResourceInfo::service(&self.service_name);
        info.attributes.extend(self.resource.iter().cloned());
        info.attributes
            .push(("telemetry.sdk.name".to_owned(), Value::from("monitor")));
        info.attributes
            .push(("telemetry.sdk.language".to_owned(), Value::from("rust")));
        info
    }
}

fn check_endpoint(endpoint: &str) -> Result<()> {
    if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!(
                "{:?} is not an http:// or https:// URL",
                mask_url_credentials(endpoint)
            ),
        ))
    }
}

fn invalid(setting: &'static str, reason: String) -> Error {
    Error::OtlpConfig { setting, reason }
}

fn number(text: &str, setting: &'static str) -> Result<u64> {
    text.trim()
        .parse()
        .map_err(|_| invalid(setting, format!("{text:?} is not a whole number")))
}

fn positive(text: &str, setting: &'static str) -> Result<usize> {
    match number(text, setting)? {
        0 => Err(invalid(setting, "must be at least 1".to_owned())),
        n => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
    }
}

/// Whether the values of `k=v` pairs may be shown in an error.
#[derive(Clone, Copy)]
enum Values {
    /// Headers: API keys and `Authorization`.
    Secret,
    Plain,
}

/// `k=v,k2=v2`, values percent-decoded, as the OTel specification writes headers and
/// resource attributes.
/// A malformed pair of `Values::Secret` is named by its position only.
fn parse_pairs(text: &str, setting: &'static str, values: Values) -> Result<Vec<(String, String)>> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .enumerate()
        .map(|(index, pair)| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                let shown = match values {
                    Values::Secret => {
                        format!("entry {} (not shown: it may be a credential)", index + 1)
                    }
                    Values::Plain => format!("{pair:?}"),
                };
                invalid(setting, format!("{shown} is not key=value"))
            })?;
            Ok((key.trim().to_owned(), percent_decode(value.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<OtlpConfig> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        OtlpConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn a_zero_schedule_delay_is_one_millisecond_not_a_busy_loop() {
        let config = from(&[("OTEL_BSP_SCHEDULE_DELAY", "0")]).unwrap();
        assert_eq!(config.schedule_delay, Duration::from_millis(1));
        let config = OtlpConfig::default().schedule_delay(Duration::ZERO);
        assert_eq!(config.schedule_delay, Duration::from_millis(1));
    }

    #[test]
    fn a_malformed_header_is_named_by_position_not_shown() {
        let error = from(&[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-team=ml,Authorization Bearer sk-secret",
        )])
        .unwrap_err()
        .to_string();
        assert!(!error.contains("sk-secret"), "{error}");
        assert!(error.contains("entry 2"), "{error}");
        let error = from(&[("OTEL_RESOURCE_ATTRIBUTES", "team")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"team\" is not key=value"), "{error}");
    }

    #[test]
    fn reads_the_standard_variables() {
        let config = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:6006/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api_key=a%20b,x-team=ml"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=qa,deployment.environment=prod",
            ),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ])
        .unwrap();
        assert_eq!(config.endpoint, "http://127.0.0.1:6006/v1/traces");
        assert_eq!(config.headers[0], ("api_key".into(), "a b".into()));
        assert_eq!(config.protocol, Protocol::HttpJson);
        assert_eq!(config.timeout, Duration::from_millis(2500));
        assert!(config.gzip);
        assert_eq!(config.service_name, "qa");
        assert_eq!(config.resource[0].0, "deployment.environment");
        assert_eq!(config.sampler, Sampler::TraceIdRatio(0.25));
        let traces = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:1"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:2/custom"),
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=ignored"),
        ])
        .unwrap();
        assert_eq!(traces.endpoint, "http://b:2/custom");
        assert_eq!(traces.service_name, "svc");
    }

    #[test]
    fn metrics_go_beside_the_traces_unless_told_otherwise() {
        let base = from(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")]).unwrap();
        assert_eq!(
            base.metrics_endpoint.as_deref(),
            Some("http://c:4318/v1/metrics")
        );
        assert_eq!(base.metrics_interval, Duration::from_secs(60));
        let own = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:9090/otlp"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ])
        .unwrap();
        assert_eq!(own.metrics_endpoint.as_deref(), Some("http://m:9090/otlp"));
        assert_eq!(own.metrics_interval, Duration::from_millis(1500));
        let off = from(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ])
        .unwrap();
        assert_eq!(off.metrics_endpoint, None);
        let phoenix = from(&[("PHOENIX_COLLECTOR_ENDPOINT", "http://p:6006")]).unwrap();
        assert_eq!(phoenix.metrics_endpoint, None);
        let custom = OtlpConfig::default().endpoint("http://c/traces").unwrap();
        assert_eq!(custom.metrics_endpoint, None);
        let error = from(&[("OTEL_METRICS_EXPORTER", "statsd")]).unwrap_err();
        assert!(
            error.to_string().contains("OTEL_METRICS_EXPORTER"),
            "{error}"
        );
    }

    #[test]
    fn phoenix_and_mlflow_are_set_up_by_their_own_variables() {
        let vars = [
            ("PHOENIX_COLLECTOR_ENDPOINT", "http://p:6006"),
            ("PHOENIX_PROJECT_NAME", "agents"),
            ("PHOENIX_API_KEY", "px-secret"),
        ];
        let phoenix = from(&vars).unwrap();
        assert_eq!(phoenix.endpoint, "http://p:6006/v1/traces");
        assert_eq!(
            phoenix.annotations_url.as_deref(),
            Some("http://p:6006/v1/span_annotations")
        );
        assert_eq!(
            phoenix.resource,
            [(
                "openinference.project.name".to_owned(),
                Value::from("agents")
            )]
        );
        assert_eq!(
            phoenix.headers,
            [("authorization".to_owned(), "Bearer px-secret".to_owned())]
        );
        let lookup = |vars: &'static [(&str, &str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(OtlpConfig::names_destination(lookup(&[(
            "PHOENIX_COLLECTOR_ENDPOINT",
            "http://p:6006"
        )])));

        let mlflow = from(&[
            ("MLFLOW_TRACKING_URI", "http://m:5000/"),
            ("MLFLOW_EXPERIMENT_ID", "12"),
        ])
        .unwrap();
        assert_eq!(mlflow.endpoint, "http://m:5000/v1/traces");
        assert_eq!(
            mlflow.headers,
            [("x-mlflow-experiment-id".to_owned(), "12".to_owned())]
        );
        assert_eq!(mlflow.metrics_endpoint, None);
        assert_eq!(
            mlflow.conventions,
            Conventions::MLFLOW.with(Conventions::GENAI)
        );
        // An experiment named: its id is read later, by the exporter; an id wins.
        const NAMED: [(&str, &str); 2] = [
            ("MLFLOW_TRACKING_URI", "http://m:5000"),
            ("MLFLOW_EXPERIMENT_NAME", "agents"),
        ];
        let named = NAMED;
        assert!(OtlpConfig::names_destination(lookup(&NAMED)));
        let by_name = from(&named).unwrap();
        assert_eq!(by_name.mlflow_experiment_name.as_deref(), Some("agents"));
        assert_eq!(by_name.endpoint, "http://m:5000/v1/traces");
        assert!(by_name.headers.is_empty());
        let both = from(&[named[0], named[1], ("MLFLOW_EXPERIMENT_ID", "12")]).unwrap();
        assert_eq!(both.mlflow_experiment_name, None);
        assert_eq!(both.headers, mlflow.headers);
        let empty = OtlpConfig::default().mlflow_experiment_named("http://m:5000", " ");
        assert!(empty
            .unwrap_err()
            .to_string()
            .contains("MLFLOW_EXPERIMENT_NAME"));
        const LOCAL: [(&str, &str); 2] = [
            ("MLFLOW_TRACKING_URI", "./mlruns"),
            ("MLFLOW_EXPERIMENT_ID", "1"),
        ];
        assert!(!OtlpConfig::names_destination(lookup(&LOCAL)));
        assert_eq!(
            from(&LOCAL).unwrap().endpoint,
            "http://localhost:4318/v1/traces"
        );
        let conventions = from(&[(CONVENTIONS_VAR, "openinference")]).unwrap();
        assert_eq!(conventions.conventions, Conventions::OPENINFERENCE);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc-web"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
            ("MONITOR_OTLP_CONVENTIONS", "zipkin"),
        ] {
            let error = from(&[(var, value)]).unwrap_err().to_string();
            assert!(error.contains(&var[..12]), "{var}: {error}");
        }
        let error = from(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ])
        .unwrap_err()
        .to_string();
        assert!(error.contains("OTEL_TRACES_SAMPLER_ARG"), "{error}");
    }

    #[test]
    fn the_ratio_sampler_keeps_about_its_ratio_and_whole_traces() {
        let sampler = Sampler::TraceIdRatio(0.25);
        let kept = (0..10_000u64)
            .filter(|i| {
                let id = (u128::from(*i) << 64) | u128::from(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                sampler.keeps(id)
            })
            .count();
        assert!((2_200..2_800).contains(&kept), "{kept}");
        let id = 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef;
        assert_eq!(sampler.keeps(id), sampler.keeps(id));
        assert!(Sampler::AlwaysOn.keeps(id) && !Sampler::AlwaysOff.keeps(id));
    }
}
