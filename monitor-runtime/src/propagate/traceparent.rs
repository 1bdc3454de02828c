//! The W3C `traceparent` header: `version-traceid-parentid-flags`, read as the
//! specification asks (version `00` exactly, later versions by the fields they share with
//! it, lowercase hex only, all-zero ids invalid) and written as version `00`.

/// The ids and flags a valid `traceparent` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub(crate) trace_id: u128,
    pub(crate) parent_id: u64,
    pub(crate) sampled: bool,
}

/// The length of a version `00` header; later versions are at least this long.
const LENGTH: usize = 55;

/// The `sampled` bit of the trace flags; the only one this crate acts on (a later
/// version's other bits are not understood, so not used, as the specification asks).
const SAMPLED: u8 = 0x01;

/// Reads one `traceparent` value; `None` when it is not valid (the caller starts a new
/// trace). Optional whitespace around the value is allowed, as in any HTTP header.
pub(crate) fn parse(value: &[u8]) -> Option<TraceParent> {
    let value = value.trim_ascii();
    if value.len() < LENGTH {
        return None;
    }
    let version = hex(&value[0..2])? as u8;
    if version == 0xff {
        return None;
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    // Version 00 is exactly 55 characters; a later version may go on after a dash.
    if version == 0 && value.len() != LENGTH {
        return None;
    }
    if value.len() > LENGTH && value[LENGTH] != b'-' {
        return None;
    }
    let trace_id = hex(&value[3..35])?;
    let parent_id = hex(&value[36..52])? as u64;
    let flags = hex(&value[53..55])? as u8;
    if trace_id == 0 || parent_id == 0 {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        sampled: flags & SAMPLED != 0,
    })
}

/// Lowercase hex digits (at most 32) as a number; `None` for anything else, uppercase
/// included (the specification allows lowercase only).
fn hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |number, &digit| {
        let value = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some((number << 4) | u128::from(value))
    })
}

/// A version `00` header for a call in trace `trace_id` with span id `span_id`.
pub(crate) fn format(trace_id: u128, span_id: u64, sampled: bool) -> String {
    let flags = if sampled { SAMPLED } else { 0 };
    format!("00-{trace_id:032x}-{span_id:016x}-{flags:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn reads_the_specifications_example_and_writes_it_back() {
        let parent = parse(VALID.as_bytes()).unwrap();
        assert_eq!(parent.trace_id, 0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(parent.parent_id, 0xb7ad6b7169203331);
        assert!(parent.sampled);
        assert_eq!(format(parent.trace_id, parent.parent_id, true), VALID);
    }

    #[test]
    fn refuses_what_the_specification_calls_invalid() {
        for invalid in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
        ] {
            assert_eq!(parse(invalid.as_bytes()), None, "{invalid:?}");
        }
    }

    #[test]
    fn reads_a_later_version_by_the_fields_it_shares_with_00() {
        let later = "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03-what-the-future-adds";
        let parent = parse(later.as_bytes()).unwrap();
        assert_eq!(parent.parent_id, 0xb7ad6b7169203331);
        assert!(parent.sampled);
        let unsampled = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02";
        assert!(!parse(unsampled.as_bytes()).unwrap().sampled);
    }
}
