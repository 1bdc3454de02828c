//! The W3C `tracestate` header: vendors' `key=value` list members, passed on as they came.
//! At most 32 members with keys and values as the specification's grammar allows, no
//! duplicate keys; past 512 characters, members longer than 128 go first, then members
//! from the end, as the specification recommends.

use std::fmt;

/// At most this many list members; a header with more is refused whole.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// Longer `tracestate` headers (in characters) are cut to this length when passed on.
pub const MAX_TRACESTATE_CHARS: usize = 512;

/// Members longer than this go first when a header is cut.
const LONG_MEMBER: usize = 128;

/// The `tracestate` a remote parent sent: vendors' `key=value` entries, in order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TraceState(Vec<(String, String)>);

/// What reading a `tracestate` did.
pub(crate) enum Read {
    /// Kept whole.
    Kept(TraceState),
    /// Kept, less members that made it too long.
    Cut(TraceState),
    /// Refused whole: not valid.
    Refused,
}

impl TraceState {
    /// The value of vendor `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The header value: `key=value` entries joined by commas.
    pub fn header_value(&self) -> String {
        super::comma_list(&self.0, |(key, value), text| {
            text.push_str(key);
            text.push('=');
            text.push_str(value);
        })
    }

    /// Reads the values of every `tracestate` header (several combine as one list).
    pub(crate) fn read(values: &[&[u8]]) -> Read {
        let mut members = Vec::new();
        for value in values {
            let Ok(text) = std::str::from_utf8(value) else {
                return Read::Refused;
            };
            for member in text.split(',') {
                let member = member.trim_matches([' ', '\t']);
                if member.is_empty() {
                    continue;
                }
                if members.len() == MAX_TRACESTATE_MEMBERS {
                    return Read::Refused;
                }
                let Some((key, value)) = member.split_once('=') else {
                    return Read::Refused;
                };
                if !valid_key(key) || !valid_value(value) {
                    return Read::Refused;
                }
                if members.iter().any(|(k, _): &(String, String)| k == key) {
                    return Read::Refused;
                }
                members.push((key.to_owned(), value.to_owned()));
            }
        }
        let mut state = TraceState(members);
        if state.header_value().len() <= MAX_TRACESTATE_CHARS {
            return Read::Kept(state);
        }
        state
            .0
            .retain(|(k, v)| k.len() + 1 + v.len() <= LONG_MEMBER);
        while state.header_value().len() > MAX_TRACESTATE_CHARS {
            state.0.pop();
        }
        Read::Cut(state)
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A character allowed after the first in a key.
fn key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// `simple-key` (a lowercase letter, then up to 255 key characters) or
/// `tenant-id@system-id` (up to 241 and 14 characters).
fn valid_key(key: &str) -> bool {
    let rest_valid = |part: &[u8]| part[1..].iter().all(|&c| key_char(c));
    match key.split_once('@') {
        None => {
            let key = key.as_bytes();
            (1..=256).contains(&key.len()) && key[0].is_ascii_lowercase() && rest_valid(key)
        }
        Some((tenant, system)) => {
            let (tenant, system) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&tenant.len())
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && rest_valid(tenant)
                && (1..=14).contains(&system.len())
                && system[0].is_ascii_lowercase()
                && rest_valid(system)
        }
    }
}

/// Up to 256 printable ASCII characters but `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    let value = value.as_bytes();
    (1..=256).contains(&value.len())
        && value
            .iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && value.last() != Some(&b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: &str) -> Option<TraceState> {
        match TraceState::read(&[value.as_bytes()]) {
            Read::Kept(state) => Some(state),
            Read::Cut(_) | Read::Refused => None,
        }
    }

    #[test]
    fn keeps_valid_members_in_order_and_skips_empty_ones() {
        let state = read("rojo=00f067aa0ba902b7, ,congo=t61rcWkgMzE,tenant1@sys=x y").unwrap();
        assert_eq!(
            state.header_value(),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,tenant1@sys=x y"
        );
        assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
    }

    #[test]
    fn refuses_invalid_keys_values_duplicates_and_too_many_members() {
        for invalid in [
            "Rojo=1",
            "rojo",
            "rojo=",
            "rojo=a,rojo=b",
            "rojo=a=b",
            "1abc=x",
            "a@=x",
            "a@1=x",
            "rojo=caf\u{e9}",
        ] {
            assert!(read(invalid).is_none(), "{invalid:?}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert!(read(&many.join(",")).is_none());
        let exactly: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        assert_eq!(read(&exactly.join(",")).unwrap().len(), 32);
    }

    #[test]
    fn cuts_long_headers_dropping_long_members_first() {
        let long = format!("long={}", "x".repeat(200));
        let short: Vec<String> = (0..20)
            .map(|i| format!("k{i:02}={}", "y".repeat(20)))
            .collect();
        let header = format!("{long},{}", short.join(","));
        let Read::Cut(state) = TraceState::read(&[header.as_bytes()]) else {
            panic!("expected a cut")
        };
        assert!(state.get("long").is_none());
        assert!(state.header_value().len() <= MAX_TRACESTATE_CHARS);
        assert_eq!(state.get("k00"), Some("y".repeat(20).as_str()));
    }
}
