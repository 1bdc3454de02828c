//! What a run takes from a tracer: its aggregate metrics as run metrics, and its entries
//! as MLflow traces (OTLP spans and quality assessments).

use super::MlflowRun;
use crate::error::Result;
use crate::export::{Conventions, TraceExport, SCHEMA_VERSION};
use crate::mlflow::config::Destination;
use crate::mlflow::op::{now_ms, ArtifactSource, Op};
use crate::mlflow::validate;
use crate::record::tracer::ExecutionTracer;

impl MlflowRun {
    /// Logs a tracer's aggregate metrics as run metrics at `step` (`tracer/<metric>` for all
    /// modules, `tracer/<module>/<metric>` per module) and its metrics and traces as the
    /// artifact `traces/traces.json`, in the export format (a
    /// [`TraceExport`](crate::export::TraceExport), as
    /// [`export_traces`](ExecutionTracer::export_traces) writes it).
    pub fn log_tracer(&self, tracer: &ExecutionTracer, step: i64) -> Result<()> {
        let m = tracer.get_metrics();
        let ts = now_ms();
        let mut points: Vec<(String, f64)> = vec![
            ("tracer/total_executions".into(), m.total_executions as f64),
            ("tracer/success_rate".into(), m.success_rate),
            ("tracer/avg_duration_ms".into(), m.avg_duration_ms),
            ("tracer/p50_duration_ms".into(), m.p50_duration_ms),
            ("tracer/p95_duration_ms".into(), m.p95_duration_ms),
            ("tracer/p99_duration_ms".into(), m.p99_duration_ms),
            (
                "tracer/total_tokens".into(),
                m.token_usage.total_tokens as f64,
            ),
        ];
        if let Some(q) = m.avg_quality_score {
            points.push(("tracer/avg_quality_score".into(), q));
        }
        if let Some(cost) = m.cost {
            points.push(("tracer/total_cost".into(), cost.total));
        }
        for (name, mm) in &m.modules {
            let p = format!("tracer/{}", metric_safe(name));
            points.extend([
                (format!("{p}/total_executions"), mm.total_executions as f64),
                (format!("{p}/success_rate"), mm.success_rate),
                (format!("{p}/avg_duration_ms"), mm.avg_duration_ms),
                (format!("{p}/p50_duration_ms"), mm.p50_duration_ms),
                (format!("{p}/p95_duration_ms"), mm.p95_duration_ms),
                (format!("{p}/p99_duration_ms"), mm.p99_duration_ms),
                (
                    format!("{p}/total_tokens"),
                    mm.token_usage.total_tokens as f64,
                ),
            ]);
            if let Some(q) = mm.avg_quality_score {
                points.push((format!("{p}/avg_quality_score"), q));
            }
            if let Some(cost) = mm.cost {
                points.push((format!("{p}/total_cost"), cost.total));
            }
            if let Some(cost) = mm.avg_trace_cost {
                points.push((format!("{p}/avg_trace_cost"), cost));
            }
        }
        for (key, value) in &points {
            let key: String = key.chars().take(validate::MAX_KEY_LENGTH).collect();
            self.log_metric_full(&key, *value, step, ts)?;
        }
        // The document `export_traces` writes, so `TraceExport::read` reads the artifact.
        let export = TraceExport {
            schema_version: SCHEMA_VERSION,
            exported_at_unix_nano: u64::try_from(ts).unwrap_or(0).saturating_mul(1_000_000),
            metrics: m,
            traces: tracer.get_traces(None),
        };
        self.log_dict(&export, "traces/traces.json")
    }

    /// Sends trace entries (e.g. `tracer.get_traces(None)`) to MLflow's trace store, linked
    /// to this run, so they show in the UI's Traces tab: one span per call with its inputs,
    /// outputs, span type (attribute `mlflow.spanType` or `span_type`, default `CHAIN`), token
    /// usage and error; each score (the quality score, named scores, feedback applied to the
    /// entry) becomes an assessment of its span: one per score.
    /// Returns the number of spans queued.
    ///
    /// A local store keeps them with the run (under the artifact folder `.monitor-traces`,
    /// as the OTLP requests a server would get), and [`push_local_store`] sends them to the
    /// server's trace store with the run.
    ///
    /// [`push_local_store`]: crate::mlflow::push_local_store
    pub fn log_traces(&self, entries: &[crate::entry::TraceEntry]) -> Result<usize> {
        if entries.is_empty() {
            return Ok(0);
        }
        let local = matches!(self.inner.channel.dest, Destination::Local(_));
        let kept = |kind: &str, body: String| Op::Artifact {
            run: self.key(),
            path: format!(
                "{}/{kind}-{:032x}.json",
                crate::mlflow::local::LOCAL_TRACES_DIR,
                uuid::Uuid::new_v4().as_u128()
            ),
            source: ArtifactSource::Text(body),
        };
        let complete = crate::mlflow::trace_store::with_missing_parents_as_roots(entries);
        for chunk in complete.chunks(500) {
            let conventions = Conventions::MLFLOW.with(Conventions::GENAI);
            let body = crate::export::otlp_request_in(chunk, "monitor", conventions).to_string();
            self.push(if local {
                kept("spans", body)
            } else {
                Op::Otlp {
                    run: self.key(),
                    experiment: self.inner.experiment.clone(),
                    body,
                }
            });
        }
        for (trace_id, body) in crate::mlflow::trace_store::assessments(entries) {
            self.push(if local {
                kept("assessment", body.to_string())
            } else {
                Op::Assessment {
                    run: self.key(),
                    trace_id,
                    body: body.to_string(),
                }
            });
        }
        Ok(entries.len())
    }
}

impl MlflowRun {
    /// Sends feedback given after a call (see
    /// [`ExecutionTracer::feedback`](crate::ExecutionTracer::feedback)) to MLflow as an
    /// assessment of its trace, on its span (the root without one): the Rust form of
    /// MLflow's `mlflow.log_feedback(trace_id=, name=, value=, source=, rationale=)` (and
    /// `log_expectation` for a score made with [`Score::as_expectation`]). The way a
    /// process that did not make the call (a feedback endpoint) reaches MLflow:
    ///
    /// ```no_run
    /// # use monitor_runtime as monitor;
    /// use monitor::{mlflow::MlflowLogger, Feedback, Score};
    ///
    /// # fn main() -> monitor::Result<()> {
    /// let logger = MlflowLogger::start("feedback")?;
    /// let thumbs_up = Score::new("thumbs_up", true)?.by_human("user-7");
    /// let trace_id = "0af7651916cd43dd8448eb211c80319c"; // as the client got it
    /// logger.log_feedback(&Feedback::new(trace_id, None, thumbs_up)?)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Like every log call it returns at once; delivery is retried as the logger's
    /// other records are. Each assessment carries the feedback's
    /// [`idempotency_key`](crate::Feedback::idempotency_key) in its metadata
    /// (`monitor.key`), and delivery looks for it on the trace before posting: the same
    /// feedback sent again, by a retry whose answer was lost or by another process, stays
    /// one assessment. (The first one stays: MLflow keeps no key to update by.)
    ///
    /// [`Score::as_expectation`]: crate::Score::as_expectation
    pub fn log_feedback(&self, feedback: &crate::record::feedback::Feedback) -> Result<()> {
        let feedback = crate::record::feedback::Feedback::new(
            &feedback.trace_id,
            feedback.span_id.as_deref(),
            feedback.score.clone(),
        )?;
        let (trace_id, body) = crate::mlflow::trace_store::assessment(
            &feedback.trace_id,
            feedback.span_id.as_deref(),
            None,
            &feedback.score,
        );
        self.push(Op::Assessment {
            run: self.key(),
            trace_id,
            body: body.to_string(),
        });
        Ok(())
    }
}

/// Replaces what MLflow keys do not allow (`<`, `>`, `,`, `&`...) with `_`.
fn metric_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect::<Vec<_>>()
        .join("/");
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}
