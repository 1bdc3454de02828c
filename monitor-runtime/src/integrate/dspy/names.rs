//! Predictor names: dspy-rs hands an adapter a predictor's signature and nothing else, so
//! the names that `Optimizable::parameters()` gives are kept by the signature's address.

use std::sync::{Arc, LazyLock};

use dspy_rs::{MetaSignature, Optimizable};
use parking_lot::RwLock;
use rustc_hash::FxHashMap;

static NAMES: LazyLock<RwLock<FxHashMap<usize, Arc<str>>>> = LazyLock::new(Default::default);

/// A signature's identity: the address of the boxed signature inside its `Predict`, which
/// stays put while the predictor lives (an optimiser only changes its contents).
fn key(signature: &dyn MetaSignature) -> usize {
    (signature as *const dyn MetaSignature).cast::<()>() as usize
}

/// Names every predictor of `module` after its field, as `Optimizable::parameters()` does
/// (`answer`, `retrieve.rewrite` for nested modules), so that its LM calls record as
/// `lm.<name>`. Returns the names.
///
/// Call it once the module is built (and again if its predictors are replaced);
/// [`track_optimization`](super::track_optimization) calls it for you.
pub fn name_predictors<M: Optimizable + ?Sized>(module: &mut M) -> Vec<String> {
    // The signatures are asked for before the lock is taken: `get_signature` is the
    // module's code, which may call monitored code that reads these names.
    let keyed: Vec<(usize, String)> = module
        .parameters()
        .into_iter()
        .map(|(name, predictor)| (key(predictor.get_signature()), name))
        .collect();
    let mut names = NAMES.write();
    keyed
        .into_iter()
        .map(|(key, name)| {
            names.insert(key, name.as_str().into());
            name
        })
        .collect()
}

/// Names one predictor (a `Predict` used on its own): its LM calls record as
/// `lm.<name>`.
pub fn name_predictor<P: Optimizable + ?Sized>(predictor: &P, name: &str) {
    let key = key(predictor.get_signature());
    NAMES.write().insert(key, name.into());
}

/// The name given to the predictor of `signature`, if any.
pub fn predictor_name(signature: &dyn MetaSignature) -> Option<Arc<str>> {
    NAMES.read().get(&key(signature)).cloned()
}
