//! `tracing` callsites made at run time, one per module (and level): `tracing`'s macros
//! make theirs at compile time, one per place in the code, but a monitored module is known
//! by its name only when it first runs.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use tracing::callsite::{Callsite, Identifier};
use tracing::field::FieldSet;
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::metadata::Kind;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};

const NEVER: u8 = 0;
const SOMETIMES: u8 = 1;
const ALWAYS: u8 = 2;

/// A `tracing` callsite made at run time: one module's events at one level, or its spans.
pub(crate) struct Site {
    meta: OnceLock<Metadata<'static>>,
    interest: AtomicU8,
}

impl Site {
    /// A callsite for `name`d events or spans with `fields`, registered with `tracing`.
    pub(crate) fn register(
        name: &'static str,
        target: &'static str,
        level: Level,
        fields: &'static [&'static str],
        kind: Kind,
    ) -> &'static Site {
        let site: &'static Site = Box::leak(Box::new(Site {
            meta: OnceLock::new(),
            interest: AtomicU8::new(SOMETIMES),
        }));
        let meta = Metadata::new(
            name,
            target,
            level,
            Some(file!()),
            Some(line!()),
            Some(module_path!()),
            FieldSet::new(fields, Identifier(site)),
            kind,
        );
        let _ = site.meta.set(meta);
        tracing::callsite::register(site);
        site
    }

    /// Whether the current subscriber wants this event: the global max level first, then
    /// the interest cached at registration, asking the subscriber only when it said
    /// "sometimes".
    #[inline]
    pub(crate) fn enabled(&'static self, max: LevelFilter) -> bool {
        let meta = self.metadata();
        if *meta.level() > STATIC_MAX_LEVEL || *meta.level() > max {
            return false;
        }
        match self.interest.load(Ordering::Relaxed) {
            NEVER => false,
            ALWAYS => true,
            _ => tracing::dispatcher::get_default(|dispatch| dispatch.enabled(meta)),
        }
    }

    pub(crate) fn metadata(&'static self) -> &'static Metadata<'static> {
        self.meta.get().expect("set before registration")
    }
}

impl Callsite for Site {
    fn set_interest(&self, interest: Interest) {
        let interest = if interest.is_never() {
            NEVER
        } else if interest.is_always() {
            ALWAYS
        } else {
            SOMETIMES
        };
        self.interest.store(interest, Ordering::Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        self.meta.get().expect("set before registration")
    }
}
