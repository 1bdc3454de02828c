//! `log-batch` requests: a run's metrics, params and tags taken from the front of the
//! queue within MLflow's limits; a refused batch resent one record at a time to find the
//! refused ones; and metric points the server may have already (a replay, or a lost
//! answer) checked against its history before they are sent again.

use std::collections::HashSet;

use serde_json::json;

use super::{Backend, Dispatcher, Pending};
use crate::mlflow::client::Failure;
use crate::mlflow::delivery::error_chain;
use crate::mlflow::op::wire_f64;
use crate::mlflow::op::{Op, RunKey};

/// MLflow's `log-batch` limits, and a size well under its 1 MB request limit.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_ITEMS: usize = 1000;
const MAX_BYTES: usize = 512 * 1024;
/// How far past other runs' records a batch looks for more of its own.
const MAX_SCAN: usize = 4096;

impl Dispatcher {
    /// Takes this run's metrics, params and tags from the front of `pending`, within the
    /// limits, and sends them as one `log-batch`.
    pub(super) fn send_batch(&mut self, run: RunKey, run_id: &str) {
        let single = self.isolate.get(&run).copied().unwrap_or(0) > 0;
        let mut taken: Vec<Pending> = Vec::new();
        let mut skipped: Vec<Pending> = Vec::new();
        let (mut metrics, mut params, mut tags, mut bytes) = (0usize, 0usize, 0usize, 0usize);
        let mut param_keys: Vec<String> = Vec::new();
        let mut tag_keys: Vec<String> = Vec::new();
        let mut scanned = 0;
        while let Some(item) = self.pending.front() {
            if scanned >= MAX_SCAN || (single && !taken.is_empty()) {
                break;
            }
            scanned += 1;
            let op = &item.op;
            if op.run() != run {
                skipped.push(self.pending.pop_front().expect("front exists"));
                continue;
            }
            if !op.is_batchable() {
                break;
            }
            let fits = match op {
                Op::Metric { key, .. } => {
                    bytes += key.len() + 80;
                    metrics < MAX_METRICS
                }
                Op::Param { key, value, .. } => {
                    bytes += key.len() + value.len() + 40;
                    params < MAX_PARAMS && !param_keys.contains(key)
                }
                Op::Tag { key, value, .. } => {
                    bytes += key.len() + value.len() + 40;
                    tags < MAX_TAGS && !tag_keys.contains(key)
                }
                _ => false,
            };
            if !fits
                || metrics + params + tags >= MAX_ITEMS
                || (bytes > MAX_BYTES && !taken.is_empty())
            {
                break;
            }
            match op {
                Op::Metric { .. } => metrics += 1,
                Op::Param { key, .. } => {
                    params += 1;
                    param_keys.push(key.clone());
                }
                Op::Tag { key, .. } => {
                    tags += 1;
                    tag_keys.push(key.clone());
                }
                _ => {}
            }
            taken.push(self.pending.pop_front().expect("front exists"));
        }
        for item in skipped.into_iter().rev() {
            self.pending.push_front(item);
        }
        if self.verify.contains(&run) && metrics > 0 {
            match self.drop_already_delivered(run, run_id, &mut taken) {
                Ok(()) => {}
                Err(Failure::Retryable(r)) => {
                    self.requeue_front(taken);
                    self.retry_later(r);
                    return;
                }
                Err(Failure::Rejected(e)) => {
                    // The history cannot be read (an old server?): send, at the risk of
                    // duplicates, rather than hold the records forever.
                    crate::record::subscriber::emit!(
                        tracing::warn!(target: "monitor::mlflow", "cannot check which points of run {run_id} the server has ({e}); resending them")
                    );
                    self.verify.remove(&run);
                }
            }
            if taken.is_empty() {
                return;
            }
        }
        let result = self.send_log_batch(run_id, &taken);
        match result {
            Ok(()) => {
                if single {
                    if let Some(n) = self.isolate.get_mut(&run) {
                        *n -= 1;
                        if *n == 0 {
                            self.isolate.remove(&run);
                        }
                    }
                }
                self.delivered(taken);
            }
            Err(Failure::Rejected(e)) if taken.len() > 1 => {
                // Find the refused records: resend this batch one record per request.
                crate::record::subscriber::emit!(
                    tracing::debug!(target: "monitor::mlflow", "batch refused ({e}); resending its records one by one")
                );
                self.isolate.insert(run, taken.len());
                self.requeue_front(taken);
            }
            Err(Failure::Rejected(e)) => {
                if let Some(n) = self.isolate.get_mut(&run) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.isolate.remove(&run);
                    }
                }
                self.reject(taken, error_chain(&e));
            }
            Err(Failure::Retryable(r)) => {
                if r.maybe_applied {
                    self.verify.insert(run);
                }
                self.requeue_front(taken);
                self.retry_later(r);
            }
        }
    }

    /// Settles the metric points of `taken` that the server already has (same key, step,
    /// timestamp and value) and leaves the others. A run stays under check until a batch
    /// finds none: the points it may have are the oldest unacknowledged ones. On an error,
    /// `taken` is left as it was.
    fn drop_already_delivered(
        &mut self,
        run: RunKey,
        run_id: &str,
        taken: &mut Vec<Pending>,
    ) -> std::result::Result<(), Failure> {
        let Some(Backend::Server(client)) = &self.backend else {
            self.verify.remove(&run);
            return Ok(());
        };
        let mut keys: Vec<&str> = taken
            .iter()
            .filter_map(|p| match &p.op {
                Op::Metric { key, .. } => Some(key.as_str()),
                _ => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut on_server: HashSet<(String, i64, i64, u64)> = HashSet::new();
        for key in keys {
            match client.try_metric_history(run_id, key) {
                Ok(points) => on_server.extend(
                    points
                        .into_iter()
                        .map(|m| (m.key, m.step, m.timestamp, value_bits(m.value))),
                ),
                Err(f) => return Err(f),
            }
        }
        let (present, rest): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(taken).into_iter().partition(|p| {
                matches!(&p.op, Op::Metric { key, value, timestamp, step, .. }
                if on_server.contains(&(key.clone(), *step, *timestamp, value_bits(*value))))
            });
        if present.is_empty() {
            self.verify.remove(&run);
        } else {
            crate::record::subscriber::emit!(
                tracing::info!(target: "monitor::mlflow", "{} metric points of run {run_id} were already on the server; not sending them again", present.len())
            );
            self.delivered(present);
        }
        *taken = rest;
        Ok(())
    }

    fn requeue_front(&mut self, items: Vec<Pending>) {
        for item in items.into_iter().rev() {
            self.pending.push_front(item);
        }
    }

    fn send_log_batch(
        &mut self,
        run_id: &str,
        items: &[Pending],
    ) -> std::result::Result<(), Failure> {
        match self.backend.as_mut().expect("checked in step") {
            Backend::Server(c) => {
                let (mut metrics, mut params, mut tags) = (Vec::new(), Vec::new(), Vec::new());
                for Pending { op, .. } in items {
                    match op {
                        Op::Metric { key, value, timestamp, step, .. } => metrics.push(
                            json!({"key": key, "value": wire_f64(*value), "timestamp": timestamp, "step": step}),
                        ),
                        Op::Param { key, value, .. } => params.push(json!({"key": key, "value": value})),
                        Op::Tag { key, value, .. } => tags.push(json!({"key": key, "value": value})),
                        _ => {}
                    }
                }
                let body =
                    json!({ "run_id": run_id, "metrics": metrics, "params": params, "tags": tags });
                c.send_json(
                    reqwest::Method::POST,
                    "/api/2.0/mlflow/runs/log-batch",
                    Some(&body),
                )
                .map(drop)
            }
            Backend::Local(l) => {
                let (mut metrics, mut params, mut tags) = (Vec::new(), Vec::new(), Vec::new());
                for Pending { op, .. } in items {
                    match op {
                        Op::Metric {
                            key,
                            value,
                            timestamp,
                            step,
                            ..
                        } => metrics.push((key.as_str(), *value, *timestamp, *step)),
                        Op::Param { key, value, .. } => params.push((key.as_str(), value.as_str())),
                        Op::Tag { key, value, .. } => tags.push((key.clone(), value.clone())),
                        _ => {}
                    }
                }
                l.log_batch(run_id, &metrics, &params, &tags)
            }
        }
    }
}

/// A metric value as a comparable key (every NaN is the same NaN).
fn value_bits(v: f64) -> u64 {
    if v.is_nan() {
        u64::MAX
    } else {
        v.to_bits()
    }
}
