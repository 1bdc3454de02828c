//! The byte buffer a call's captured values are written into (`values.rs`), and the
//! appends both it and the capped JSON writer (`json.rs`) use.

use smallvec::SmallVec;

/// Bytes kept inline: the buffer and a call's other details then fit one small
/// allocation (see `record::finished::Details`).
pub(crate) const INLINE_BYTES: usize = 80;

/// The bytes of a call's fields.
pub(crate) type Bytes = SmallVec<[u8; INLINE_BYTES]>;

/// Appends `data`. (`SmallVec::extend_from_slice` is an insert at the end, which costs a
/// call to grow and one to move the empty tail: more than writing a small value.)
#[inline]
pub(crate) fn append(bytes: &mut Bytes, data: &[u8]) {
    append_all(bytes, [data]);
}

/// Appends each of `parts`, in order, making room once.
#[inline]
pub(crate) fn append_all<const N: usize>(bytes: &mut Bytes, parts: [&[u8]; N]) {
    let len = bytes.len();
    let total: usize = parts.iter().map(|part| part.len()).sum();
    if bytes.capacity() - len < total {
        grow(bytes, total);
    }
    // SAFETY: the buffer has room for `total` bytes past `len` (reserved above), and each
    // is written before the length covers them.
    unsafe {
        let mut at = bytes.as_mut_ptr().add(len);
        for part in parts {
            std::ptr::copy_nonoverlapping(part.as_ptr(), at, part.len());
            at = at.add(part.len());
        }
        bytes.set_len(len + total);
    }
}

/// Grows the buffer by doubling while it is small, then by at most [`GROWTH_SLACK`] bytes
/// past what is asked, so a call's buffer holds at most that much unused room (the
/// per-entry memory bound counts it).
#[cold]
#[inline(never)]
fn grow(bytes: &mut Bytes, additional: usize) {
    let slack = bytes.len().min(GROWTH_SLACK);
    bytes.reserve_exact(additional.saturating_add(slack));
}

/// The most unused room a call's buffer keeps.
pub(crate) const GROWTH_SLACK: usize = 1024;
