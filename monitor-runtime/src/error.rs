use std::path::PathBuf;

/// Everything that can go wrong in `monitor`'s runtime.
///
/// Recording a call never fails: these errors come from the calls that touch the outside
/// world (exporting, loading) and are returned to the caller that asked for them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Writing an export file failed; an existing file at `path` was left as it was.
    #[error("cannot write traces to {path}")]
    Export {
        /// The file that was being written.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Reading an export file failed.
    #[error("cannot read traces from {path}")]
    Load {
        /// The file that was being read.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// A value could not be turned into, or read back from, JSON.
    #[error("invalid trace JSON")]
    Json(#[from] serde_json::Error),
    /// An export file was written by a newer, incompatible version of `monitor`.
    #[error("unsupported export schema version {found} (this build reads version {supported})")]
    SchemaVersion {
        /// The version found in the file.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },
}

/// `Result` with [`Error`](enum@Error) as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
