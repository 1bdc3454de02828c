//! Parsing the options of `#[monitored(...)]`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitBool, LitStr, Path, Token};

/// Every option, as the error messages list them.
pub(crate) const OPTIONS: &str =
    "`name`, `quality`, `scores(..)`, `tokens`, `tracer`, `log_inputs`, `log_outputs`, `skip(..)`, `skip_all`, `capture_self`, `level`, `kind`, `model`, `stream`, `crate`, `off`";

/// The kinds `kind = "..."` accepts (the runtime's `SpanKind::NAMES`).
pub(crate) const KINDS: [&str; 12] = [
    "llm",
    "chat_model",
    "embedding",
    "retriever",
    "reranker",
    "tool",
    "agent",
    "chain",
    "parser",
    "evaluator",
    "guardrail",
    "server",
];

/// The levels `level = "..."` accepts.
pub(crate) const LEVELS: [&str; 5] = ["trace", "debug", "info", "warn", "error"];

/// One option as written: its key (for error spans) and its value.
#[derive(Clone)]
pub(crate) struct Setting<T> {
    pub(crate) key: Ident,
    pub(crate) value: T,
}

/// The options of one `#[monitored(...)]`.
#[derive(Clone, Default)]
pub(crate) struct Args {
    pub(crate) name: Option<Setting<LitStr>>,
    pub(crate) quality: Option<Setting<Expr>>,
    pub(crate) tokens: Option<Setting<Expr>>,
    /// `scores(name = f, ..)`: named scorers of the success value.
    pub(crate) scores: Option<Setting<Vec<(Ident, Expr)>>>,
    pub(crate) tracer: Option<Setting<Expr>>,
    pub(crate) log_inputs: Option<Setting<bool>>,
    pub(crate) log_outputs: Option<Setting<bool>>,
    pub(crate) skip: Option<Setting<Vec<Ident>>>,
    pub(crate) skip_all: Option<Setting<()>>,
    pub(crate) capture_self: Option<Setting<()>>,
    pub(crate) level: Option<Setting<LitStr>>,
    pub(crate) kind: Option<Setting<LitStr>>,
    /// A string literal, or the path of a `const` (checked by [`model_value`]).
    pub(crate) model: Option<Setting<Expr>>,
    /// The function returns a stream (a type alias the expansion cannot see through).
    pub(crate) stream: Option<Setting<()>>,
    pub(crate) krate: Option<Setting<Path>>,
    pub(crate) off: Option<Setting<()>>,
    /// Set on a method that takes its `quality` from its `impl` block: a function that
    /// cannot score this method's output is reported at the method, naming it.
    pub(crate) quality_from_block: Option<Ident>,
    /// The same for `tokens`.
    pub(crate) tokens_from_block: Option<Ident>,
}

impl Args {
    /// Method-level options over impl-level ones: each option the method sets wins.
    pub(crate) fn over(self, outer: &Args) -> Args {
        Args {
            name: self.name.or_else(|| outer.name.clone()),
            quality: self.quality.or_else(|| outer.quality.clone()),
            tokens: self.tokens.or_else(|| outer.tokens.clone()),
            scores: self.scores.or_else(|| outer.scores.clone()),
            tracer: self.tracer.or_else(|| outer.tracer.clone()),
            log_inputs: self.log_inputs.or_else(|| outer.log_inputs.clone()),
            log_outputs: self.log_outputs.or_else(|| outer.log_outputs.clone()),
            skip: self.skip.or_else(|| outer.skip.clone()),
            skip_all: self.skip_all.or_else(|| outer.skip_all.clone()),
            capture_self: self.capture_self.or_else(|| outer.capture_self.clone()),
            level: self.level.or_else(|| outer.level.clone()),
            kind: self.kind.or_else(|| outer.kind.clone()),
            model: self.model.or_else(|| outer.model.clone()),
            stream: self.stream,
            krate: self.krate.or_else(|| outer.krate.clone()),
            off: self.off,
            quality_from_block: self.quality_from_block,
            tokens_from_block: self.tokens_from_block,
        }
    }

    pub(crate) fn log_inputs(&self) -> bool {
        self.skip_all.is_none() && self.log_inputs.as_ref().is_none_or(|s| s.value)
    }

    pub(crate) fn log_outputs(&self) -> bool {
        self.log_outputs.as_ref().is_none_or(|s| s.value)
    }

    pub(crate) fn krate(&self) -> Path {
        match &self.krate {
            Some(setting) => setting.value.clone(),
            None => syn::parse_quote!(::monitor),
        }
    }
}

/// Stores `value` unless the option was already given: the one duplicate check.
fn set<T>(slot: &mut Option<Setting<T>>, key: Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            key.span(),
            format!("duplicate `{key}` option"),
        ));
    }
    *slot = Some(Setting { key, value });
    Ok(())
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            if !input.peek(Ident::peek_any) {
                return Err(input.error(format!("expected an option: one of {OPTIONS}")));
            }
            let key = input.call(Ident::parse_any)?;
            match key.to_string().as_str() {
                "name" => {
                    let name: LitStr = value(input, &key)?;
                    if name.value().is_empty() {
                        return Err(syn::Error::new(name.span(), "`name` cannot be empty"));
                    }
                    set(&mut args.name, key, name)?;
                }
                // Functions of the success value.
                "quality" | "tokens" => {
                    let function: Expr = value(input, &key)?;
                    let (slot, returning, example) = if key == "quality" {
                        (
                            &mut args.quality,
                            "`f64`",
                            "`quality = score` or `quality = |answer| answer.confidence`",
                        )
                    } else {
                        (
                            &mut args.tokens,
                            "its token usage (`TokenUsage`, `Option<TokenUsage>` or `(input, output)`)",
                            "`tokens = usage_of` or `tokens = |answer| answer.usage`",
                        )
                    };
                    if let Expr::Lit(lit) = &function {
                        return Err(syn::Error::new_spanned(
                            lit,
                            format!(
                                "`{key}` must be a function or closure taking `&T` (the `Ok` value, or the output) \
                                 and returning {returning}, such as {example}"
                            ),
                        ));
                    }
                    set(slot, key, function)?;
                }
                "scores" => {
                    let scorers = scorers(input, &key)?;
                    set(&mut args.scores, key, scorers)?;
                }
                "tracer" => {
                    let tracer: Expr = value(input, &key)?;
                    set(&mut args.tracer, key, tracer)?;
                }
                "log_inputs" | "log_outputs" => {
                    let flag = bool_value(input, &key)?;
                    let slot = if key == "log_inputs" {
                        &mut args.log_inputs
                    } else {
                        &mut args.log_outputs
                    };
                    set(slot, key, flag)?;
                }
                "skip" => {
                    if !input.peek(syn::token::Paren) {
                        return Err(syn::Error::new(
                            key.span(),
                            "expected `skip(arg, ...)` naming the arguments not to record; \
                             `skip_all` records none; `off` (inside a monitored `impl`) leaves a method unmonitored",
                        ));
                    }
                    let content;
                    syn::parenthesized!(content in input);
                    let names = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                        &content,
                        Ident::parse_any,
                    )?;
                    let mut seen: Vec<&Ident> = Vec::new();
                    for name in &names {
                        if seen.contains(&name) {
                            return Err(syn::Error::new(
                                name.span(),
                                format!("`{name}` is skipped twice"),
                            ));
                        }
                        seen.push(name);
                    }
                    set(&mut args.skip, key, names.into_iter().collect())?;
                }
                "skip_all" | "off" | "capture_self" | "stream" => {
                    if input.peek(Token![=]) || input.peek(syn::token::Paren) {
                        return Err(syn::Error::new(
                            key.span(),
                            format!("`{key}` takes no value"),
                        ));
                    }
                    let slot = match key.to_string().as_str() {
                        "off" => &mut args.off,
                        "capture_self" => &mut args.capture_self,
                        "stream" => &mut args.stream,
                        _ => &mut args.skip_all,
                    };
                    set(slot, key, ())?;
                }
                "level" => {
                    let level: LitStr = value(input, &key)?;
                    if !LEVELS.contains(&level.value().to_ascii_lowercase().as_str()) {
                        return Err(syn::Error::new(
                            level.span(),
                            format!(
                                "unknown level `{}`; expected one of `trace`, `debug`, `info`, `warn`, `error`",
                                level.value()
                            ),
                        ));
                    }
                    set(&mut args.level, key, level)?;
                }
                "kind" => {
                    let kind: LitStr = value(input, &key)?;
                    if !KINDS.contains(&kind.value().as_str()) {
                        return Err(syn::Error::new(
                            kind.span(),
                            format!(
                                "unknown kind `{}`; expected one of {}",
                                kind.value(),
                                KINDS.map(|k| format!("`{k}`")).join(", ")
                            ),
                        ));
                    }
                    set(&mut args.kind, key, kind)?;
                }
                "model" => {
                    let model = model_value(value(input, &key)?)?;
                    set(&mut args.model, key, model)?;
                }
                "crate" => {
                    let path: LitStr = value(input, &key)?;
                    let path: Path = path.parse().map_err(|_| {
                        syn::Error::new(
                            path.span(),
                            "`crate` expects the path of the `monitor` crate, like \"monitor\"",
                        )
                    })?;
                    set(&mut args.krate, key, path)?;
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown option `{key}`; expected one of {OPTIONS}"),
                    ));
                }
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

/// `model = "gpt-4o"` or `model = MODEL` (a `const` `&str`, so that the model can be named
/// once for many functions); what is only known at run time goes through `record_model`.
fn model_value(model: Expr) -> syn::Result<Expr> {
    match &model {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(text),
            ..
        }) if text.value().trim().is_empty() => {
            Err(syn::Error::new(text.span(), "`model` cannot be empty"))
        }
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(_), ..
        })
        | Expr::Path(_) => Ok(model),
        other => Err(syn::Error::new_spanned(
            other,
            "`model` expects a string literal or the path of a `const` `&str` \
             (`model = \"gpt-4o\"`, `model = MODEL`); for a model known only at run time, \
             call `monitor::record_model(..)` in the body",
        )),
    }
}

/// `= value` after `key`.
/// `scores(relevance = f, grounded = |answer| ..)`: one scorer per name, each a function
/// or closure of the success value.
fn scorers(input: ParseStream<'_>, key: &Ident) -> syn::Result<Vec<(Ident, Expr)>> {
    const EXAMPLE: &str =
        "`scores(relevance = score_relevance, grounded = |answer| answer.cites_sources())`";
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            key.span(),
            format!("expected {EXAMPLE}: a name and a function of the output for each score"),
        ));
    }
    let content;
    syn::parenthesized!(content in input);
    let mut scorers: Vec<(Ident, Expr)> = Vec::new();
    while !content.is_empty() {
        let name = content.call(Ident::parse_any)?;
        if name == "quality" {
            return Err(syn::Error::new(
                name.span(),
                "the `quality` score is set with `quality = f`, beside `scores(..)`",
            ));
        }
        if scorers.iter().any(|(seen, _)| *seen == name) {
            return Err(syn::Error::new(
                name.span(),
                format!("score `{name}` is given twice"),
            ));
        }
        let function: Expr = value(&content, &name)?;
        if let Expr::Lit(lit) = &function {
            return Err(syn::Error::new_spanned(
                lit,
                format!("score `{name}` must be a function or closure taking `&T` (the `Ok` value, or the output) and returning a number, a `bool` or a label, as in {EXAMPLE}"),
            ));
        }
        scorers.push((name, function));
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    Ok(scorers)
}

fn value<T: Parse>(input: ParseStream<'_>, key: &Ident) -> syn::Result<T> {
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span(),
            format!("expected `{key} = ...`"),
        ));
    }
    input.parse::<Token![=]>()?;
    input.parse()
}

fn bool_value(input: ParseStream<'_>, key: &Ident) -> syn::Result<bool> {
    let lit: Lit = value(input, key)?;
    match lit {
        Lit::Bool(LitBool { value, .. }) => Ok(value),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected `{key} = true` or `{key} = false`"),
        )),
    }
}

/// The span of an option for errors that concern it as a whole.
pub(crate) fn span_of<T>(setting: &Setting<T>) -> Span {
    setting.key.span()
}
