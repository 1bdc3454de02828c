//! Generated code names everything by absolute path: it compiles without the prelude.
#![no_implicit_prelude]

#[::monitor::monitored(quality = score)]
fn step(x: u32) -> ::std::result::Result<u32, ::std::string::String> {
    ::std::result::Result::Ok(x)
}

fn score(x: &u32) -> f64 {
    *x as f64
}

#[::monitor::monitored(level = "debug")]
async fn later(x: u32) -> u32 {
    x
}

struct Agent {
    tracer: ::monitor::ExecutionTracer,
}

#[::monitor::monitored(tracer = self.tracer)]
impl Agent {
    fn run(&self, input: &str) -> ::std::option::Option<usize> {
        ::std::option::Option::Some(input.len())
    }

    async fn later(&mut self) -> u8 {
        1
    }
}

trait Module {
    fn forward(&self) -> u8;
}

#[::monitor::monitored]
impl Module for Agent {
    fn forward(&self) -> u8 {
        0
    }
}

fn main() {
    let _ = step(1);
    let _ = later(1);
    let mut agent = Agent { tracer: ::monitor::ExecutionTracer::new() };
    let _ = agent.run("x");
    let _ = agent.later();
    let _ = agent.forward();
}
