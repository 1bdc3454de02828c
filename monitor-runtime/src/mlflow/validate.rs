//! MLflow's own checks of keys, values and artifact paths, done before anything is queued.

use crate::error::{Error, Result};

/// Longest key MLflow accepts (metrics, params, tags).
pub const MAX_KEY_LENGTH: usize = 250;
/// Longest param value MLflow stores; longer ones are refused with an error.
pub const MAX_PARAM_VALUE_LENGTH: usize = 6000;
/// Longest run tag value MLflow stores; longer ones are truncated with a warning.
pub const MAX_TAG_VALUE_LENGTH: usize = 8000;
/// Longest experiment name.
pub(crate) const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;

/// Checks a metric, param or tag key with MLflow's rules: only alphanumerics, `_ - . : /`
/// and space; equal to its normalised path (no `..`, `.`, `//`, leading or trailing `/`);
/// at most 250 characters.
pub(crate) fn check_key(kind: &'static str, key: &str) -> Result<()> {
    let bad = |reason: String| Error::MlflowKey {
        kind,
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() {
        return Err(bad("it is empty".into()));
    }
    // Fast path first: ASCII keys are the common case.
    let chars_ok = if key.is_ascii() {
        key.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b' ' | b':' | b'/')
        })
    } else {
        key.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | ':' | '/'))
    };
    if !chars_ok {
        return Err(bad(
            "names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
                .into(),
        ));
    }
    if !is_normal_path(key) {
        return Err(bad(
            "names are treated as file paths and must not resolve to another name (no `..`, `.`, `//`, leading or trailing `/`)"
                .into(),
        ));
    }
    let len = if key.is_ascii() {
        key.len()
    } else {
        key.chars().count()
    };
    if len > MAX_KEY_LENGTH {
        return Err(bad(format!(
            "{len} characters; the limit is {MAX_KEY_LENGTH}"
        )));
    }
    Ok(())
}

/// `posixpath.normpath(key) == key`, not `.`, not starting with `..` or `/`.
fn is_normal_path(key: &str) -> bool {
    !key.starts_with('/')
        && !key.ends_with('/')
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// Checks a param value's length.
pub(crate) fn check_param_value(key: &str, value: &str) -> Result<()> {
    let len = char_len(value, MAX_PARAM_VALUE_LENGTH);
    if len > MAX_PARAM_VALUE_LENGTH {
        return Err(Error::MlflowValueTooLong {
            kind: "param",
            key: key.to_owned(),
            len,
            limit: MAX_PARAM_VALUE_LENGTH,
        });
    }
    Ok(())
}

/// A tag value cut to 8000 characters, as the server would store it; warns when it cuts.
pub(crate) fn truncate_tag_value(key: &str, value: String) -> String {
    if char_len(&value, MAX_TAG_VALUE_LENGTH) <= MAX_TAG_VALUE_LENGTH {
        return value;
    }
    let cut = value
        .char_indices()
        .nth(MAX_TAG_VALUE_LENGTH)
        .map_or(value.len(), |(i, _)| i);
    crate::record::subscriber::emit!(tracing::warn!(
        target: "monitor::mlflow",
        "tag {key:?} value truncated to {MAX_TAG_VALUE_LENGTH} characters (MLflow's limit)"
    ));
    value[..cut].to_owned()
}

fn char_len(s: &str, limit: usize) -> usize {
    if s.len() <= limit {
        s.len().min(s.chars().count())
    } else {
        s.chars().count()
    }
}

/// Checks an experiment name: not empty, at most 500 characters.
pub(crate) fn check_experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::MlflowKey {
            kind: "experiment",
            key: name.to_owned(),
            reason: "it is empty".into(),
        });
    }
    let len = name.chars().count();
    if len > MAX_EXPERIMENT_NAME_LENGTH {
        return Err(Error::MlflowValueTooLong {
            kind: "experiment name",
            key: name.chars().take(40).collect(),
            len,
            limit: MAX_EXPERIMENT_NAME_LENGTH,
        });
    }
    Ok(())
}

/// Normalises a relative artifact path (`a/b/c.json`): `/`-separated, no empty, `.` or `..`
/// segment, not absolute, no backslash or NUL. An empty path means the run's root.
pub(crate) fn artifact_path(path: &str) -> Result<String> {
    let refuse = |reason: &str| Error::MlflowArtifactPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Err(refuse(
            "it is absolute; artifact paths are relative to the run",
        ));
    }
    if path.contains('\\') || path.contains('\0') {
        return Err(refuse(
            "it contains a backslash or NUL; use `/` between directories",
        ));
    }
    let mut parts = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                return Err(refuse(
                    "it contains `..`, which would climb out of the run's artifacts",
                ))
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

/// `dir` + `name`, both already checked.
pub(crate) fn join_artifact(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in ["loss", "train/acc", "a b:c-d.e_f", "Type::method/p95", "é"] {
            check_key("metric", ok).unwrap();
        }
        for bad in [
            "", "bad#key", "a/../b", "/a", "a/", "a//b", ".", "..", "./a", "x<T>",
        ] {
            assert!(check_key("metric", bad).is_err(), "{bad}");
        }
        assert!(check_key("metric", &"k".repeat(251)).is_err());
        check_key("metric", &"k".repeat(250)).unwrap();
    }

    #[test]
    fn values() {
        check_param_value("p", &"v".repeat(6000)).unwrap();
        assert!(check_param_value("p", &"v".repeat(6001)).is_err());
        assert_eq!(
            truncate_tag_value("t", "é".repeat(8001)).chars().count(),
            8000
        );
    }

    #[test]
    fn artifact_paths() {
        assert_eq!(artifact_path("a/./b/").unwrap(), "a/b");
        assert_eq!(artifact_path("").unwrap(), "");
        for bad in ["../x", "a/../../x", "/etc", "a\\b", "C:/x"] {
            assert!(artifact_path(bad).is_err(), "{bad}");
        }
    }
}
