//! One line of an exposition: what kind it is, the metric name, and the full sample grammar.

use super::labels::Labels;
use super::{Invalid, Limits, Sample, scan};

/// One line, without its line end, as bytes and, when the whole body is UTF-8, as text.
#[derive(Clone, Copy)]
pub(super) struct Line<'a> {
    pub bytes: &'a [u8],
    /// Set when the body was validated as a whole, which saves validating line by line.
    pub text: Option<&'a str>,
}

impl<'a> Line<'a> {
    /// The text of `bytes[from..]`; `None` if it is not UTF-8.
    fn text_from(&self, from: usize) -> Option<&'a str> {
        match self.text {
            Some(text) => text.get(from..),
            None => std::str::from_utf8(self.bytes.get(from..)?).ok(),
        }
    }
}

/// What a line is, judged from its first bytes only.
pub(super) enum Kind<'a> {
    /// Empty or only blanks.
    Blank,
    /// `# HELP`, `# TYPE`, `# UNIT`, a HELP without a metric name, or any other comment.
    Comment,
    /// OpenMetrics' `# EOF`: the exposition ends here.
    Eof,
    /// A sample line whose metric name is valid; the rest, from byte `rest_at`, is not read yet.
    Sample { name: &'a str, rest_at: usize },
}

/// Classifies `line` and reads the metric name of a sample line.
///
/// This is all the work an unwanted family costs: the name is checked and handed to the
/// caller's filter before any label is read.
pub(super) fn classify<'a>(line: &Line<'a>) -> Result<Kind<'a>, Invalid> {
    let bytes = line.bytes;
    let start = skip_blanks(bytes, 0);
    let Some(&first) = bytes.get(start) else {
        return Ok(Kind::Blank);
    };
    if first == b'#' {
        return Ok(if is_eof(bytes.get(start + 1..).unwrap_or_default()) {
            Kind::Eof
        } else {
            Kind::Comment
        });
    }
    if !scan::is_metric_name_start(first) {
        return Err(match first {
            b'<' => Invalid::Markup,
            b'{' | b'[' => Invalid::Json,
            _ => Invalid::MetricName,
        });
    }
    let mut end = start + 1;
    while bytes.get(end).is_some_and(|b| scan::is_metric_name_char(*b)) {
        end += 1;
    }
    match bytes.get(end) {
        Some(b'{' | b' ' | b'\t') => {}
        None => return Err(Invalid::MissingValue),
        Some(_) => return Err(Invalid::MetricName),
    }
    // Only ASCII name characters were admitted, so the name is text whatever the rest is.
    let name = bytes
        .get(start..end)
        .and_then(|name| std::str::from_utf8(name).ok())
        .ok_or(Invalid::MetricName)?;
    Ok(Kind::Sample { name, rest_at: end })
}

/// Parses the rest of a sample line (after its metric name):
/// `[blanks] ['{' labels '}'] blanks value [blanks timestamp] [blanks '#' exemplar] [blanks]`.
///
/// The exemplar (OpenMetrics) is accepted and dropped. The timestamp is integer milliseconds
/// (Prometheus text) or, when it has a fraction or an exponent, seconds (OpenMetrics); an integer
/// OpenMetrics timestamp is therefore read as milliseconds, an ambiguity of the two formats.
pub(super) fn parse_sample<'a>(
    line: &Line<'a>,
    name: &'a str,
    rest_at: usize,
    limits: &Limits,
) -> Result<Sample<'a>, Invalid> {
    let rest = line.text_from(rest_at).ok_or(Invalid::NotUtf8)?;
    let rest = rest.trim_start_matches([' ', '\t']);
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(inner) => Labels::read(inner, limits.max_label_pairs)?,
        None => (Labels::default(), rest),
    };
    let (value, rest) = token(rest);
    let value = parse_value(value)?;
    let (timestamp, rest) = token(rest);
    let timestamp_ms = match timestamp {
        "" => None,
        t if t.starts_with('#') => return Ok(Sample::new(name, labels, value, None)),
        t => Some(parse_timestamp(t)?),
    };
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(Invalid::Trailing);
    }
    Ok(Sample::new(name, labels, value, timestamp_ms))
}

/// Splits off the next blank-separated token; the rest starts at the following token.
fn token(s: &str) -> (&str, &str) {
    let bytes = s.as_bytes();
    let start = skip_blanks(bytes, 0);
    let mut end = start;
    while bytes.get(end).is_some_and(|b| !matches!(b, b' ' | b'\t')) {
        end += 1;
    }
    // Both ends sit next to ASCII blanks or at the ends of `s`, hence on char boundaries.
    let tok = s.get(start..end).unwrap_or_default();
    let rest = s.get(skip_blanks(bytes, end)..).unwrap_or_default();
    (tok, rest)
}

/// A sample value: Go's float syntax as Prometheus writes it (`1`, `1.0`, `2.31457E8`, `NaN`,
/// `+Inf`, `-Inf`). Rust's float parser accepts the same spellings, case-insensitively.
fn parse_value(s: &str) -> Result<f64, Invalid> {
    if s.is_empty() {
        return Err(Invalid::MissingValue);
    }
    s.parse::<f64>().map_err(|_| Invalid::Value)
}

fn parse_timestamp(s: &str) -> Result<i64, Invalid> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let seconds = s.parse::<f64>().map_err(|_| Invalid::Timestamp)?;
    let ms = (seconds * 1000.0).round();
    // i64::MAX as f64 rounds up to 2^63, which is itself out of range, hence the strict bound.
    if !ms.is_finite() || ms.abs() >= i64::MAX as f64 {
        return Err(Invalid::Timestamp);
    }
    // In range and integral (checked above), so the conversion is exact.
    Ok(ms as i64)
}

/// Whether a comment (after its `#`) is OpenMetrics' end marker.
fn is_eof(comment: &[u8]) -> bool {
    let start = skip_blanks(comment, 0);
    let mut end = comment.len();
    while end > start && matches!(comment.get(end - 1), Some(b' ' | b'\t')) {
        end -= 1;
    }
    comment.get(start..end) == Some(b"EOF")
}

fn skip_blanks(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}
