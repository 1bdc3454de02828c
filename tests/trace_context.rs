//! Parent/child links and one trace id for nested calls, on a thread and across `.await`.

use std::time::Duration;

use monitor::{ExecutionTracer, TokenUsage, TraceEntry};

fn by_module<'a>(traces: &'a [TraceEntry], module: &str) -> &'a TraceEntry {
    traces.iter().find(|t| t.module == module).unwrap()
}

#[test]
fn nested_calls_share_the_trace_and_link_to_their_parent() {
    let tracer = ExecutionTracer::new();
    {
        let _pipeline = tracer.trace("pipeline", ());
        {
            let _retrieve = tracer.trace("retrieve", ());
        }
        let _generate = tracer.trace("generate", ());
        let _judge = tracer.trace("judge", ());
    }
    tracer.trace("next_request", ()).finish();

    let traces = tracer.get_traces(None);
    let pipeline = by_module(&traces, "pipeline");
    let retrieve = by_module(&traces, "retrieve");
    let generate = by_module(&traces, "generate");
    let judge = by_module(&traces, "judge");
    let next = by_module(&traces, "next_request");

    assert_eq!(pipeline.parent_span_id, None);
    assert_eq!(retrieve.parent_span_id.as_ref(), Some(&pipeline.span_id));
    assert_eq!(generate.parent_span_id.as_ref(), Some(&pipeline.span_id));
    assert_eq!(judge.parent_span_id.as_ref(), Some(&generate.span_id));
    for child in [retrieve, generate, judge] {
        assert_eq!(child.trace_id, pipeline.trace_id);
    }
    assert_ne!(
        next.trace_id, pipeline.trace_id,
        "a new root starts a new trace"
    );
    assert_eq!(next.parent_span_id, None);
}

#[test]
fn record_functions_annotate_the_innermost_call() {
    let tracer = ExecutionTracer::new();
    assert!(
        !monitor::record_quality(1.0),
        "outside any call nothing is recorded"
    );
    {
        let _outer = tracer.trace("outer", ());
        assert!(monitor::record_tokens(TokenUsage::new(100, 20)));
        {
            let _inner = tracer.trace("inner", ());
            monitor::record_tokens(TokenUsage::new(5, 5));
            monitor::record_tokens(TokenUsage::new(1, 1));
            monitor::record_validation_error("bad json");
            monitor::record_quality(0.4);
            monitor::record_attribute("model", "tiny");
            monitor::record_attribute("api_token", "sk-live");
        }
        monitor::record_quality(0.9);
    }
    let traces = tracer.get_traces(None);
    let inner = by_module(&traces, "inner");
    assert_eq!(inner.token_usage, Some(TokenUsage::new(6, 6)));
    assert_eq!(inner.validation_errors, ["bad json"]);
    assert_eq!(inner.quality_score, Some(0.4));
    assert_eq!(inner.attributes["model"], "tiny");
    assert_eq!(inner.attributes["api_token"], monitor::capture::REDACTED);
    let outer = by_module(&traces, "outer");
    assert_eq!(outer.token_usage, Some(TokenUsage::new(100, 20)));
    assert_eq!(outer.quality_score, Some(0.9));
}

async fn retrieve(tracer: &ExecutionTracer) -> Vec<String> {
    tracer
        .trace("retrieve", ())
        .instrument(async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            tokio::task::yield_now().await;
            monitor::record_tokens(TokenUsage::new(3, 0));
            vec!["doc".to_owned()]
        })
        .await
}

async fn answer(tracer: &ExecutionTracer, question: usize) -> String {
    tracer
        .trace("answer", serde_json::json!({ "question": question }))
        .instrument(async move {
            let docs = retrieve(tracer).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            let _judge = tracer.trace("judge", ());
            format!("{question}: {}", docs.len())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_links_survive_awaits_across_interleaved_tasks() {
    let tracer = ExecutionTracer::new();
    let tasks: Vec<_> = (0..16)
        .map(|question| {
            let tracer = tracer.clone();
            tokio::spawn(async move { answer(&tracer, question).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let traces = tracer.get_traces(None);
    assert_eq!(traces.len(), 48);
    let answers: Vec<_> = traces.iter().filter(|t| t.module == "answer").collect();
    assert_eq!(answers.len(), 16);
    for answer in answers {
        assert_eq!(answer.parent_span_id, None, "each task is its own root");
        let children: Vec<_> = traces
            .iter()
            .filter(|t| t.parent_span_id.as_ref() == Some(&answer.span_id))
            .collect();
        let mut names: Vec<_> = children.iter().map(|t| t.module.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            ["judge", "retrieve"],
            "children of {}",
            answer.span_id
        );
        assert!(children.iter().all(|c| c.trace_id == answer.trace_id));
    }
    let retrieves = traces.iter().filter(|t| t.module == "retrieve");
    assert!(retrieves
        .into_iter()
        .all(|r| r.token_usage == Some(TokenUsage::new(3, 0))));
}

#[tokio::test]
async fn a_future_dropped_before_it_finishes_is_cancelled() {
    let tracer = ExecutionTracer::new();
    let slow = tracer
        .trace("slow", ())
        .instrument(tokio::time::sleep(Duration::from_secs(60)));
    let timed_out = tokio::time::timeout(Duration::from_millis(5), slow).await;
    assert!(timed_out.is_err());
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, monitor::Status::Cancelled);
    assert_eq!(tracer.get_metrics().cancelled_count, 1);
}

#[tokio::test]
async fn a_panicking_future_is_recorded_as_a_panic() {
    let tracer = ExecutionTracer::new();
    let handle = {
        let tracer = tracer.clone();
        tokio::spawn(async move {
            tracer
                .trace("boom", ())
                .instrument(async {
                    tokio::task::yield_now().await;
                    // The future's output is `()`: an instrumented future's output says
                    // how the call ended, and `!` says nothing.
                    if true {
                        panic!("async failure");
                    }
                })
                .await
        })
    };
    assert!(handle.await.unwrap_err().is_panic());
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, monitor::Status::Panic);
    assert!(entry
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("async failure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_continue_the_trace_through_a_context() {
    let tracer = ExecutionTracer::new();
    tracer
        .trace("fan_out", ())
        .instrument(async {
            let context = monitor::current_context().expect("inside fan_out");
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let tracer = tracer.clone();
                    tokio::spawn(context.attach(async move {
                        tracer
                            .trace("worker", ())
                            .instrument(tokio::task::yield_now())
                            .await;
                        assert!(
                            !monitor::record_quality(1.0),
                            "no call of this task to annotate"
                        );
                    }))
                })
                .collect();
            for worker in workers {
                worker.await.unwrap();
            }
        })
        .await;
    let traces = tracer.get_traces(None);
    let parent = by_module(&traces, "fan_out");
    let workers: Vec<_> = traces.iter().filter(|t| t.module == "worker").collect();
    assert_eq!(workers.len(), 4);
    for worker in workers {
        assert_eq!(worker.parent_span_id.as_ref(), Some(&parent.span_id));
        assert_eq!(worker.trace_id, parent.trace_id);
    }
}

#[test]
fn session_user_tags_and_metadata_reach_every_span_of_the_trace() {
    let tracer = ExecutionTracer::new();
    monitor::with_tracer(&tracer, || {
        let _conversation = tracer.trace("conversation", ());
        let early = tracer.trace("early", ());
        drop(early); // recorded before the session is said: still carries it
        assert!(monitor::record_session("session-42"));
        assert!(monitor::record_user("user-7"));
        assert!(monitor::record_trace_tag("beta"));
        assert!(monitor::record_trace_metadata("plan", "pro"));
        assert!(monitor::record_trace_metadata("api_key", "sk-secret"));
        monitor::spawn_thread(|| drop(monitor::current_tracer().trace("worker", ())))
            .join()
            .unwrap();
    });
    tracer.trace("another_trace", ()).finish();
    assert!(!monitor::record_session("outside any call"));

    let entries = tracer.get_traces(None);
    for name in ["conversation", "early", "worker"] {
        let entry = entries.iter().find(|e| e.module == name).unwrap();
        assert_eq!(entry.attributes["session.id"], "session-42", "{name}");
        assert_eq!(entry.attributes["user.id"], "user-7", "{name}");
        assert_eq!(
            entry.attributes["tag.tags"],
            serde_json::json!(["beta"]),
            "{name}"
        );
        let metadata: serde_json::Value =
            serde_json::from_str(entry.attributes["metadata"].as_str().unwrap()).unwrap();
        assert_eq!(metadata["plan"], "pro");
        assert_eq!(metadata["api_key"], "[redacted]");
    }
    let other = entries
        .iter()
        .find(|e| e.module == "another_trace")
        .unwrap();
    assert!(!other.attributes.contains_key("session.id"));
}
