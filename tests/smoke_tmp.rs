use monitor::{monitored, with_tracer, ExecutionTracer};

#[derive(Debug, serde::Serialize)]
struct Answer { text: String, confidence: f64 }

fn score(a: &Answer) -> f64 { a.confidence }

#[monitored(quality = score)]
fn answer(question: &str, api_key: &str) -> Answer {
    let _ = api_key;
    Answer { text: question.to_uppercase(), confidence: 0.5 }
}

#[monitored]
fn parse(x: &str) -> Result<i32, std::num::ParseIntError> {
    let v: i32 = x.parse()?;
    if v < 0 { return Ok(0); }
    Ok(v * 2)
}

struct Agent;
#[monitored]
impl Agent {
    fn run(&self, n: u32) -> u32 { n + 1 }
}

#[test]
fn smoke() {
    let t = ExecutionTracer::new();
    with_tracer(&t, || {
        answer("hi", "sk-1");
        let _ = parse("x");
        let _ = parse("21");
        Agent.run(1);
    });
    for e in t.get_traces(None) {
        println!("{}", serde_json::to_string(&e).unwrap());
    }
}
