//! The byte-level scans that cover most of a page: name characters by table, and line ends and
//! the quotes or backslashes that end a run of label value text eight bytes at a time.

/// Table bit: may start a metric name (`[a-zA-Z_:]`, exposition format 0.0.4).
const METRIC_START: u8 = 1;
/// Table bit: may continue a metric name (`[a-zA-Z0-9_:]`).
const METRIC_CHAR: u8 = 2;
/// Table bit: may start a label name (`[a-zA-Z_]`).
const LABEL_START: u8 = 4;
/// Table bit: may continue a label name (`[a-zA-Z0-9_]`).
const LABEL_CHAR: u8 = 8;

/// One lookup per byte instead of a chain of range tests: names are a good part of every line.
static CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alpha = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        let colon = c == b':';
        let mut class = 0;
        if alpha || colon {
            class |= METRIC_START | METRIC_CHAR;
        }
        if digit {
            class |= METRIC_CHAR | LABEL_CHAR;
        }
        if alpha {
            class |= LABEL_START | LABEL_CHAR;
        }
        table[b] = class;
        b += 1;
    }
    table
};

pub(super) fn is_metric_name_start(b: u8) -> bool {
    CLASSES[usize::from(b)] & METRIC_START != 0
}

pub(super) fn is_metric_name_char(b: u8) -> bool {
    CLASSES[usize::from(b)] & METRIC_CHAR != 0
}

pub(super) fn is_label_name_start(b: u8) -> bool {
    CLASSES[usize::from(b)] & LABEL_START != 0
}

pub(super) fn is_label_name_char(b: u8) -> bool {
    CLASSES[usize::from(b)] & LABEL_CHAR != 0
}

/// The classic "word has a zero byte" test (Hacker's Delight, 6-1) on `word ^ splat(needle)`:
/// flags (high bit) every byte equal to `needle`. Flags above the first true one can be false
/// (borrows), the lowest flag never is, and the lowest is all callers use.
fn matches(word: u64, needle: u8) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let x = word ^ u64::from_ne_bytes([needle; 8]);
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Position of the first byte of `hay` for which `flags` is set.
fn find(hay: &[u8], flags: impl Fn(u64) -> u64, is_match: impl Fn(u8) -> bool) -> Option<usize> {
    let (words, tail) = hay.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        // Little-endian load: the lowest flag is the first byte.
        let found = flags(u64::from_le_bytes(*word));
        if found != 0 {
            return Some(i * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    tail.iter().position(|b| is_match(*b)).map(|p| words.len() * 8 + p)
}

/// Position of the first `\n`.
pub(super) fn find_newline(hay: &[u8]) -> Option<usize> {
    find(hay, |w| matches(w, b'\n'), |b| b == b'\n')
}

/// Position of the first `"` or `\`.
pub(super) fn find_quote_or_backslash(hay: &[u8]) -> Option<usize> {
    // Each flag set is exact at its lowest bit, so the lowest bit of the union is the first
    // byte that is either.
    find(
        hay,
        |w| matches(w, b'"') | matches(w, b'\\'),
        |b| b == b'"' || b == b'\\',
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_classes_follow_the_grammar() {
        for b in 0..=255u8 {
            let (alpha, digit) = (b.is_ascii_alphabetic() || b == b'_', b.is_ascii_digit());
            assert_eq!(is_metric_name_start(b), alpha || b == b':', "{b}");
            assert_eq!(is_metric_name_char(b), alpha || digit || b == b':', "{b}");
            assert_eq!(is_label_name_start(b), alpha, "{b}");
            assert_eq!(is_label_name_char(b), alpha || digit, "{b}");
        }
    }

    #[test]
    fn searches_match_a_naive_scan() {
        // Bytes one bit or one borrow away from the needles must not be taken for them.
        let filler = [b'x', 0x0b, 0x09, 0x8a, 0x00, 0xff, 0x21, 0x23, 0x5b, 0x5d, 0xa2, 0xdc];
        for len in 0..40 {
            for at in 0..=len {
                for needle in [b'\n', b'"', b'\\'] {
                    let mut hay: Vec<u8> = (0..len).map(|i| filler[i % filler.len()]).collect();
                    if at < len {
                        hay[at] = needle;
                        if at + 1 < len {
                            hay[at + 1] = b'\n';
                        }
                    }
                    let naive = |f: &dyn Fn(u8) -> bool| hay.iter().position(|b| f(*b));
                    assert_eq!(find_newline(&hay), naive(&|b| b == b'\n'), "len {len}, at {at}");
                    let quote_or_backslash = naive(&|b| b == b'"' || b == b'\\');
                    assert_eq!(find_quote_or_backslash(&hay), quote_or_backslash, "len {len}, at {at}");
                }
            }
        }
    }
}
