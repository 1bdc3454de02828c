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
//! call.finish();
//!
//! let cost = tracer.get_traces(None)[0].cost.expect("priced");
//! assert!((cost.total - 0.00045).abs() < 1e-12);
//! assert!((tracer.module_metrics("generate").cost.unwrap().total - 0.00045).abs() < 1e-12);
//! # monitor::clear_model_prices();
//! # Ok::<(), monitor::Error>(())
//! ```

// May call: `entry` (`TokenUsage`, `Cost`) and `error`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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
    reasoning_per_million: Option<f64>,
}

impl ModelPrice {
    /// The price of a million input tokens and of a million output tokens.
    pub fn per_million(input: f64, output: f64) -> Self {
        ModelPrice {
            input_per_million: input,
            output_per_million: output,
            cached_input_per_million: None,
            reasoning_per_million: None,
        }
    }

    /// The price of a million cached input tokens.
    pub fn with_cached_input(mut self, cached_input: f64) -> Self {
        self.cached_input_per_million = Some(cached_input);
        self
    }

    /// The price of a million reasoning tokens (`TokenUsage::reasoning_tokens`, a part of
    /// the output tokens), when it differs from the output price.
    pub fn with_reasoning(mut self, reasoning: f64) -> Self {
        self.reasoning_per_million = Some(reasoning);
        self
    }

    /// The price of a million input tokens.
    pub fn input_per_million(&self) -> f64 {
        self.input_per_million
    }

    /// The price of a million output tokens.
    pub fn output_per_million(&self) -> f64 {
        self.output_per_million
    }

    /// The price of a million cached input tokens (the input price unless set).
    pub fn cached_input_per_million(&self) -> f64 {
        self.cached_input_per_million
            .unwrap_or(self.input_per_million)
    }

    /// The price of a million reasoning tokens (the output price unless set).
    pub fn reasoning_per_million(&self) -> f64 {
        self.reasoning_per_million
            .unwrap_or(self.output_per_million)
    }

    fn check(&self, model: &str) -> Result<()> {
        let prices = [
            self.input_per_million,
            self.output_per_million,
            self.cached_input_per_million.unwrap_or(0.0),
            self.reasoning_per_million.unwrap_or(0.0),
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

    /// What `tokens` cost at this price, each share rounded to [`COST_PRECISION`].
    pub fn cost_of(&self, tokens: &TokenUsage) -> Cost {
        let cached = tokens.cached_input_tokens.min(tokens.input_tokens);
        let fresh = tokens.input_tokens - cached;
        let reasoning = tokens.reasoning_tokens.min(tokens.output_tokens);
        let answer = tokens.output_tokens - reasoning;
        let input = (fresh as f64 * self.input_per_million
            + cached as f64 * self.cached_input_per_million())
            / 1e6;
        let output = (answer as f64 * self.output_per_million
            + reasoning as f64 * self.reasoning_per_million())
            / 1e6;
        Cost {
            input: round_cost(input),
            output: round_cost(output),
            total: round_cost(input + output),
        }
    }
}

/// Costs are rounded to this many units of the price table's currency (a ten-billionth of
/// a dollar): far below any real call's cost, and enough to drop the float noise of
/// sums (`0.00007960000000000001` reads `0.0000796`).
pub const COST_PRECISION: f64 = 1e-10;

/// `amount` rounded to [`COST_PRECISION`].
pub fn round_cost(amount: f64) -> f64 {
    // Divided by the exact 1e10, not multiplied by the inexact 1e-10: the result is then
    // the double nearest the decimal, which prints without noise.
    let units_per_currency = COST_PRECISION.recip().round();
    let scaled = (amount * units_per_currency).round();
    if scaled.is_finite() {
        scaled / units_per_currency
    } else {
        amount
    }
}

/// The day the bundled prices were last read from the providers' price pages (US dollars
/// per million tokens, standard tier, the shortest context band).
pub const BUNDLED_PRICES_AS_OF: &str = "2026-12-01";

/// A model of the bundled table: `(name, input, output, cached input)` per million tokens.
type Listed = (&'static str, f64, f64, Option<f64>);

/// Prices as published by each provider (OpenAI, Anthropic, Google, Mistral, Together AI)
/// on their pricing pages, as of [`BUNDLED_PRICES_AS_OF`]; checked against the LiteLLM
/// price table Arize Phoenix 20.26 bundles where it lists the model. Names are the
/// providers' model ids without dated suffixes: `gpt-4o` also prices `gpt-4o-2024-08-06`.
const BUNDLED: &[Listed] = &[
    // OpenAI
    ("gpt-4o", 2.5, 10.0, Some(1.25)),
    ("gpt-4o-mini", 0.15, 0.6, Some(0.075)),
    ("gpt-4.1", 2.0, 8.0, Some(0.5)),
    ("gpt-4.1-mini", 0.4, 1.6, Some(0.1)),
    ("gpt-4.1-nano", 0.1, 0.4, Some(0.025)),
    ("gpt-5", 1.25, 10.0, Some(0.125)),
    ("gpt-5-mini", 0.25, 2.0, Some(0.025)),
    ("gpt-5-nano", 0.05, 0.4, Some(0.005)),
    ("gpt-4-turbo", 10.0, 30.0, None),
    ("gpt-3.5-turbo", 0.5, 1.5, None),
    ("o1", 15.0, 60.0, Some(7.5)),
    ("o1-mini", 1.1, 4.4, Some(0.55)),
    ("o3", 2.0, 8.0, Some(0.5)),
    ("o3-mini", 1.1, 4.4, Some(0.55)),
    ("o4-mini", 1.1, 4.4, Some(0.275)),
    // Anthropic (cache reads at a tenth of the input price)
    ("claude-3-haiku", 0.25, 1.25, Some(0.03)),
    ("claude-3-opus", 15.0, 75.0, Some(1.5)),
    ("claude-3-5-haiku", 0.8, 4.0, Some(0.08)),
    ("claude-3-5-sonnet", 3.0, 15.0, Some(0.3)),
    ("claude-3-7-sonnet", 3.0, 15.0, Some(0.3)),
    ("claude-sonnet-4", 3.0, 15.0, Some(0.3)),
    ("claude-opus-4", 15.0, 75.0, Some(1.5)),
    ("claude-opus-4-1", 15.0, 75.0, Some(1.5)),
    ("claude-sonnet-4-5", 3.0, 15.0, Some(0.3)),
    ("claude-haiku-4-5", 1.0, 5.0, Some(0.1)),
    ("claude-opus-4-5", 5.0, 25.0, Some(0.5)),
    // Google (prompts up to 128k tokens for 1.5, 200k for 2.5 Pro)
    ("gemini-1.5-pro", 1.25, 5.0, Some(0.3125)),
    ("gemini-1.5-flash", 0.075, 0.3, Some(0.01875)),
    ("gemini-2.0-flash", 0.1, 0.4, Some(0.025)),
    ("gemini-2.0-flash-lite", 0.075, 0.3, None),
    ("gemini-2.5-pro", 1.25, 10.0, Some(0.125)),
    ("gemini-2.5-flash", 0.3, 2.5, Some(0.03)),
    ("gemini-2.5-flash-lite", 0.1, 0.4, Some(0.01)),
    // Mistral
    ("mistral-large-latest", 0.5, 1.5, Some(0.05)),
    ("mistral-medium-latest", 1.5, 7.5, Some(0.15)),
    ("mistral-small-latest", 0.15, 0.6, Some(0.015)),
    ("codestral-latest", 0.3, 0.9, Some(0.03)),
    ("open-mistral-nemo", 0.3, 0.3, Some(0.03)),
    // Llama, hosted by Together AI
    ("Llama-3.3-70B-Instruct-Turbo", 1.04, 1.04, None),
    ("Meta-Llama-3.1-8B-Instruct-Turbo", 0.18, 0.18, None),
    ("Llama-3.1-405B-Instruct", 3.5, 3.5, None),
];

/// The models of the bundled table with their prices, as [`BUNDLED_PRICES_AS_OF`].
pub fn bundled_model_prices() -> impl Iterator<Item = (&'static str, ModelPrice)> {
    BUNDLED
        .iter()
        .map(|&listed| (listed.0, listed_price(listed)))
}

fn listed_price((_, input, output, cached): Listed) -> ModelPrice {
    let price = ModelPrice::per_million(input, output);
    match cached {
        Some(cached) => price.with_cached_input(cached),
        None => price,
    }
}

static PRICES: RwLock<Option<FxHashMap<String, ModelPrice>>> = RwLock::new(None);
/// Whether the bundled table prices the models the program did not price.
static BUNDLED_ON: AtomicBool = AtomicBool::new(true);
/// Counts changes to the program's prices, for exporters that tell a backend of them.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Which version of the program's prices is current: it changes with every
/// [`set_model_price`], [`set_model_prices`] and [`clear_model_prices`].
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) fn prices_generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Sets the price of `model`'s tokens; a price set here wins over the bundled one. A model
/// named `gpt-4o` also prices the versions named after it (`gpt-4o-2024-08-06`): the
/// longest name in the table that the call's model starts with wins. Calls report their
/// model with `#[monitored(model = "..")]`, `monitor::record_model` or
/// `TraceGuard::set_model`, and are priced on the whole name they report (a name longer
/// than the field cap is kept cut, as every kept string). A negative or non-finite price,
/// or one over [`MAX_PRICE_PER_MILLION`], is an error.
pub fn set_model_price(model: impl Into<String>, price: ModelPrice) -> Result<()> {
    let model = model.into();
    price.check(&model)?;
    PRICES
        .write()
        .get_or_insert_with(FxHashMap::default)
        .insert(model, price);
    GENERATION.fetch_add(1, Ordering::AcqRel);
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
    GENERATION.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

/// Forgets every price set with [`set_model_price`]: from now on calls are priced by the
/// bundled table only (see [`use_bundled_prices`]).
pub fn clear_model_prices() {
    *PRICES.write() = None;
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Whether models the program did not price take the bundled price (on by default).
/// Off, only prices set with [`set_model_price`] count.
pub fn use_bundled_prices(on: bool) {
    BUNDLED_ON.store(on, Ordering::Release);
}

/// The prices set with [`set_model_price`], for backends that price models themselves
/// (Phoenix): every model the program named, with its price.
pub fn model_prices() -> Vec<(String, ModelPrice)> {
    PRICES
        .read()
        .as_ref()
        .map(|prices| prices.iter().map(|(m, p)| (m.clone(), *p)).collect())
        .unwrap_or_default()
}

/// Whether any price is set, set by the program or bundled.
#[inline]
pub(crate) fn any() -> bool {
    BUNDLED_ON.load(Ordering::Relaxed) || PRICES.read().is_some()
}

/// The price of `model` when a call reports it (`set_model`, `record_model`), looked up
/// on the whole name: the name kept on the entry may be cut by then.
pub(crate) fn price_when_reported(model: &str) -> Option<ModelPrice> {
    price_of(model)
}

/// The price of `model`: the program's (its own, else the longest priced name it starts
/// with), else the bundled table's (see [`bundled_price`]).
pub fn price_of(model: &str) -> Option<ModelPrice> {
    if let Some(price) = program_price(model) {
        return Some(price);
    }
    if BUNDLED_ON.load(Ordering::Relaxed) {
        bundled_price(model)
    } else {
        None
    }
}

fn program_price(model: &str) -> Option<ModelPrice> {
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

/// The bundled price of `model`: an exact name (`gpt-4o`), a dated or pinned version of one
/// (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`, `gemini-1.5-pro-002`,
/// `claude-3-5-sonnet@20240620`, `...-latest`, `...-v1:0`), after a provider prefix
/// (`openai/gpt-4o`, `models/gemini-2.5-pro`). Any other name has no price: never a guess
/// (`gpt-4o-mini-tts` is not `gpt-4o-mini`).
pub fn bundled_price(model: &str) -> Option<ModelPrice> {
    let name = model.rsplit('/').next().unwrap_or(model);
    BUNDLED
        .iter()
        .filter(|listed| {
            name.strip_prefix(listed.0)
                .is_some_and(|rest| rest.is_empty() || is_version_suffix(rest))
        })
        .max_by_key(|listed| listed.0.len())
        .map(|&listed| listed_price(listed))
}

/// The provider of a model the bundled table knows, in the OpenTelemetry GenAI spelling
/// (`openai`, `anthropic`, `gcp.gemini`, `mistral_ai`); `None` for any other model.
pub fn bundled_provider(model: &str) -> Option<&'static str> {
    bundled_price(model)?;
    let name = model.rsplit('/').next().unwrap_or(model);
    let provider = if name.starts_with("gpt-") || name.starts_with('o') {
        "openai"
    } else if name.starts_with("claude") {
        "anthropic"
    } else if name.starts_with("gemini") {
        "gcp.gemini"
    } else if name.contains("mistral") || name.starts_with("codestral") {
        "mistral_ai"
    } else {
        return None;
    };
    Some(provider)
}

/// `-2024-08-06`, `-20241022`, `-0613`, `-002`, `@20240620`, `-latest`, with an optional
/// Bedrock-style `-v1:0` after it.
fn is_version_suffix(rest: &str) -> bool {
    let rest = match rest.rfind("-v") {
        Some(at) if is_bedrock_version(&rest[at + 2..]) => &rest[..at],
        _ => rest,
    };
    if rest.is_empty() {
        return true;
    }
    let Some(version) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('@')) else {
        return false;
    };
    version == "latest"
        || (version.len() >= 3
            && version.starts_with(|c: char| c.is_ascii_digit())
            && version.chars().all(|c| c.is_ascii_digit() || c == '-'))
}

fn is_bedrock_version(text: &str) -> bool {
    text.split_once(':').is_some_and(|(major, minor)| {
        [major, minor]
            .iter()
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
    })
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
