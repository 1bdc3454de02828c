// A block-level `quality` that fits one method's output but not another's: the error
// points at the method it cannot score, not only at the attribute.
use monitor::monitored;

struct Answer {
    confidence: f64,
}

struct Completion {
    text: String,
}

fn by_confidence(answer: &Answer) -> f64 {
    answer.confidence
}

struct Agent;

#[monitored(quality = by_confidence)]
impl Agent {
    fn answer(&self) -> Answer {
        Answer { confidence: 0.9 }
    }

    fn complete(&self) -> Completion {
        Completion { text: String::new() }
    }
}

struct Closures;

#[monitored(quality = |a: &Answer| a.confidence)]
impl Closures {
    fn answer(&self) -> Result<Answer, String> {
        Ok(Answer { confidence: 0.9 })
    }

    fn summarise(&self) -> Result<Completion, String> {
        Ok(Completion { text: String::new() })
    }
}

fn main() {
    Agent.answer();
    let _ = Agent.complete().text;
    let _ = Closures.answer();
    let _ = Closures.summarise();
}
