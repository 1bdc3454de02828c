use super::*;

#[test]
fn one_predictor_has_one_instruction_key() {
    let one = [("answer".to_owned(), "be brief".to_owned())];
    assert_eq!(
        instruction_keys(&one),
        [("instruction".to_owned(), "be brief")]
    );
    let two = [
        ("answer".to_owned(), "be brief".to_owned()),
        ("judge".to_owned(), "be fair".to_owned()),
    ];
    assert_eq!(
        instruction_keys(&two),
        [
            ("instruction.answer".to_owned(), "be brief"),
            ("instruction.judge".to_owned(), "be fair")
        ]
    );
}

#[test]
fn candidates_are_named_by_number_score_and_instruction() {
    let long = "Answer the question   in one short sentence, citing the passage it comes from.";
    let name = run_name(3, 0.8249, &[("answer".to_owned(), long.to_owned())]);
    assert_eq!(
        name,
        "candidate-3 (0.82): Answer the question in one short sentence, citin…"
    );
    assert_eq!(run_name(0, 1.0, &[]), "candidate-0 (1.00)");
}

#[cfg(feature = "mlflow")]
#[test]
fn an_examples_calls_become_a_trace_of_their_own() {
    let tracer = ExecutionTracer::new();
    let example = crate::with_tracer(&tracer, || {
        let candidate = tracer.trace(CANDIDATE_MODULE, ());
        let example = tracer.trace(EXAMPLE_MODULE, ());
        let (trace_id, span_id) = (example.trace_id(), example.span_id());
        tracer.trace("forward", ()).finish();
        drop(example);
        tracer.trace("outside the example", ()).finish();
        drop(candidate);
        (trace_id, span_id)
    });
    let score = ExampleScore {
        example: 0,
        score: 1.0,
        trace_id: own_trace_id(&example.0, &example.1),
        span_id: example.1.clone(),
    };
    let moved = example_traces(&tracer.get_traces(None), std::slice::from_ref(&score));
    let modules: Vec<&str> = moved.iter().map(|e| e.module.as_str()).collect();
    assert_eq!(modules, ["forward", EXAMPLE_MODULE]);
    assert!(moved.iter().all(|e| e.trace_id == score.trace_id));
    assert_ne!(score.trace_id, example.0);
    assert_eq!(score.trace_id.len(), 32);
    assert_eq!(moved[0].parent_span_id.as_deref(), Some(example.1.as_str()));
    assert_eq!(moved[1].parent_span_id, None, "the example is the root");
}

#[test]
fn type_names_are_short() {
    assert_eq!(short_type_name::<dspy_rs::COPRO>(), "COPRO");
    assert_eq!(short_type_name::<Vec<u8>>(), "Vec");
}
