//! `AgentSpans`, a rig `AgentHook`: every effect an agent dispatches on its bus that this
//! crate records (a model call, a tool call, an embedding) becomes a call, opened at rig's
//! `on_dispatch` and finished at its `on_outcome`, under the call that prompted the agent.

use std::future::Future;
use std::sync::Arc;

use ::rig_agent::agent::{
    AgentHook, DispatchAction, DispatchEvent, HookContext, ObservationAction, OutcomeAction,
    OutcomeEvent, ReasoningDelta, RunId, RunSettled, SettledOutcome, StepEventKind, TextDelta,
    ToolCallDelta,
};
use ::rig_core_next::completion::message::CallId;
use ::rig_core_next::effect::{EffectId, EffectKind, EmbedInputs, EmbedOutputs, Outcome};
use ::rig_core_next::error::ErrorReport;
use ::rig_core_next::tool::{ToolOutput, ToolResult};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::facts::{self, Facts};
use super::model::{COMPLETION_MODULE, EMBEDDINGS_MODULE};
use crate::capture::CapturedValue;
use crate::entry::ErrorInfo;
use crate::kind::{KIND_ATTRIBUTE, MODEL_ATTRIBUTE};
use crate::record::external::{ExternalCall, ExternalOutcome};
use crate::record::scope::current_tracer;
use crate::{ExecutionTracer, SpanKind};

/// A rig [`AgentHook`] that records what an agent does on its bus: each model call as a
/// `chat_model` call ([`COMPLETION_MODULE`], with what
/// [`MonitoredModel`](super::MonitoredModel) records: messages, tools, parameters, answer,
/// model, provider, finish reason, tokens, cost, errors, and for a streamed run the time to
/// the first chunk), each tool call as a `tool` call (module the tool's name, its
/// `arguments` and result; a tool that failed, was refused or skipped records that, with no
/// output), and each embedding as an `embedding` call ([`EMBEDDINGS_MODULE`]). Each is a
/// child of the call that prompted the agent (a [`MonitoredAgent`](super::MonitoredAgent)
/// prompt, or a monitored function around the prompt).
///
/// Attach it to an agent (`AgentBuilder::new(model).add_hook(AgentSpans::new())`) or to one
/// prompt (`agent.prompt("...").add_hook(AgentSpans::new())`);
/// [`MonitoredAgent`](super::MonitoredAgent) attaches it to each prompt. It observes, never
/// steers: every dispatch proceeds. rig runs hooks in order and a hook that denies a tool
/// call stops the ones after it from seeing the dispatch: the call is then recorded from its
/// outcome, lasting no time. A call whose run is dropped before it ends (its future or
/// stream dropped) is recorded as cancelled when the hook goes, or, for a hook attached to
/// the agent, once it keeps more than 1,024 calls open.
#[derive(Clone, Debug, Default)]
pub struct AgentSpans {
    tracer: Option<ExecutionTracer>,
    running: Arc<Calls>,
}

/// How many calls a hook keeps open at most: one attached to an agent whose runs are dropped
/// before they end (rig tells hooks nothing then) records the oldest as cancelled beyond it.
const MAX_OPEN: usize = 1024;

/// The calls between their dispatch and their outcome. Those left when the hook goes (the
/// run's future or stream was dropped before the run ended) are recorded as cancelled.
#[derive(Debug, Default)]
struct Calls(Mutex<Vec<Running>>);

impl Drop for Calls {
    fn drop(&mut self) {
        for each in std::mem::take(self.0.get_mut()) {
            record(each.call, *each.asked, Ending::Cancelled);
        }
    }
}

/// A call between its dispatch and its outcome.
struct Running {
    run: RunId,
    id: EffectId,
    call: ExternalCall,
    asked: Box<Asked>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a call records from its dispatch alone: its module and kind, its inputs, and what
/// its request says.
struct Asked {
    module: String,
    kind: SpanKind,
    inputs: Value,
    facts: Facts,
}

impl Asked {
    /// The call an effect is, for the families recorded: a model call, a tool call, an
    /// embedding.
    fn of(effect: &EffectKind, call_id: Option<&CallId>) -> Option<Asked> {
        let asked = match effect {
            EffectKind::Completion { request, stream } => Asked {
                module: COMPLETION_MODULE.to_owned(),
                kind: SpanKind::ChatModel,
                inputs: facts::completion_inputs(request),
                facts: facts::completion_request(request, *stream),
            },
            EffectKind::ToolCall { name, args } => {
                let mut facts = Facts::default();
                facts.attributes.push(("gen_ai.tool.name", json!(name)));
                facts
                    .attributes
                    .push(("gen_ai.tool.type", json!("function")));
                if let Some(id) = call_id {
                    let id = json!(id.to_string());
                    facts.attributes.push(("gen_ai.tool.call.id", id));
                }
                Asked {
                    module: name.clone(),
                    kind: SpanKind::Tool,
                    inputs: json!({ "arguments": json_or_text(args) }),
                    facts,
                }
            }
            EffectKind::Embed { inputs } => Asked {
                module: EMBEDDINGS_MODULE.to_owned(),
                kind: SpanKind::Embedding,
                inputs: embed_inputs(inputs),
                facts: Facts::default(),
            },
            _ => return None,
        };
        Some(asked)
    }

    /// What it asked, completed by what its answer said: the request's model unless it
    /// named none.
    fn answered(mut self, answer: Facts) -> Asked {
        let facts = &mut self.facts;
        facts.model = facts.model.take().or(answer.model);
        facts.attributes.extend(answer.attributes);
        facts.output = answer.output;
        facts.tokens = answer.tokens;
        facts.error = facts.error.take().or(answer.error);
        self
    }
}

/// How a call ended: with what was read of it, or cancelled.
#[derive(Clone, Copy, PartialEq)]
enum Ending {
    Finished,
    Cancelled,
}

impl AgentSpans {
    /// Calls recorded into the current tracer (where the agent is prompted).
    pub fn new() -> Self {
        AgentSpans::default()
    }

    /// Calls recorded into `tracer` instead.
    pub fn record_into(tracer: &ExecutionTracer) -> Self {
        AgentSpans {
            tracer: Some(tracer.clone()),
            ..AgentSpans::default()
        }
    }

    /// Opens a call now, under the innermost active call of this thread: rig calls the hook
    /// while it polls the prompt's future (or its stream).
    fn open(&self) -> ExternalCall {
        let tracer = self.tracer.clone().unwrap_or_else(current_tracer);
        ExternalCall::open(tracer, None)
    }

    fn dispatched(&self, context: &HookContext, event: &DispatchEvent<'_>) {
        let Some(asked) = Asked::of(event.kind, event.call_id) else {
            return;
        };
        let run = context.run_id();
        // A run's model calls come one at a time, and what follows one comes after its
        // answer: a model call of this run still open was answered, though rig reported no
        // outcome for it (a turn whose invalid tool call a hook repaired).
        let answered = self.take_open_model_calls(|each| each.run == run);
        for each in answered {
            record(
                each.call,
                each.asked.answered(unreported()),
                Ending::Finished,
            );
        }
        let running = Running {
            run,
            id: event.id,
            call: self.open(),
            asked: Box::new(asked),
        };
        let abandoned = {
            let mut calls = self.running.0.lock();
            calls.push(running);
            let over = calls.len().saturating_sub(MAX_OPEN);
            calls.drain(..over).collect::<Vec<_>>()
        };
        for each in abandoned {
            record(each.call, *each.asked, Ending::Cancelled);
        }
    }

    /// Takes the open calls `which` picks.
    fn take_open_model_calls(&self, which: impl Fn(&Running) -> bool) -> Vec<Running> {
        let mut calls = self.running.0.lock();
        let (taken, kept) = std::mem::take(&mut *calls)
            .into_iter()
            .partition(|each| which(each) && each.asked.kind == SpanKind::ChatModel);
        *calls = kept;
        taken
    }

    fn take(&self, id: EffectId) -> Option<Running> {
        let mut calls = self.running.0.lock();
        let at = calls.iter().position(|call| call.id == id)?;
        Some(calls.remove(at))
    }

    fn resolved(&self, event: &OutcomeEvent<'_>) {
        // What the effect asked, after any hook's patch (a tool's arguments).
        let Some(asked) = Asked::of(event.kind, event.call_id) else {
            return;
        };
        let call = match self.take(event.id) {
            Some(running) => running.call,
            // No dispatch seen: a hook before this one denied it (rig then tells later hooks
            // only its outcome). The call is opened now, and lasts no time: it never ran.
            None => self.open(),
        };
        let answer = match event.outcome {
            Ok(Outcome::Completion(response)) => facts::completion_response(response),
            Ok(Outcome::ToolResult { result }) => tool_result(result),
            Ok(Outcome::Embeddings(EmbedOutputs::Texts(response)))
            | Ok(Outcome::Embeddings(EmbedOutputs::Images(response))) => {
                facts::embedding_response(response)
            }
            Ok(_) => Facts::default(),
            Err(report) => failure(report),
        };
        record(call, asked.answered(answer), Ending::Finished);
    }

    /// A streamed run's first chunk of its model call.
    fn chunk(&self, context: &HookContext) {
        let run = context.run_id();
        let mut calls = self.running.0.lock();
        for each in calls.iter_mut() {
            if each.run == run && each.asked.kind == SpanKind::ChatModel {
                each.call.first_item();
            }
        }
    }

    /// The run ended: a call still open got no outcome. rig tells hooks no outcome for a
    /// model call that failed (the run's error says why), nor for one whose turn a hook
    /// repaired (the run went on: it was answered).
    fn settled(&self, context: &HookContext, event: &RunSettled<'_>) {
        let run = context.run_id();
        let left: Vec<Running> = {
            let mut calls = self.running.0.lock();
            let (left, kept) = std::mem::take(&mut *calls)
                .into_iter()
                .partition(|each| each.run == run);
            *calls = kept;
            left
        };
        for each in left {
            let ended = match event.outcome {
                SettledOutcome::Error(message) => Facts {
                    error: Some(ErrorInfo::new(
                        "rig_agent::completion::PromptError",
                        message,
                    )),
                    ..Facts::default()
                },
                _ => unreported(),
            };
            record(each.call, each.asked.answered(ended), Ending::Finished);
        }
    }
}

/// What a call answered that rig reported no outcome for: that, and nothing else.
fn unreported() -> Facts {
    let mut facts = Facts::default();
    facts
        .attributes
        .push(("rig.outcome", json!("not reported")));
    facts
}

/// Records `call` as what it `asked` (and what its answer said), ended so.
fn record(call: ExternalCall, asked: Asked, ending: Ending) {
    let Asked {
        module,
        kind,
        inputs,
        facts,
    } = asked;
    let max = call.max_field_bytes();
    let mut attributes = vec![(KIND_ATTRIBUTE.to_owned(), json!(kind.as_str()))];
    let mut model_price = None;
    if let Some(model) = &facts.model {
        attributes.push((MODEL_ATTRIBUTE.to_owned(), json!(model)));
        model_price = crate::cost::price_when_reported(model);
    }
    attributes.extend(
        facts
            .attributes
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value)),
    );
    let error = facts.error.map(|mut error| {
        crate::capture::bound_error(&mut error, max);
        error
    });
    let outcome = ExternalOutcome {
        inputs: crate::capture::capture_inputs(&inputs, max),
        // A failed call shows its error, never a made-up output.
        output: facts
            .output
            .filter(|_| error.is_none())
            .map(|output| CapturedValue::json(&output, max)),
        error,
        tokens: facts.tokens,
        model_price,
        attributes,
        cancelled: ending == Ending::Cancelled,
    };
    call.finish(&module, outcome);
}

/// A failure rig reports for a dispatch.
fn failure(report: &ErrorReport) -> Facts {
    facts::failure("rig_core::error::ErrorReport", report)
}

/// What a tool answered: its output (a success), or why it has none (it failed, refused,
/// or never ran).
fn tool_result(result: &ToolResult) -> Facts {
    let mut facts = Facts::default();
    if let Some(error) = result.error().or(result.refusal()) {
        let kind = format!("rig::tool::ToolExecutionError::{:?}", error.kind());
        facts.error = Some(ErrorInfo::new(kind, error.message()));
    } else if result.is_skipped() {
        let reason = output_value(result.output());
        let reason = reason
            .as_str()
            .map_or_else(|| reason.to_string(), str::to_owned);
        facts.error = Some(ErrorInfo::new("rig::tool::ToolResult::Skipped", reason));
    } else {
        facts.output = Some(output_value(result.output()));
    }
    facts
        .attributes
        .push(("rig.tool.status", json!(result.status_name())));
    facts
}

/// A tool's output as the JSON it holds (a tool's text result is its text, or the JSON the
/// text holds).
fn output_value(output: &ToolOutput) -> Value {
    if let Some(text) = output.as_text() {
        return json_or_text(text);
    }
    if let Some(value) = output.as_json() {
        return value.clone();
    }
    serde_json::to_value(output).unwrap_or(Value::Null)
}

/// The inputs of an embedding: its texts (an image as its size).
fn embed_inputs(inputs: &EmbedInputs) -> Value {
    match inputs {
        EmbedInputs::Texts(texts) => json!({ "input": texts }),
        EmbedInputs::Images(images) => {
            json!({ "images": images.iter().map(Vec::len).collect::<Vec<_>>() })
        }
    }
}

/// rig hands tools' arguments over as JSON text: recorded as the JSON they hold, else as
/// the text.
fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

impl AgentHook for AgentSpans {
    fn name(&self) -> Option<String> {
        Some("monitor::AgentSpans".to_owned())
    }

    fn on_dispatch(
        &self,
        context: &HookContext,
        event: DispatchEvent<'_>,
    ) -> impl Future<Output = DispatchAction> + Send {
        self.dispatched(context, &event);
        std::future::ready(DispatchAction::Proceed)
    }

    fn on_outcome(
        &self,
        _context: &HookContext,
        event: OutcomeEvent<'_>,
    ) -> impl Future<Output = OutcomeAction> + Send {
        self.resolved(&event);
        std::future::ready(OutcomeAction::Proceed)
    }

    fn on_text_delta(
        &self,
        context: &HookContext,
        _event: TextDelta<'_>,
    ) -> impl Future<Output = ObservationAction> + Send {
        self.chunk(context);
        std::future::ready(ObservationAction::Continue)
    }

    fn on_reasoning_delta(
        &self,
        context: &HookContext,
        _event: ReasoningDelta<'_>,
    ) -> impl Future<Output = ObservationAction> + Send {
        self.chunk(context);
        std::future::ready(ObservationAction::Continue)
    }

    fn on_tool_call_delta(
        &self,
        context: &HookContext,
        _event: ToolCallDelta<'_>,
    ) -> impl Future<Output = ObservationAction> + Send {
        self.chunk(context);
        std::future::ready(ObservationAction::Continue)
    }

    fn on_run_settled(
        &self,
        context: &HookContext,
        event: RunSettled<'_>,
    ) -> impl Future<Output = ()> + Send {
        self.settled(context, &event);
        std::future::ready(())
    }

    fn observes(&self, kind: StepEventKind) -> bool {
        matches!(
            kind,
            StepEventKind::CompletionDispatch
                | StepEventKind::ToolDispatch
                | StepEventKind::EmbedDispatch
                | StepEventKind::TextDelta
                | StepEventKind::ReasoningDelta
                | StepEventKind::ToolCallDelta
                | StepEventKind::RunSettled
        )
    }
}
