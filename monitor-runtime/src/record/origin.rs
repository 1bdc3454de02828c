//! Where a call's trace came from, as far as export cares: the sampling decision of the
//! process that started it, and whether the call's parent runs in another process.

/// Where a call's trace was started, as far as export cares: a trace continued from
/// another process carries that process's sampling decision, which every call under it
/// keeps (OpenTelemetry's parent-based sampling), and the first calls under the remote
/// parent know their parent is not in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Origin(u8);

impl Origin {
    /// A trace started here: the exporter's own sampler decides.
    pub(crate) const LOCAL: Origin = Origin(0);
    const SAMPLED: u8 = 1;
    const NOT_SAMPLED: u8 = 2;
    /// The frame stands for a call in another process.
    const OTHER_PROCESS: u8 = 4;
    /// The call's parent is a call in another process.
    const PARENT_REMOTE: u8 = 8;

    /// The frame of a parent in another process, which `sampled` its trace or not.
    pub(crate) fn remote_parent(sampled: bool) -> Origin {
        let decision = if sampled {
            Self::SAMPLED
        } else {
            Self::NOT_SAMPLED
        };
        Origin(decision | Self::OTHER_PROCESS)
    }

    /// The origin of a call made under a frame of this origin: the decision carries on,
    /// and a frame of another process makes its children's parent remote (branch-free:
    /// this runs on every call).
    #[inline]
    pub(crate) fn of_child(self) -> Origin {
        const _: () = assert!(Origin::OTHER_PROCESS << 1 == Origin::PARENT_REMOTE);
        let decision = self.0 & (Self::SAMPLED | Self::NOT_SAMPLED);
        Origin(decision | ((self.0 & Self::OTHER_PROCESS) << 1))
    }

    /// The sampling decision made upstream, if the trace came from another process.
    pub(crate) fn sampled(self) -> Option<bool> {
        match self.0 & (Self::SAMPLED | Self::NOT_SAMPLED) {
            Self::SAMPLED => Some(true),
            Self::NOT_SAMPLED => Some(false),
            _ => None,
        }
    }

    /// Whether the call's parent runs in another process (the call is this process's root
    /// of the trace).
    #[inline]
    pub(crate) fn parent_is_remote(self) -> bool {
        self.0 & Self::PARENT_REMOTE != 0
    }
}
