//! `ModuleMonitor`: closures and trait objects that cannot carry the attribute.

use monitor::{monitored, with_tracer, ExecutionTracer, ModuleMonitor, Status};

#[test]
fn wraps_a_closure_and_answers_its_metrics() {
    let tracer = ExecutionTracer::new();
    let generator = ModuleMonitor::new("skill_generator", |task: &str| format!("# {task}"))
        .record_into(&tracer)
        .with_quality(|output: &String| output.len() as f64 / 100.0);
    for task in ["a", "bb", "ccc"] {
        generator.call(task);
    }
    let metrics = generator.get_metrics();
    assert_eq!(metrics.total_executions, 3);
    assert_eq!(metrics.success_rate, 1.0);
    assert_eq!(metrics.avg_quality_score, Some(0.04));
    let last = &tracer.get_traces(Some(1))[0];
    assert_eq!(last.module, "skill_generator");
    assert_eq!(last.inputs["input"], "ccc");
    assert_eq!(last.outputs, Some(serde_json::json!("# ccc")));
}

#[test]
fn try_call_records_errors_and_scores_only_successes() {
    let tracer = ExecutionTracer::new();
    let parser = ModuleMonitor::new("parse", |text: &str| text.parse::<u32>())
        .record_into(&tracer)
        .with_quality(|n: &u32| f64::from(*n) / 10.0);
    assert_eq!(parser.try_call("7"), Ok(7));
    assert!(parser.try_call("seven").is_err());

    let traces = tracer.get_traces(None);
    assert_eq!(traces[0].status, Status::Success);
    assert_eq!(traces[0].quality_score, Some(0.7));
    assert_eq!(traces[1].status, Status::Error);
    assert_eq!(traces[1].quality_score, None);
    assert_eq!(
        traces[1].error.as_ref().unwrap().message,
        "invalid digit found in string"
    );
    assert_eq!(parser.get_metrics().success_rate, 0.5);
}

#[test]
fn records_into_the_scoped_tracer_by_default_and_can_hide_io() {
    let tracer = ExecutionTracer::new();
    let quiet = ModuleMonitor::new("quiet", |secret: String| secret.len())
        .log_inputs(false)
        .log_outputs(false);
    with_tracer(&tracer, || quiet.call("hunter2".to_owned()));
    let entry = &tracer.get_traces(None)[0];
    assert!(entry.inputs.is_empty());
    assert_eq!(entry.outputs, None);
    assert_eq!(
        with_tracer(&tracer, || quiet.get_metrics().total_executions),
        1
    );
}

#[test]
fn a_panicking_quality_metric_never_breaks_the_call() {
    let tracer = ExecutionTracer::new();
    let module = ModuleMonitor::new("fragile_judge", |x: u32| x + 1)
        .record_into(&tracer)
        .with_quality(|_: &u32| -> f64 { panic!("judge exploded") });
    assert_eq!(module.call(1), 2);
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.status, Status::Success);
    assert!(entry.attributes["quality_error"]
        .as_str()
        .unwrap()
        .contains("judge exploded"));
}

#[tokio::test]
async fn async_closures_are_recorded_until_their_future_completes() {
    let tracer = ExecutionTracer::new();
    let generate = ModuleMonitor::new("generate", |prompt: String| async move {
        tokio::task::yield_now().await;
        format!("answer to {prompt}")
    })
    .record_into(&tracer)
    .with_input_names(["prompt"])
    .with_quality(|answer: &String| answer.len() as f64 / 100.0);
    assert_eq!(generate.call_async("why".to_owned()).await, "answer to why");
    let entry = tracer.get_traces(None).remove(0);
    assert_eq!(entry.module, "generate");
    assert_eq!(entry.status, Status::Success);
    assert_eq!(entry.inputs["prompt"], "why");
    assert_eq!(entry.outputs, Some(serde_json::json!("answer to why")));
    assert_eq!(entry.quality_score, Some(0.13));
}

#[tokio::test]
async fn async_errors_and_cancellation_are_recorded() {
    let tracer = ExecutionTracer::new();
    let flaky = ModuleMonitor::new("flaky", |attempt: u32| async move {
        if attempt == 0 {
            Err(format!("attempt {attempt} failed"))
        } else {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            Ok(attempt)
        }
    })
    .record_into(&tracer);
    assert!(flaky.try_call_async(0).await.is_err());
    let timed_out = tokio::time::timeout(
        std::time::Duration::from_millis(10),
        flaky.try_call_async(1),
    )
    .await;
    assert!(timed_out.is_err());
    let entries = tracer.get_traces(None);
    assert_eq!(entries[0].status, Status::Error);
    assert_eq!(
        entries[0].error.as_ref().unwrap().message,
        "attempt 0 failed"
    );
    assert_eq!(entries[0].inputs["input"], 0);
    assert_eq!(entries[1].status, Status::Cancelled);
}

#[tokio::test]
async fn async_methods_of_trait_objects_are_recorded() {
    use std::future::Future;
    use std::pin::Pin;

    trait Embedder: Send + Sync {
        fn embed<'a>(
            &'a self,
            text: &'a str,
        ) -> Pin<Box<dyn Future<Output = Vec<f32>> + Send + 'a>>;
    }
    struct Lengths;
    impl Embedder for Lengths {
        fn embed<'a>(
            &'a self,
            text: &'a str,
        ) -> Pin<Box<dyn Future<Output = Vec<f32>> + Send + 'a>> {
            Box::pin(async move { vec![text.len() as f32] })
        }
    }

    let tracer = ExecutionTracer::new();
    let embedder =
        ModuleMonitor::new("embedder", Box::new(Lengths) as Box<dyn Embedder>).record_into(&tracer);
    let vector = embedder
        .invoke_async(serde_json::json!({ "text": "four" }), |e| e.embed("four"))
        .await;
    assert_eq!(vector, [4.0]);
    let entry = tracer.get_traces(None).remove(0);
    assert_eq!(entry.inputs["text"], "four");
    assert_eq!(entry.outputs, Some(serde_json::json!([4.0])));
}

// Async modules on a multi-thread runtime: the call is recorded from its first poll until
// its future completes, whichever threads poll it, and the futures are `Send`.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_in_spawned_tasks_are_timed_across_their_awaits() {
    use std::sync::Arc;
    use std::time::Duration;

    let tracer = ExecutionTracer::new();
    let generate = Arc::new(
        ModuleMonitor::new("generate", |prompt: String| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tokio::task::yield_now().await;
            format!("answer to {prompt}")
        })
        .record_into(&tracer),
    );
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let generate = Arc::clone(&generate);
            tokio::spawn(async move { generate.call_async(format!("q{i}")).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), format!("answer to q{i}"));
    }

    let entries = tracer.get_traces(None);
    assert_eq!(entries.len(), 4);
    for entry in &entries {
        assert_eq!(entry.status, Status::Success);
        assert!(entry.duration_ms() >= 20.0, "{} ms", entry.duration_ms());
        // A closure's single input is recorded as `input` (`with_input_names` names it).
        assert!(entry.inputs["input"].as_str().unwrap().starts_with('q'));
    }
    assert_eq!(generate.get_metrics().total_executions, 4);
}

#[monitored]
async fn retrieve(query: String) -> Vec<String> {
    tokio::task::yield_now().await;
    vec![format!("doc about {query}")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_made_inside_an_async_module_are_its_children() {
    use monitor::WithTracerExt;
    use std::sync::Arc;

    // No tracer named: the modules and `retrieve` record into the task's scoped one.
    let tracer = ExecutionTracer::new();
    let rerank = Arc::new(ModuleMonitor::new(
        "rerank",
        |docs: Vec<String>| async move {
            tokio::task::yield_now().await;
            docs.len()
        },
    ));
    let pipeline = ModuleMonitor::new("pipeline", move |query: String| {
        let rerank = Arc::clone(&rerank);
        async move {
            let docs = retrieve(query).await;
            rerank.call_async(docs).await
        }
    });
    let task = tokio::spawn(
        async move { pipeline.call_async("rust".to_owned()).await }.with_default_tracer(&tracer),
    );
    assert_eq!(task.await.unwrap(), 1);

    let entries = tracer.get_traces(None);
    let pipeline = entries.iter().find(|e| e.module == "pipeline").unwrap();
    for child in ["retrieve", "rerank"] {
        let child = entries.iter().find(|e| e.module == child).unwrap();
        assert_eq!(child.parent_span_id.as_ref(), Some(&pipeline.span_id));
        assert_eq!(child.trace_id, pipeline.trace_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_an_async_module_is_recorded_and_keeps_unwinding() {
    let tracer = ExecutionTracer::new();
    let fragile = ModuleMonitor::new("fragile", |n: u32| async move {
        tokio::task::yield_now().await;
        if n > 0 {
            panic!("model returned garbage");
        }
        n
    })
    .record_into(&tracer);
    let task = tokio::spawn(async move { fragile.call_async(1).await });
    assert!(
        task.await.unwrap_err().is_panic(),
        "the panic reaches the caller"
    );

    let entry = tracer.get_traces(None).remove(0);
    assert_eq!(entry.status, Status::Panic);
    assert!(entry
        .error
        .unwrap()
        .message
        .contains("model returned garbage"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_async_call_is_recorded_as_cancelled() {
    use std::sync::Arc;

    let tracer = ExecutionTracer::new();
    let started = Arc::new(tokio::sync::Notify::new());
    let slow = ModuleMonitor::new("slow", {
        let started = Arc::clone(&started);
        move |_: ()| {
            let started = Arc::clone(&started);
            async move {
                started.notify_one();
                std::future::pending::<()>().await
            }
        }
    })
    .record_into(&tracer);
    let task = tokio::spawn(async move { slow.call_async(()).await });
    started.notified().await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    let entry = tracer.get_traces(None).remove(0);
    assert_eq!(entry.module, "slow");
    assert_eq!(entry.status, Status::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boxed_future_returning_function_is_an_async_module() {
    use std::future::Future;
    use std::pin::Pin;

    type Embed =
        Box<dyn Fn(String) -> Pin<Box<dyn Future<Output = Vec<f32>> + Send>> + Send + Sync>;

    let tracer = ExecutionTracer::new();
    let embed: Embed = Box::new(|text| Box::pin(async move { vec![text.len() as f32] }));
    let embedder = ModuleMonitor::new("embedder", embed)
        .record_into(&tracer)
        .with_input_names(["text"]);
    let vector = tokio::spawn(async move { embedder.call_async("four".to_owned()).await })
        .await
        .unwrap();
    assert_eq!(vector, [4.0]);
    let entry = tracer.get_traces(None).remove(0);
    assert_eq!(entry.inputs["text"], "four");
    assert_eq!(entry.outputs, Some(serde_json::json!([4.0])));
}

#[test]
fn call_of_a_result_scores_the_ok_value_and_records_err_as_an_error() {
    let tracer = ExecutionTracer::new();
    let parse = ModuleMonitor::new("parse", |text: &str| {
        text.parse::<u32>().map_err(|e| e.to_string())
    })
    .record_into(&tracer)
    .with_quality(|n: &u32| f64::from(*n) / 10.0)
    .with_tokens(|n: &u32| monitor::TokenUsage::new(u64::from(*n), 1));
    assert_eq!(parse.call("7"), Ok(7));
    assert!(parse.call("x").is_err());
    let traces = tracer.get_traces(None);
    assert_eq!(traces[0].status, Status::Success);
    assert_eq!(traces[0].quality_score, Some(0.7));
    assert_eq!(traces[0].token_usage, Some(monitor::TokenUsage::new(7, 1)));
    assert_eq!(traces[1].status, Status::Error);
    assert_eq!(traces[1].quality_score, None);
    assert_eq!(traces[1].token_usage, None);
}

#[test]
fn quality_and_tokens_share_the_output_type() {
    let tracer = ExecutionTracer::new();
    let echo = ModuleMonitor::new("echo", |text: &str| text.to_owned())
        .record_into(&tracer)
        .with_tokens(|text: &String| (text.len() as u64, 0))
        .with_quality(|text: &String| text.len() as f64);
    echo.call("four");
    let entry = &tracer.get_traces(None)[0];
    assert_eq!(entry.quality_score, Some(4.0));
    assert_eq!(entry.token_usage, Some(monitor::TokenUsage::new(4, 0)));
}
