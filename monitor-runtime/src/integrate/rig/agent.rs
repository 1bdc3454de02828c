//! Agents: `MonitoredAgent` records each prompt as an `agent` call, and `ToolSpans`, a rig
//! `AgentHook`, records each tool the agent runs as a `tool` call under it.

use std::future::{Future, IntoFuture};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use ::rig_core_next::agent::{
    Agent, AgentHook, Flow, HookContext, PromptRequest, StepEvent, StepEventKind,
};
use ::rig_core_next::completion::{CompletionModel, Message, PromptError};
use ::rig_core_next::tool::ToolOutcome;
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

/// A rig [`AgentHook`] that records each tool an agent runs as a `tool` call: module the
/// tool's name, its arguments as input (`arguments`), its result as output, timed from
/// rig's `ToolCall` event to its `ToolResult`, a child of the call that prompted the agent
/// (a [`MonitoredAgent`] prompt, or a monitored function around the prompt). A tool that
/// failed records rig's failure message and no output; one a hook skipped or the tool
/// denied records that, with no output.
///
/// Attach it to an agent (`AgentBuilder::new(model).add_hook(ToolSpans::new())`) or to
/// one prompt (`agent.prompt("...").add_hook(ToolSpans::new())`); [`MonitoredAgent`]
/// attaches it to each prompt. The guide's rig section (`monitor::guide::clients`) has a
/// whole program.
#[derive(Clone, Debug, Default)]
pub struct ToolSpans {
    tracer: Option<ExecutionTracer>,
    running: Arc<Mutex<Vec<RunningTool>>>,
}

/// A tool call between its start and its result, under rig's id for it.
struct RunningTool {
    internal_call_id: String,
    call: ExternalCall,
}

impl std::fmt::Debug for RunningTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningTool")
            .field("internal_call_id", &self.internal_call_id)
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
    fn started(&self, internal_call_id: &str) {
        let call = self.open();
        self.running.lock().push(RunningTool {
            internal_call_id: internal_call_id.to_owned(),
            call,
        });
    }

    fn open(&self) -> ExternalCall {
        let tracer = self.tracer.clone().unwrap_or_else(current_tracer);
        ExternalCall::open(tracer, None)
    }

    /// Records the call rig knows as `internal_call_id`, of tool `name` with `arguments`,
    /// that ended with `result` and `outcome`.
    fn ended(&self, internal_call_id: &str, name: &str, arguments: &str, ended: ToolEnd<'_>) {
        let running = {
            let mut running = self.running.lock();
            let found = running
                .iter()
                .position(|tool| tool.internal_call_id == internal_call_id);
            found.map(|at| running.remove(at))
        };
        // No start seen: a hook before this one skipped the tool (rig then tells later
        // hooks only its result). The call is opened now, and lasts no time: it never ran.
        let call = match running {
            Some(running) => running.call,
            None => self.open(),
        };
        let max = call.max_field_bytes();
        let error = ended.error().map(|(kind, message)| {
            let mut error = ErrorInfo::new(kind, message);
            crate::capture::bound_error(&mut error, max);
            error
        });
        let outcome = ExternalOutcome {
            inputs: crate::capture::capture_inputs(
                &json!({ "arguments": json_or_text(arguments) }),
                max,
            ),
            output: error
                .is_none()
                .then(|| CapturedValue::json(&json_or_text(ended.result), max)),
            error,
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

/// How a tool call ended: what rig hands the model back, and rig's verdict.
struct ToolEnd<'a> {
    result: &'a str,
    outcome: &'a ToolOutcome,
}

impl ToolEnd<'_> {
    /// The error's type and message, unless the tool succeeded.
    fn error(&self) -> Option<(String, String)> {
        match self.outcome {
            ToolOutcome::Success => None,
            ToolOutcome::Error(failure) => Some((
                format!("rig::tool::ToolFailure::{:?}", failure.kind),
                failure.message.clone(),
            )),
            other => Some((
                format!("rig::tool::ToolOutcome::{other:?}"),
                self.result.to_owned(),
            )),
        }
    }
}

/// rig hands tools' arguments and results over as JSON text: recorded as the JSON they
/// hold (a tool's `String` result is its text), else as the text.
fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl<M: CompletionModel> AgentHook<M> for ToolSpans {
    fn on_event(
        &self,
        _context: &HookContext,
        event: StepEvent<'_, M>,
    ) -> impl Future<Output = Flow> + Send {
        match event {
            StepEvent::ToolCall {
                internal_call_id, ..
            } => self.started(internal_call_id),
            StepEvent::ToolResult {
                tool_name,
                internal_call_id,
                args,
                result,
                outcome,
                ..
            } => self.ended(
                internal_call_id,
                tool_name,
                args,
                ToolEnd { result, outcome },
            ),
            _ => {}
        }
        std::future::ready(Flow::Continue)
    }

    fn observes(&self, kind: StepEventKind) -> bool {
        matches!(kind, StepEventKind::ToolCall | StepEventKind::ToolResult)
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
    /// [`max_turns`](MonitoredPrompt::max_turns) or
    /// [`history`](MonitoredPrompt::history) if need be.
    pub fn prompt(&self, prompt: impl Into<Message>) -> MonitoredPrompt<'_, M> {
        MonitoredPrompt {
            agent: self,
            prompt: prompt.into(),
            max_turns: None,
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
    max_turns: Option<usize>,
    history: Option<Vec<Message>>,
}

impl<M: CompletionModel> std::fmt::Debug for MonitoredPrompt<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoredPrompt")
            .field("prompt", &self.prompt)
            .field("max_turns", &self.max_turns)
            .finish_non_exhaustive()
    }
}

impl<M: CompletionModel> MonitoredPrompt<'_, M> {
    /// Lets the agent make up to `turns` model calls, running tools between them (rig's
    /// `max_turns`; without it, the agent's default).
    pub fn max_turns(mut self, turns: usize) -> Self {
        self.max_turns = Some(turns);
        self
    }

    /// The conversation so far, sent before the prompt (rig's `history`).
    pub fn history(mut self, history: impl IntoIterator<Item = Message>) -> Self {
        self.history = Some(history.into_iter().collect());
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
            max_turns,
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
                let mut request = PromptRequest::from_agent(&agent.inner, prompt);
                if let Some(turns) = max_turns {
                    request = request.max_turns(turns);
                }
                if let Some(history) = history {
                    request = request.history(history);
                }
                call.instrument_keep(request.add_hook(hook).into_future())
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
