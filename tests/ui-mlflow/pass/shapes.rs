#![deny(warnings)]
//! Shapes that must compile: generics, references out, `impl Trait`, methods, `?`,
//! a renamed crate.

use ::monitor as mon2;
#[allow(unused_imports)]
use std as monitor;

struct Model {
    weights: Vec<f64>,
}

impl Model {
    #[mon2::mlflow_run(crate = "mon2", params(scale))]
    fn scale(&mut self, scale: f64) -> &mut Vec<f64> {
        for w in &mut self.weights {
            *w *= scale;
        }
        &mut self.weights
    }

    #[mon2::mlflow_run(crate = "mon2")]
    fn first(&self) -> Option<&f64> {
        self.weights.first()
    }
}

#[mon2::mlflow_run(crate = "mon2", params(items))]
fn total<T: Copy + Into<f64> + std::fmt::Debug>(items: &[T]) -> impl std::fmt::Display {
    items.iter().map(|&x| x.into()).sum::<f64>()
}

#[mon2::mlflow_run(crate = "mon2")]
fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.trim().parse()?;
    if n == 0 {
        return Ok(1);
    }
    Ok(n)
}

#[mon2::mlflow_run(crate = "mon2", experiment = "shapes")]
async fn fetch(n: u32) -> Result<u32, String> {
    let x = async { n }.await;
    if x > 10 {
        return Err("too big".into());
    }
    Ok(x)
}

struct NoTraits;

#[mon2::mlflow_run(crate = "mon2", params(opaque))]
fn opaque(opaque: NoTraits) -> usize {
    let NoTraits = opaque;
    0
}

fn main() {
    let _ = (Model::scale, Model::first, total::<f32>, parse, fetch, opaque);
}
