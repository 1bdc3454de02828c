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
/// prompt (`agent.prompt("...").add_hook(AgentSpans::new())`); [`MonitoredAgent`](super::MonitoredAgent) attaches
/// it to each prompt. It observes, never steers: every dispatch proceeds. rig runs hooks in
/// order and a hook that denies a tool call stops the ones after it from seeing the
/// dispatch: the call is then recorded from its outcome, lasting no time.
#[derive(Clone, Debug, Default)]
pub struct AgentSpans {
    tracer: Option<ExecutionTracer>,
    running: Arc<Mutex<Vec<Running>>>,
}

/// A call between its dispatch and its outcome.
struct Running {
    run: RunId,
    id: EffectId,
    call: ExternalCall,
    asked: Asked,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a call's dispatch asked for, kept until its outcome.
enum Asked {
    Completion {
        inputs: Value,
        facts: Box<Facts>,
    },
    Embedding {
        inputs: Value,
    },
    /// A tool's arguments are read from its outcome, after any hook's patch.
    Tool,
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
        let asked = match event.kind {
            EffectKind::Completion { request, stream } => Asked::Completion {
                inputs: facts::completion_inputs(request),
                facts: Box::new(facts::completion_request(request, *stream)),
            },
            EffectKind::ToolCall { .. } => Asked::Tool,
            EffectKind::Embed { inputs } => Asked::Embedding {
                inputs: embed_inputs(inputs),
            },
            _ => return,
        };
        let running = Running {
            run: context.run_id(),
            id: event.id,
            call: self.open(),
            asked,
        };
        self.running.lock().push(running);
    }

    fn take(&self, id: EffectId) -> Option<Running> {
        let mut running = self.running.lock();
        let at = running.iter().position(|call| call.id == id)?;
        Some(running.remove(at))
    }

    fn resolved(&self, event: &OutcomeEvent<'_>) {
        let running = self.take(event.id);
        let (call, asked) = match running {
            Some(running) => (running.call, running.asked),
            // No dispatch seen: a hook before this one denied it (rig then tells later hooks
            // only its outcome). The call is opened now, and lasts no time: it never ran.
            None => (self.open(), Asked::Tool),
        };
        match (event.kind, event.outcome) {
            (EffectKind::Completion { request, stream }, outcome) => {
                let (inputs, asked) = match asked {
                    Asked::Completion { inputs, facts } => (inputs, *facts),
                    _ => (
                        facts::completion_inputs(request),
                        facts::completion_request(request, *stream),
                    ),
                };
                let answer = match outcome {
                    Ok(Outcome::Completion(response)) => facts::completion_response(response),
                    Ok(_) => Facts::default(),
                    Err(report) => failure(report),
                };
                finish(
                    call,
                    COMPLETION_MODULE,
                    SpanKind::ChatModel,
                    inputs,
                    asked.and(answer),
                );
            }
            (EffectKind::ToolCall { name, args }, outcome) => {
                let inputs = json!({ "arguments": json_or_text(args) });
                let answer = match outcome {
                    Ok(Outcome::ToolResult { result }) => tool_result(result),
                    Ok(_) => Facts::default(),
                    Err(report) => failure(report),
                };
                let mut asked = Facts::default();
                asked.attributes.push(("gen_ai.tool.name", json!(name)));
                asked
                    .attributes
                    .push(("gen_ai.tool.type", json!("function")));
                if let Some(id) = event.call_id {
                    let id = json!(id.to_string());
                    asked.attributes.push(("gen_ai.tool.call.id", id));
                }
                finish(call, name, SpanKind::Tool, inputs, asked.and(answer));
            }
            (EffectKind::Embed { inputs }, outcome) => {
                let inputs = match asked {
                    Asked::Embedding { inputs } => inputs,
                    _ => embed_inputs(inputs),
                };
                let answer = match outcome {
                    Ok(Outcome::Embeddings(EmbedOutputs::Texts(response)))
                    | Ok(Outcome::Embeddings(EmbedOutputs::Images(response))) => {
                        facts::embedding_response(response)
                    }
                    Ok(_) => Facts::default(),
                    Err(report) => failure(report),
                };
                finish(call, EMBEDDINGS_MODULE, SpanKind::Embedding, inputs, answer);
            }
            // Another family: nothing was opened for it above but a call taken for it.
            _ => {}
        }
    }

    /// A streamed run's first chunk of its model call.
    fn chunk(&self, context: &HookContext) {
        let run = context.run_id();
        let mut running = self.running.lock();
        for each in running.iter_mut() {
            if each.run == run && matches!(each.asked, Asked::Completion { .. }) {
                each.call.first_item();
            }
        }
    }

    /// The run ended: a call still open got no outcome (rig tells hooks no outcome for a
    /// model call that failed; the run's error says why).
    fn settled(&self, context: &HookContext, event: &RunSettled<'_>) {
        let run = context.run_id();
        let left: Vec<Running> = {
            let mut running = self.running.lock();
            let (left, kept) = std::mem::take(&mut *running)
                .into_iter()
                .partition(|each| each.run == run);
            *running = kept;
            left
        };
        let message = match event.outcome {
            SettledOutcome::Error(message) => message,
            _ => "the run went on without this call's answer",
        };
        for each in left {
            let failed = Facts {
                error: Some(ErrorInfo::new(
                    "rig_agent::completion::PromptError",
                    message,
                )),
                ..Facts::default()
            };
            match each.asked {
                Asked::Completion { inputs, facts } => finish(
                    each.call,
                    COMPLETION_MODULE,
                    SpanKind::ChatModel,
                    inputs,
                    (*facts).and(failed),
                ),
                Asked::Embedding { inputs } => finish(
                    each.call,
                    EMBEDDINGS_MODULE,
                    SpanKind::Embedding,
                    inputs,
                    failed,
                ),
                Asked::Tool => finish(each.call, "rig.tool", SpanKind::Tool, json!({}), failed),
            }
        }
    }
}

impl Facts {
    /// What the request said, completed by what the answer said: the request's model unless
    /// it named none.
    fn and(mut self, answer: Facts) -> Facts {
        self.model = self.model.or(answer.model);
        self.attributes.extend(answer.attributes);
        self.output = answer.output;
        self.tokens = answer.tokens;
        self.error = self.error.or(answer.error);
        self
    }
}

/// Records `call` as module `name` of `kind`, with `inputs` and `facts`.
fn finish(call: ExternalCall, name: &str, kind: SpanKind, inputs: Value, facts: Facts) {
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
    };
    call.finish(name, outcome);
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
