// `tokens = f` gets `&T` (the `Ok` value, or the output) and returns token usage; a
// function that does not fit is an error at `f`, or at the method that inherits it.
use monitor::{monitored, TokenUsage};

struct Completion {
    usage: TokenUsage,
}

#[monitored(tokens = 120)]
fn literal() -> Completion {
    Completion { usage: TokenUsage::new(1, 2) }
}

fn usage_of_text(text: &str) -> TokenUsage {
    TokenUsage::new(text.len() as u64, 0)
}

#[monitored(tokens = usage_of_text)]
fn wrong_input() -> Result<Completion, String> {
    Ok(Completion { usage: TokenUsage::new(1, 2) })
}

#[monitored(tokens = |c: &Completion| c.usage.total_tokens as f64)]
fn wrong_output() -> Completion {
    Completion { usage: TokenUsage::new(1, 2) }
}

struct Agent;

#[monitored(tokens = |c: &Completion| c.usage)]
impl Agent {
    fn complete(&self) -> Completion {
        Completion { usage: TokenUsage::new(1, 2) }
    }

    fn count(&self) -> usize {
        3
    }
}

fn main() {
    literal();
    let _ = wrong_input();
    wrong_output();
    Agent.complete();
    Agent.count();
}
