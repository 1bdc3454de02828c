//! What a traced call returned, read as its outcome: an `Err` is the call's error,
//! everything else a success. Used where the call's value is known but its type is generic
//! (`in_trace`, `TraceGuard::end`, `ModuleMonitor::call`, an instrumented future), where
//! `#[monitored]`'s classification by type cannot run.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Display;
use std::rc::Rc;
use std::sync::Arc;

use crate::entry::ErrorInfo;

/// Whether a value returned by a traced call means it failed: `Err(e)` of a `Result` is an
/// error (message from `Display`, kind from the error's type name, as `#[monitored]`
/// records it); every other value, by default, a success.
///
/// Implemented for `Result<T, E>` with any `E: Display` (`anyhow::Error`,
/// `Box<dyn Error>`, `io::Error`, `String`, thiserror types), and as a success for `()`,
/// `bool`, numbers, `char`, strings, `Option<T>`, collections, `serde_json::Value`, smart
/// pointers and tuples. For a type of your own, `impl monitor::Outcome for MyType {}` says
/// it is always a success; override [`error_info`](Self::error_info) when some of its
/// values are failures.
///
/// ```
/// # use monitor_runtime as monitor;
/// use monitor::{ErrorInfo, ExecutionTracer, Outcome, Status};
///
/// struct Answer { text: String }
/// impl Outcome for Answer {}
///
/// enum Reply { Text(String), Refused(String) }
/// impl Outcome for Reply {
///     fn error_info(&self, _max_bytes: usize) -> Option<ErrorInfo> {
///         match self {
///             Reply::Text(_) => None,
///             Reply::Refused(why) => Some(ErrorInfo::new("Refused", why.clone())),
///         }
///     }
/// }
///
/// let tracer = ExecutionTracer::new();
/// tracer.in_trace("answer", (), |_| Answer { text: "42".into() });
/// tracer.in_trace("reply", (), |_| Reply::Refused("off topic".into()));
/// let traces = tracer.get_traces(None);
/// assert_eq!(traces[0].status, Status::Success);
/// assert_eq!(traces[1].status, Status::Error);
/// # let _ = (Answer { text: String::new() }.text, Reply::Text(String::new()));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say whether the traced call succeeded",
    label = "the traced call returns `{Self}`",
    note = "return a `Result` (its `Err` is recorded as the call's error), or say that `{Self}` is a success: `impl monitor::Outcome for {Self} {{}}`"
)]
pub trait Outcome {
    /// The error this value stands for, its text kept within `max_bytes`; `None`, the
    /// default, for a success.
    fn error_info(&self, max_bytes: usize) -> Option<ErrorInfo> {
        let _ = max_bytes;
        None
    }
}

impl<T, E: Display> Outcome for Result<T, E> {
    fn error_info(&self, max_bytes: usize) -> Option<ErrorInfo> {
        self.as_ref()
            .err()
            .map(|error| ErrorInfo::from_display_capped(error, max_bytes))
    }
}

/// Values that are always a success.
macro_rules! success {
    ($($ty:ty),* $(,)?) => {$(impl Outcome for $ty {})*};
}

success!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    str,
    String,
    serde_json::Value,
    std::path::PathBuf,
    std::path::Path,
    std::time::Duration,
);

/// Containers of any values: a success (an `Option` that is `None` is an answer too).
macro_rules! success_of_any {
    ($($ty:ident<$($param:ident),+>),* $(,)?) => {$(
        impl<$($param),+> Outcome for $ty<$($param),+> {}
    )*};
}

success_of_any!(
    Option<T>, Vec<T>, VecDeque<T>, BTreeSet<T>, HashSet<T, S>, BTreeMap<K, V>,
    HashMap<K, V, S>,
);

impl<T> Outcome for [T] {}
impl<T, const N: usize> Outcome for [T; N] {}
impl<T: ToOwned + ?Sized> Outcome for Cow<'_, T> {}

/// Pointers classify what they point at (a `Box<Result<..>>` is still an error).
macro_rules! through_pointer {
    ($($ty:ty),* $(,)?) => {$(
        impl<T: Outcome + ?Sized> Outcome for $ty {
            fn error_info(&self, max_bytes: usize) -> Option<ErrorInfo> {
                (**self).error_info(max_bytes)
            }
        }
    )*};
}

through_pointer!(&T, &mut T, Box<T>, Rc<T>, Arc<T>);

/// Tuples: a success (several values returned at once).
macro_rules! success_tuples {
    ($(($($param:ident),+)),* $(,)?) => {$(impl<$($param),+> Outcome for ($($param,)+) {})*};
}

success_tuples!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H),
    (A, B, C, D, E, F, G, H, I),
    (A, B, C, D, E, F, G, H, I, J),
    (A, B, C, D, E, F, G, H, I, J, K),
    (A, B, C, D, E, F, G, H, I, J, K, L),
);
