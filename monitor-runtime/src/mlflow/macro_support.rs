//! What `#[mlflow_run]` expands to. Not public API.

use std::fmt::{Debug, Display};
use std::future::Future;

use serde::Serialize;

use super::logger::{ActiveRunGuard, InRun, MlflowLogger, MlflowRun};
use super::op::RunStatus;

/// The run of one `#[mlflow_run]` call. Ends `FAILED` if dropped during a panic, `KILLED`
/// if dropped before the call finished (a cancelled future).
#[derive(Debug)]
pub struct MlflowRunScope {
    logger: Option<MlflowLogger>,
}

impl MlflowRunScope {
    /// Starts the run: nested under the active run if there is one.
    pub fn start(name: &str, experiment: Option<&str>) -> Self {
        let result = match (MlflowLogger::active(), experiment) {
            (Some(parent), None) => parent.start_child(name),
            (Some(parent), Some(exp)) if exp == parent.experiment() => parent.start_child(name),
            (_, Some(exp)) => MlflowLogger::start_in(exp, name),
            (None, None) => MlflowLogger::start(name),
        };
        match result {
            Ok(logger) => MlflowRunScope {
                logger: Some(logger),
            },
            Err(e) => {
                crate::record::subscriber::emit!(
                    tracing::warn!(target: "monitor::mlflow", "#[mlflow_run] {name}: the run is not tracked: {e}")
                );
                MlflowRunScope { logger: None }
            }
        }
    }

    /// Logs an argument as a param; a bad one is a warning, never an error of the call.
    pub fn param(&self, key: &str, value: String) {
        if let Some(logger) = &self.logger {
            if let Err(e) = logger.log_param(key, value) {
                crate::record::subscriber::emit!(
                    tracing::warn!(target: "monitor::mlflow", "#[mlflow_run] param not logged: {e}")
                );
            }
        }
    }

    /// Makes the run active on this thread for the body of a sync fn.
    pub fn enter(&self) -> Option<ActiveRunGuard> {
        self.logger.as_ref().map(|l| l.enter())
    }

    /// The handle of the run.
    pub fn handle(&self) -> Option<MlflowRun> {
        self.logger.as_ref().map(|l| l.run().clone())
    }

    /// Ends the run after the body returned `outcome`.
    pub fn finish(mut self, failed: Option<String>) {
        if let Some(logger) = self.logger.take() {
            match failed {
                Some(message) => {
                    if !message.is_empty() {
                        let _ = logger.set_tag("mlflow.note.content", format!("error: {message}"));
                    }
                    logger.end_with(RunStatus::Failed);
                }
                None => logger.end_with(RunStatus::Finished),
            }
        }
    }
}

impl MlflowRunScope {
    /// Ends the run of an `async fn` after its body returned: the end is queued at once,
    /// and if it was the last open run, delivery is awaited without blocking the executor.
    pub async fn finish_async(mut self, failed: Option<String>) {
        let Some(logger) = self.logger.take() else {
            return;
        };
        let status = match failed {
            Some(message) => {
                if !message.is_empty() {
                    let _ = logger.set_tag("mlflow.note.content", format!("error: {message}"));
                }
                RunStatus::Failed
            }
            None => RunStatus::Finished,
        };
        if let Some(delivered) = logger.end_if_last_async(status) {
            delivered.await;
        }
    }
}

impl Drop for MlflowRunScope {
    fn drop(&mut self) {
        if let Some(logger) = self.logger.take() {
            let status = if std::thread::panicking() {
                RunStatus::Failed
            } else {
                RunStatus::Killed
            };
            logger.end_with(status);
        }
    }
}

/// Calls the body of a sync fn once (so it may return references to its arguments).
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// Runs `future` with `run` active whenever it is polled.
pub async fn in_run<F: Future>(run: Option<MlflowRun>, future: F) -> F::Output {
    match run {
        Some(run) => InRun::new(run, future).await,
        None => future.await,
    }
}

/// Autoref dispatch on an argument's type: `Display`, else `Serialize` (JSON), else
/// `Debug`, else a placeholder. `(&&&&Param(&x)).mlflow_param()`.
#[derive(Debug)]
pub struct Param<'a, T: ?Sized>(pub &'a T);

/// Level 1: `Display`.
pub trait ParamViaDisplay {
    /// The param text.
    fn mlflow_param(&self) -> String;
}
impl<T: Display + ?Sized> ParamViaDisplay for &&&Param<'_, T> {
    fn mlflow_param(&self) -> String {
        self.0.to_string()
    }
}

/// Level 2: `Serialize`.
pub trait ParamViaSerialize {
    /// The param text.
    fn mlflow_param(&self) -> String;
}
impl<T: Serialize + ?Sized> ParamViaSerialize for &&Param<'_, T> {
    fn mlflow_param(&self) -> String {
        serde_json::to_string(self.0).unwrap_or_else(|e| format!("<unserializable: {e}>"))
    }
}

/// Level 3: `Debug`.
pub trait ParamViaDebug {
    /// The param text.
    fn mlflow_param(&self) -> String;
}
impl<T: Debug + ?Sized> ParamViaDebug for &Param<'_, T> {
    fn mlflow_param(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// Level 4: anything.
pub trait ParamViaNothing {
    /// The param text.
    fn mlflow_param(&self) -> String;
}
impl<T: ?Sized> ParamViaNothing for Param<'_, T> {
    fn mlflow_param(&self) -> String {
        format!("<{}>", std::any::type_name::<T>())
    }
}

/// Autoref dispatch on the return value: `Err` of a `Result` fails the run.
/// `(&&&Outcome(&r)).mlflow_failed()`.
#[derive(Debug)]
pub struct Outcome<'a, T: ?Sized>(pub &'a T);

/// `Result<T, E: Display>`: failed with the message.
pub trait OutcomeViaResultDisplay {
    /// `Some(message)` when the call failed.
    fn mlflow_failed(&self) -> Option<String>;
}
impl<T, E: Display> OutcomeViaResultDisplay for &&Outcome<'_, Result<T, E>> {
    fn mlflow_failed(&self) -> Option<String> {
        self.0.as_ref().err().map(ToString::to_string)
    }
}

/// `Result<T, E>`: failed.
pub trait OutcomeViaResult {
    /// `Some(message)` when the call failed.
    fn mlflow_failed(&self) -> Option<String>;
}
impl<T, E> OutcomeViaResult for &Outcome<'_, Result<T, E>> {
    fn mlflow_failed(&self) -> Option<String> {
        self.0.is_err().then(String::new)
    }
}

/// Anything else: success.
pub trait OutcomeViaAny {
    /// `Some(message)` when the call failed.
    fn mlflow_failed(&self) -> Option<String>;
}
impl<T: ?Sized> OutcomeViaAny for Outcome<'_, T> {
    fn mlflow_failed(&self) -> Option<String> {
        None
    }
}
