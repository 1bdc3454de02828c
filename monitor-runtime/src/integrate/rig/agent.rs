//! Agents: `MonitoredAgent` records each prompt as an `agent` call, and `ToolSpans`, a rig
//! `PromptHook`, records each tool the agent runs as a `tool` call under it.

use std::future::{Future, IntoFuture};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use ::rig::agent::{Agent, CancelSignal, PromptHook, PromptRequest};
use ::rig::completion::{CompletionModel, Message, PromptError};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::messages::message;
use crate::capture::CapturedValue;
use crate::entry::ErrorInfo;
use crate::kind::KIND_ATTRIBUTE;
use crate::record::external::{ExternalCall, ExternalOutcome};
use crate::record::scope::current_tracer;
use crate::{ExecutionTracer, SpanKind};

/// The module name of an agent's prompts (kind `agent`, `gen_ai.operation.name`
/// `invoke_agent`; the agent's name, when it has one, in `gen_ai.agent.name`).
pub const AGENT_MODULE: &str = "rig.agent";

/// What rig writes as a tool's result when the tool failed (its `ToolServerError`'s
/// messages): such a result is the tool call's error, not its output.
const TOOL_ERRORS: [&str; 4] = [
    "Toolset error: ",
    "Error while sending message: ",
    "Sending message was cancelled",
    "An invalid message type was returned",
];

/// A rig `PromptHook` that records each tool an agent runs as a `tool` call: module the
/// tool's name, its arguments as input (`arguments`), its result as output, timed from
/// rig's `on_tool_call` to its `on_tool_result`, a child of the call that prompted the
/// agent (a [`MonitoredAgent`] prompt, or a monitored function around the prompt). A
/// tool that failed records rig's error message and no output.
///
/// Attach it to a prompt, as `agent.prompt("...").with_hook(ToolSpans::new()).await?`; the
/// guide's rig section (`monitor::guide::clients`) has a whole program.
#[derive(Clone, Debug, Default)]
pub struct ToolSpans {
    tracer: Option<ExecutionTracer>,
    running: Arc<Mutex<Vec<RunningTool>>>,
}

struct RunningTool {
    name: String,
    arguments: String,
    call: ExternalCall,
}

impl std::fmt::Debug for RunningTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningTool")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ToolSpans {
    /// Tool calls recorded into the current tracer.
    pub fn new() -> Self {
        ToolSpans::default()
    }

    /// Tool calls recorded into `tracer` instead.
    pub fn record_into(tracer: &ExecutionTracer) -> Self {
        ToolSpans {
            tracer: Some(tracer.clone()),
            ..ToolSpans::default()
        }
    }

    /// Opens the call now, under the innermost active call of this thread: rig calls the
    /// hook while it polls the prompt's future.
    fn started(&self, name: &str, arguments: &str) {
        let tracer = self.tracer.clone().unwrap_or_else(current_tracer);
        let call = ExternalCall::open(tracer, None);
        self.running.lock().push(RunningTool {
            name: name.to_owned(),
            arguments: arguments.to_owned(),
            call,
        });
    }

    /// Records the call of `name` with `arguments` that returned `result` (rig runs an
    /// answer's tool calls one after the other: the oldest of that name and arguments).
    fn ended(&self, name: &str, arguments: &str, result: &str) {
        let running = {
            let mut running = self.running.lock();
            let found = running
                .iter()
                .position(|tool| tool.name == name && tool.arguments == arguments);
            found.map(|at| running.remove(at))
        };
        let Some(RunningTool { call, .. }) = running else {
            return;
        };
        let max = call.max_field_bytes();
        let parsed = json_or_text(arguments);
        let failed = TOOL_ERRORS.iter().any(|prefix| result.starts_with(prefix));
        let outcome = ExternalOutcome {
            inputs: crate::capture::capture_inputs(&json!({ "arguments": parsed }), max),
            output: (!failed).then(|| CapturedValue::json(&json_or_text(result), max)),
            error: failed.then(|| {
                let mut error = ErrorInfo::new("rig::tool::ToolSetError", result);
                crate::capture::bound_error(&mut error, max);
                error
            }),
            attributes: vec![
                (KIND_ATTRIBUTE.to_owned(), json!(SpanKind::Tool.as_str())),
                ("gen_ai.tool.name".to_owned(), json!(name)),
                ("gen_ai.tool.type".to_owned(), json!("function")),
            ],
            ..ExternalOutcome::default()
        };
        call.finish(name, outcome);
    }
}

/// rig hands tools' arguments and results over as JSON text: recorded as the JSON they
/// hold (a tool's `String` result is its text), else as the text.
fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl<M: CompletionModel> PromptHook<M> for ToolSpans {
    fn on_tool_call(
        &self,
        tool_name: &str,
        args: &str,
        _cancel: CancelSignal,
    ) -> impl Future<Output = ()> + Send {
        self.started(tool_name, args);
        std::future::ready(())
    }

    fn on_tool_result(
        &self,
        tool_name: &str,
        args: &str,
        result: &str,
        _cancel: CancelSignal,
    ) -> impl Future<Output = ()> + Send {
        self.ended(tool_name, args, result);
        std::future::ready(())
    }
}

/// A rig [`Agent`] whose prompts are recorded: `MonitoredAgent::new(agent).prompt(..)` is
/// an `agent` call ([`AGENT_MODULE`]) with the prompt as input and the answer as output,
/// and the agent's model calls (through a [`MonitoredModel`](super::MonitoredModel)) and
/// tool calls (through [`ToolSpans`], attached to each prompt) are its children. Other
/// methods reach the agent through `Deref`.
pub struct MonitoredAgent<M: CompletionModel> {
    inner: Agent<M>,
    tracer: Option<ExecutionTracer>,
}

impl<M: CompletionModel> MonitoredAgent<M> {
    /// Wraps `agent`; prompts record into the current tracer.
    pub fn new(agent: Agent<M>) -> Self {
        MonitoredAgent {
            inner: agent,
            tracer: None,
        }
    }

    /// Records into `tracer` instead (the agent call and its tool calls; its model records
    /// where the [`MonitoredModel`](super::MonitoredModel) says).
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// The wrapped agent.
    pub fn inner(&self) -> &Agent<M> {
        &self.inner
    }

    /// Prompts the agent (as rig's `Agent::prompt`): await it for the answer, after
    /// [`multi_turn`](MonitoredPrompt::multi_turn) or
    /// [`with_history`](MonitoredPrompt::with_history) if need be.
    pub fn prompt(&self, prompt: impl Into<Message>) -> MonitoredPrompt<'_, M> {
        MonitoredPrompt {
            agent: self,
            prompt: prompt.into(),
            depth: 0,
            history: None,
        }
    }
}

impl<M: CompletionModel> Deref for MonitoredAgent<M> {
    type Target = Agent<M>;

    fn deref(&self) -> &Agent<M> {
        &self.inner
    }
}

impl<M: CompletionModel> std::fmt::Debug for MonitoredAgent<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoredAgent")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}

/// A prompt to a [`MonitoredAgent`], recorded when awaited.
pub struct MonitoredPrompt<'a, M: CompletionModel> {
    agent: &'a MonitoredAgent<M>,
    prompt: Message,
    depth: usize,
    history: Option<&'a mut Vec<Message>>,
}

impl<M: CompletionModel> std::fmt::Debug for MonitoredPrompt<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoredPrompt")
            .field("prompt", &self.prompt)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl<'a, M: CompletionModel> MonitoredPrompt<'a, M> {
    /// Lets the agent run tools and answer for up to `depth` turns (rig's `multi_turn`).
    pub fn multi_turn(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// Continues `history` (rig's `with_history`): the prompt and answer are added to it.
    pub fn with_history(mut self, history: &'a mut Vec<Message>) -> Self {
        self.history = Some(history);
        self
    }
}

impl<'a, M: CompletionModel + 'static> IntoFuture for MonitoredPrompt<'a, M> {
    type Output = Result<String, PromptError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let MonitoredPrompt {
            agent,
            prompt,
            depth,
            history,
        } = self;
        Box::pin(async move {
            let tracer = agent.tracer.clone().unwrap_or_else(current_tracer);
            let hook = ToolSpans::record_into(&tracer);
            let traced = {
                let mut call = tracer.trace(AGENT_MODULE, json!({ "messages": message(&prompt) }));
                call.set_kind(SpanKind::Agent);
                if let Some(name) = &agent.inner.name {
                    call.set_attribute("gen_ai.agent.name", name);
                }
                let mut request = PromptRequest::new(&agent.inner, prompt).multi_turn(depth);
                if let Some(history) = history {
                    request = request.with_history(history);
                }
                call.instrument_keep(request.with_hook(hook).into_future())
            };
            let (result, mut call) = traced.await;
            match &result {
                Ok(answer) => {
                    call.set_outputs(answer);
                    call.finish();
                }
                Err(error) => call.fail(error),
            }
            result
        })
    }
}
