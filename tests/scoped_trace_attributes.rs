//! Trace attributes scoped to a block or a future (issue 27): a session set for a block
//! reaches every call in it, across `.await`, through `monitor::spawn` and
//! `monitor::spawn_thread`, into entries and exported spans.

use monitor::{
    with_trace_attributes, ExecutionTracer, TraceAttributes, TraceEntry, WithTraceAttributesExt,
    WithTracerExt,
};

fn visit() -> TraceAttributes {
    TraceAttributes::new()
        .session("s1")
        .user("u7")
        .tag("beta")
        .metadata("plan", "pro")
}

fn assert_has_visit(entry: &TraceEntry) {
    assert_eq!(entry.attributes["session.id"], "s1", "{entry:#?}");
    assert_eq!(entry.attributes["user.id"], "u7");
    assert_eq!(entry.attributes["tag.tags"], serde_json::json!(["beta"]));
    assert_eq!(entry.attributes["metadata"], r#"{"plan":"pro"}"#);
}

#[test]
fn every_call_in_the_block_carries_the_attributes_and_calls_outside_do_not() {
    let tracer = ExecutionTracer::new();
    with_trace_attributes(&visit(), || {
        tracer.trace("retrieve", ()).finish();
        tracer.in_trace("generate", (), |_| {
            tracer.trace("llm", ()).finish();
        });
    });
    tracer.trace("after", ()).finish();
    let traces = tracer.get_traces(None);
    assert_eq!(traces.len(), 4);
    for entry in &traces[..3] {
        assert_has_visit(entry);
    }
    assert!(!traces[3].attributes.contains_key("session.id"));
}

#[test]
fn an_inner_scope_overrides_the_session_and_adds_tags() {
    let tracer = ExecutionTracer::new();
    with_trace_attributes(&visit(), || {
        with_trace_attributes(&TraceAttributes::new().session("s2").tag("inner"), || {
            tracer.trace("inner", ()).finish();
        });
    });
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.attributes["session.id"], "s2");
    assert_eq!(entry.attributes["user.id"], "u7");
    assert_eq!(
        entry.attributes["tag.tags"],
        serde_json::json!(["beta", "inner"])
    );
}

#[test]
fn a_scope_opened_inside_a_call_gives_the_attributes_to_its_trace() {
    let tracer = ExecutionTracer::new();
    let outer = tracer.trace("outer", ());
    with_trace_attributes(&visit(), || tracer.trace("inner", ()).finish());
    outer.finish();
    for entry in tracer.get_traces(None) {
        assert_has_visit(&entry);
    }
}

#[test]
fn spawn_thread_carries_the_attributes_to_new_traces() {
    let tracer = ExecutionTracer::new();
    with_trace_attributes(&visit(), || {
        let worker = tracer.clone();
        monitor::spawn_thread(move || worker.trace("worker", ()).finish())
            .join()
            .unwrap();
    });
    assert_has_visit(&tracer.get_traces(None)[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_carries_them_across_await_and_through_spawn() {
    let tracer = ExecutionTracer::new();
    let work = {
        let tracer = tracer.clone();
        async move {
            tracer.trace("before_await", ()).finish();
            tokio::task::yield_now().await;
            tracer.trace("after_await", ()).finish();
            let spawned = tracer.clone();
            monitor::spawn(async move {
                tokio::task::yield_now().await;
                spawned.trace("spawned", ()).finish();
            })
            .await
            .unwrap();
        }
    };
    work.with_trace_attributes(&visit())
        .with_default_tracer(&tracer)
        .await;
    let traces = tracer.get_traces(None);
    assert_eq!(traces.len(), 3);
    for entry in &traces {
        assert_has_visit(entry);
    }
}

#[cfg(feature = "otlp")]
#[test]
fn exported_spans_carry_the_attributes() {
    let tracer = ExecutionTracer::new();
    with_trace_attributes(&visit(), || tracer.trace("retrieve", ()).finish());
    let request = monitor::export::otlp_request(&tracer.get_traces(None), "test");
    let span = &request["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let attribute = |key: &str| {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|kv| kv["key"] == key)
            .map(|kv| kv["value"].clone())
    };
    assert_eq!(attribute("session.id").unwrap()["stringValue"], "s1");
    assert_eq!(attribute("user.id").unwrap()["stringValue"], "u7");
}
