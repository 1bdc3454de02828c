//! W3C Baggage: the `baggage` header's `key=value;properties` list members, values
//! percent-decoded when read and percent-encoded when written. At most
//! [`MAX_BAGGAGE_ENTRIES`] members and [`MAX_BAGGAGE_BYTES`] bytes are kept; malformed
//! members are skipped, and members past a limit are dropped.

use std::fmt;

/// At most this many baggage members are read or written.
pub const MAX_BAGGAGE_ENTRIES: usize = 180;

/// At most this many bytes of baggage (as written in the header) are read or written.
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// One member: a key, its decoded value and its properties as written (`;`-separated).
#[derive(Clone, PartialEq, Eq)]
struct Member {
    key: String,
    value: String,
    properties: String,
}

/// The baggage a remote caller sent, or to send: `key=value` entries, in order.
///
/// Its `Debug` output masks values under secret-looking keys and credentials inside
/// values, as every captured field is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage(Vec<Member>);

/// What reading `baggage` headers did.
pub(crate) struct Read {
    pub(crate) baggage: Baggage,
    /// Some member was malformed or past a limit, and was dropped.
    pub(crate) dropped: bool,
}

impl Baggage {
    /// No entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|member| member.key == key)
            .map(|member| member.value.as_str())
    }

    /// Sets `key` to `value` (any text: it is percent-encoded when written). Returns
    /// `false`, changing nothing, when `key` is not a valid baggage key (an HTTP token) or
    /// the entry would pass [`MAX_BAGGAGE_ENTRIES`] or [`MAX_BAGGAGE_BYTES`].
    pub fn insert(&mut self, key: &str, value: &str) -> bool {
        if key.is_empty() || !key.bytes().all(token_char) {
            return false;
        }
        let mut changed = self.clone();
        match changed.0.iter_mut().find(|member| member.key == key) {
            Some(member) => value.clone_into(&mut member.value),
            None => changed.0.push(Member {
                key: key.to_owned(),
                value: value.to_owned(),
                properties: String::new(),
            }),
        }
        if changed.0.len() > MAX_BAGGAGE_ENTRIES || changed.header_value().len() > MAX_BAGGAGE_BYTES
        {
            return false;
        }
        *self = changed;
        true
    }

    /// The entries (key, decoded value), in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|member| (member.key.as_str(), member.value.as_str()))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The header value: members joined by commas, values percent-encoded.
    pub fn header_value(&self) -> String {
        super::comma_list(&self.0, write_member)
    }

    /// Reads the values of every `baggage` header (several combine as one list). A later
    /// member with the same key replaces an earlier one.
    pub(crate) fn read(values: &[&[u8]]) -> Read {
        let mut read = Read {
            baggage: Baggage::default(),
            dropped: false,
        };
        let mut bytes = 0;
        for value in values {
            for raw in value.split(|&c| c == b',') {
                let raw = raw.trim_ascii();
                if raw.is_empty() {
                    continue;
                }
                let Some(member) = parse_member(raw) else {
                    read.dropped = true;
                    continue;
                };
                let separator = usize::from(bytes > 0);
                let fits = read.baggage.0.len() < MAX_BAGGAGE_ENTRIES
                    && bytes + separator + raw.len() <= MAX_BAGGAGE_BYTES;
                if !fits {
                    read.dropped = true;
                    return read;
                }
                bytes += separator + raw.len();
                let members = &mut read.baggage.0;
                members.retain(|kept| kept.key != member.key);
                members.push(member);
            }
        }
        read
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for member in &self.0 {
            let shown = crate::capture::attribute_value(&member.key, &member.value);
            map.entry(&member.key, &shown);
        }
        map.finish()
    }
}

/// An HTTP token character (RFC 9110 `tchar`): what a key is made of.
fn token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// A character a value may hold as it is (`baggage-octet`), `%` aside.
fn value_char(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e) && c != b'%'
}

/// `key OWS = OWS value *(OWS ; OWS property)`; `None` when malformed.
fn parse_member(raw: &[u8]) -> Option<Member> {
    let mut parts = raw.split(|&c| c == b';');
    let pair = parts.next()?;
    let equals = pair.iter().position(|&c| c == b'=')?;
    let key = pair[..equals].trim_ascii();
    let value = pair[equals + 1..].trim_ascii();
    if key.is_empty() || !key.iter().all(|&c| token_char(c)) {
        return None;
    }
    let value = percent_decode(value)?;
    let mut properties = String::new();
    for property in parts {
        let property = property.trim_ascii();
        let valid = match property.iter().position(|&c| c == b'=') {
            Some(at) => {
                let (key, value) = (property[..at].trim_ascii(), property[at + 1..].trim_ascii());
                !key.is_empty()
                    && key.iter().all(|&c| token_char(c))
                    && value.iter().all(|&c| value_char(c) || c == b'%')
            }
            None => !property.is_empty() && property.iter().all(|&c| token_char(c)),
        };
        if !valid {
            return None;
        }
        properties.push(';');
        properties.push_str(std::str::from_utf8(property).ok()?);
    }
    Some(Member {
        key: String::from_utf8(key.to_vec()).ok()?,
        value,
        properties,
    })
}

/// A value's text: `%XX` escapes decoded, everything else a `baggage-octet`; the result
/// must be UTF-8.
fn percent_decode(value: &[u8]) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some((&c, tail)) = rest.split_first() {
        if c == b'%' {
            let hex = tail.get(..2)?;
            let digit = |d: u8| (d as char).to_digit(16);
            bytes.push((digit(hex[0])? * 16 + digit(hex[1])?) as u8);
            rest = &tail[2..];
        } else if value_char(c) {
            bytes.push(c);
            rest = tail;
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok()
}

fn write_member(member: &Member, text: &mut String) {
    use std::fmt::Write as _;
    text.push_str(&member.key);
    text.push('=');
    for &c in member.value.as_bytes() {
        if value_char(c) {
            text.push(c as char);
        } else {
            let _ = write!(text, "%{c:02X}");
        }
    }
    text.push_str(&member.properties);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: &str) -> Read {
        Baggage::read(&[value.as_bytes()])
    }

    #[test]
    fn reads_members_with_properties_and_decodes_values() {
        let read = read("userId=alice, serverNode = DF%2028 ;p1;p2=x,isProduction=false");
        assert!(!read.dropped);
        let baggage = read.baggage;
        assert_eq!(baggage.get("userId"), Some("alice"));
        assert_eq!(baggage.get("serverNode"), Some("DF 28"));
        assert_eq!(
            baggage.header_value(),
            "userId=alice,serverNode=DF%2028;p1;p2=x,isProduction=false"
        );
    }

    #[test]
    fn round_trips_any_text_through_percent_encoding() {
        let mut baggage = Baggage::new();
        let text = "a,b;c=d %e \"f\" \\ caf\u{e9} \u{1f600}";
        assert!(baggage.insert("k", text));
        let read = read(&baggage.header_value());
        assert_eq!(read.baggage.get("k"), Some(text));
    }

    #[test]
    fn skips_malformed_members_and_keeps_the_rest() {
        for malformed in [
            "novalue",
            "=v",
            "k y=v",
            "k=v\u{e9}",
            "k=%zz",
            "k=%e9",
            "k=v;=x",
        ] {
            let read = read(&format!("{malformed},ok=1"));
            assert!(read.dropped, "{malformed:?}");
            assert_eq!(read.baggage.len(), 1, "{malformed:?}");
            assert_eq!(read.baggage.get("ok"), Some("1"));
        }
    }

    #[test]
    fn keeps_at_most_the_limits() {
        let many: Vec<String> = (0..200).map(|i| format!("k{i}=v")).collect();
        let read = read(&many.join(","));
        assert!(read.dropped);
        assert_eq!(read.baggage.len(), MAX_BAGGAGE_ENTRIES);
        let big: Vec<String> = (0..3)
            .map(|i| format!("k{i}={}", "v".repeat(4000)))
            .collect();
        let read = Baggage::read(&[big.join(",").as_bytes()]);
        assert!(read.dropped);
        assert_eq!(read.baggage.len(), 2);
        let mut baggage = read.baggage;
        assert!(!baggage.insert("k9", &"v".repeat(400)));
        assert!(!baggage.insert("bad key", "v"));
    }

    #[test]
    fn debug_masks_secret_values() {
        let read = read("api_key=sk-123456789,user=alice");
        let shown = format!("{:?}", read.baggage);
        assert!(!shown.contains("sk-123456789"), "{shown}");
        assert!(shown.contains("alice"), "{shown}");
    }
}
