//! What counts as a secret, and how it is hidden: by the name it is kept under
//! ([`is_secret_name`]), by how it looks inside a string (credentials in URLs, bearer
//! tokens: [`mask_url_credentials`]), and by the user's own rule ([`set_mask_hook`]).
//!
//! [`mask_text`] applies all three, and is what every kept or sent string goes through.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use super::REDACTED;

/// `true` for names that usually hold credentials: `api_key`, `token`, `password`,
/// `secret`, `authorization`, `bearer`, `jwt`, `cookie`, `dsn`, `private_key`,
/// `x-api-key`, `clientSecret`, `session_token`, `connection_string`, ... Names are split
/// into words at `_`, `-`, `.`, spaces and lower-to-upper case changes, so `max_tokens`
/// and `tokenizer` are not secrets but `auth_token` and `apiKey` are.
///
/// Names that hold URLs (`database_url`) are not secrets by name: the credentials inside
/// such a value are masked by [`mask_url_credentials`] instead, so the host stays visible.
///
/// A `const fn`, so `#[monitored]` decides at compile time which arguments it redacts, with
/// this one definition.
pub const fn is_secret_name(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "apikey",
        "authorization",
        "auth",
        "credential",
        "credentials",
        "cookie",
        "cookies",
        "passphrase",
        "bearer",
        "jwt",
        "dsn",
        "privatekey",
        "signature",
        "otp",
    ];
    const PAIRS: &[(&str, &str)] = &[
        ("api", "key"),
        ("access", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("session", "key"),
        ("session", "id"),
        ("connection", "string"),
        ("conn", "str"),
        ("set", "cookie"),
    ];
    const WORD_SHAPES: [u64; 26] = shapes(WORDS, &[]);
    const PAIR_END_SHAPES: [u64; 26] = shapes(&[], PAIRS);
    let bytes = name.as_bytes();
    let mut previous: Option<(usize, usize)> = None;
    let mut at = 0;
    while at < bytes.len() {
        if is_word_separator(bytes[at]) {
            at += 1;
            continue;
        }
        let start = at;
        at += 1;
        while at < bytes.len() && !is_word_separator(bytes[at]) && !starts_camel_word(bytes, at) {
            at += 1;
        }
        let word = (start, at);
        // Most words start with a letter no secret word of their length starts with:
        // those skip the lists (this runs for every field monitoring captures).
        let mut index = if might_be(&WORD_SHAPES, bytes, word) {
            0
        } else {
            WORDS.len()
        };
        while index < WORDS.len() {
            if word_is(bytes, word, WORDS[index]) {
                return true;
            }
            index += 1;
        }
        if let (Some(first), true) = (previous, might_be(&PAIR_END_SHAPES, bytes, word)) {
            let mut index = 0;
            while index < PAIRS.len() {
                if word_is(bytes, first, PAIRS[index].0) && word_is(bytes, word, PAIRS[index].1) {
                    return true;
                }
                index += 1;
            }
        }
        previous = Some(word);
    }
    false
}

/// For each first letter, the lengths (as bits) of the words that start with it: the
/// words of `words` and the second words of `pairs`.
const fn shapes(words: &[&str], pairs: &[(&str, &str)]) -> [u64; 26] {
    let mut table = [0u64; 26];
    let mut index = 0;
    while index < words.len() + pairs.len() {
        let word = if index < words.len() {
            words[index].as_bytes()
        } else {
            pairs[index - words.len()].1.as_bytes()
        };
        table[(word[0] - b'a') as usize] |= 1 << word.len();
        index += 1;
    }
    table
}

/// `false` when no word in `shapes` has the first letter and length of `bytes[start..end]`.
const fn might_be(shapes: &[u64; 26], bytes: &[u8], (start, end): (usize, usize)) -> bool {
    let first = bytes[start].to_ascii_lowercase();
    let len = end - start;
    first.is_ascii_lowercase() && len < 64 && shapes[(first - b'a') as usize] >> len & 1 == 1
}

const fn is_word_separator(byte: u8) -> bool {
    matches!(byte, b'_' | b'-' | b'.' | b' ')
}

/// An upper-case letter after a lower-case letter or digit starts a word (`apiKey`).
const fn starts_camel_word(bytes: &[u8], at: usize) -> bool {
    let before = bytes[at - 1];
    bytes[at].is_ascii_uppercase() && (before.is_ascii_lowercase() || before.is_ascii_digit())
}

/// Compares `bytes[start..end]` with the lower-case `word`, ignoring ASCII case.
const fn word_is(bytes: &[u8], (start, end): (usize, usize), word: &str) -> bool {
    let word = word.as_bytes();
    if end - start != word.len() {
        return false;
    }
    let mut index = 0;
    while index < word.len() {
        if bytes[start + index].to_ascii_lowercase() != word[index] {
            return false;
        }
        index += 1;
    }
    true
}

/// Masks credentials that a string carries inside it, wherever they stand in the text:
///
/// - the password of a URL's user info: `postgres://app:hunter2@db/x` becomes
///   `postgres://app:[redacted]@db/x`; user info without a password (`https://ghp_x@host`)
///   is masked whole;
/// - query parameters with secret names: `?api_key=sk-1&q=rust` becomes
///   `?api_key=[redacted]&q=rust`;
/// - bearer tokens: `Bearer eyJhbGci...` becomes `Bearer [redacted]`.
///
/// Borrows when there is nothing to mask.
///
/// ```
/// # use monitor_runtime as monitor;
/// assert_eq!(
///     monitor::capture::mask_url_credentials("postgres://app:hunter2@db.internal:5432/prod"),
///     "postgres://app:[redacted]@db.internal:5432/prod",
/// );
/// assert_eq!(monitor::capture::mask_url_credentials("no secrets here"), "no secrets here");
/// ```
pub fn mask_url_credentials(text: &str) -> Cow<'_, str> {
    if !might_hold_credentials(text) {
        return Cow::Borrowed(text);
    }
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, after)) = next_credential(rest) {
        masked.push_str(before);
        masked.push_str(REDACTED);
        rest = after;
    }
    if masked.is_empty() {
        return Cow::Borrowed(text);
    }
    masked.push_str(rest);
    Cow::Owned(masked)
}

/// A cheap test that skips the scan for the common string with no URL, query or header:
/// every kept string goes through it, so it looks at each byte about once.
fn might_hold_credentials(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.contains(&b'=') || text.contains("://") {
        return true;
    }
    // `bearer ` ends with a space: look back from each space (found with memchr).
    let mut from = 0;
    while let Some(found) = text[from..].find(' ') {
        let space = from + found;
        if space >= 6 && bytes[space - 6..space].eq_ignore_ascii_case(b"bearer") {
            return true;
        }
        from = space + 1;
    }
    false
}

/// The first credential in `text`: the text before it and the text after it.
fn next_credential(text: &str) -> Option<(&str, &str)> {
    let candidates = [
        find_url_password(text),
        find_secret_query_value(text),
        find_bearer_token(text),
    ];
    let (start, end) = candidates.into_iter().flatten().min_by_key(|(s, _)| *s)?;
    Some((&text[..start], &text[end..]))
}

/// Bytes that end a URL's authority or a query value inside free text.
fn ends_token(byte: u8) -> bool {
    byte.is_ascii_whitespace() || matches!(byte, b'"' | b'\'' | b'`' | b'<' | b'>' | b',' | b';')
}

/// The password (or whole user info, when it has no `:`) of the first URL with user info.
fn find_url_password(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let authority_start = from + found + 3;
        let mut authority_end = authority_start;
        while authority_end < bytes.len()
            && !ends_token(bytes[authority_end])
            && !matches!(bytes[authority_end], b'/' | b'?' | b'#')
        {
            authority_end += 1;
        }
        let authority = &text[authority_start..authority_end];
        if let Some(at) = authority.rfind('@') {
            let user_info = &authority[..at];
            if !user_info.is_empty() && user_info != REDACTED {
                let secret_start = match user_info.find(':') {
                    Some(colon) => authority_start + colon + 1,
                    None => authority_start,
                };
                let secret_end = authority_start + at;
                if secret_end > secret_start && &text[secret_start..secret_end] != REDACTED {
                    return Some((secret_start, secret_end));
                }
            }
        }
        from = authority_start;
    }
    None
}

/// The value of the first `name=value` query or form parameter whose name is a secret.
fn find_secret_query_value(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find('=') {
        let equals = from + found;
        let mut name_start = equals;
        while name_start > 0 && is_param_name_byte(bytes[name_start - 1]) {
            name_start -= 1;
        }
        let after_separator = name_start == 0 || matches!(bytes[name_start - 1], b'?' | b'&');
        let name = &text[name_start..equals];
        if after_separator && !name.is_empty() && is_secret_name(name) {
            let value_start = equals + 1;
            let mut value_end = value_start;
            while value_end < bytes.len()
                && !ends_token(bytes[value_end])
                && !matches!(bytes[value_end], b'&' | b'#')
            {
                value_end += 1;
            }
            if value_end > value_start && &text[value_start..value_end] != REDACTED {
                return Some((value_start, value_end));
            }
        }
        from = equals + 1;
    }
    None
}

fn is_param_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// The token after the first `Bearer ` (any case).
fn find_bearer_token(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while from + 7 <= bytes.len() {
        let position = bytes[from..]
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"bearer "))?;
        let token_start = from + position + 7;
        let mut token_end = token_start;
        while token_end < bytes.len() && !ends_token(bytes[token_end]) {
            token_end += 1;
        }
        if token_end > token_start && &text[token_start..token_end] != REDACTED {
            return Some((token_start, token_end));
        }
        from = token_start;
    }
    None
}

/// A user's masking rule: called with a field's name (an argument name, a JSON key, an
/// attribute, error or MLflow param key; empty when the value has none) and its text,
/// returns `Some(replacement)` to hide it. See [`set_mask_hook`].
pub type MaskHook = dyn Fn(&str, &str) -> Option<String> + Send + Sync;

static HOOK_SET: AtomicBool = AtomicBool::new(false);
static HOOK: RwLock<Option<Arc<MaskHook>>> = RwLock::new(None);

/// Installs a masking rule of the application's own, applied after the built-in ones to
/// every string that monitoring keeps or sends: captured inputs and outputs (each string
/// inside them, with its key), error messages and sources, validation errors, attributes,
/// log lines, exports, MLflow params and tags. Replaces any rule set before.
///
/// A rule that panics masks the value it was given, as [`REDACTED`](crate::capture::REDACTED). A
/// rule may call monitored code: what that code's calls keep while the rule runs is
/// redacted, since checking it would run the rule again.
///
/// ```
/// # use monitor_runtime as monitor;
/// // Hide customer e-mail addresses wherever they appear, and a field named `ssn`.
/// monitor::capture::set_mask_hook(|field, text| {
///     (field == "ssn" || text.contains('@')).then(|| "[masked]".to_owned())
/// });
/// ```
pub fn set_mask_hook<F>(hook: F)
where
    F: Fn(&str, &str) -> Option<String> + Send + Sync + 'static,
{
    *HOOK.write() = Some(Arc::new(hook));
    HOOK_SET.store(true, Ordering::Release);
}

/// Removes the rule set by [`set_mask_hook`].
pub fn clear_mask_hook() {
    HOOK_SET.store(false, Ordering::Release);
    *HOOK.write() = None;
}

/// `true` while a user's rule is installed; lets callers skip work when it is not.
#[inline]
pub(crate) fn has_mask_hook() -> bool {
    HOOK_SET.load(Ordering::Acquire)
}

thread_local! {
    /// Set while this thread runs the user's rule.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// The user's rule applied to one value; `None` when it keeps the value as it is.
///
/// A value kept while the rule itself runs (by monitored code the rule calls: a PII
/// classifier, say) is redacted: checking it would run the rule again, without end.
pub(crate) fn apply_mask_hook(field: &str, text: &str) -> Option<String> {
    if !has_mask_hook() {
        return None;
    }
    let hook = HOOK.read().clone()?;
    // A thread whose storage is gone cannot tell a nested call: redact rather than risk it.
    let nested = IN_HOOK
        .try_with(|running| running.replace(true))
        .unwrap_or(true);
    if nested {
        return Some(REDACTED.to_owned());
    }
    let masked = super::isolate::isolated(|| hook(field, text))
        .unwrap_or_else(|_| Some(REDACTED.to_owned()));
    let _ = IN_HOOK.try_with(|running| running.set(false));
    masked
}

/// One kept or sent string, with every rule applied: redacted whole when `field` is a
/// secret name, credentials inside it masked, then the user's rule.
pub(crate) fn mask_text<'a>(field: &str, text: &'a str) -> Cow<'a, str> {
    if is_secret_name(field) {
        return Cow::Borrowed(REDACTED);
    }
    mask_value(field, text)
}

/// [`mask_text`] for a value whose field name was already checked: credentials inside it
/// masked, then the user's rule.
pub(crate) fn mask_value<'a>(field: &str, text: &'a str) -> Cow<'a, str> {
    let masked = mask_url_credentials(text);
    match apply_mask_hook(field, &masked) {
        Some(replacement) => Cow::Owned(replacement),
        None => masked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "api_key",
            "apiKey",
            "token",
            "auth_token",
            "password",
            "X-Api-Key",
            "client_secret",
            "authorization",
            "bearer",
            "jwt",
            "private_key",
            "privateKey",
            "cookie",
            "session_token",
            "session_id",
            "database_dsn",
            "connection_string",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            assert!(is_secret_name(name), "{name} should be a secret");
        }
        for name in [
            "tokens_used",
            "max_tokens",
            "tokenizer",
            "query",
            "keyword",
            "author",
            "primary_key",
            "database_url",
            "session",
            "cache_key",
        ] {
            assert!(!is_secret_name(name), "{name} should not be a secret");
        }
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_credentials("connect postgres://app:hunter2@db:5432/x failed"),
            "connect postgres://app:[redacted]@db:5432/x failed"
        );
        assert_eq!(
            mask_url_credentials("https://ghp_abc123@github.com/o/r"),
            "https://[redacted]@github.com/o/r"
        );
        assert_eq!(
            mask_url_credentials("a http://u:p@h b https://v:q@i"),
            "a http://u:[redacted]@h b https://v:[redacted]@i"
        );
        assert_eq!(
            mask_url_credentials("https://host/path?x=1"),
            "https://host/path?x=1"
        );
    }

    #[test]
    fn secret_query_values_and_bearer_tokens_are_masked() {
        assert_eq!(
            mask_url_credentials("https://h/p?q=rust&api_key=sk-1&n=2"),
            "https://h/p?q=rust&api_key=[redacted]&n=2"
        );
        assert_eq!(
            mask_url_credentials("Authorization: Bearer eyJhbGciOi.x.y"),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(mask_url_credentials("a=b, x = y"), "a=b, x = y");
    }

    #[test]
    fn masking_is_idempotent() {
        let once = mask_url_credentials("postgres://app:pw@db?token=t Bearer abc").into_owned();
        assert_eq!(mask_url_credentials(&once), once);
    }
}
