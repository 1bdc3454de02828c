//! `MonitoredAgent`: each prompt of a rig agent (awaited or streamed) recorded as an `agent`
//! call, with [`AgentSpans`] attached so that its model, tool and embedding calls are its
//! children.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use ::rig_agent::agent::{
    Agent, AgentHook, AgentRunner, MultiTurnStreamItem, PromptResponse, StreamingResult,
};
use ::rig_agent::completion::{Message, PromptError};
use serde_json::{json, Value};

use super::hook::AgentSpans;
use super::messages::message;
use crate::entry::ErrorInfo;
use crate::integrate::model_call;
use crate::record::guard::TraceGuard;
use crate::record::scope::current_tracer;
use crate::record::stream::{MonitoredStream, ReadItem, StreamItems};
use crate::{ExecutionTracer, SpanKind};

/// The module name of an agent's prompts (kind `agent`, `gen_ai.operation.name`
/// `invoke_agent`; the agent's name, when it has one, in `gen_ai.agent.name`).
pub const AGENT_MODULE: &str = "rig.agent";

/// A rig [`Agent`] whose prompts are recorded: `MonitoredAgent::new(agent).prompt(..)`,
/// awaited or [`stream`](MonitoredPrompt::stream)ed, is an `agent` call ([`AGENT_MODULE`])
/// with the prompt as input and the answer as output, and [`AgentSpans`] attached to the
/// prompt records the agent's model calls, tool calls and embeddings as its children. The
/// one line that turns capture on: the model needs no wrapper. Other methods reach the
/// agent through `Deref`.
#[derive(Clone)]
pub struct MonitoredAgent {
    inner: Agent,
    tracer: Option<ExecutionTracer>,
}

impl MonitoredAgent {
    /// Wraps `agent`; prompts record into the current tracer.
    pub fn new(agent: Agent) -> Self {
        MonitoredAgent {
            inner: agent,
            tracer: None,
        }
    }

    /// Records into `tracer` instead (the agent call and the calls under it).
    pub fn record_into(mut self, tracer: &ExecutionTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// The wrapped agent.
    pub fn inner(&self) -> &Agent {
        &self.inner
    }

    /// Prompts the agent (as rig's `Agent::prompt`): await it for rig's `PromptResponse`, or
    /// [`stream`](MonitoredPrompt::stream) it, after setting the run up
    /// ([`max_turns`](MonitoredPrompt::max_turns), [`history`](MonitoredPrompt::history),
    /// [`add_hook`](MonitoredPrompt::add_hook), or any runner option through
    /// [`runner`](MonitoredPrompt::runner)).
    pub fn prompt(&self, prompt: impl Into<Message>) -> MonitoredPrompt {
        let prompt = prompt.into();
        let tracer = self.tracer.clone().unwrap_or_else(current_tracer);
        MonitoredPrompt {
            prompt: message(&prompt),
            history: Vec::new(),
            runner: self.inner.prompt(prompt),
            name: self.inner.name().map(str::to_owned),
            tracer,
        }
    }
}

impl std::ops::Deref for MonitoredAgent {
    type Target = Agent;

    fn deref(&self) -> &Agent {
        &self.inner
    }
}

impl std::fmt::Debug for MonitoredAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoredAgent")
            .field("name", &self.inner.name())
            .finish_non_exhaustive()
    }
}

/// A streamed run of a [`MonitoredAgent`] ([`MonitoredPrompt::stream`]): rig's
/// `StreamingResult`, its items unchanged, recorded as the agent call.
pub type MonitoredRun = MonitoredStream<StreamingResult, FinalAnswer>;

/// A prompt to a [`MonitoredAgent`]: rig's `AgentRunner`, recorded when awaited or
/// streamed.
#[must_use = "a run does nothing until awaited or streamed"]
pub struct MonitoredPrompt {
    runner: AgentRunner,
    /// The prompt and the history before it, as the agent call's `messages`.
    prompt: Vec<Value>,
    history: Vec<Value>,
    name: Option<String>,
    tracer: ExecutionTracer,
}

impl std::fmt::Debug for MonitoredPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitoredPrompt")
            .field("prompt", &self.prompt)
            .finish_non_exhaustive()
    }
}

impl MonitoredPrompt {
    /// Lets the agent make up to `turns` model calls, running tools between them (rig's
    /// `max_turns`).
    pub fn max_turns(self, turns: usize) -> Self {
        self.runner(|runner| runner.max_turns(turns))
    }

    /// The conversation so far, sent before the prompt (rig's `history`); the agent call's
    /// `messages` start with it.
    pub fn history(mut self, history: impl IntoIterator<Item = Message>) -> Self {
        let history: Vec<Message> = history.into_iter().collect();
        self.history = history.iter().flat_map(message).collect();
        self.runner(|runner| runner.history(history))
    }

    /// Adds a hook to this run (rig's `add_hook`); it runs before the one that records.
    pub fn add_hook(self, hook: impl AgentHook + 'static) -> Self {
        self.runner(|runner| runner.add_hook(hook))
    }

    /// Any other setting of rig's `AgentRunner` (`temperature`, `max_tokens`,
    /// `preamble`, ...).
    pub fn runner(mut self, set: impl FnOnce(AgentRunner) -> AgentRunner) -> Self {
        self.runner = set(self.runner);
        self
    }

    /// The runner, with the hook that records under the agent call attached.
    fn recording(self) -> (AgentRunner, AgentCall) {
        let MonitoredPrompt {
            runner,
            prompt,
            mut history,
            name,
            tracer,
        } = self;
        let runner = runner.add_hook(AgentSpans::record_into(&tracer));
        history.extend(prompt);
        let inputs = json!({ "messages": history });
        (
            runner,
            AgentCall {
                inputs,
                name,
                tracer,
            },
        )
    }

    /// Streams the run (rig's `AgentRunner::stream`): its items, unchanged. The agent call
    /// lasts until the stream ends (dropped before: cancelled), with the time to its first
    /// item and the final response's text as output; its model calls record the time to
    /// their first chunk.
    pub fn stream(self) -> MonitoredRun {
        let (runner, agent) = self.recording();
        // Marked: rig's own GenAI spans inside the run are recorded here, not again by a
        // `MonitorLayer`.
        let run: StreamingResult = Box::pin(model_call::marked_stream(runner.stream()));
        agent.start().instrument_stream_with(run, FinalAnswer, true)
    }
}

impl IntoFuture for MonitoredPrompt {
    type Output = Result<PromptResponse, PromptError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let (runner, agent) = self.recording();
        Box::pin(async move {
            // The guard goes into the instrumented future before any `.await`: it belongs
            // to the thread that polls. Marked: rig's own GenAI spans inside the run are
            // recorded here, not again by a `MonitorLayer`.
            let traced = agent
                .start()
                .instrument_keep(model_call::marked(runner.into_future()));
            let (result, mut call) = traced.await;
            match &result {
                Ok(response) => call.set_outputs(response.output()),
                Err(error) => call.fail(error),
            }
            call.finish();
            result
        })
    }
}

/// The agent call a prompt records.
struct AgentCall {
    inputs: Value,
    name: Option<String>,
    tracer: ExecutionTracer,
}

impl AgentCall {
    /// Starts it, under the innermost active call of this thread.
    fn start(&self) -> TraceGuard<'_> {
        let mut call = self.tracer.trace(AGENT_MODULE, &self.inputs);
        call.set_kind(SpanKind::Agent);
        if let Some(name) = &self.name {
            call.set_attribute("gen_ai.agent.name", name);
        }
        call
    }
}

/// Reads a streamed run: its final response's text is the agent call's output, an error
/// item fails it.
#[derive(Debug, Default)]
pub struct FinalAnswer;

impl ReadItem<Result<MultiTurnStreamItem, PromptError>> for FinalAnswer {
    fn read_item(
        &mut self,
        item: &Result<MultiTurnStreamItem, PromptError>,
        items: &mut StreamItems,
    ) {
        match item {
            Ok(MultiTurnStreamItem::FinalResponse(response)) => items.set_output(response.output()),
            Ok(_) => {}
            Err(error) => items.fail_with(ErrorInfo::from_error_capped(error, items.max_bytes())),
        }
    }
}
