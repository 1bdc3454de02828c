//! What calls cost: a price table per model, set by the program, and the cost of each call
//! that reports tokens for a priced model.
//!
//! ```
//! # use monitor_runtime as monitor;
//! use monitor::{ModelPrice, TokenUsage};
//!
//! // US dollars per million tokens (any currency works: costs are in the table's unit).
//! monitor::set_model_price("gpt-4o-mini", ModelPrice::per_million(0.15, 0.60))?;
//!
//! let tracer = monitor::ExecutionTracer::new();
//! let mut call = tracer.trace("generate", ());
//! call.set_model("gpt-4o-mini-2024-07-18"); // a dated version takes its family's price
//! call.set_token_usage(TokenUsage::new(1_000, 500));
//! drop(call);
//!
//! let cost = tracer.get_traces(None)[0].cost.expect("priced");
//! assert!((cost.total - 0.00045).abs() < 1e-12);
//! assert!((tracer.module_metrics("generate").cost.unwrap().total - 0.00045).abs() < 1e-12);
//! # monitor::clear_model_prices();
//! # Ok::<(), monitor::Error>(())
//! ```

// May call: `entry` (`TokenUsage`, `Cost`) and `error`.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use rustc_hash::FxHashMap;

use crate::entry::{Cost, TokenUsage};
use crate::error::{Error, Result};

/// The highest price [`set_model_price`] takes, per million tokens of any kind: far above
/// any real price in any currency, and low enough that no cost can overflow to infinity,
/// whatever the token counts (the costs of 2^64 calls of 2^64 tokens each add up to about
/// 10^45), so every cost is a finite number and every export reads back.
pub const MAX_PRICE_PER_MILLION: f64 = 1e12;

/// The price of a model's tokens, per million: input (prompt), output (completion), and
/// input read from the provider's cache (`TokenUsage::cached_input_tokens`), which costs
/// the input price unless given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelPrice {
    input_per_million: f64,
    output_per_million: f64,
    cached_input_per_million: Option<f64>,
}

impl ModelPrice {
    /// The price of a million input tokens and of a million output tokens.
    pub fn per_million(input: f64, output: f64) -> Self {
        ModelPrice {
            input_per_million: input,
            output_per_million: output,
            cached_input_per_million: None,
        }
    }

    /// The price of a million cached input tokens.
    pub fn with_cached_input(mut self, cached_input: f64) -> Self {
        self.cached_input_per_million = Some(cached_input);
        self
    }

    fn check(&self, model: &str) -> Result<()> {
        let prices = [
            self.input_per_million,
            self.output_per_million,
            self.cached_input_per_million.unwrap_or(0.0),
        ];
        if prices
            .iter()
            .all(|price| (0.0..=MAX_PRICE_PER_MILLION).contains(price))
        {
            Ok(())
        } else {
            Err(Error::InvalidPrice {
                model: model.to_owned(),
                reason: format!(
                    "prices must be finite and not negative, at most {MAX_PRICE_PER_MILLION} \
                     per million tokens, got {self:?}"
                ),
            })
        }
    }

    /// What `tokens` cost at this price.
    pub fn cost_of(&self, tokens: &TokenUsage) -> Cost {
        let cached = tokens.cached_input_tokens.min(tokens.input_tokens);
        let fresh = tokens.input_tokens - cached;
        let cached_price = self
            .cached_input_per_million
            .unwrap_or(self.input_per_million);
        let input = (fresh as f64 * self.input_per_million + cached as f64 * cached_price) / 1e6;
        let output = tokens.output_tokens as f64 * self.output_per_million / 1e6;
        Cost {
            input,
            output,
            total: input + output,
        }
    }
}

static PRICES: RwLock<Option<FxHashMap<String, ModelPrice>>> = RwLock::new(None);
/// Set once a price is set: until then, the record path does not look at prices.
static ANY: AtomicBool = AtomicBool::new(false);

/// Sets the price of `model`'s tokens. A model named `gpt-4o` also prices the versions
/// named after it (`gpt-4o-2024-08-06`): the longest name in the table that the call's
/// model starts with wins. Calls report their model with `#[monitored(model = "..")]`,
/// `monitor::record_model` or `TraceGuard::set_model`, and are priced on the whole name
/// they report (a name longer than the field cap is kept cut, as every kept string). A
/// negative or non-finite price, or one over [`MAX_PRICE_PER_MILLION`], is an error.
pub fn set_model_price(model: impl Into<String>, price: ModelPrice) -> Result<()> {
    let model = model.into();
    price.check(&model)?;
    PRICES
        .write()
        .get_or_insert_with(FxHashMap::default)
        .insert(model, price);
    ANY.store(true, Ordering::Release);
    Ok(())
}

/// Sets the prices of several models, as [`set_model_price`]; nothing is set if one is
/// invalid.
pub fn set_model_prices<M: Into<String>>(
    prices: impl IntoIterator<Item = (M, ModelPrice)>,
) -> Result<()> {
    let prices: Vec<(String, ModelPrice)> = prices
        .into_iter()
        .map(|(model, price)| (model.into(), price))
        .collect();
    for (model, price) in &prices {
        price.check(model)?;
    }
    PRICES
        .write()
        .get_or_insert_with(FxHashMap::default)
        .extend(prices);
    ANY.store(true, Ordering::Release);
    Ok(())
}

/// Forgets every price: calls recorded from now on have no cost.
pub fn clear_model_prices() {
    *PRICES.write() = None;
    ANY.store(false, Ordering::Release);
}

/// Whether any price is set.
#[inline]
pub(crate) fn any() -> bool {
    ANY.load(Ordering::Acquire)
}

/// The price of `model` when a call reports it (`set_model`, `record_model`), looked up
/// on the whole name: the name kept on the entry may be cut by then. `None` while no price
/// is set.
pub(crate) fn price_when_reported(model: &str) -> Option<ModelPrice> {
    if !any() {
        return None;
    }
    price_of(model)
}

/// The price of `model`: its own, else the longest priced name it starts with.
pub(crate) fn price_of(model: &str) -> Option<ModelPrice> {
    let prices = PRICES.read();
    let prices = prices.as_ref()?;
    if let Some(price) = prices.get(model) {
        return Some(*price);
    }
    prices
        .iter()
        .filter(|(name, _)| model.starts_with(name.as_str()))
        .max_by_key(|(name, _)| name.len())
        .map(|(_, price)| *price)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_input_costs_its_own_price() {
        let price = ModelPrice::per_million(2.0, 8.0).with_cached_input(0.5);
        let mut tokens = TokenUsage::new(1_000_000, 1_000_000);
        tokens.cached_input_tokens = 400_000;
        let cost = price.cost_of(&tokens);
        assert!((cost.input - (0.6 * 2.0 + 0.4 * 0.5)).abs() < 1e-9);
        assert!((cost.output - 8.0).abs() < 1e-9);
        assert!((cost.total - cost.input - cost.output).abs() < 1e-12);
    }

    #[test]
    fn bad_prices_are_refused() {
        for price in [
            ModelPrice::per_million(-1.0, 1.0),
            ModelPrice::per_million(1.0, f64::NAN),
            ModelPrice::per_million(1.0, 1.0).with_cached_input(f64::INFINITY),
            ModelPrice::per_million(f64::MAX, 1.0),
        ] {
            let error = price.check("m").unwrap_err().to_string();
            assert!(error.contains("invalid price for model \"m\""), "{error}");
        }
    }
}
